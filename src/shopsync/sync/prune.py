"""Prune: remove from the platform the products shopsync manages there (the ledger's) that
the catalog no longer lists (``--prune``), within a safety limit (``--max-delete``).

Only the ledger decides what is shopsync's: a product created in the platform's back
office, or by another tool, is never in this target's ledger and so never removed.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from shopsync.domain.timefmt import now_rfc3339
from shopsync.errors import DeleteLimitExceeded, RowsRejected, UsageError
from shopsync.i18n import N_
from shopsync.platforms.base import ItemCode, Platform, capabilities_of
from shopsync.state.audit import AuditLog, AuditRecord
from shopsync.state.store import LedgerStore

DEFAULT_MAX_DELETE_PERCENT = 5
"""``--max-delete`` by default: this percentage of the products the ledger holds for the
target (at least 1), so a truncated or wrong catalog file cannot empty a shop."""


@dataclass(frozen=True, slots=True)
class Removal:
    """A product the ledger holds and the catalog no longer lists: to be removed."""

    sku: str
    """The ledger's key: the SKU, or the handle of a product with variants."""
    product_id: str
    ledger_hash: str
    """The content hash the ledger held when this was planned (``apply`` checks it)."""


def default_max_delete(managed: int) -> int:
    """The default limit for ``managed`` products in the ledger (see the constant)."""
    return max(1, math.ceil(managed * DEFAULT_MAX_DELETE_PERCENT / 100))


def plan_removals(ledger: LedgerStore, listed: Collection[str]) -> list[Removal]:
    """The ledger's products whose key is not in ``listed`` (the catalog's keys), by key."""
    known = list(ledger.skus())
    missing = [sku for sku in known if sku not in listed]
    entries = ledger.get_many(missing)
    return [
        Removal(sku, entry.product_id, entry.content_hash)
        for sku in missing
        if (entry := entries.get(sku)) is not None
    ]


def check_removals(
    removals: Sequence[Removal],
    *,
    max_delete: int | None,
    managed: int,
    rejected: int,
    platform_name: str | None = None,
    platform: Platform | None = None,
) -> None:
    """Refuse, before anything is removed, a prune that is unsafe or impossible.

    Rows rejected this run make their products look removed from the catalog, so any
    rejected row stops a prune; more removals than ``max_delete`` (None: the default
    for ``managed``) stop it too.
    """
    if not removals:
        return
    if rejected:
        raise RowsRejected(
            N_(
                "{rejected} input rows were rejected, so --prune removed "
                "nothing: the products of rejected rows would look removed from "
                "the catalog."
            ).format(rejected=rejected),
            hint=N_("Fix the rejected rows (see the rejects file), then run again."),
        )
    limit = default_max_delete(managed) if max_delete is None else max_delete
    if len(removals) > limit:
        shown = ", ".join(removal.sku for removal in removals[:5])
        more = f" and {len(removals) - 5} more" if len(removals) > 5 else ""
        raise DeleteLimitExceeded(
            N_(
                "--prune would remove {count} products ({shown}{more}), more "
                "than --max-delete allows ({limit}); nothing was removed."
            ).format(count=len(removals), shown=shown, more=more, limit=limit),
            hint=N_(
                "Check that the catalog file is complete; if the removals are "
                "meant, pass --max-delete {count}."
            ).format(count=len(removals)),
        )
    if platform is not None and capabilities_of(platform).removal is None:
        raise UsageError(
            N_(
                "The {name} platform cannot remove products, so --prune cannot be used with it."
            ).format(name=platform_name or platform.name)
        )


@dataclass
class PruneResult:
    """What a prune did."""

    removed: list[Removal]
    failed: list[tuple[Removal, str]]
    """Removals the platform refused, with its message."""


def remove_products(
    platform: Platform,
    ledger: LedgerStore,
    removals: Sequence[Removal],
    *,
    run_id: str,
    profile: str,
    audit: AuditLog | None,
    chunk: int = 50,
) -> PruneResult:
    """Remove ``removals`` from the platform (archive or delete, as it can) and forget
    them in the ledger; one already gone is forgotten too. Each is audited."""
    result = PruneResult([], [])
    action = capabilities_of(platform).removal or "delete"
    for start in range(0, len(removals), chunk):
        part = removals[start : start + chunk]
        answers = platform.delete_products([removal.product_id for removal in part])
        gone: list[str] = []
        records: list[AuditRecord] = []
        for removal, item in zip(part, answers, strict=True):
            if item.ok or item.outcome is ItemCode.NOT_FOUND:
                gone.append(removal.sku)
                result.removed.append(removal)
            else:
                result.failed.append((removal, item.message or item.code or "refused"))
            records.append(
                AuditRecord(
                    time=now_rfc3339(),
                    run_id=run_id,
                    profile=profile,
                    action=action,
                    sku=removal.sku,
                    product_id=removal.product_id,
                    http_status=item.http_status,
                    request_id=item.request_id,
                    idempotency_key=None,
                    outcome="ok" if item.ok else "error",
                    code=item.code,
                    message=item.message,
                )
            )
        ledger.forget(gone)
        if audit is not None:
            audit.append(records)
    return result
