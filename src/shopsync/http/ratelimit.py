"""One rate limiter shared by every worker: a token bucket that adapts to the platform.

The bucket is kept as GCRA (the "generic cell rate algorithm"): instead of a token
count it remembers the theoretical arrival time ``tat`` of the next request. A caller
reserves its slot under the lock and sleeps outside it, so sixteen threads are served
in arrival order, spaced ``1/rate`` apart after the first ``burst``, and the lock is
never held while sleeping.

The rate adapts like TCP congestion control (AIMD): a 429 halves it and pauses every
worker until ``Retry-After``; the platform's bucket running low (its ``remaining``)
caps it just under the platform's refill rate (measured from how ``remaining`` moves
against the answers received) before the platform has to refuse anything; and each
quiet second adds back a twentieth of the configured rate, so the client recovers once
the platform stops throttling. The rate never exceeds what was configured.

The signals arrive in one normalised form, :class:`~shopsync.http.wire.RateSignal`,
whatever the platform's headers or body fields (the adapter's wire reads them), through
:meth:`RateLimiter.observe`. A request may cost more than one token (a cost-based bucket
such as Shopify's GraphQL points), and :class:`RateBuckets` keeps one limiter per named
bucket (per-operation limits such as Amazon's).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from shopsync.http.wire import RateSignal

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class RateLimiter:
    """A thread-safe, adaptive token bucket.

    ``rate`` is requests per second for all callers together, ``burst`` how many may go
    at once from a full bucket. ``clock`` (monotonic seconds) and ``sleep`` are injected
    so tests are exact and instant.
    """

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
        adaptive: bool = True,
        min_rate: float = 0.5,
        decrease: float = 0.5,
        soft_decrease: float = 0.8,
        increase_interval: float = 1.0,
        increase_step: float | None = None,
        cooldown: float = 0.5,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self.max_rate = float(rate)
        self._rate = float(rate)
        self.burst = int(burst)
        self.adaptive = adaptive
        self.min_rate = min(min_rate, self.max_rate)
        self._decrease = decrease
        self._soft_decrease = soft_decrease
        self._increase_interval = increase_interval
        self._increase_step = increase_step if increase_step is not None else self.max_rate / 20
        self._cooldown = cooldown
        now = clock()
        self._tat = now
        self._paused_until = -math.inf
        self._last_change = now
        self._last_decrease = -math.inf
        self._last_hard_decrease = -math.inf
        # The platform's refill rate as measured from its reported remaining (see
        # _measure_refill): a window opens at one answer and closes a second later.
        self._window: tuple[float, float, int] | None = None  # (opened at, remaining, answers)
        self._measured_refill: float | None = None

    @property
    def rate(self) -> float:
        """The current (possibly adapted) rate in requests per second."""
        with self._lock:
            return self._rate

    @property
    def paused_until(self) -> float:
        """Clock time before which no request is let through (after a 429)."""
        with self._lock:
            return self._paused_until

    def pause_remaining(self) -> float:
        """Seconds left of the current pause after a 429 (0 when not paused)."""
        with self._lock:
            return max(0.0, self._paused_until - self._clock())

    def reserve(self, cost: float = 1.0) -> float:
        """Reserve the next slot; return how long the caller must wait before sending.

        ``cost`` is what the request takes from the bucket, in the bucket's units: 1 for a
        request-counting bucket, a query's estimated points for a cost-based one.
        """
        with self._lock:
            now = self._clock()
            self._maybe_increase(now)
            interval = 1.0 / self._rate
            tolerance = (self.burst - 1) * interval
            tat = max(self._tat, now)
            # GCRA for a weighted request: it may go once the bucket holds ``cost``
            # tokens, i.e. when tat + (cost - 1) * interval is within the tolerance.
            send_at = max(tat + (max(cost, 1.0) - 1.0) * interval - tolerance, now)
            send_at = max(send_at, self._paused_until)
            self._tat = max(tat, send_at - (max(cost, 1.0) - 1.0) * interval) + cost * interval
            return send_at - now

    def start_with(self, tokens: float, *, refill: float | None = None) -> None:
        """Begin with ``tokens`` in the local bucket (not a full burst), at most ``refill``/s.

        For a run's first requests: what the platform's bucket holds is unknown (or
        remembered from the last run), and a full local burst into an empty platform
        bucket is a burst of 429s. The rate then recovers as usual once answers say
        the platform has room.
        """
        with self._lock:
            now = self._clock()
            if refill is not None and self.adaptive and 0 < refill < self._rate:
                self._rate = max(self.min_rate, refill * 0.97)
                self._last_change = now
            interval = 1.0 / self._rate
            held = min(float(self.burst), max(0.0, tokens))
            self._tat = max(self._tat, now + (self.burst - held) * interval)

    def acquire(self, cost: float = 1.0) -> float:
        """Block until a request costing ``cost`` may be sent; return the seconds waited."""
        wait = self.reserve(cost)
        if wait > 0:
            self._sleep(wait)
        return wait

    def observe(self, signal: RateSignal) -> None:
        """Adapt to what one answer said about the platform's bucket, in normalised form.

        A throttled answer pauses everyone (``retry_after``) and halves the rate. A
        ``restore_rate`` stated alone is the rate the platform grants: the ceiling rises
        to it if it is higher (a seller's plan above the default). With ``remaining``, a
        ``restore_rate`` caps the rate at it while the bucket runs low; otherwise
        ``remaining``/``limit``/``reset_after`` feed the measured estimate of
        :meth:`on_rate_headers`.
        """
        if signal.throttled:
            self.on_throttled(signal.retry_after)
            return
        if signal.restore_rate is not None and signal.remaining is None:
            # The platform states the rate it grants this bucket and nothing else (Amazon's
            # x-amzn-RateLimit-Limit): a plan above the default one is used.
            self._grant(signal.restore_rate)
            return
        if signal.restore_rate is not None and signal.remaining is not None:
            limit = signal.limit or 0.0
            if signal.remaining <= max(2.0, limit * 0.2) and signal.restore_rate > 0:
                self._cap(signal.restore_rate)
                if signal.remaining <= 0:
                    self.pause(1.0 / signal.restore_rate)
            return
        self.on_rate_headers(
            limit=signal.limit, remaining=signal.remaining, reset=signal.reset_after
        )

    def pause(self, seconds: float) -> None:
        """Let nobody through for ``seconds`` (a 429's ``Retry-After``), then no burst.

        Pushing ``tat`` to ``until + tolerance`` makes the first request after the pause
        go at ``until`` and the rest follow at the rate, instead of all waiting workers
        stampeding the platform the moment the pause ends.
        """
        with self._lock:
            now = self._clock()
            until = now + max(0.0, seconds)
            self._paused_until = max(self._paused_until, until)
            self._last_change = max(self._last_change, until)  # paused time is not quiet time
            tolerance = (self.burst - 1) / self._rate
            self._tat = max(self._tat, until + tolerance)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429 arrived: pause everyone until ``Retry-After`` and halve the rate."""
        with self._lock:
            fallback = 1.0 / self._rate
        self.pause(retry_after if retry_after is not None else fallback)
        self._cut(self._decrease, hard=True)

    def on_rate_headers(
        self, *, limit: float | None, remaining: float | None, reset: float | None
    ) -> None:
        """Slow down before the wall, from the bucket state any answer reports.

        ``limit``, ``remaining`` and ``reset`` (seconds until full) describe the
        platform's token bucket. When it runs low, the client caps
        its own rate just under the platform's refill rate, and with the bucket empty
        every worker waits one refill interval. Far from the wall the headers change
        nothing.

        The refill rate is measured: between two answers a second or more apart, the
        bucket gained ``remaining2 - remaining1`` plus one token for each answer in
        between (each one spent a token). Until a measurement exists, it is estimated
        from ``reset`` as ``(limit - remaining) / reset``; but a whole-second
        Reset is rounded up, which puts that estimate up to 20 % under the true rate
        when the bucket is low, and a client capped there leaves that much unused.
        """
        if remaining is None:
            return
        measured = self._measure_refill(limit, remaining)
        if remaining > max(2.0, (limit or 0) * 0.2):
            return
        estimate = None
        if measured is not None:
            # Measured at the rate the client sent: 3% under it, so the platform's
            # bucket fills back up slowly instead of hovering at empty.
            estimate = measured
            self._cap(estimate * 0.97)
        elif limit and reset and reset > 0 and limit > remaining:
            estimate = (limit - remaining) / reset
            # A whole-second Reset is rounded up, so this is already at or under the
            # true rate: no further margin. A fractional Reset is exact, and gets a 10%
            # margin for the answers still in flight.
            margin = 1.0 if float(reset).is_integer() else 0.9
            self._cap(estimate * margin)
        else:
            self._cut(self._soft_decrease)
        if remaining <= 0:
            self.pause(1.0 / estimate if estimate else 1.0 / self.rate)

    @property
    def measured_refill(self) -> float | None:
        """The platform's refill rate (requests/s) as last measured, if it could be."""
        with self._lock:
            return self._measured_refill

    def _measure_refill(self, limit: float | None, remaining: float) -> float | None:
        with self._lock:
            now = self._clock()
            if limit is not None and remaining >= limit - 1:
                # A full bucket drops tokens it cannot hold: its refill is invisible.
                self._window = None
                return self._measured_refill
            if self._window is None:
                self._window = (now, remaining, 0)
                return self._measured_refill
            opened, at_open, answers = self._window
            answers += 1
            elapsed = now - opened
            if elapsed < 1.0 or answers < 10:
                self._window = (opened, at_open, answers)
                return self._measured_refill
            refill = (remaining - at_open + answers) / elapsed
            self._window = (now, remaining, 0)
            if refill > 0:
                previous = self._measured_refill
                # Half the weight on the newest second: quick to follow a change of
                # limit, steady against one window's ±1 token of rounding.
                self._measured_refill = refill if previous is None else (previous + refill) / 2
            return self._measured_refill

    def _grant(self, rate: float) -> None:
        """Raise the ceiling to ``rate`` if the platform grants more than it (never lower)."""
        with self._lock:
            if math.isfinite(rate) and rate > self.max_rate:
                self._rate += rate - self.max_rate
                self.max_rate = rate
                self._increase_step = self.max_rate / 20

    def _cap(self, target: float) -> None:
        if not self.adaptive:
            return
        with self._lock:
            if target < self._rate:
                self._slow_to(max(self.min_rate, target), self._clock())
            # While the platform's bucket stays low, the rate is not raised.
            self._last_change = max(self._last_change, self._clock())

    def _cut(self, factor: float, *, hard: bool = False) -> None:
        if not self.adaptive:
            return
        with self._lock:
            now = self._clock()
            # Answers to requests sent at the old rate keep arriving for a while: one cut
            # per cooldown stops them from collapsing the rate to its floor. A 429 has its
            # own cooldown, so a gentle cut just before cannot swallow it.
            last = self._last_hard_decrease if hard else self._last_decrease
            if now - last < self._cooldown:
                return
            self._slow_to(max(self.min_rate, self._rate * factor), now)
            if hard:
                self._last_hard_decrease = now
            self._last_decrease = now
            self._last_change = max(self._last_change, now)

    def _slow_to(self, rate: float, now: float) -> None:
        # Called with the lock held. The burst tolerance is (burst - 1) / rate: a lower
        # rate would widen it and let a fresh burst through at the worst moment. Slowing
        # down empties the local bucket instead; requests then follow at the new rate.
        self._rate = rate
        start = max(now, self._paused_until)
        self._tat = max(self._tat, start + (self.burst - 1) / rate)

    def _maybe_increase(self, now: float) -> None:
        # Called with the lock held.
        if not self.adaptive or self._rate >= self.max_rate:
            self._last_change = max(self._last_change, now)
            return
        steps = math.floor((now - self._last_change) / self._increase_interval)
        if steps > 0:
            old = self._rate
            self._rate = min(self.max_rate, self._rate + steps * self._increase_step)
            self._last_change += steps * self._increase_interval
            # Keep the backlog the same in requests, so that speeding up never delays
            # anyone (GCRA's tolerance shrinks as the rate grows).
            if self._tat > now:
                self._tat = now + (self._tat - now) * old / self._rate


@dataclass(frozen=True)
class BucketSpec:
    """The configured rate and burst of one of a platform's named buckets."""

    rate: float
    burst: int = 1


class RateBuckets:
    """The client's rate limiters: a default bucket and any named ones a platform has.

    Amazon's SP-API limits each operation on its own (``getOrders`` and
    ``putListingsItem`` do not share a bucket): a request names its bucket, and the
    answer's :class:`~shopsync.http.wire.RateSignal` says which bucket it describes.
    A bucket not declared in ``specs`` is made on first use with the default's
    configuration. Every bucket shares the clock and the sleep.
    """

    def __init__(
        self,
        default: RateLimiter,
        specs: dict[str, BucketSpec] | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self.default = default
        self._specs = dict(specs or {})
        self._clock = clock
        self._sleep = sleep
        self._named: dict[str, RateLimiter] = {}
        self._lock = threading.Lock()

    def get(self, bucket: str | None) -> RateLimiter:
        """The limiter of ``bucket`` (None: the default)."""
        if bucket is None:
            return self.default
        with self._lock:
            limiter = self._named.get(bucket)
            if limiter is None:
                spec = self._specs.get(bucket) or BucketSpec(
                    self.default.max_rate, self.default.burst
                )
                limiter = RateLimiter(spec.rate, spec.burst, clock=self._clock, sleep=self._sleep)
                self._named[bucket] = limiter
            return limiter

    def acquire(self, bucket: str | None = None, cost: float = 1.0) -> float:
        """Wait for room in ``bucket``; return the seconds waited."""
        return self.get(bucket).acquire(cost)

    def observe(self, signal: RateSignal, *, bucket: str | None = None) -> None:
        """Feed ``signal`` to the bucket it names (else ``bucket``, else the default)."""
        self.get(signal.bucket if signal.bucket is not None else bucket).observe(signal)

    def pause_remaining(self) -> float:
        """The longest pause any bucket is in (0 when none is paused)."""
        with self._lock:
            named = list(self._named.values())
        return max([self.default.pause_remaining(), *(b.pause_remaining() for b in named)])
