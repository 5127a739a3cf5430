"""Seeded fault injection: which requests fail, and how.

One draw per request from a generator seeded with the configured seed, in the order the
requests arrive: the same seed and the same sequence of requests give the same faults.
Latency jitter has its own generator so that turning jitter on does not change the faults.
"""

from __future__ import annotations

import enum
import random
import threading

from shopsync.sandbox.config import SandboxConfig


class Fault(str, enum.Enum):
    """The kinds of injected fault, as named in ``/_sandbox/stats``."""

    ERROR_500 = "error_500"
    ERROR_502 = "error_502"
    ERROR_503 = "error_503"
    RESET = "reset"
    """The connection is reset before the request is processed."""
    SLOW = "slow"
    """The request is processed after an extra ``slow_ms`` delay."""
    DROP_AFTER_COMMIT = "drop_after_commit"
    """The request is processed and committed, then the connection is cut unanswered."""

    @property
    def status(self) -> int | None:
        """The HTTP status of an error fault, ``None`` for the others."""
        return {Fault.ERROR_500: 500, Fault.ERROR_502: 502, Fault.ERROR_503: 503}.get(self)


class FaultInjector:
    """Decides, request by request, whether and how to misbehave."""

    def __init__(self, config: SandboxConfig) -> None:
        self._config = config
        self._lock = threading.Lock()
        # Seeded on purpose, for reproducible faults; nothing here is a secret.
        self._rng = random.Random(config.seed)  # noqa: S311
        # A string seed is hashed with SHA-512 by random.Random: stable across runs.
        self._jitter_rng = random.Random(f"{config.seed}:jitter")  # noqa: S311
        self._thresholds = (
            (config.fault_rate, None),
            (config.reset_rate, Fault.RESET),
            (config.slow_rate, Fault.SLOW),
            (config.drop_after_commit_rate, Fault.DROP_AFTER_COMMIT),
        )
        self._enabled = any(rate > 0 for rate, _ in self._thresholds)

    def draw(self) -> Fault | None:
        """The fault for the next request, or ``None`` to behave."""
        if not self._enabled:
            return None
        with self._lock:
            u = self._rng.random()
            edge = 0.0
            for rate, kind in self._thresholds:
                edge += rate
                if u < edge:
                    if kind is None:
                        return self._rng.choice((Fault.ERROR_500, Fault.ERROR_502, Fault.ERROR_503))
                    return kind
            return None

    def latency(self) -> float:
        """Seconds to delay the next request: the fixed latency plus seeded jitter."""
        delay = self._config.latency_ms
        if self._config.jitter_ms > 0:
            with self._lock:
                delay += self._jitter_rng.uniform(0.0, self._config.jitter_ms)
        return delay / 1000.0
