"""The HTTP client platform adapters use: auth, rate limit, retries, idempotency, in one call.

:meth:`HttpClient.request` does, in order, for every attempt: wait for the shared rate
limiter, take the (cached) access token, send, replay once with a new token after a 401
``invalid_token``, feed ``RateLimit-*`` headers and 429s back to the limiter, and let
:func:`~shopsync.http.retry.classify` decide. A POST gets its ``Idempotency-Key`` before
the first attempt, so every retry sends the same key (as stripe-python does).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from shopsync.config import Settings
from shopsync.errors import APIError, AuthError
from shopsync.http.auth import AccessToken, ClientCredentials, TokenCache
from shopsync.http.ratelimit import RateLimiter
from shopsync.http.redact import redact_text, redacting_logger, register_secret
from shopsync.http.retry import (
    RetriableAPIError,
    RetryBudget,
    RetryPolicy,
    TokenRejected,
    classify,
    full_jitter,
    parse_retry_after,
    rate_headers,
)
from shopsync.http.stats import ClientStats
from shopsync.http.transport import Transport

log = redacting_logger(__name__)


@dataclass(frozen=True)
class ApiResponse:
    """A successful answer, with what a result record needs to identify it."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(repr=False)
    request_id: str | None = None
    idempotency_key: str | None = None
    replayed: bool = False


class HttpClient:
    """Authenticated, rate-limited, retrying requests to one platform's API.

    Safe to share between worker threads: the limiter, the token, the stats and the
    retry budget are shared; sessions are per thread. Build it with
    :meth:`from_settings`; the keyword arguments exist so tests can inject time.
    """

    def __init__(
        self,
        *,
        base_url: str,
        credentials: ClientCredentials | None,
        limiter: RateLimiter,
        retry: RetryPolicy,
        transport: Transport,
        timeout: tuple[float, float],
        stats: ClientStats,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.limiter = limiter
        self.retry = retry
        self.transport = transport
        self.timeout = timeout
        self.stats = stats
        self._wall_clock = wall_clock
        self._warned_deprecation = False
        self._warn_lock = threading.Lock()
        self.deprecations: list[str] = []

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        disk_cache: bool = True,
    ) -> HttpClient:
        """A client configured from ``settings`` (which must hold complete credentials)."""
        settings.require_credentials()
        assert settings.base_url and settings.token_url and settings.client_id
        assert settings.client_secret is not None
        register_secret(settings.client_secret)
        stats = ClientStats()
        limiter = RateLimiter(settings.rate, settings.burst, clock=clock, sleep=sleep)
        retry = RetryPolicy(
            max_attempts=settings.max_attempts,
            deadline=settings.deadline,
            budget=RetryBudget(),
            clock=clock,
            sleep=sleep,
            jitter=jitter,
            stats=stats,
        )
        verify: bool | str = str(settings.ca_bundle) if settings.ca_bundle else True
        client = cls(
            base_url=settings.base_url,
            credentials=None,
            limiter=limiter,
            retry=retry,
            transport=Transport(verify=verify),
            timeout=settings.timeout,
            stats=stats,
            wall_clock=wall_clock,
        )
        client.credentials = ClientCredentials(
            token_url=settings.token_url,
            client_id=settings.client_id,
            client_secret=settings.client_secret,
            scope=settings.scope,
            request_token=client.request_token,
            cache=TokenCache(settings.token_cache_dir) if disk_cache else None,
            clock=wall_clock,
            stats=stats,
        )
        return client

    # -- the token endpoint ---------------------------------------------------------

    def request_token(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        """POST the client-credentials form to the token endpoint, with retries.

        The token endpoint is outside the API's rate limit and does not take
        idempotency keys (fetching a token twice is harmless).
        """
        assert self.credentials is not None
        url = self.credentials.token_url
        what = "POST token endpoint"

        def attempt(remaining: float) -> Mapping[str, Any]:
            try:
                response = self.transport.send(
                    "POST",
                    url,
                    timeout=self._timeout(remaining),
                    data=form,
                    headers={"Accept": "application/json"},
                )
            except requests.RequestException as error:
                self.stats.add("transport_errors")
                raise _raise(classify(error, what=what)) from error
            verdict = classify(response, what=what, token_endpoint=True, now=self._wall_clock())
            if verdict is not None:
                raise verdict
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise AuthError("The token endpoint answered with something other than JSON.")
            return body

        return self.retry.call(attempt, what=what)

    def token(self, *, fresh: bool = False) -> AccessToken:
        """A valid access token, cached if possible; ``fresh`` always asks the endpoint."""
        assert self.credentials is not None
        return self.credentials.fetch_new() if fresh else self.credentials.token()

    # -- API requests ------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        json_text: str | None = None,
        idempotency_key: str | None = None,
        retry_ambiguous: bool = True,
    ) -> ApiResponse:
        """Send ``method path`` with retries; return the 2xx answer or raise a ShopsyncError.

        Every POST carries ``Idempotency-Key``: ``idempotency_key`` if given (content-
        derived keys for batches), else a random one, fixed here before the first
        attempt. ``json_text`` is a body already encoded as JSON, sent as it is (instead
        of ``json``). ``retry_ambiguous=False`` raises
        :class:`~shopsync.errors.AmbiguousWriteError` instead of resending after a
        failure that may have been applied (for platforms that ignore keys).
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        what = f"{method} {path.split('?', maxsplit=1)[0]}"
        key = idempotency_key
        if method == "POST" and key is None:
            key = str(uuid.uuid4())
        headers = {"Accept": "application/json"}
        content = None
        if json_text is not None:
            content = json_text.encode("utf-8")
            headers["Content-Type"] = "application/json"
        if key is not None:
            headers["Idempotency-Key"] = key
        refreshed = False

        def send(token: str, remaining: float) -> requests.Response:
            self.limiter.acquire()
            self.stats.add("requests")
            try:
                return self.transport.send(
                    method,
                    url,
                    timeout=self._timeout(remaining),
                    token=token,
                    headers=headers,
                    params=params,
                    json=json,
                    content=content,
                )
            except requests.RequestException as error:
                self.stats.add("transport_errors")
                verdict = classify(error, what=what, retry_ambiguous=retry_ambiguous)
                raise _raise(verdict) from error

        def attempt(remaining: float) -> ApiResponse:
            nonlocal refreshed
            assert self.credentials is not None
            token = self.credentials.token().value
            response = send(token, remaining)
            verdict = classify(response, what=what, now=self._wall_clock())
            if isinstance(verdict, TokenRejected) and not refreshed:
                # One refresh and one replay per request, never more: a second
                # rejection means the new token is refused too, which retrying won't fix.
                refreshed = True
                log.debug("%s: token rejected (invalid_token); refreshing once", what)
                token = self.credentials.refresh(token).value
                response = send(token, remaining)
                verdict = classify(response, what=what, now=self._wall_clock())
            self._observe(response, what)
            log.info(
                "%s: %d %s (request id %s)",
                what,
                response.status_code,
                response.reason or "",
                response.headers.get("X-Request-Id", "none"),
            )
            if verdict is not None:
                raise verdict
            return self._answer(response, key)

        return self.retry.call(attempt, what=what)

    def _timeout(self, remaining: float) -> tuple[float, float]:
        # Never let one attempt's read run past the request's deadline.
        connect, read = self.timeout
        remaining = max(0.001, remaining)
        return (min(connect, remaining), min(read, remaining))

    def _observe(self, response: requests.Response, what: str) -> None:
        headers = response.headers
        if response.status_code == 429:
            self.stats.add("throttled")
            retry_after = parse_retry_after(headers.get("Retry-After"), now=self._wall_clock())
            log.info("%s: throttled (429); pausing all workers %.2fs", what, retry_after or 0)
            self.limiter.on_throttled(retry_after)
        else:
            self.limiter.on_rate_headers(**rate_headers(headers))
        if ("Deprecation" in headers or "Sunset" in headers) and not self._warned_deprecation:
            with self._warn_lock:
                if self._warned_deprecation:
                    return
                self._warned_deprecation = True
            notice = (
                f"The platform marks {what} as deprecated"
                + (f" (Deprecation: {headers['Deprecation']})" if "Deprecation" in headers else "")
                + (f" (Sunset: {headers['Sunset']})" if "Sunset" in headers else "")
                + "; a future shopsync version may be needed."
            )
            self.deprecations.append(notice)
            log.warning("%s", notice)

    def _answer(self, response: requests.Response, key: str | None) -> ApiResponse:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                raise APIError(
                    "The platform answered with something other than JSON.",
                    status=response.status_code,
                    request_id=response.headers.get("X-Request-Id"),
                ) from None
        return ApiResponse(
            status=response.status_code,
            body=body,
            headers=dict(response.headers),
            request_id=response.headers.get("X-Request-Id"),
            idempotency_key=key,
            replayed=response.headers.get("Idempotent-Replayed", "").lower() == "true",
        )

    def close(self) -> None:
        """Close connections and the token cache."""
        self.transport.close()
        if self.credentials is not None:
            self.credentials.close()

    def __enter__(self) -> HttpClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return redact_text(f"HttpClient(base_url={self.base_url!r})")


def _raise(verdict: RetriableAPIError | Exception | None) -> Exception:
    # classify() never answers None for an exception; this keeps mypy and readers sure.
    assert verdict is not None
    return verdict
