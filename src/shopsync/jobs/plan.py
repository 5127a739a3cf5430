"""The ``plan`` job: what an upload would change, sending no write request."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsync.catalog.records import Catalog, RejectsFile, check_output_path
from shopsync.domain.models import RowError
from shopsync.errors import UsageError
from shopsync.i18n import N_
from shopsync.jobs.base import (
    JobOptions,
    Outputs,
    Target,
    _valid_rows,
)
from shopsync.jobs.planfile import PlanDocument, change_record, file_digest, removal_record
from shopsync.platforms.base import Capabilities, product_check_of
from shopsync.state.store import LedgerStore
from shopsync.sync.planner import Change, Planner, refuse_variants
from shopsync.sync.prune import Removal, check_removals, plan_removals
from shopsync.sync.report import RunCounts

DRIFT_WARN_DAYS = 7
"""``plan`` warns when the ledger last learned the platform's state (a ``--refresh``, or
its first upload) longer ago than this: products may have been edited on the platform."""


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
    deletes: list[Removal] = field(default_factory=list)
    """With ``--prune``: the products to remove (all of them)."""
    warnings: list[str] = field(default_factory=list)
    """What the plan's reader should know (a ledger not refreshed for long)."""
    plan_path: Path | None = None

    @property
    def has_changes(self) -> bool:
        """Whether an upload would write anything."""
        return bool(self.counts.created or self.counts.updated or self.deletes)

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document for CI."""
        return {
            "counts": {
                "create": self.counts.created,
                "update": self.counts.updated,
                "unchanged": self.counts.unchanged,
                "rejected": self.counts.rejected,
                "delete": len(self.deletes),
            },
            "creates": [
                {"sku": c.sku, "file": c.row.file, "line": c.row.line, "body": c.body}
                for c in self.creates
            ],
            "deletes": [removal_record(removal) for removal in self.deletes],
            "warnings": self.warnings,
            "plan": str(self.plan_path) if self.plan_path else None,
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

    Without ``--refresh`` nothing is sent at all: the ledger alone decides. With
    ``outputs.plan``, every change is written to that plan file (for ``apply``).
    """
    if outputs.rejects is not None:
        check_output_path(outputs.rejects, "--rejects")  # before reading, not after
    if outputs.plan is not None:
        check_output_path(outputs.plan, "--out")
    if target.platform is not None:  # --refresh connected it: its rules apply too
        catalog.constraints = product_check_of(target.platform) or catalog.constraints
    counts = RunCounts()
    rejected: list[RowError] = []
    rejects = (
        RejectsFile(outputs.rejects, catalog.header_map, catalog.files) if outputs.rejects else None
    )
    result = PlanResult(counts, rejected=rejected, rejects_path=outputs.rejects)
    capabilities = target.declared_capabilities()
    _check_can_prune(target, capabilities, prune=options.prune)
    outcomes = (
        refuse_variants(catalog, capabilities, target.name) if capabilities is not None else catalog
    )
    records: list[dict[str, Any]] | None = [] if outputs.plan is not None else None
    listed: set[str] = set()
    before: dict[str, dict[str, Any]] = {}
    with target.open_ledger() as ledger:
        _warn_of_drift(ledger, result, refreshing=options.refresh)
        planner = Planner(
            ledger,
            force=options.force,
            refresh_from=target.platform if options.refresh else None,
            # --prune removes what the catalog no longer lists, variants included.
            remove_missing_variants=options.remove_missing_variants or options.prune,
        )
        try:
            for change in planner.plan(_valid_rows(outcomes, rejects, counts, rejected)):
                _note(change, result, options, records)
                if options.prune:
                    listed.add(change.sku)
            if options.prune:
                result.deletes = plan_removals(ledger, listed)
                if records is not None:
                    removed = ledger.get_many([removal.sku for removal in result.deletes])
                    before = {sku: entry.body for sku, entry in removed.items()}
                check_removals(
                    result.deletes,
                    max_delete=options.max_delete,
                    managed=len(ledger),
                    rejected=counts.rejected,
                )
            if options.refresh:
                ledger.mark_refreshed()
        except BaseException:
            if rejects is not None:
                rejects.discard()
            raise
    if rejects is not None:
        rejects.close()
    if outputs.plan is not None and records is not None:
        records.extend(
            removal_record(removal, before.get(removal.sku)) for removal in result.deletes
        )
        _plan_document(catalog, target, options, result, records).write(outputs.plan)
        result.plan_path = outputs.plan
    return result


def _check_can_prune(target: Target, capabilities: Capabilities | None, *, prune: bool) -> None:
    """Refuse ``--prune`` for a platform that cannot remove products, as upload and apply
    do: a plan of deletes that could never be applied."""
    if prune and capabilities is not None and capabilities.removal is None:
        raise UsageError(
            N_(
                "The {platform} platform cannot remove products, so --prune cannot be used with it."
            ).format(platform=target.name)
        )


def _note(
    change: Change,
    result: PlanResult,
    options: JobOptions,
    records: list[dict[str, Any]] | None,
) -> None:
    """Count ``change``, keep it as an example, and with a plan file, its record."""
    counts = result.counts
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
    if records is not None and change.kind != "unchanged":
        records.append(change_record(change))
    result.kept_variants.extend((change.sku, sku) for sku in change.kept_variants)


def _warn_of_drift(
    ledger: LedgerStore, result: PlanResult, *, refreshing: bool, now: float | None = None
) -> None:
    """Warn when the ledger's picture of the platform is older than :data:`DRIFT_WARN_DAYS`."""
    if refreshing:
        return
    as_of = ledger.state_as_of()
    if as_of is None:
        return
    age_days = ((time.time() if now is None else now) - as_of) / 86400
    if age_days > DRIFT_WARN_DAYS:
        result.warnings.append(
            N_(
                "The ledger has not learned the platform's state for {days} days: "
                "products edited on the platform since then are not in this "
                "plan. Plan with --refresh to read them."
            ).format(days=int(age_days))
        )


def _plan_document(
    catalog: Catalog,
    target: Target,
    options: JobOptions,
    result: PlanResult,
    records: list[dict[str, Any]],
) -> PlanDocument:
    return PlanDocument(
        target={
            "profile": target.profile,
            "platform": target.platform_name,
            "base_url": target.base_url,
        },
        inputs=[
            {"file": str(opened.path), "sha256": file_digest(opened.path)}
            for opened in catalog.files
        ],
        options={
            "force": options.force,
            "refresh": options.refresh,
            "prune": options.prune,
            "max_delete": options.max_delete,
        },
        counts={
            "create": result.counts.created,
            "update": result.counts.updated,
            "delete": len(result.deletes),
            "unchanged": result.counts.unchanged,
            "rejected": result.counts.rejected,
        },
        warnings=result.warnings,
        changes=records,
    )
