"""The sandbox's knobs, shared by ``shopsync sandbox serve`` and :func:`running_sandbox`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from shopsync.errors import UsageError
from shopsync.sandbox.dialects import DEFAULT_DIALECT, DIALECTS, known_dialects

MIB = 1024 * 1024

ALL_SCOPES: tuple[str, ...] = ("products", "inventory", "orders")
"""The scopes of the platform contract (docs/platform-api.md §1), in the order tokens list them."""


@dataclass(frozen=True)
class SandboxConfig:
    """Everything a sandbox can be told; every field has a default that gives a quiet shop.

    Fractions (``*_rate`` fields other than ``rate`` and ``order_rate``) are probabilities
    per request, drawn from a random generator seeded with ``seed``, so the same seed and
    the same sequence of requests give the same faults.
    """

    dialect: str = DEFAULT_DIALECT
    """Which platform's API the sandbox speaks (``shopsync.sandbox.dialects``)."""
    host: str = "127.0.0.1"
    """Interface to bind. Loopback by default: the sandbox has demo credentials."""
    port: int = 0
    """TCP port; 0 picks a free one (the base URL then says which)."""
    db: str | Path | None = None
    """SQLite file that holds the shop across restarts; ``None`` keeps it in memory."""
    client_id: str = "demo-client"
    client_secret: str = "demo-secret"  # noqa: S105 - a published demo credential
    token_ttl: float = 3600.0
    """Access token lifetime in seconds (``expires_in``)."""
    rate: float = 100.0
    """Token bucket refill rate per client, requests per second."""
    burst: int = 100
    """Token bucket capacity per client."""
    max_batch: int = 100
    """Most items in one ``/products/batch`` or ``/inventory/batch`` request."""
    latency_ms: float = 0.0
    """Fixed delay added to every API request that gets past authentication."""
    jitter_ms: float = 0.0
    """Extra delay, uniform in ``[0, jitter_ms]``, added to ``latency_ms``."""
    fault_rate: float = 0.0
    """Fraction of requests answered 500, 502 or 503 (503 with ``Retry-After``), unprocessed."""
    reset_rate: float = 0.0
    """Fraction of requests whose connection is reset before anything is processed."""
    slow_rate: float = 0.0
    """Fraction of requests delayed by ``slow_ms`` before they are processed."""
    slow_ms: float = 5000.0
    drop_after_commit_rate: float = 0.0
    """Fraction of requests processed (and committed) whose connection is then cut unanswered."""
    ignore_idempotency_keys: bool = False
    """Apply every request as new, whatever its ``Idempotency-Key`` (as platforms that do not
    honour keys do): no replay, no mismatch check, nothing stored for the key."""
    allow_duplicate_skus: bool = False
    """Let a create of an SKU that exists make a second product (no ``SKU_EXISTS``), as
    platforms without SKU uniqueness do. Lookups by SKU then answer every product with it."""
    seed: int = 0
    """Seed of the fault, jitter and order generators."""
    orders: int = 0
    """Orders to have in the shop at start (only the missing ones are generated)."""
    order_rate: float = 0.0
    """Order events per second (new orders and status changes); 0 for none."""
    idempotency_ttl: float = 24 * 3600.0
    """How long a stored idempotent response is kept, in seconds (the contract: ≥ 24 h)."""
    max_body_bytes: int = 5 * MIB
    """Largest accepted request body (the contract: 5 MiB)."""
    clock: Callable[[], float] = field(default=time.time, compare=False)
    """Wall clock in seconds since the epoch: timestamps and token expiry. Tests inject one."""
    log_level: str = "warning"
    """uvicorn's log level."""
    access_log: bool = False
    dialect_options: Mapping[str, str] = field(default_factory=dict, compare=False)
    """Knobs of one dialect only, by name, as text (``sandbox serve --dialect-option
    NAME=VALUE``): each dialect reads and checks its own (the ``amazon`` dialect's
    ``visibility_delay``, ``lose_skus``...) and refuses names it does not know."""

    def __post_init__(self) -> None:
        problems = self._problems()
        if problems:
            raise UsageError("Invalid sandbox settings: " + "; ".join(problems) + ".")

    def _problems(self) -> list[str]:
        problems: list[str] = []
        if self.dialect not in DIALECTS:
            problems.append(
                f"there is no sandbox dialect {self.dialect!r} (known: "
                f"{', '.join(known_dialects())})"
            )
        if not 0 <= self.port <= 65535:
            problems.append(f"port must be between 0 and 65535, not {self.port}")
        if not self.client_id or not self.client_secret:
            problems.append("client id and client secret must not be empty")
        if not (self.token_ttl > 0 and math.isfinite(self.token_ttl)):
            problems.append("token lifetime must be a positive number of seconds")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            problems.append("rate must be a positive number of requests per second")
        if self.burst < 1:
            problems.append("burst must be at least 1")
        if self.max_batch < 1:
            problems.append("maximum batch size must be at least 1")
        problems.extend(
            f"{name} must be a non-negative number"
            for name in ("latency_ms", "jitter_ms", "slow_ms", "order_rate", "idempotency_ttl")
            if not (getattr(self, name) >= 0 and math.isfinite(getattr(self, name)))
        )
        fractions = ("fault_rate", "reset_rate", "slow_rate", "drop_after_commit_rate")
        problems.extend(
            f"{name} must be a fraction between 0 and 1, not {getattr(self, name)}"
            for name in fractions
            if not 0 <= getattr(self, name) <= 1
        )
        if sum(getattr(self, name) for name in fractions) > 1 + 1e-9:
            problems.append("the fault fractions add up to more than 1")
        if self.orders < 0:
            problems.append("orders must not be negative")
        if self.max_body_bytes < 1:
            problems.append("max_body_bytes must be positive")
        return problems

    @property
    def db_path(self) -> str:
        """The SQLite database argument: the file path, or ``:memory:``."""
        return ":memory:" if self.db is None else str(self.db)
