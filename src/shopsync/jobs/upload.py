"""The ``upload`` job: catalog in, changes planned, sent in batches, and accounted for.

A job strings the stages together — :class:`~shopsync.catalog.records.Catalog` (read and
validate), :class:`~shopsync.sync.planner.Planner` (ledger), :class:`~shopsync.sync.engine.Engine`
(send) — and owns the outputs of a run. It prints nothing: a UI polls
:meth:`UploadJob.progress`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from shopsync.catalog.records import Catalog, RejectsFile
from shopsync.domain.models import RowError, ValidRow
from shopsync.errors import RowsRejected, UsageError
from shopsync.i18n import N_
from shopsync.jobs.base import (
    JobOptions,
    Outputs,
    RunJob,
    Target,
)
from shopsync.platforms.base import capabilities_of, product_check_of
from shopsync.state.audit import AuditLog
from shopsync.state.store import LedgerStore
from shopsync.sync.engine import Engine, EngineOptions
from shopsync.sync.planner import Change, Planner, refuse_variants
from shopsync.sync.prune import Removal, check_removals, plan_removals, remove_products
from shopsync.sync.report import ItemOutcome, RunCounts


class UploadJob(RunJob):
    """One ``shopsync upload`` run: validate, plan against the ledger, send, account."""

    def __init__(
        self,
        catalog: Catalog,
        target: Target,
        options: JobOptions,
        outputs: Outputs,
        *,
        command: str = "upload",
        run_id: str | None = None,
    ) -> None:
        """Nothing is read or sent until :meth:`run`."""
        super().__init__(catalog, target, outputs, command=command, run_id=run_id)
        # The platform's own rules are checked as rows are read, before planning: a row
        # that breaks one is rejected by file, line and column, never sent.
        catalog.constraints = product_check_of(target.platform) or catalog.constraints
        self.catalog = catalog
        self.options = options
        self._engine: Engine | None = None
        self._removed = 0
        self._removal_failures = 0

    def _current_counts(self) -> RunCounts:
        counts = self._engine.snapshot() if self._engine else RunCounts()
        counts.removed = self._removed
        counts.failed += self._removal_failures
        return counts

    def _execute(self, ledger: LedgerStore, rejects: RejectsFile, audit: AuditLog | None) -> None:
        # Local images are checked against what this platform takes, as rows are read.
        self.catalog.use_image_limits(capabilities_of(self.platform).images, self.platform.name)
        if self.options.prune:
            self._check_can_remove()
        if self.options.strict:
            self._check_strict()
        planner = Planner(  # first: it refuses --refresh where it cannot be done
            ledger,
            force=self.options.force,
            refresh_from=self.platform if self.options.refresh else None,
            # --prune removes what the catalog no longer lists, variants included.
            remove_missing_variants=self.options.remove_missing_variants or self.options.prune,
        )
        engine = self._start_engine(ledger, audit)
        listed: set[str] = set()
        changes = planner.plan(self._valid_rows(rejects))
        engine.apply(_noting_keys(changes, listed) if self.options.prune else changes)
        engine.confirm_accepted()
        if self.options.refresh:
            ledger.mark_refreshed()
        if self.options.prune:
            removals = plan_removals(ledger, listed)
            check_removals(
                removals,
                max_delete=self.options.max_delete,
                managed=len(ledger),
                rejected=self._input.rejected,
            )
            self._remove(ledger, removals, audit)

    def _check_can_remove(self) -> None:
        if capabilities_of(self.platform).removal is None:
            raise UsageError(
                N_(
                    "The {name} platform cannot remove products, so --prune cannot be used with it."
                ).format(name=self.platform.name)
            )

    def _remove(self, ledger: LedgerStore, removals: list[Removal], audit: AuditLog | None) -> None:
        """Archive or delete ``removals`` (after every create and update was sent)."""
        if not removals or self.stop.is_set():
            return
        result = remove_products(
            self.platform,
            ledger,
            removals,
            run_id=self.run_id,
            profile=self.target.profile,
            audit=audit,
        )
        self._removed = len(result.removed)
        self._removal_failures = len(result.failed)
        for removal, message in result.failed:
            self._record_outcome(
                ItemOutcome(
                    removal.sku,
                    "failed",
                    removal.product_id,
                    None,
                    {"sku": removal.sku},
                    "REMOVE_FAILED",
                    message,
                )
            )

    def _start_engine(self, ledger: LedgerStore, audit: AuditLog | None) -> Engine:
        """The run's engine, once the batches an earlier run left pending are resent."""
        engine = Engine(
            self.platform,
            ledger,
            namespace=self.target.namespace,
            run_id=self.run_id,
            profile=self.target.profile,
            audit=audit,
            options=EngineOptions(
                batch_size=self.options.batch_size,
                workers=self.options.workers,
                grace_seconds=self.options.grace_seconds,
                verify=self.options.verify,
                verify_timeout=self.options.verify_timeout,
            ),
            on_outcome=self._record_outcome,
            stop=self.stop,
        )
        self._engine = engine
        engine.resume_pending()
        return engine

    def _outcomes(self) -> Iterable[ValidRow[Any] | RowError]:
        # A product of several variants for a platform without them: a row error now.
        return refuse_variants(self.reader, capabilities_of(self.platform), self.platform.name)

    def _check_strict(self) -> None:
        check_strict(self.catalog, self.outputs.rejects)


def check_strict(catalog: Catalog, rejects: Path | None) -> None:
    """Under ``--strict``: :class:`RowsRejected` naming the first invalid row, if any."""
    from shopsync.catalog.records import validate  # noqa: PLC0415 - only under --strict

    found = validate(catalog, rejects=rejects, keep_errors=1)
    if found.stats.invalid:
        first = found.errors[0]
        raise RowsRejected(
            N_(
                "{invalid} of {rows} rows are invalid and --strict is set, so "
                "nothing was sent. First: {file}:{line}: {message}"
            ).format(
                invalid=found.stats.invalid,
                rows=found.stats.rows,
                file=first.row.file,
                line=first.row.line,
                message=first.message,
            ),
            hint=N_(
                "Fix the rows (shopsync validate FILE --rejects rejects.csv "
                "lists them), or drop --strict to send the valid rows."
            ),
        )


def _noting_keys(changes: Iterable[Change], listed: set[str]) -> Iterator[Change]:
    """``changes`` as they come, each product's key noted in ``listed`` (for ``--prune``)."""
    for change in changes:
        listed.add(change.sku)
        yield change
