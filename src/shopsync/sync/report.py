"""What a run counts and reports: outcomes per item, counts by outcome, the run report."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from shopsync.domain.models import Product, SourceRow


def new_run_id() -> str:
    """A run id that sorts by time and is unique: ``20261127T120102Z-3f9a1c``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunCounts:
    """How many products went which way; read by the UI while the run goes on."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    rejected: int = 0
    resumed: int = 0
    """Items of batches left pending by an earlier run, sent again first."""
    skipped: int = 0
    """Input rows whose cells are all empty: read, but neither products nor rejected."""
    removed: int = 0
    """Products archived or deleted by ``--prune``."""
    unconfirmed: int = 0
    """Writes the platform accepted but had not applied when checked (``--verify``):
    in the failed file, and pending in the ledger so the next run checks them again."""
    accepted: int = 0
    """Writes accepted and waiting to be checked, while the run goes on (0 at its end:
    each becomes created, updated or unconfirmed)."""

    @property
    def processed(self) -> int:
        """Products sent or settled in this run (those accepted and not yet checked too,
        so progress moves while they wait)."""
        return (
            self.created + self.updated + self.unchanged + self.failed + self.unconfirmed
            + self.accepted
        )  # fmt: skip

    def as_dict(self) -> dict[str, int]:
        """The counts by outcome, for reports (``removed`` only when ``--prune`` removed
        something, ``unconfirmed`` only when some were, so other reports read as before)."""
        counts = {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "rejected": self.rejected,
            "resumed": self.resumed,
            "skipped": self.skipped,
        }
        if self.removed:
            counts["removed"] = self.removed
        if self.unconfirmed:
            counts["unconfirmed"] = self.unconfirmed
        if self.accepted:
            counts["accepted"] = self.accepted
        return counts


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class ItemOutcome:
    """The final outcome of one product in a run, for the succeeded and failed files."""

    sku: str
    action: str
    """``created``, ``updated``, ``failed``, or ``unconfirmed`` (accepted, not applied
    when checked: written to the failed file as a failure is)."""
    product_id: str | None
    row: SourceRow | None
    source: Mapping[str, Any] | Product
    """The body sent, or the product it is the body of (made into one only if an output
    file asks: most outcomes are only counted)."""
    code: str | None = None
    message: str | None = None

    @property
    def body(self) -> Mapping[str, Any]:
        """The API body of the item."""
        return self.source.to_api() if isinstance(self.source, Product) else self.source


@dataclass
class RunReport:
    """The machine-readable account of one run (``--report``)."""

    run_id: str
    command: str
    profile: str
    started_at: str
    finished_at: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report document."""
        return {
            "run_id": self.run_id,
            "command": self.command,
            "profile": self.profile,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": self.counts,
            "requests": self.traffic.get("requests", 0),
            "retries": self.traffic.get("retries", 0),
            "throttled": self.traffic.get("throttled", 0),
            "traffic": self.traffic,
            "files": self.files,
            "outputs": self.outputs,
            "exit_code": self.exit_code,
            "error": self.error,
        }
