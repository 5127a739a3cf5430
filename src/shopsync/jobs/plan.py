"""The ``plan`` job: what an upload would change, sending no write request."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsync.catalog.records import Catalog, RejectsFile, check_output_path
from shopsync.domain.models import RowError
from shopsync.jobs.base import (
    JobOptions,
    Outputs,
    Target,
    _valid_rows,
)
from shopsync.platforms.base import product_check_of
from shopsync.state.ledger import Ledger
from shopsync.sync.planner import Change, Planner, refuse_variants
from shopsync.sync.report import RunCounts


@dataclass
class PlanResult:
    """What ``shopsync plan`` found: counts and examples of each kind of change."""

    counts: RunCounts
    creates: list[Change] = field(default_factory=list)
    updates: list[Change] = field(default_factory=list)
    rejected: list[RowError] = field(default_factory=list)
    rejects_path: Path | None = None
    kept_variants: list[tuple[str, str]] = field(default_factory=list)
    """``(product key, variant SKU)`` of variants on the platform the file no longer lists:
    kept there, reported (see :class:`~shopsync.sync.planner.Planner`)."""

    @property
    def has_changes(self) -> bool:
        """Whether an upload would write anything."""
        return bool(self.counts.created or self.counts.updated)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document for CI."""
        return {
            "counts": {
                "create": self.counts.created,
                "update": self.counts.updated,
                "unchanged": self.counts.unchanged,
                "rejected": self.counts.rejected,
            },
            "creates": [
                {"sku": c.sku, "file": c.row.file, "line": c.row.line} for c in self.creates
            ],
            "updates": [
                {
                    "sku": c.sku,
                    "product_id": c.entry.product_id if c.entry else None,
                    "file": c.row.file,
                    "line": c.row.line,
                    "changes": [
                        {"field": name, "before": before, "after": after}
                        for name, before, after in c.diff()
                    ],
                }
                for c in self.updates
            ],
            "rejected": [
                {"file": e.row.file, "line": e.row.line, "message": e.message}
                for e in self.rejected
            ],
            "rejects": str(self.rejects_path) if self.rejects_path else None,
            "kept_variants": [{"product": key, "sku": sku} for key, sku in self.kept_variants],
        }


def plan(catalog: Catalog, target: Target, options: JobOptions, outputs: Outputs) -> PlanResult:
    """Work out what an upload would do, sending no write request.

    Without ``--refresh`` nothing is sent at all: the ledger alone decides.
    """
    if outputs.rejects is not None:
        check_output_path(outputs.rejects, "--rejects")  # before reading, not after
    if target.platform is not None:  # --refresh connected it: its rules apply too
        catalog.constraints = product_check_of(target.platform) or catalog.constraints
    counts = RunCounts()
    rejected: list[RowError] = []
    rejects = (
        RejectsFile(outputs.rejects, catalog.header_map, catalog.files) if outputs.rejects else None
    )
    result = PlanResult(counts, rejected=rejected, rejects_path=outputs.rejects)
    capabilities = target.declared_capabilities()
    outcomes = (
        refuse_variants(catalog, capabilities, target.name) if capabilities is not None else catalog
    )
    with Ledger(target.ledger_dir) as ledger:
        planner = Planner(
            ledger,
            force=options.force,
            refresh_from=target.platform if options.refresh else None,
            remove_missing_variants=options.remove_missing_variants,
        )
        try:
            for change in planner.plan(_valid_rows(outcomes, rejects, counts, rejected)):
                if change.kind == "create":
                    counts.created += 1
                    if len(result.creates) < options.sample:
                        result.creates.append(change)
                elif change.kind == "update":
                    counts.updated += 1
                    if len(result.updates) < options.sample:
                        result.updates.append(change)
                else:
                    counts.unchanged += 1
                result.kept_variants.extend((change.sku, sku) for sku in change.kept_variants)
        except BaseException:
            if rejects is not None:
                rejects.discard()
            raise
    if rejects is not None:
        rejects.close()
    return result
