"""How requests are authenticated: the protocol adapters implement, and reusable pieces.

An adapter gives :class:`~shopsync.http.client.HttpClient` one :class:`RequestAuth`.
Before each attempt the client asks it for a ``requests`` auth object
(:meth:`RequestAuth.authorize`); when the platform says the credential it carried was
rejected (the adapter's wire classifies the answer as :class:`TokenRejected`), the
client asks once for a replacement (:meth:`RequestAuth.reauthorize`) and replays.

Provided here, for any adapter to configure:

* :class:`ClientCredentials`: OAuth 2.0 client credentials (RFC 6749 §4.4);
* :class:`RefreshTokenGrant`: an OAuth 2.0 refresh-token grant (RFC 6749 §6), keeping
  a rotated refresh token;
* :class:`StaticToken`: a long-lived token in a header (an admin API access token);
* :class:`HmacSigning`: each request signed with HMAC over a canonical string the
  adapter defines (the shape Taobao's and Shopee's APIs use).

OAuth tokens live in memory and in a diskcache directory (mode 0700) until their expiry
minus a margin, so a cron job that runs every minute authenticates once an hour, not
once a run. The cache key includes a keyed hash of the secret (HMAC-SHA256 with a random
key kept 0600 beside the cache), so a rotated or wrong secret never rides on a token the
old one obtained, and neither the secret nor a plain hash of it is written to disk.
Fetching is single-flight within a process: when the token expires, the first thread
fetches while the others wait on the lock and then use its result, so sixteen workers
make one token request. Two processes at the same instant may each fetch one; both
tokens are valid, so that race costs one request and no correctness.

Every token is registered with :func:`shopsync.http.redact.register_secret` the moment
it is known, wherever it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from shopsync.errors import AuthError, ScopeError, ShopsyncError
from shopsync.http.redact import redact_text, redacting_logger, register_secret
from shopsync.http.stats import ClientStats
from shopsync.i18n import N_

log = redacting_logger(__name__)

MAX_MARGIN = 60.0
"""Refresh this many seconds before expiry at most (a tenth of the lifetime if shorter)."""


@dataclass(frozen=True)
class AccessToken:
    """An access token and when it stops being usable (wall-clock epoch seconds)."""

    value: str = field(repr=False)
    expires_at: float
    scope: str | None = None
    obtained_at: float = 0.0

    @property
    def margin(self) -> float:
        """How early to replace it: a minute, or a tenth of its lifetime if that is less."""
        return min(MAX_MARGIN, max(0.0, self.expires_at - self.obtained_at) / 10)

    def usable(self, now: float) -> bool:
        """True while ``now`` is before the expiry minus the margin."""
        return now < self.expires_at - self.margin

    def __repr__(self) -> str:
        return f"AccessToken(***, expires_at={self.expires_at:.0f}, scope={self.scope!r})"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by the owner only; return it."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.name == "posix":
        # mkdir's mode is filtered by the umask and ignored for existing directories.
        path.chmod(0o700)
    return path


class TokenCache:
    """Tokens on disk in a diskcache directory with mode 0700, shared between processes.

    Beside the directory, ``<directory>.key`` (mode 0600) holds a random key made on
    first use; :meth:`key_for` hashes the secret with it, so the cache key proves which
    secret obtained a token without the secret, or a guessable hash of it, on disk.
    """

    def __init__(self, directory: Path) -> None:
        import diskcache  # noqa: PLC0415 - only when a disk cache is used

        self.directory = private_dir(directory)
        self._cache = diskcache.Cache(str(self.directory))
        if os.name == "posix":
            for child in self.directory.iterdir():
                child.chmod(0o600)
        self._key = _installation_key(self.directory.with_name(self.directory.name + ".key"))

    def key_for(self, identity: tuple[str, ...], secret: str) -> str:
        """The cache key for a credential: ``identity`` in clear hash, ``secret`` keyed."""
        keyed = hmac.new(self._key, secret.encode("utf-8"), hashlib.sha256).hexdigest()
        material = "\0".join((*identity, keyed))
        return "token:" + hashlib.sha256(material.encode("utf-8")).hexdigest()

    def get(self, key: str) -> AccessToken | None:
        """The cached token for ``key``, if any (possibly expired: the caller checks)."""
        raw = self._cache.get(key)
        if not isinstance(raw, dict):
            return None
        try:
            return AccessToken(
                value=str(raw["access_token"]),
                expires_at=float(raw["expires_at"]),
                scope=raw.get("scope"),
                obtained_at=float(raw.get("obtained_at", 0.0)),
            )
        except (KeyError, TypeError, ValueError):
            return None

    def set(self, key: str, token: AccessToken, now: float) -> None:
        """Store ``token``; diskcache itself forgets it once expired."""
        record = {
            "access_token": token.value,
            "expires_at": token.expires_at,
            "scope": token.scope,
            "obtained_at": token.obtained_at,
        }
        self._cache.set(key, record, expire=max(1.0, token.expires_at - now))

    def delete(self, key: str) -> None:
        """Forget the token for ``key``."""
        self._cache.delete(key)

    def close(self) -> None:
        """Close the database handles."""
        self._cache.close()


def _installation_key(path: Path) -> bytes:
    """The random key at ``path`` (mode 0600), made on first use; 32 bytes."""
    try:
        key = path.read_bytes()
        if len(key) == 32:
            return key
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    # A name of its own per attempt, not per process: two threads of one process making
    # the key at once would otherwise share (and unlink) one temporary file.
    temporary = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(descriptor, key)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    try:
        # Two processes making the key at once: the first link wins, both use it.
        os.link(temporary, path)
    except FileExistsError:
        key = path.read_bytes()
    finally:
        temporary.unlink()
    return key


# -- the protocol the client calls ----------------------------------------------------


class RequestAuth(Protocol):
    """Authenticates a platform's requests; each adapter supplies one."""

    def authorize(self) -> requests.auth.AuthBase:
        """What to authenticate the next attempt with (may fetch a token first)."""
        ...

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """A replacement for a credential the platform rejected, or None if there is none."""
        ...

    def close(self) -> None:
        """Release what it holds (a token cache)."""
        ...


class BearerAuth(requests.auth.AuthBase):
    """``Authorization: Bearer <token>``; the repr never shows the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token}"
        return r

    def __repr__(self) -> str:
        return "BearerAuth(***)"


class _HeaderAuth(requests.auth.AuthBase):
    def __init__(self, header: str, value: str) -> None:
        self._header = header
        self._value = value

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[self._header] = self._value
        return r

    def __repr__(self) -> str:
        return f"_HeaderAuth({self._header!r}, ***)"


class StaticToken:
    """A long-lived token sent in a header (``Authorization: Bearer …`` by default).

    Shopify's admin API takes ``X-Shopify-Access-Token: <token>`` (``header=...,
    scheme=None``). A rejected static token cannot be replaced: the client then raises
    the platform's refusal.
    """

    def __init__(
        self, token: str, *, header: str = "Authorization", scheme: str | None = "Bearer"
    ) -> None:
        register_secret(token)
        self._auth = _HeaderAuth(header, f"{scheme} {token}" if scheme else token)

    def authorize(self) -> requests.auth.AuthBase:
        """The same header on every request."""
        return self._auth

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """None: there is no other token to try."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "StaticToken(***)"


Canonical = Callable[[requests.PreparedRequest, float], str]
"""The text a platform signs for one request, given the request and the signing time."""
Stamp = Callable[[requests.PreparedRequest, str, float], None]
"""Puts the signature (hex) and the signing time into the request, as the platform wants."""


class HmacSigning:
    """Signs every request with HMAC over a canonical string the adapter defines.

    ``canonical`` builds the text (Taobao: sorted parameters concatenated; Shopee: partner
    id, path, timestamp, token), ``stamp`` puts the signature and timestamp where the
    platform reads them (a query parameter or a header). The signature is made when the
    request is prepared, so each retry is signed afresh with its own time.
    """

    def __init__(
        self,
        secret: str,
        *,
        canonical: Canonical,
        stamp: Stamp,
        digest: str = "sha256",
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(secret)
        self._secret = secret.encode("utf-8")
        self._canonical = canonical
        self._stamp = stamp
        self._digest = digest
        self._clock = clock

    def sign(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Sign ``request`` in place (and return it)."""
        at = self._clock()
        text = self._canonical(request, at)
        signature = hmac.new(self._secret, text.encode("utf-8"), self._digest).hexdigest()
        self._stamp(request, signature, at)
        return request

    def authorize(self) -> requests.auth.AuthBase:
        """An auth object that signs the request it is applied to."""
        return _Signed(self)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """None: a refused signature means a wrong secret, which signing again won't fix."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return "HmacSigning(***)"


class _Signed(requests.auth.AuthBase):
    def __init__(self, signer: HmacSigning) -> None:
        self._signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return self._signer.sign(r)


# -- OAuth 2.0 tokens ----------------------------------------------------------------

TokenRequest = Callable[[str, Mapping[str, str]], Mapping[str, Any]]
"""Posts a form to a token endpoint URL and returns the JSON answer (raising on errors)."""


class OAuthTokens:
    """Hands out a valid access token; fetches a new one only when needed, once at a time.

    The grant is what subclasses define (:meth:`_form`); caching, single-flight
    refresh and replacing a rejected token are shared.
    """

    grant = "oauth"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        secret: str,
        scope: str | None,
        request_token: TokenRequest,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
        stats: ClientStats | None = None,
    ) -> None:
        register_secret(secret)
        self.token_url = token_url
        self.client_id = client_id
        self.scope = scope
        self._request_token = request_token
        self._cache = cache
        self._clock = clock
        self._stats = stats
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self._refused: AuthError | None = None
        identity = (self.grant, token_url, client_id, scope or "")
        self.cache_key = (
            cache.key_for(identity, secret)
            if cache is not None
            else "token:" + hashlib.sha256("\0".join(identity).encode()).hexdigest()
        )

    def __repr__(self) -> str:
        kind = type(self).__name__
        return f"{kind}(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def _form(self) -> dict[str, str]:
        raise NotImplementedError

    def authorize(self) -> requests.auth.AuthBase:
        """``Authorization: Bearer`` with a token usable now."""
        return BearerAuth(self.token().value)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """A new token in place of the one the platform rejected (single-flight)."""
        value = rejected.token if isinstance(rejected, BearerAuth) else ""
        return BearerAuth(self.refresh(value).value)

    def now(self) -> float:
        """The wall clock this provider measures expiry with."""
        return self._clock()

    def token(self) -> AccessToken:
        """A token usable now: from memory, from the disk cache, or freshly fetched."""
        token = self._token
        if token is not None and token.usable(self._clock()):
            return token
        with self._lock:
            now = self._clock()
            token = self._token
            if token is not None and token.usable(now):
                return token  # another thread refreshed it while this one waited
            if self._refused is not None:
                # The endpoint refused these credentials a moment ago: asking again from
                # every worker would get the same answer, once per thread.
                raise self._refused
            if self._cache is not None:
                token = self._cache.get(self.cache_key)
                if token is not None and token.usable(now):
                    register_secret(token.value)
                    log.debug(
                        "using the cached access token (expires in %.0fs)", token.expires_at - now
                    )
                    self._token = token
                    return token
            self._token = self._fetch()
            return self._token

    def fetch_new(self) -> AccessToken:
        """Ask the token endpoint now, whatever is cached (``auth check`` proves the
        credentials this way); the new token replaces the cached one."""
        with self._lock:
            self._token = self._fetch()
            return self._token

    def refresh(self, rejected: str) -> AccessToken:
        """Replace the token the platform rejected (401 ``invalid_token``), once for all threads.

        If another thread has already replaced ``rejected``, its new token is returned
        without a second request.
        """
        with self._lock:
            current = self._token
            if current is not None and current.value != rejected and current.usable(self._clock()):
                return current
            if self._cache is not None:
                cached = self._cache.get(self.cache_key)
                if cached is not None and cached.value == rejected:
                    self._cache.delete(self.cache_key)
            if self._stats is not None:
                self._stats.add("token_refreshes")
            self._token = self._fetch()
            return self._token

    def _fetch(self) -> AccessToken:
        # Called with the lock held: that is what makes the refresh single-flight.
        form = self._form()
        if self._stats is not None:
            self._stats.add("token_fetches")
        log.debug("requesting an access token from %s", self.token_url)
        started = self._clock()
        try:
            answer = self._request_token(self.token_url, form)
        except AuthError as error:
            self._refused = error
            raise
        self._refused = None
        self._answered(answer)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError(N_("The token endpoint answered without an access_token."))
        register_secret(value)
        token_type = str(answer.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            raise AuthError(
                N_("The token endpoint issued a {token_type!r} token; only Bearer works.").format(
                    token_type=token_type
                )
            )
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        scope = answer.get("scope")
        token = AccessToken(
            value=value,
            expires_at=started + lifetime,
            scope=scope if isinstance(scope, str) else self.scope,
            obtained_at=started,
        )
        if self._cache is not None:
            self._cache.set(self.cache_key, token, self._clock())
        log.debug("got an access token valid for %.0fs", lifetime)
        return token

    def _answered(self, answer: Mapping[str, Any]) -> None:
        """Hook for a grant that keeps something from the token answer."""

    def close(self) -> None:
        """Release the disk cache."""
        if self._cache is not None:
            self._cache.close()


class ClientCredentials(OAuthTokens):
    """OAuth 2.0 client credentials (RFC 6749 §4.4), credentials in the form body."""

    grant = "client_credentials"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        scope: str | None,
        request_token: TokenRequest,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
        stats: ClientStats | None = None,
    ) -> None:
        super().__init__(
            token_url=token_url,
            client_id=client_id,
            secret=client_secret,
            scope=scope,
            request_token=request_token,
            cache=cache,
            clock=clock,
            stats=stats,
        )
        self._client_secret = client_secret

    def _form(self) -> dict[str, str]:
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        form["client_secret"] = self._client_secret
        if self.scope:
            form["scope"] = self.scope
        return form


class RefreshTokenGrant(OAuthTokens):
    """OAuth 2.0 refresh-token grant (RFC 6749 §6): access tokens from a refresh token.

    A platform that rotates refresh tokens answers a new one with each access token; it
    replaces the old one in memory and is handed to ``on_rotated`` so the adapter can
    keep it (the old one stops working). The cache key hashes the refresh token the
    grant started with, so a different one never rides on another's access token.
    """

    grant = "refresh_token"

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        refresh_token: str,
        request_token: TokenRequest,
        client_secret: str | None = None,
        scope: str | None = None,
        on_rotated: Callable[[str], None] | None = None,
        cache: TokenCache | None = None,
        clock: Callable[[], float] = time.time,
        stats: ClientStats | None = None,
    ) -> None:
        super().__init__(
            token_url=token_url,
            client_id=client_id,
            secret=refresh_token + "\0" + (client_secret or ""),
            scope=scope,
            request_token=request_token,
            cache=cache,
            clock=clock,
            stats=stats,
        )
        register_secret(refresh_token)
        if client_secret:
            register_secret(client_secret)
        self._refresh_token = refresh_token
        self._client_secret = client_secret
        self._on_rotated = on_rotated

    def _form(self) -> dict[str, str]:
        form = {
            "grant_type": "refresh_token",
            "refresh_token": self._refresh_token,
            "client_id": self.client_id,
        }
        if self._client_secret:
            form["client_secret"] = self._client_secret
        if self.scope:
            form["scope"] = self.scope
        return form

    def _answered(self, answer: Mapping[str, Any]) -> None:
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated and rotated != self._refresh_token:
            register_secret(rotated)
            self._refresh_token = rotated
            if self._on_rotated is not None:
                self._on_rotated(rotated)


# -- what OAuth answers mean (RFC 6749 §5.2, RFC 6750 §3) ------------------------------

_OAUTH_SENTENCES = {
    "invalid_request": "The platform refused the token request as malformed (invalid_request).",
    "invalid_client": "The platform did not accept the client credentials (invalid_client): "
    "check the client id and secret.",
    "invalid_grant": "The platform refused the grant (invalid_grant).",
    "unauthorized_client": "This client may not use the client-credentials grant "
    "(unauthorized_client): ask the platform's admin to enable it.",
    "unsupported_grant_type": "The platform does not support the client-credentials grant "
    "(unsupported_grant_type): check token_url.",
    "invalid_scope": "The platform refused the requested scope (invalid_scope): check the scope "
    "setting against what the client is allowed.",
}


class TokenRejected(AuthError):
    """401 ``invalid_token``: the access token expired or was revoked (refresh once)."""


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def token_endpoint_error(response: requests.Response) -> AuthError | None:
    """The sentence for an RFC 6749 §5.2 error answer (400/401), None for other statuses."""
    if response.status_code not in (400, 401):
        return None
    body = _body(response)
    code = str(body.get("error") or "invalid_request")
    sentence = _OAUTH_SENTENCES.get(code, f"The platform refused the token request ({code}).")
    description = body.get("error_description")
    if description:
        sentence += f" The platform says: {redact_text(str(description))}"
    return AuthError(sentence)


def bearer_challenge(response: requests.Response, name: str) -> str | None:
    """A parameter of the answer's ``WWW-Authenticate: Bearer ...`` challenge."""
    header = response.headers.get("WWW-Authenticate", "")
    for part in header.replace("Bearer ", "", 1).split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def bearer_refusal(response: requests.Response, what: str) -> ShopsyncError | None:
    """What a 401 or 403 to a Bearer-authenticated request means (RFC 6750 §3.1).

    ``invalid_token`` → :class:`TokenRejected` (refresh once and replay);
    ``insufficient_scope`` → :class:`~shopsync.errors.ScopeError`; others an AuthError.
    None for any other status.
    """
    status = response.status_code
    if status == 401:
        if bearer_challenge(response, "error") == "invalid_token":
            return TokenRejected(f"{what}: the access token was rejected (invalid_token).")
        return AuthError(
            N_("{what}: the platform refused the credentials (HTTP 401).").format(what=what),
            hint=N_("Run `shopsync auth check`."),
        )
    if status == 403:
        if bearer_challenge(response, "error") == "insufficient_scope":
            needed = bearer_challenge(response, "scope")
            return ScopeError(
                (
                    N_(
                        "{what}: the credentials work, but the token lacks the scope "
                        "{needed!r} this needs (insufficient_scope)."
                    )
                    if needed
                    else N_(
                        "{what}: the credentials work, but the token lacks a scope this "
                        "needs (insufficient_scope)."
                    )
                ).format(what=what, needed=needed),
                hint=N_("Ask the shop's admin to grant the scope to this client, or set `scope`."),
            )
        return AuthError(N_("{what}: the platform forbids this (HTTP 403).").format(what=what))
    return None
