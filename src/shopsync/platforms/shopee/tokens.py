"""Shopee's tokens: an access token (4 hours) and a refresh token (30 days) that every
refresh replaces, kept per shop in a 0600 file, and the signing of each call.

Losing the refresh token means the seller must authorise the app again, so the new pair
is written to disk (temporary file, fsync, rename, directory fsync) *before* the access
token is used or handed to anyone: a crash between the refresh and the save cannot
happen, because nothing uses the refresh's result until it is saved. A crash during the
refresh call itself leaves the old refresh token on disk; Shopee has then either not seen
the call (the old one still works) or answered a pair nobody saved, which no client can
prevent and ``shopsync auth shopee`` repairs (with a new authorisation code).

Within a process, refreshing is single-flight (a lock); between processes, the token file
is locked while a refresh runs, and re-read after the lock is taken, so a second process
uses the pair the first one saved instead of spending the refresh token twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from shopsync.errors import AuthError
from shopsync.http.auth import private_dir
from shopsync.http.redact import register_secret
from shopsync.i18n import N_
from shopsync.platforms.shopee.signing import common_parameters

TOKEN_PATH = "/api/v2/auth/token/get"  # noqa: S105 - a path, not a password
REFRESH_PATH = "/api/v2/auth/access_token/get"
MARGIN = 300.0
"""Refresh this long before the access token expires."""

TokenCall = Callable[[str, Mapping[str, Any]], Mapping[str, Any]]
"""Posts a public (token) call: its path and JSON body; returns the answer or raises."""


@dataclass(frozen=True)
class ShopTokens:
    """One shop's token pair and when the access token expires (epoch seconds)."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: float

    def usable(self, now: float) -> bool:
        """True while the access token is not within :data:`MARGIN` of its expiry."""
        return now < self.expires_at - MARGIN


class TokenFile:
    """A shop's tokens on disk: ``<dir>/<partner>-<shop>.json``, mode 0600, in a 0700 directory."""

    def __init__(self, directory: Path, partner_id: int, shop_id: int) -> None:
        self.directory = directory
        self.path = directory / f"{partner_id}-{shop_id}.json"

    def load(self) -> ShopTokens | None:
        """The saved pair, or None if there is none (or it cannot be read)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            tokens = ShopTokens(
                str(raw["access_token"]), str(raw["refresh_token"]), float(raw["expires_at"])
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        register_secret(tokens.access_token)
        register_secret(tokens.refresh_token)
        return tokens

    def save(self, tokens: ShopTokens) -> None:
        """Replace the saved pair atomically and durably."""
        private_dir(self.directory)
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        text = json.dumps(
            {
                "access_token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "expires_at": tokens.expires_at,
            }
        )
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(descriptor, text.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temporary.replace(self.path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold an exclusive lock on the shop's tokens (between processes)."""
        private_dir(self.directory)
        descriptor = os.open(self.path.with_suffix(".lock"), os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)


class ShopeeAuth:
    """Signs every shop call, with an access token it keeps fresh (a ``RequestAuth``).

    Where the tokens come from, in order: the token file (the newest pair), the
    ``access_token``/``refresh_token`` settings, an authorisation code (``auth_code``).
    ``on_saved`` is called after each new pair is on disk (tests stop a process there).
    """

    def __init__(
        self,
        *,
        partner_id: int,
        partner_key: str,
        shop_id: int,
        token_file: TokenFile,
        call: TokenCall | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        auth_code: str | None = None,
        clock: Callable[[], float] = time.time,
        on_saved: Callable[[ShopTokens], None] | None = None,
    ) -> None:
        register_secret(partner_key)
        self.partner_id = partner_id
        self.partner_key = partner_key
        self.shop_id = shop_id
        self.token_file = token_file
        self.call = call
        self.auth_code = auth_code
        self.clock = clock
        self.on_saved = on_saved
        self.refreshes = 0
        self._lock = threading.Lock()
        self._tokens = token_file.load()
        if self._tokens is None and refresh_token:
            register_secret(refresh_token)
            if access_token:
                register_secret(access_token)
            # An access token from the settings is of unknown age: refresh before use
            # unless it is the only thing there is.
            self._tokens = ShopTokens(access_token or "", refresh_token, 0.0)
        elif self._tokens is None and access_token:
            register_secret(access_token)
            self._tokens = ShopTokens(access_token, "", clock() + MARGIN + 1)

    # -- RequestAuth ---------------------------------------------------------------------

    def authorize(self) -> requests.auth.AuthBase:
        """Sign the next attempt with a usable access token (refreshing first if need be)."""
        return _SignedCall(self, self.current().access_token)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """After Shopee refused the access token: refresh once and sign again."""
        token = rejected.access_token if isinstance(rejected, _SignedCall) else ""
        tokens = self.refresh(rejected=token)
        return _SignedCall(self, tokens.access_token)

    def close(self) -> None:
        """Nothing to release."""

    # -- tokens --------------------------------------------------------------------------

    def current(self) -> ShopTokens:
        """A pair whose access token is usable now."""
        tokens = self._tokens
        if tokens is not None and tokens.access_token and tokens.usable(self.clock()):
            return tokens
        return self.refresh(rejected=tokens.access_token if tokens else "")

    def refresh(self, *, rejected: str = "") -> ShopTokens:
        """A new pair, saved before it is returned; single-flight in and across processes."""
        with self._lock, self.token_file.locked():
            saved = self.token_file.load()
            if saved is not None and saved.access_token != rejected and saved.usable(self.clock()):
                self._tokens = saved  # another thread or process refreshed meanwhile
                return saved
            if saved is not None:
                self._tokens = saved
            tokens = self._tokens
            if tokens is not None and tokens.refresh_token:
                body: dict[str, Any] = {
                    "refresh_token": tokens.refresh_token,
                    "shop_id": self.shop_id,
                    "partner_id": self.partner_id,
                }
                answer = self._call(REFRESH_PATH, body)
            elif self.auth_code:
                body = {
                    "code": self.auth_code,
                    "shop_id": self.shop_id,
                    "partner_id": self.partner_id,
                }
                answer = self._call(TOKEN_PATH, body)
            else:
                raise AuthError(
                    N_(
                        "There is no Shopee refresh token or authorisation code for shop {shop}."
                    ).format(shop=self.shop_id),
                    hint=N_(
                        "Authorise the app in Shopee's console, then run `shopsync auth shopee "
                        "--code CODE` (or set SHOPSYNC_REFRESH_TOKEN)."
                    ),
                )
            new = self._tokens_of(answer)
            self.token_file.save(new)  # on disk before anything uses it
            self._tokens = new
            self.refreshes += 1
            if self.on_saved is not None:
                self.on_saved(new)
            return new

    def exchange_code(self, code: str) -> ShopTokens:
        """Turn an authorisation code into a pair, saved (``shopsync auth shopee``)."""
        with self._lock, self.token_file.locked():
            body = {"code": code, "shop_id": self.shop_id, "partner_id": self.partner_id}
            new = self._tokens_of(self._call(TOKEN_PATH, body))
            self.token_file.save(new)
            self._tokens = new
            return new

    def _call(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.call is None:
            raise AuthError(N_("No way to reach Shopee's token endpoints was configured."))
        return self.call(path, body)

    def _tokens_of(self, answer: Mapping[str, Any]) -> ShopTokens:
        access = answer.get("access_token")
        refresh = answer.get("refresh_token")
        if not isinstance(access, str) or not access or not isinstance(refresh, str) or not refresh:
            raise AuthError(N_("Shopee's token endpoint answered without a token pair."))

        register_secret(access)
        register_secret(refresh)
        try:
            lifetime = float(answer.get("expire_in", 14400))
        except (TypeError, ValueError):
            lifetime = 14400.0
        return ShopTokens(access, refresh, self.clock() + lifetime)

    def public_parameters(self, path: str) -> dict[str, str]:
        """The signed query of a public call (the token endpoints)."""
        return common_parameters(self.partner_key, self.partner_id, path, int(self.clock()))

    def __repr__(self) -> str:
        return f"ShopeeAuth(partner_id={self.partner_id}, shop_id={self.shop_id}, ***)"


class _SignedCall(requests.auth.AuthBase):
    """Adds the common parameters, signed at preparation time, to a shop call's URL."""

    def __init__(self, auth: ShopeeAuth, access_token: str) -> None:
        self._auth = auth
        self.access_token = access_token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        auth = self._auth
        path = urlsplit(r.url or "").path
        params = common_parameters(
            auth.partner_key,
            auth.partner_id,
            path,
            int(auth.clock()),
            self.access_token,
            auth.shop_id,
        )
        r.prepare_url(r.url, params)
        return r

    def __repr__(self) -> str:
        return "_SignedCall(***)"


__all__ = ["ShopTokens", "ShopeeAuth", "TokenFile"]
