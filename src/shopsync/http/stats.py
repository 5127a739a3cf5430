"""Counters the engine puts into its run report: how hard the client worked for the result."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields


@dataclass
class ClientStats:
    """Thread-safe counters of one client's traffic.

    ``requests``: API requests sent (every attempt, replays after a token refresh
    included); ``retries``: attempts repeated after a retriable failure; ``throttled``:
    429 answers; ``token_fetches``: requests to the token endpoint; ``token_refreshes``:
    tokens replaced after a 401 ``invalid_token``; ``transport_errors``: attempts that
    got no HTTP answer; ``retry_budget_exhausted``: failures not retried because the
    retry budget was spent.
    """

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    token_fetches: int = 0
    token_refreshes: int = 0
    transport_errors: int = 0
    retry_budget_exhausted: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, name: str, amount: int = 1) -> None:
        """Increase counter ``name`` by ``amount``."""
        with self._lock:
            setattr(self, name, getattr(self, name) + amount)

    def snapshot(self) -> dict[str, int]:
        """A consistent copy of every counter, for a report."""
        with self._lock:
            return {
                f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
            }
