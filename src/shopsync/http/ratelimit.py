"""One rate limiter shared by every worker: a token bucket that adapts to the platform.

The bucket is kept as GCRA (the "generic cell rate algorithm"): instead of a token
count it remembers the theoretical arrival time ``tat`` of the next request. A caller
reserves its slot under the lock and sleeps outside it, so sixteen threads are served
in arrival order, spaced ``1/rate`` apart after the first ``burst``, and the lock is
never held while sleeping.

The rate adapts like TCP congestion control (AIMD): a 429 halves it and pauses every
worker until ``Retry-After``; ``RateLimit-Remaining`` running low caps it just under the
platform's refill rate (measured from how ``Remaining`` moves against the answers
received) before the platform has to refuse anything; and each quiet second adds back
a twentieth of the configured rate, so the client recovers once the platform stops
throttling. The rate never exceeds what was configured.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

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
        # The platform's refill rate as measured from RateLimit-Remaining (see
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

    def reserve(self) -> float:
        """Reserve the next slot; return how long the caller must wait before sending."""
        with self._lock:
            now = self._clock()
            self._maybe_increase(now)
            interval = 1.0 / self._rate
            tolerance = (self.burst - 1) * interval
            tat = max(self._tat, now)
            send_at = max(tat - tolerance, now, self._paused_until)
            self._tat = max(tat, send_at) + interval
            return send_at - now

    def acquire(self) -> float:
        """Block until a request may be sent; return the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

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
        """Slow down before the wall, from the ``RateLimit-*`` headers of any answer.

        docs/platform-api.md §6 describes a token bucket. When it runs low, the client caps
        its own rate just under the platform's refill rate, and with the bucket empty
        every worker waits one refill interval. Far from the wall the headers change
        nothing.

        The refill rate is measured: between two answers a second or more apart, the
        bucket gained ``remaining2 - remaining1`` plus one token for each answer in
        between (each one spent a token). Until a measurement exists, it is estimated
        from ``RateLimit-Reset`` as ``(limit - remaining) / reset``; but a whole-second
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
