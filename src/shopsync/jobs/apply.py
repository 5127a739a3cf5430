"""The ``apply`` job: send exactly the changes of a plan file, through the upload's engine.

What is sent is the plan's, not the catalog file's: a file edited after the plan was
made changes nothing here (``--replan`` plans again from the files instead, an upload).
Before anything is sent, the plan's SKUs are checked against the ledger and the
platform (:func:`~shopsync.jobs.planfile.check_unmoved`); a plan that no longer
describes the target is refused, naming what moved.
"""

from __future__ import annotations

from shopsync.catalog.records import Catalog, RejectsFile
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.planfile import (
    PlanDocument,
    check_appliable,
    check_unmoved,
    check_unmoved_on_platform,
    restore_changes,
)
from shopsync.jobs.upload import UploadJob
from shopsync.state.audit import AuditLog
from shopsync.state.store import LedgerStore
from shopsync.sync.prune import check_removals


class ApplyJob(UploadJob):
    """One ``shopsync apply PLAN`` run: the same batching, keys, ledger, audit and
    outputs as an upload, with the plan's changes in place of the file's."""

    def __init__(
        self,
        document: PlanDocument,
        catalog: Catalog,
        target: Target,
        options: JobOptions,
        outputs: Outputs,
    ) -> None:
        """``catalog`` is the plan's input files, named in the report (never read)."""
        super().__init__(catalog, target, options, outputs, command="apply")
        self.document = document

    def count_planned(self) -> None:
        """The plan says how many changes there are: no count pass over the files."""
        self._planned = len(self.document.writes)

    def _execute(self, ledger: LedgerStore, rejects: RejectsFile, audit: AuditLog | None) -> None:
        check_appliable(self.document)
        removals = self.document.removals
        if removals:
            self._check_can_remove()
        engine = self._start_engine(ledger, audit)
        if self.options.refresh:
            entries = check_unmoved_on_platform(self.document, self.platform)
        else:
            entries = check_unmoved(self.document, ledger, self.platform)
        if removals:
            check_removals(
                removals,
                max_delete=self.document.options.get("max_delete"),
                managed=len(ledger),
                rejected=0,
            )
        engine.apply(restore_changes(self.document, entries))
        engine.confirm_accepted()
        self._remove(ledger, removals, audit)
