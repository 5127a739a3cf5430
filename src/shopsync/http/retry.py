"""Which failures are worth another attempt, and how attempts are spaced and bounded.

:func:`classify` is the one place that decides retriable versus fatal (the idea of
meltano's ``RetriableAPIError``/``FatalAPIError``): it turns an HTTP answer or a
requests exception into ``None`` (success), a :class:`RetriableAPIError`, or the
:class:`~shopsync.errors.ShopsyncError` to raise.

:class:`RetryPolicy` runs attempts with tenacity: full-jitter exponential backoff with
a cap, ``Retry-After`` honoured, at most ``max_attempts``, and a deadline that is never
overrun (tenacity's ``stop_before_delay`` semantics, on an injected clock: a retry whose
wait would end past the deadline is not started). A :class:`RetryBudget` shared by all
workers caps retries at a fraction of requests, so a platform that is down does not get
``max_attempts`` times the traffic.
"""

from __future__ import annotations

import email.utils
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
import tenacity
import urllib3.exceptions

from shopsync.errors import (
    AmbiguousWriteError,
    APIError,
    AuthError,
    PlatformError,
    ScopeError,
    ShopsyncError,
    TransportError,
)
from shopsync.http.redact import redact_text, redacting_logger
from shopsync.http.stats import ClientStats

log = redacting_logger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]
Jitter = Callable[[float], float]

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

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


class RetriableAPIError(Exception):
    """An attempt failed in a way another attempt may fix. Internal to the HTTP layer.

    ``error`` is what to raise when no attempt is left; ``retry_after`` the server's
    ``Retry-After`` in seconds; ``throttled`` marks a 429; ``ambiguous`` a write whose
    request may have reached the server.
    """

    def __init__(
        self,
        reason: str,
        error: ShopsyncError,
        *,
        retry_after: float | None = None,
        throttled: bool = False,
        ambiguous: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error
        self.retry_after = retry_after
        self.throttled = throttled
        self.ambiguous = ambiguous


class TokenRejected(AuthError):
    """401 ``invalid_token``: the access token expired or was revoked (refresh once)."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value: delta-seconds or an HTTP-date.

    ``now`` is the wall-clock time (seconds since the epoch) to measure a date against.
    A date in the past means "now" (0); garbage means no instruction (None).
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def rate_headers(headers: Mapping[str, str]) -> dict[str, float | None]:
    """``limit``, ``remaining`` and ``reset`` from ``RateLimit-*`` headers (None if absent)."""
    return {
        "limit": _header_float(headers, "RateLimit-Limit"),
        "remaining": _header_float(headers, "RateLimit-Remaining"),
        "reset": _header_float(headers, "RateLimit-Reset"),
    }


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _auth_param(response: requests.Response, name: str) -> str | None:
    header = response.headers.get("WWW-Authenticate", "")
    for part in header.replace("Bearer ", "", 1).split(","):
        key, _, value = part.strip().partition("=")
        if key.strip() == name:
            return value.strip().strip('"')
    return None


def _api_error(response: requests.Response, what: str, hint: str | None = None) -> APIError:
    body = _body(response)
    code = body.get("code") if isinstance(body.get("code"), str) else None
    detail = body.get("detail") or body.get("title") or response.reason or "error"
    message = f"{what} failed: HTTP {response.status_code}"
    if code:
        message += f" {code}"
    message += f": {detail}"
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors[:5]
            if isinstance(e, dict)
        ]
        message += " (" + "; ".join(parts) + ")"
    request_id = response.headers.get("X-Request-Id")
    if request_id:
        message += f" [request id {request_id}]"
    return APIError(
        redact_text(message),
        status=response.status_code,
        code=code,
        request_id=request_id,
        hint=hint,
    )


def classify(  # noqa: PLR0911 - one decision table, one return per verdict
    outcome: requests.Response | BaseException,
    *,
    what: str,
    token_endpoint: bool = False,
    retry_ambiguous: bool = True,
    now: float | None = None,
) -> RetriableAPIError | ShopsyncError | None:
    """Decide what an attempt's outcome means: success, retry, or a final error.

    ``what`` names the request for messages ("POST /products/batch"). ``token_endpoint``
    reads 400/401 as RFC 6749 §5.2 errors. ``retry_ambiguous=False`` turns a failure
    after which the request may have been applied into :class:`AmbiguousWriteError`
    instead of a retry (for writes to a platform that ignores idempotency keys).
    """
    if isinstance(outcome, BaseException):
        return _classify_exception(outcome, what=what, retry_ambiguous=retry_ambiguous)
    response = outcome
    status = response.status_code
    if status < 400:
        return None
    request_id = response.headers.get("X-Request-Id")
    if token_endpoint and status in (400, 401):
        body = _body(response)
        code = str(body.get("error") or "invalid_request")
        sentence = _OAUTH_SENTENCES.get(code, f"The platform refused the token request ({code}).")
        description = body.get("error_description")
        if description:
            sentence += f" The platform says: {redact_text(str(description))}"
        return AuthError(sentence)
    if status == 401:
        if _auth_param(response, "error") == "invalid_token":
            return TokenRejected(f"{what}: the access token was rejected (invalid_token).")
        return AuthError(
            f"{what}: the platform refused the credentials (HTTP 401).",
            hint="Run `shopsync auth check`.",
        )
    if status == 403:
        if _auth_param(response, "error") == "insufficient_scope":
            needed = _auth_param(response, "scope")
            need = f" the scope {needed!r}" if needed else " a scope"
            return ScopeError(
                f"{what}: the credentials work, but the token lacks{need} this needs "
                "(insufficient_scope).",
                hint="Ask the shop's admin to grant the scope to this client, or set `scope`.",
            )
        return AuthError(f"{what}: the platform forbids this (HTTP 403).")
    body = _body(response)
    if status == 409 and body.get("code") == "IDEMPOTENCY_IN_FLIGHT":
        return RetriableAPIError(
            "409 IDEMPOTENCY_IN_FLIGHT",
            _api_error(response, what),
            retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
        )
    if status in RETRIABLE_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
        reason = f"HTTP {status}"
        if request_id:
            reason += f" [request id {request_id}]"
        return RetriableAPIError(
            reason, _api_error(response, what), retry_after=retry_after, throttled=status == 429
        )
    if status == 413:
        return _api_error(response, what, hint="Lower --batch-size.")
    return _api_error(response, what)


def _classify_exception(  # noqa: PLR0911 - a decision table, as classify()
    error: BaseException, *, what: str, retry_ambiguous: bool
) -> RetriableAPIError | ShopsyncError:
    text = redact_text(str(error))
    if isinstance(error, requests.exceptions.SSLError):
        # A certificate problem does not fix itself in a second.
        return TransportError(
            f"{what}: TLS verification failed: {text}",
            hint="If the platform uses a private CA, pass its bundle with --ca-bundle.",
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return RetriableAPIError("connect timeout", TransportError(f"{what}: connect timeout."))
    if isinstance(error, requests.exceptions.ConnectionError) and _never_sent(error):
        return RetriableAPIError(
            "connection failed", TransportError(f"{what}: cannot connect: {text}")
        )
    if isinstance(
        error,
        (
            requests.exceptions.ConnectionError,
            requests.exceptions.ReadTimeout,
            requests.exceptions.ChunkedEncodingError,
        ),
    ):
        kind = (
            "read timeout" if isinstance(error, requests.exceptions.Timeout) else "connection lost"
        )
        if not retry_ambiguous:
            return AmbiguousWriteError(
                f"{what}: {kind} after the request was sent; it may or may not have been applied."
            )
        return RetriableAPIError(
            f"{kind} (request may have been applied)",
            TransportError(f"{what}: {kind}: {text}"),
            ambiguous=True,
        )
    if isinstance(error, requests.exceptions.RequestException):
        return TransportError(f"{what}: {text}")
    return TransportError(f"{what}: {type(error).__name__}: {text}")


def _never_sent(error: requests.exceptions.ConnectionError) -> bool:
    """True if the connection failed before any byte of the request left."""
    reason: BaseException | None = error.args[0] if error.args else None
    if isinstance(reason, urllib3.exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError)
    )


def full_jitter(value: float) -> float:
    """A uniformly random wait in ``[0, value]`` (AWS "full jitter")."""
    return random.uniform(0, value)  # noqa: S311 - jitter, not cryptography


class RetryBudget:
    """Retries allowed as a fraction of requests, shared by all workers (like Finagle's).

    Each request deposits ``ratio`` of a retry (up to ``maximum``); each retry takes one.
    ``initial`` lets a short run retry a few times before it has earned anything.
    """

    def __init__(self, ratio: float = 0.2, initial: float = 10.0, maximum: float = 100.0) -> None:
        self._lock = threading.Lock()
        self.ratio = ratio
        self.maximum = maximum
        self._balance = initial

    def record_request(self) -> None:
        """Deposit for one first attempt."""
        with self._lock:
            self._balance = min(self.maximum, self._balance + self.ratio)

    def try_spend(self) -> bool:
        """Take one retry if the budget has one."""
        with self._lock:
            if self._balance >= 1.0:
                self._balance -= 1.0
                return True
            return False

    @property
    def balance(self) -> float:
        """Retries currently available."""
        with self._lock:
            return self._balance


@dataclass
class RetryPolicy:
    """How attempts are repeated: limits, backoff, budget, and the injected clock and sleep."""

    max_attempts: int = 5
    deadline: float = 120.0
    base: float = 0.5
    cap: float = 30.0
    budget: RetryBudget | None = None
    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep
    jitter: Jitter = full_jitter
    stats: ClientStats | None = None

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff before attempt ``attempt + 1``."""
        return self.jitter(min(self.cap, self.base * 2 ** (attempt - 1)))

    def call(self, attempt: Callable[[float], T], *, what: str) -> T:
        """Run ``attempt(remaining_seconds)`` until it returns, a fatal error, or a limit.

        ``attempt`` raises :class:`RetriableAPIError` for a failure worth repeating; when
        no repeat is allowed, that failure's final error is raised instead.
        """
        start = self.clock()
        budget_refused = False

        def remaining() -> float:
            return self.deadline - (self.clock() - start)

        def should_retry(state: tenacity.RetryCallState) -> bool:
            nonlocal budget_refused
            assert state.outcome is not None
            error = state.outcome.exception()
            if not isinstance(error, RetriableAPIError):
                return False
            # 429 and "in flight" are the platform pacing us, not failing: the limiter
            # already slows everyone down, so they do not draw on the budget.
            if error.throttled or self.budget is None or self.budget.try_spend():
                return True
            budget_refused = True
            return False

        def wait(state: tenacity.RetryCallState) -> float:
            assert state.outcome is not None
            error = state.outcome.exception()
            if isinstance(error, RetriableAPIError) and error.retry_after is not None:
                return error.retry_after
            return self.backoff(state.attempt_number)

        def stop(state: tenacity.RetryCallState) -> bool:
            if state.attempt_number >= self.max_attempts:
                return True
            # stop_before_delay: never start a wait that would end past the deadline.
            return self.clock() - start + state.upcoming_sleep >= self.deadline

        def before_sleep(state: tenacity.RetryCallState) -> None:
            assert state.outcome is not None
            error = state.outcome.exception()
            reason = error.reason if isinstance(error, RetriableAPIError) else repr(error)
            if self.stats is not None:
                self.stats.add("retries")
            log.info(
                "retrying %s in %.2fs (attempt %d of %d failed: %s)",
                what,
                state.upcoming_sleep,
                state.attempt_number,
                self.max_attempts,
                reason,
            )

        retrying = tenacity.Retrying(
            stop=stop,
            wait=wait,
            retry=should_retry,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        if self.budget is not None:
            self.budget.record_request()
        try:
            return retrying(lambda: attempt(remaining()))
        except RetriableAPIError as error:
            final = error.error
            if budget_refused:
                if self.stats is not None:
                    self.stats.add("retry_budget_exhausted")
                final = PlatformError(
                    f"{final.message} Not retried: the retry budget is spent "
                    "(most recent requests failed, so the platform looks down).",
                    hint="Try again later.",
                )
            raise final from error.__cause__


__all__ = [
    "RETRIABLE_STATUSES",
    "RetriableAPIError",
    "RetryBudget",
    "RetryPolicy",
    "TokenRejected",
    "classify",
    "full_jitter",
    "parse_retry_after",
    "rate_headers",
]
