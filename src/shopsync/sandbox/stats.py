"""Counters behind ``GET /_sandbox/stats``: what the sandbox was asked, and what it did."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

from shopsync.sandbox.faults import Fault


class Stats:
    """Thread-safe request counters (the event loop writes, a test thread may read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Zero every counter."""
        with self._lock:
            self._started = time.time()
            self._requests: dict[str, Counter[str]] = {}
            self._total = 0
            self._writes = 0
            self._rate_limited = 0
            self._replays = 0
            self._tokens = 0
            self._faults: Counter[str] = Counter({kind.value: 0 for kind in Fault})

    def request(self, endpoint: str, outcome: str, *, write: bool) -> None:
        """Count one finished request; ``outcome`` is the status code or how it was cut."""
        with self._lock:
            self._total += 1
            if write:
                self._writes += 1
            counter = self._requests.get(endpoint)
            if counter is None:
                counter = self._requests[endpoint] = Counter()
            counter[outcome] += 1

    def rate_limited(self) -> None:
        """Count a request refused with 429."""
        with self._lock:
            self._rate_limited += 1

    def replayed(self) -> None:
        """Count an idempotent replay."""
        with self._lock:
            self._replays += 1

    def token_issued(self) -> None:
        """Count an access token handed out."""
        with self._lock:
            self._tokens += 1

    def fault(self, kind: Fault) -> None:
        """Count an injected fault."""
        with self._lock:
            self._faults[kind.value] += 1

    def snapshot(self) -> dict[str, Any]:
        """The counters as plain JSON-ready data."""
        with self._lock:
            return {
                "since": self._started,
                "requests_total": self._total,
                "write_requests": self._writes,
                "requests": {
                    endpoint: dict(sorted(counter.items()))
                    for endpoint, counter in sorted(self._requests.items())
                },
                "rate_limited": self._rate_limited,
                "idempotent_replays": self._replays,
                "tokens_issued": self._tokens,
                "faults": dict(self._faults),
                "faults_total": sum(self._faults.values()),
            }
