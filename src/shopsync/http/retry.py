"""Which failures are worth another attempt, and how attempts are spaced and bounded.

Two functions decide retriable versus fatal (the idea of meltano's
``RetriableAPIError``/``FatalAPIError``): :func:`classify_exception` here, for requests
that got no HTTP answer (the same on every platform), and the adapter's
:meth:`~shopsync.http.wire.Wire.classify` for HTTP answers (which statuses, bodies and
headers mean what is the platform's business). Each gives ``None`` (success), a
:class:`RetriableAPIError`, or the :class:`~shopsync.errors.ShopsyncError` to raise.

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
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urlsplit

import requests
import tenacity
import urllib3.exceptions

from shopsync.errors import (
    AmbiguousWriteError,
    PlatformError,
    ShopsyncError,
    TransportError,
)
from shopsync.http.redact import redact_text, redacting_logger
from shopsync.http.stats import ClientStats
from shopsync.i18n import N_

if TYPE_CHECKING:
    from shopsync.config import Settings

log = redacting_logger(__name__)

T = TypeVar("T")
Clock = Callable[[], float]
Sleep = Callable[[float], None]
Jitter = Callable[[float], float]

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


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


def classify_exception(  # noqa: PLR0911 - one decision table, one return per verdict
    error: BaseException, *, what: str, retry_ambiguous: bool = True
) -> RetriableAPIError | ShopsyncError:
    """Decide what a request that got no HTTP answer means: retry, or the error to raise.

    The same on every platform: nothing was sent (retry), something was sent and the
    answer was lost (retry with the same key, *ambiguous*; or, with
    ``retry_ambiguous=False``, :class:`AmbiguousWriteError` for the adapter to
    reconcile), or a TLS failure (fatal). The adapter's :class:`~shopsync.http.wire.Wire`
    classifies HTTP answers.
    """
    text = redact_text(str(error))
    if isinstance(error, requests.exceptions.SSLError):
        # A certificate problem does not fix itself in a second.
        return TransportError(
            N_("{what}: TLS verification failed: {text}").format(what=what, text=text),
            hint=N_("If the platform uses a private CA, pass its bundle with --ca-bundle."),
        )
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return RetriableAPIError(
            N_("connect timeout"),
            TransportError(
                N_("{what}: could not connect to {host}: connect timeout.").format(
                    what=what, host=_host(error)
                )
            ),
        )
    if isinstance(error, requests.exceptions.ConnectionError) and _never_sent(error):
        return RetriableAPIError(
            N_("connection failed"),
            TransportError(
                N_("{what}: could not connect to {host}: {connect_reason}.").format(
                    what=what, host=_host(error), connect_reason=_connect_reason(error)
                ),
                hint=N_(
                    "Check that the platform is up and that base_url is right; the "
                    "rows not sent are left for the next run."
                ),
            ),
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
                N_(
                    "{what}: {kind} after the request was sent; it may or may not "
                    "have been applied."
                ).format(what=what, kind=kind)
            )
        return RetriableAPIError(
            N_("{kind} (request may have been applied)").format(kind=kind),
            TransportError(f"{what}: {kind}: {text}"),
            ambiguous=True,
        )
    if isinstance(error, requests.exceptions.RequestException):
        return TransportError(f"{what}: {text}")
    return TransportError(f"{what}: {type(error).__name__}: {text}")


def _host(error: requests.exceptions.RequestException) -> str:
    """The host a failed request was for (``HOST:PORT`` when the port is not implied)."""
    request = error.request
    url = str(request.url) if request is not None and request.url else ""
    parts = urlsplit(url)
    if not parts.hostname:
        return "the platform"
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = parts.port
    return parts.hostname if port in (None, default) else f"{parts.hostname}:{port}"


def _connect_reason(error: BaseException) -> str:
    """What stopped the connection, in a few words, from the chain of causes.

    urllib3 wraps the operating system's error in three layers of its own text
    ("HTTPConnectionPool(host=..., port=...): Max retries exceeded ... [Errno 111]");
    the person reading wants the last link of that chain.
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "the host name does not resolve"
        if isinstance(current, TimeoutError | socket.timeout):
            return "timed out"
        if isinstance(current, OSError) and current.strerror and current.errno:
            return current.strerror[0].lower() + current.strerror[1:]
        pending.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        pending.extend(arg for arg in current.args if isinstance(arg, BaseException))
    return "no connection"


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

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        stats: ClientStats,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        jitter: Jitter = full_jitter,
    ) -> RetryPolicy:
        """The policy every adapter builds: ``max_attempts`` and ``deadline`` from
        ``settings``, a fresh retry budget, the injected clock, sleep and jitter."""
        return cls(
            max_attempts=settings.max_attempts,
            deadline=settings.deadline,
            budget=RetryBudget(),
            clock=clock,
            sleep=sleep,
            jitter=jitter,
            stats=stats,
        )

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
                    N_(
                        "{message} Not retried: the retry budget is spent (most recent "
                        "requests failed, so the platform looks down)."
                    ).format(message=final.message),
                    hint=N_("Try again later."),
                )
            raise final from error.__cause__


__all__ = [
    "RETRIABLE_STATUSES",
    "RetriableAPIError",
    "RetryBudget",
    "RetryPolicy",
    "classify_exception",
    "full_jitter",
    "parse_retry_after",
]
