"""OAuth 2.0 client credentials (RFC 6749 §4.4): one token for all workers and processes.

The token lives in memory and in a diskcache directory (mode 0700) until its expiry
minus a margin, so a cron job that runs every minute authenticates once an hour, not
once a run. Fetching is single-flight within a process: when the token expires, the
first thread fetches while the others wait on the lock and then use its result, so
sixteen workers make one token request. Two processes at the same instant may each
fetch one; both tokens are valid, so that race costs one request and no correctness.

Every token is registered with :func:`shopsync.http.redact.register_secret` the moment
it is known, wherever it came from.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsync.errors import AuthError
from shopsync.http.redact import redacting_logger, register_secret
from shopsync.http.stats import ClientStats

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
    """Tokens on disk in a diskcache directory with mode 0700, shared between processes."""

    def __init__(self, directory: Path) -> None:
        import diskcache  # noqa: PLC0415 - only when a disk cache is used

        self.directory = private_dir(directory)
        self._cache = diskcache.Cache(str(self.directory))
        if os.name == "posix":
            for child in self.directory.iterdir():
                child.chmod(0o600)

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


TokenRequest = Callable[[Mapping[str, str]], Mapping[str, Any]]
"""Posts the form to the token endpoint and returns the JSON answer (raising on errors)."""


class ClientCredentials:
    """Hands out a valid access token; fetches a new one only when needed, once at a time."""

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
        register_secret(client_secret)
        self.token_url = token_url
        self.client_id = client_id
        self._client_secret = client_secret
        self.scope = scope
        self._request_token = request_token
        self._cache = cache
        self._clock = clock
        self._stats = stats
        self._lock = threading.Lock()
        self._token: AccessToken | None = None
        self.cache_key = (
            "token:"
            + hashlib.sha256("\0".join((token_url, client_id, scope or "")).encode()).hexdigest()
        )

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r})"

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
        form = {"grant_type": "client_credentials", "client_id": self.client_id}
        form["client_secret"] = self._client_secret
        if self.scope:
            form["scope"] = self.scope
        if self._stats is not None:
            self._stats.add("token_fetches")
        log.debug("requesting an access token from %s", self.token_url)
        started = self._clock()
        answer = self._request_token(form)
        value = answer.get("access_token")
        if not isinstance(value, str) or not value:
            raise AuthError("The token endpoint answered without an access_token.")
        register_secret(value)
        token_type = str(answer.get("token_type", "Bearer"))
        if token_type.lower() != "bearer":
            raise AuthError(f"The token endpoint issued a {token_type!r} token; only Bearer works.")
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

    def close(self) -> None:
        """Release the disk cache."""
        if self._cache is not None:
            self._cache.close()
