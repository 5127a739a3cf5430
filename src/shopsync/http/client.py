"""The HTTP client platform adapters use: auth, rate limit, retries, idempotency, in one call.

:meth:`HttpClient.request` does, in order, for every attempt: wait for the shared rate
limiter (the request's bucket, at the request's cost), ask the adapter's
:class:`~shopsync.http.auth.RequestAuth` for credentials, send, replay once with new
credentials after the wire says the old ones were rejected, feed the answer's
:class:`~shopsync.http.wire.RateSignal` back to the limiter, and let the adapter's
:class:`~shopsync.http.wire.Wire` decide. A POST gets its idempotency key before the
first attempt, so every retry sends the same key (as stripe-python does).

Nothing here knows one platform: the adapter builds the client with its wire and auth
(``platforms/generic/wire.py`` for the generic API).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

from shopsync.errors import AmbiguousWriteError, AuthError, PlatformError
from shopsync.http.auth import AccessToken, OAuthTokens, RequestAuth, TokenRejected
from shopsync.http.auth import token_endpoint_error as _token_endpoint_error
from shopsync.http.ratelimit import RateBuckets, RateLimiter
from shopsync.http.ratememory import RateMemory
from shopsync.http.redact import redact_text, redacting_logger
from shopsync.http.retry import (
    RetriableAPIError,
    RetryPolicy,
    classify_exception,
    full_jitter,
)
from shopsync.http.stats import ClientStats
from shopsync.http.transport import Transport
from shopsync.http.wire import Wire
from shopsync.i18n import N_

if TYPE_CHECKING:
    from shopsync.config import Settings

log = redacting_logger(__name__)

_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


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
    retry budget are shared; sessions are per thread. An adapter builds it with its
    :class:`~shopsync.http.wire.Wire` and its :class:`~shopsync.http.auth.RequestAuth`
    (which may be set after construction, when the auth needs :meth:`request_token`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        wire: Wire,
        credentials: RequestAuth | None,
        limiter: RateLimiter | RateBuckets,
        retry: RetryPolicy,
        transport: Transport,
        timeout: tuple[float, float],
        stats: ClientStats,
        wall_clock: Callable[[], float] = time.time,
        rate_memory: RateMemory | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.wire = wire
        self.credentials = credentials
        self.buckets = limiter if isinstance(limiter, RateBuckets) else RateBuckets(limiter)
        self.limiter = self.buckets.default
        self.rate_memory = rate_memory
        if rate_memory is not None:
            rate_memory.warm(self.limiter)
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
        wire: Wire,
        *,
        base_url: str | None = None,
        credentials: RequestAuth | None = None,
        limiter: RateLimiter | RateBuckets | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        rate_memory: RateMemory | None = None,
    ) -> HttpClient:
        """A client for ``settings`` as every adapter assembles one: the profile's rate
        limit (or ``limiter``, e.g. per-operation buckets on the same clock), its retry
        policy and TLS transport, its timeouts, and one :class:`ClientStats` for them all.

        ``wire`` and ``credentials`` are the adapter's; ``base_url`` defaults to the
        profile's. The clocks, ``sleep`` and ``jitter`` are for tests. Credentials that
        need the client itself (a token endpoint) are set on it afterwards.
        """
        stats = ClientStats()
        url = base_url if base_url is not None else settings.base_url
        assert url, "the settings' base_url is checked by require_credentials()"
        return cls(
            base_url=url,
            wire=wire,
            credentials=credentials,
            limiter=limiter
            if limiter is not None
            else RateLimiter(settings.rate, settings.burst, clock=clock, sleep=sleep),
            retry=RetryPolicy.from_settings(
                settings, stats=stats, clock=clock, sleep=sleep, jitter=jitter
            ),
            transport=Transport.from_settings(settings),
            timeout=settings.timeout,
            stats=stats,
            wall_clock=wall_clock,
            rate_memory=rate_memory,
        )

    # -- the token endpoint ---------------------------------------------------------

    def request_token(self, url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
        """POST an OAuth grant's form to the token endpoint ``url``, with retries.

        The token endpoint is outside the API's rate limit and does not take
        idempotency keys (fetching a token twice is harmless). Its errors are
        RFC 6749's, the same on every platform; other answers go to the wire.
        """
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
                raise classify_exception(error, what=what) from error
            verdict = _token_endpoint_error(response) or self.wire.classify(
                response, what=what, now=self._wall_clock()
            )
            if verdict is not None:
                raise verdict
            try:
                body = response.json()
            except ValueError:
                body = None
            if not isinstance(body, dict):
                raise AuthError(N_("The token endpoint answered with something other than JSON."))
            return body

        return self.retry.call(attempt, what=what)

    def token(self, *, fresh: bool = False) -> AccessToken:
        """A valid access token, cached if possible; ``fresh`` always asks the endpoint.

        Only for OAuth auth (:class:`~shopsync.http.auth.OAuthTokens`).
        """
        if not isinstance(self.credentials, OAuthTokens):
            raise TypeError(f"{self.credentials!r} hands out no OAuth access tokens")
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
        content: bytes | None = None,
        content_type: str | None = None,
        form: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        retry_ambiguous: bool = True,
        bucket: str | None = None,
        cost: float = 1.0,
    ) -> ApiResponse:
        """Send ``method path`` with retries; return the 2xx answer or raise a ShopsyncError.

        Every POST carries ``Idempotency-Key``: ``idempotency_key`` if given (content-
        derived keys for batches), else a random one, fixed here before the first
        attempt. ``json_text`` is a body already encoded as JSON, sent as it is (instead
        of ``json``); ``content`` raw bytes of ``content_type`` (an image upload); ``form``
        a body sent as ``application/x-www-form-urlencoded`` (platforms whose calls are
        form posts, Taobao's). ``retry_ambiguous=False`` raises
        :class:`~shopsync.errors.AmbiguousWriteError` instead of resending after a
        failure that may have been applied (for platforms that ignore keys).
        ``bucket`` and ``cost`` say which of the platform's rate buckets the request
        draws on, and how much (see :class:`~shopsync.http.ratelimit.RateBuckets`).
        """
        method = method.upper()
        url = path if path.startswith(("http://", "https://")) else self.base_url + path
        what = f"{method} {path.split('?', maxsplit=1)[0]}"
        key = idempotency_key
        key_header = self.wire.idempotency_header
        if key_header is None:
            key = None
        elif method == "POST" and key is None:
            key = str(uuid.uuid4())
        headers = {"Accept": "application/json"}
        if content is not None:
            headers["Content-Type"] = content_type or "application/octet-stream"
        if json_text is not None:
            content = json_text.encode("utf-8")
            headers["Content-Type"] = "application/json"
        if key is not None and key_header is not None:
            headers[key_header] = key
        refreshed = False

        def send(auth: requests.auth.AuthBase, remaining: float) -> requests.Response:
            self.buckets.acquire(bucket, cost)
            self.stats.add("requests")
            try:
                return self.transport.send(
                    method,
                    url,
                    timeout=self._timeout(remaining),
                    auth=auth,
                    headers=headers,
                    params=params,
                    json=json,
                    data=form,
                    content=content,
                )
            except requests.RequestException as error:
                self.stats.add("transport_errors")
                verdict = classify_exception(error, what=what, retry_ambiguous=retry_ambiguous)
                raise verdict from error

        def attempt(remaining: float) -> ApiResponse:
            nonlocal refreshed
            assert self.credentials is not None
            auth = self.credentials.authorize()
            response = send(auth, remaining)
            verdict = self.wire.classify(response, what=what, now=self._wall_clock())
            if isinstance(verdict, TokenRejected) and not refreshed:
                # One refresh and one replay per request, never more: a second
                # rejection means the new token is refused too, which retrying won't fix.
                refreshed = True
                replacement = self.credentials.reauthorize(auth)
                if replacement is not None:
                    log.debug("%s: credentials rejected; replacing them once", what)
                    response = send(replacement, remaining)
                    verdict = self.wire.classify(response, what=what, now=self._wall_clock())
            self._observe(response, what, bucket)
            log.info(
                "%s: %d %s (request id %s)",
                what,
                response.status_code,
                response.reason or "",
                self.wire.request_id(response.headers) or "none",
            )
            if verdict is not None:
                ambiguous = isinstance(verdict, RetriableAPIError) and verdict.ambiguous
                if ambiguous and not retry_ambiguous:
                    # An answer saying the write may have been applied, to a write that
                    # must not be resent blindly: the adapter's caller reconciles.
                    assert isinstance(verdict, RetriableAPIError)
                    raise verdict.error
                raise verdict
            return self._answer(response, key, what, retry_ambiguous=retry_ambiguous)

        return self.retry.call(attempt, what=what)

    def _timeout(self, remaining: float) -> tuple[float, float]:
        # Never let one attempt's read run past the request's deadline.
        connect, read = self.timeout
        remaining = max(0.001, remaining)
        return (min(connect, remaining), min(read, remaining))

    def _observe(self, response: requests.Response, what: str, bucket: str | None) -> None:
        headers = response.headers
        signal = self.wire.rate_signal(response, now=self._wall_clock())
        if signal.throttled:
            self.stats.add("throttled")
            log.info(
                "%s: throttled (HTTP %d); pausing all workers %.2fs",
                what,
                response.status_code,
                signal.retry_after or 0,
            )
        self.buckets.observe(signal, bucket=bucket)
        if self.rate_memory is not None and bucket is None:
            self.rate_memory.note(signal, self.limiter)
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

    def _answer(
        self,
        response: requests.Response,
        key: str | None,
        what: str,
        *,
        retry_ambiguous: bool,
    ) -> ApiResponse:
        body: Any = None
        if response.content:
            try:
                body = response.json()
            except ValueError:
                raise _not_the_platform(
                    response,
                    what,
                    write=what.split(" ", 1)[0] in _WRITES,
                    retry_ambiguous=retry_ambiguous,
                ) from None
        return ApiResponse(
            status=response.status_code,
            body=body,
            headers=dict(response.headers),
            request_id=self.wire.request_id(response.headers),
            idempotency_key=key,
            replayed=self.wire.replayed(response.headers),
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


def _not_the_platform(
    response: requests.Response, what: str, *, write: bool, retry_ambiguous: bool
) -> Exception:
    """A success status whose body is not JSON: a proxy's or a captive portal's page.

    For a write that is not a refusal: the request may have reached the platform
    behind the proxy and been applied, or not. Its outcome is unknown, so it is retried
    with the same key, or (keys not trusted) handed to the adapter to reconcile; past
    every retry the batch stays pending for the next run. For a read it is an outage.
    """
    kind = (response.headers.get("Content-Type") or "no content type").split(";")[0].strip()
    label = "HTML" if "html" in kind.lower() else kind
    host = urlsplit(str(response.url)).netloc or "the network"
    sentence = (
        f"{what}: the answer was not the platform's: {label} from {host} "
        f"(HTTP {response.status_code})"
    )
    hint = "A proxy or captive portal may stand between shopsync and the platform."
    if not write:
        return PlatformError(sentence + ".", hint=hint)
    sentence += "; the write may or may not have been applied."
    if not retry_ambiguous:
        return AmbiguousWriteError(redact_text(sentence), hint=hint)
    return RetriableAPIError(
        N_("not the platform's answer (request may have been applied)"),
        AmbiguousWriteError(redact_text(sentence), hint=hint),
        ambiguous=True,
    )
