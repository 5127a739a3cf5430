"""Per-client token buckets (docs/platform-api.md §6), with an injected clock so tests are exact."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one request against a bucket, and the headers that tell the client."""

    allowed: bool
    limit: int
    remaining: int
    reset: int
    """Whole seconds until the bucket is full again."""
    retry_after: int
    """Whole seconds to wait before a request can pass; 0 when ``allowed``."""

    def headers(self) -> list[tuple[str, str]]:
        """``RateLimit-*`` headers, plus ``Retry-After`` when the request was refused."""
        out = [
            ("RateLimit-Limit", str(self.limit)),
            ("RateLimit-Remaining", str(self.remaining)),
            ("RateLimit-Reset", str(self.reset)),
        ]
        if not self.allowed:
            out.append(("Retry-After", str(self.retry_after)))
        return out


class TokenBucket:
    """A bucket of ``burst`` tokens refilled at ``rate`` per second; each request takes one."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()

    def acquire(self) -> RateDecision:
        """Take a token if there is one, and say what the client may do next."""
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        allowed = self._tokens >= 1.0
        if allowed:
            self._tokens -= 1.0
        # Retry-After and RateLimit-Reset are whole seconds (RFC 9110 delay-seconds), so they
        # round up: a client that waits that long is sure to find a token.
        retry_after = 0 if allowed else max(1, math.ceil((1.0 - self._tokens) / self.rate))
        reset = math.ceil((self.burst - self._tokens) / self.rate - 1e-9)
        return RateDecision(
            allowed=allowed,
            limit=self.burst,
            remaining=math.floor(self._tokens),
            reset=max(0, reset),
            retry_after=retry_after,
        )


class RateLimiter:
    """One :class:`TokenBucket` per client id, made on first use."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def acquire(self, client_id: str) -> RateDecision:
        """Charge one request to ``client_id``'s bucket."""
        with self._lock:
            bucket = self._buckets.get(client_id)
            if bucket is None:
                bucket = self._buckets[client_id] = TokenBucket(self.rate, self.burst, self._clock)
            return bucket.acquire()

    def reset(self) -> None:
        """Forget every bucket (all clients start full again)."""
        with self._lock:
            self._buckets.clear()
