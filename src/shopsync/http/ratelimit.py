"""One rate limiter shared by every worker: a token bucket that adapts to the platform.

The bucket is kept as GCRA (the "generic cell rate algorithm"): instead of a token
count it remembers the theoretical arrival time ``tat`` of the next request. A caller
reserves its slot under the lock and sleeps outside it, so sixteen threads are served
in arrival order, spaced ``1/rate`` apart after the first ``burst``, and the lock is
never held while sleeping.

The rate adapts like TCP congestion control (AIMD): a 429 halves it and pauses every
worker until ``Retry-After``; ``RateLimit-Remaining`` running low caps it just under the
platform's refill rate (read from the headers) before the platform has to refuse
anything; and each quiet second adds back a twentieth of the configured rate, so the
client recovers once the platform stops throttling. The rate never exceeds what was
configured.
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

        platform-api.md §6 describes a token bucket: ``RateLimit-Reset`` is the time until
        the bucket is full again. With ``remaining`` tokens left, the platform refills
        ``(limit - remaining) / reset`` per second: its sustainable rate. When the bucket
        runs low, the client caps its own rate a little under that estimate, and with
        the bucket empty every worker waits one refill interval. Far from the wall the
        headers change nothing.
        """
        if remaining is None:
            return
        if remaining > max(2.0, (limit or 0) * 0.2):
            return
        estimate = None
        if limit and reset and reset > 0 and limit > remaining:
            estimate = (limit - remaining) / reset
            # RateLimit-Reset in whole seconds is rounded up (RFC 9110 delay-seconds), so
            # the estimate is already at or under the true refill rate, by up to 20% when
            # the bucket is low: a further margin would only waste capacity. A fractional
            # Reset is exact, and gets a 10% margin for the answers still in flight.
            margin = 1.0 if float(reset).is_integer() else 0.9
            self._cap(estimate * margin)
        else:
            self._cut(self._soft_decrease)
        if remaining <= 0:
            self.pause(1.0 / estimate if estimate else 1.0 / self.rate)

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
