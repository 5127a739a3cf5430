"""What the last run learnt about a platform's rate-limit bucket, kept for the next one.

A run killed while the platform's bucket was empty, and restarted at once, would
otherwise open with a burst sized to its own configuration into a bucket that holds
nothing: every request of that burst is answered 429. The client notes the bucket
state the platform last reported (at most once a second, so a SIGKILL loses at most a
second of it) in a small JSON file per target; the next run estimates what the bucket
holds now (what was left plus the refill since, up to its size) and starts with no
more than that. With no memory at all, a run starts with one request's worth, not a
burst, until the platform's own signals say more is allowed.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from shopsync.http.ratelimit import RateLimiter
from shopsync.http.wire import RateSignal


@dataclass(frozen=True)
class BucketState:
    """The platform's bucket as last reported: size, what was left, refill, when (epoch)."""

    limit: float | None
    remaining: float
    refill: float | None
    at: float

    def tokens_now(self, now: float) -> float:
        """What the bucket should hold at ``now``: what was left plus the refill since."""
        if self.refill is None or self.limit is None:
            return self.remaining
        return min(self.limit, self.remaining + self.refill * max(0.0, now - self.at))


class RateMemory:
    """One target's :class:`BucketState` in a JSON file (written atomically, mode 0600)."""

    def __init__(
        self, path: Path, *, clock: Callable[[], float] = time.time, every: float = 1.0
    ) -> None:
        self.path = path
        self._clock = clock
        self._every = every
        self._last_write = -float("inf")
        self._lock = threading.Lock()

    def load(self) -> BucketState | None:
        """The last state written, or None if there is none (or it cannot be read)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return BucketState(
                limit=None if raw.get("limit") is None else float(raw["limit"]),
                remaining=float(raw["remaining"]),
                refill=None if raw.get("refill") is None else float(raw["refill"]),
                at=float(raw["at"]),
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return None

    def warm(self, limiter: RateLimiter) -> None:
        """Start ``limiter`` with what the platform's bucket should hold now (or one token)."""
        state = self.load()
        if state is None:
            limiter.start_with(1.0)
            return
        limiter.start_with(state.tokens_now(self._clock()), refill=state.refill)

    def note(self, signal: RateSignal, limiter: RateLimiter) -> None:
        """Remember ``signal``'s bucket state, at most once per ``every`` seconds."""
        if signal.remaining is None or signal.bucket is not None:
            return
        now = self._clock()
        with self._lock:
            if now - self._last_write < self._every:
                return
            self._last_write = now
        refill = signal.restore_rate or limiter.measured_refill
        state = BucketState(limit=signal.limit, remaining=signal.remaining, refill=refill, at=now)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                json.dump(asdict(state), handle)
            temporary.replace(self.path)
        except OSError:
            pass  # a memory, not a record: a run without it is only less polite at start
