"""What every run that changes a platform shares: the target, the outputs, the lock, the
report and the metrics (:class:`RunJob`); jobs subclass it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsync.catalog.records import RecordReader, RejectsFile, check_output_path, rejected_cells
from shopsync.domain.models import RecordT, RowError, SourceRow, ValidRow
from shopsync.domain.timefmt import now_rfc3339
from shopsync.errors import ExitCode, ShopsyncError
from shopsync.i18n import localized
from shopsync.io.writers import SpooledRowsWriter, write_json
from shopsync.platforms.base import Capabilities, Platform, capabilities_of
from shopsync.state.audit import AuditLog
from shopsync.state.metrics import write_metrics
from shopsync.state.store import LedgerStore, open_ledger, run_lock
from shopsync.sync.report import ItemOutcome, RunCounts, RunReport, new_run_id


@dataclass(frozen=True)
class Target:
    """Where a job writes: the platform, and where its ledger and audit log live."""

    platform: Platform | None
    """``None`` for a plan that needs no network (no ``--refresh``)."""
    ledger_dir: Path
    namespace: str
    """Profile and base URL: keeps two shops' idempotency keys apart."""
    profile: str
    audit_path: Path | None = None
    lock_path: Path | None = None
    """The profile's lock file; runs that change the platform hold it (None: no lock)."""
    capabilities: Capabilities | None = None
    """What the platform's adapter declares, known without connecting (for a plan
    without ``platform``); None: not known."""
    platform_name: str = ""
    """The platform's name (``generic``), for messages when ``platform`` is None, and
    named in a plan file (with the profile and :attr:`base_url`)."""
    base_url: str = ""
    """Named in a plan file (with the profile), so ``apply`` can tell its target."""
    ledger_url: str | None = field(default=None, repr=False)
    """The shared PostgreSQL ledger (``ledger_url``) instead of :attr:`ledger_dir`'s
    SQLite one; its lock is then the fleet's advisory lock, not :attr:`lock_path`."""

    def open_ledger(self) -> LedgerStore:
        """This target's ledger: SQLite in :attr:`ledger_dir`, or the shared one."""
        return open_ledger(
            self.ledger_dir, url=self.ledger_url, target=self.namespace, profile=self.profile
        )

    def declared_capabilities(self) -> Capabilities | None:
        """The platform's capabilities, or :attr:`capabilities` when there is none."""
        return capabilities_of(self.platform) if self.platform is not None else self.capabilities

    @property
    def name(self) -> str:
        """The platform's name."""
        return self.platform.name if self.platform is not None else self.platform_name


@dataclass(frozen=True)
class Outputs:
    """Files the user asked for; ``None`` leaves one out (rejects and failed have defaults)."""

    rejects: Path | None = None
    failed: Path | None = None
    succeeded: Path | None = None
    report: Path | None = None
    metrics: Path | None = None
    """Prometheus text-format metrics of the run (node_exporter's textfile collector)."""
    plan: Path | None = None
    """``plan --out``: the plan file."""
    default_dir: Path | None = None
    """Where rejects and failed files go when not named, if there is anything to write."""
    runs_dir: Path | None = None
    """``DATA_DIR/runs``: rejects and failed files not named go into ``RUN_ID/`` here
    (beside the run's report), and only the last :data:`KEEP_RUNS` runs per profile stay."""


KEEP_RUNS = 20
"""Run folders kept per profile in ``DATA_DIR/runs`` (documented in the README)."""
SHOWN_REJECTS = 10
"""Rejected rows whose reasons a run keeps to show (the rejects file has them all)."""


@dataclass(frozen=True)
class JobOptions:
    """How to plan and send."""

    force: bool = False
    refresh: bool = False
    strict: bool = False
    batch_size: int = 50
    workers: int = 4
    grace_seconds: float = 15.0
    sample: int = 10
    """How many creates and updates a plan shows as examples."""
    remove_missing_variants: bool = False
    """Remove a variant the ledger knows and the file no longer lists (default: keep it
    on the platform and report it)."""
    prune: bool = False
    """Remove the products the ledger holds that the catalog no longer lists (and the
    variants it no longer lists, as ``remove_missing_variants``)."""
    max_delete: int | None = None
    """With ``prune``: at most this many removals (None: the default percentage)."""
    verify: bool = True
    """Where the platform applies writes later (``async_writes``): check that what it
    accepted was applied before counting it, up to ``verify_timeout`` seconds."""
    verify_timeout: float = 300.0


@dataclass(frozen=True)
class Progress:
    """What a progress display needs, read while the job runs."""

    counts: RunCounts
    bytes_read: int
    bytes_total: int
    elapsed: float
    throttled_for: float
    """Seconds until the platform's rate limit lets requests go again (0: not waiting)."""
    planned: int | None = None
    """Records in the input, from the count pass (None: not counted, or not yet)."""
    unit: str = "products"

    @property
    def done(self) -> int:
        """Records with an outcome: sent, unchanged, refused or rejected."""
        return self.counts.processed + self.counts.rejected


def _valid_rows(
    reader: Iterable[ValidRow[RecordT] | RowError],
    rejects: RejectsFile | None,
    counts: RunCounts,
    keep: list[RowError] | None,
    keep_at_most: int = 50,
) -> Iterator[ValidRow[RecordT]]:
    for outcome in reader:
        if isinstance(outcome, RowError):
            counts.rejected += 1
            if rejects is not None:
                rejects.add(outcome)
            if keep is not None and len(keep) < keep_at_most:
                keep.append(outcome)
            continue
        yield outcome


class RunJob:
    """What every run that changes a platform shares: outputs, report, lock, metrics.

    Subclasses implement :meth:`_execute` (read, plan, send) and :meth:`_current_counts`.
    Build a job, hand :meth:`progress` to a UI, call :meth:`run`.
    """

    def __init__(
        self,
        reader: RecordReader[Any],
        target: Target,
        outputs: Outputs,
        *,
        command: str,
        run_id: str | None = None,
    ) -> None:
        """Nothing is read or sent until :meth:`run`."""
        if target.platform is None:
            raise ValueError(f"{command} needs a platform")
        self.reader = reader
        self.target = target
        self.outputs = outputs
        self.run_id = run_id or new_run_id()
        self.stop = threading.Event()
        self.report = RunReport(
            run_id=self.run_id,
            command=command,
            profile=target.profile,
            started_at=now_rfc3339(),
            files=[opened.name for opened in reader.files],
        )
        self._input = RunCounts()  # rejected rows, counted while reading
        self._started = time.monotonic()
        self._failed: SpooledRowsWriter | None = None
        self._succeeded: SpooledRowsWriter | None = None
        self._outcome_lock = threading.Lock()
        self._planned: int | None = None
        self.rejected_sample: list[RowError] = []
        """The first rejected rows, whose reasons the summary shows."""

    def count_planned(self) -> None:
        """Count the input's records in a background thread, for "N of M" progress.

        The count is a first pass over the files, as rclone counts before it copies; it
        runs beside the upload, so the first batch does not wait for it.
        """
        thread = threading.Thread(target=self._count, name="shopsync-count", daemon=True)
        thread.start()

    def _count(self) -> None:
        try:
            self._planned = self.reader.count_records(stop=self.stop.is_set)
        except Exception:  # a count is a nicety; the run itself reports read errors
            self._planned = None

    @property
    def platform(self) -> Platform:
        """The platform this job writes to."""
        assert self.target.platform is not None
        return self.target.platform

    def _current_counts(self) -> RunCounts:
        raise NotImplementedError

    def _execute(self, ledger: LedgerStore, rejects: RejectsFile, audit: AuditLog | None) -> None:
        raise NotImplementedError

    def progress(self) -> Progress:
        """A snapshot for progress displays; safe to call from another thread."""
        counts = self._current_counts()
        counts.rejected = self._input.rejected
        counts.skipped = self.reader.stats.skipped
        done, total = self.reader.progress()
        wait = self.platform.throttle_wait()
        unit = "SKUs" if self.report.command == "stock" else "products"
        elapsed = time.monotonic() - self._started
        return Progress(counts, done, total, elapsed, wait, self._planned, unit)

    def run(self) -> RunReport:
        """Take the profile's lock, then read, plan and send; write every output.

        Raises :class:`~shopsync.errors.ShopsyncError` subclasses for runs that could
        not finish (the outputs, report and metrics are written first); item failures
        and rejected rows are not exceptions, they are counted and set the exit code.
        """
        lock = run_lock(
            self.target.lock_path,
            url=self.target.ledger_url,
            target=self.target.namespace,
            profile=self.target.profile,
            command=self.report.command,
        )
        if lock is not None:
            lock.acquire()  # before anything is written: a locked-out run leaves no trace
        try:
            self._run_locked()
        finally:
            if lock is not None:
                lock.release()
        return self.report

    def _run_locked(self) -> None:
        for option, named in (
            ("--rejects", self.outputs.rejects),
            ("--failed", self.outputs.failed),
            ("--succeeded", self.outputs.succeeded),
            ("--report", self.outputs.report),
            ("--metrics-file", self.outputs.metrics),
        ):
            if named is not None:
                check_output_path(named, option)
        rejects_path = self.outputs.rejects or self._default_path("rejects")
        rejects = RejectsFile(rejects_path, self.reader.header_map, self.reader.files)
        self._failed = SpooledRowsWriter(
            self.outputs.failed or self._default_path("failed"),
            trailing=("error_code", "error_message"),
        )
        if self.outputs.succeeded:
            self._succeeded = SpooledRowsWriter(self.outputs.succeeded)
        audit = AuditLog(self.target.audit_path) if self.target.audit_path else None
        error: ShopsyncError | None = None
        try:
            with self.target.open_ledger() as ledger:
                self._execute(ledger, rejects, audit)
        except ShopsyncError as failure:
            error = failure
            raise
        finally:
            if audit is not None:
                audit.close()
            self._finish(rejects, error)

    def _outcomes(self) -> Iterable[ValidRow[Any] | RowError]:
        """What the job reads: the reader's outcomes (a job may refuse more rows)."""
        return self.reader

    def _valid_rows(self, rejects: RejectsFile) -> Iterator[ValidRow[Any]]:
        return _valid_rows(
            self._outcomes(), rejects, self._input, self.rejected_sample, keep_at_most=SHOWN_REJECTS
        )

    def _default_path(self, kind: str) -> Path:
        if self.outputs.runs_dir is not None:
            return self.run_dir / f"{kind}.csv"
        directory = self.outputs.default_dir or Path()
        return directory / f"shopsync-{self.run_id}-{kind}.csv"

    @property
    def run_dir(self) -> Path:
        """This run's folder in ``DATA_DIR/runs`` (made only if something goes in it)."""
        assert self.outputs.runs_dir is not None
        return self.outputs.runs_dir / self.run_id

    def _record_outcome(self, outcome: ItemOutcome) -> None:
        with self._outcome_lock:
            if outcome.action in ("failed", "unconfirmed"):
                assert self._failed is not None
                cells = failed_cells(outcome)
                cells["error_code"] = outcome.code or ""
                # The one human column of the failed file: in the run's language.
                cells["error_message"] = localized(outcome.message) if outcome.message else ""
                self._failed.add(cells)
            elif self._succeeded is not None:
                self._succeeded.add(
                    {"sku": outcome.sku, "product_id": outcome.product_id, "action": outcome.action}
                )

    def _finish(self, rejects: RejectsFile, error: ShopsyncError | None) -> None:
        counts = self._current_counts()
        counts.rejected = self._input.rejected
        counts.skipped = self.reader.stats.skipped
        outputs: dict[str, str] = {}
        if self.outputs.runs_dir is not None and (
            (rejects.count and self.outputs.rejects is None)
            or (self._failed is not None and self._failed.count and self.outputs.failed is None)
        ):
            self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if rejects.count:
            rejects.close()
            outputs["rejects"] = str(rejects.path)
        else:
            rejects.discard()
        for name, writer in (("failed", self._failed), ("succeeded", self._succeeded)):
            if writer is None:
                continue
            if writer.count or (name == "succeeded") or (name == "failed" and self.outputs.failed):
                writer.close()
                outputs[name] = str(writer.path)
            else:
                writer.discard()
        self.report.finished_at = now_rfc3339()
        self.report.counts = counts.as_dict()
        self.report.traffic = self.platform.stats()
        self.report.outputs = outputs
        self.report.exit_code = int(error.exit_code if error else exit_code_for(counts))
        self.report.error = error.message if error else None
        if self.outputs.report:
            write_json(self.outputs.report, self.report.to_json())
        if self.outputs.runs_dir is not None and self.run_dir.is_dir():
            # The report beside the files says which profile the folder belongs to.
            write_json(self.run_dir / "report.json", self.report.to_json())
            prune_runs(self.outputs.runs_dir, self.target.profile, keep=KEEP_RUNS)
        if self.outputs.metrics:
            write_metrics(
                self.outputs.metrics,
                command=self.report.command,
                profile=self.target.profile,
                succeeded=self.report.exit_code == 0,
                exit_code=self.report.exit_code,
                duration=time.monotonic() - self._started,
                items=counts.as_dict(),
                traffic=self.report.traffic,
            )


def prune_runs(runs_dir: Path, profile: str, *, keep: int) -> None:
    """Delete all but the newest ``keep`` run folders of ``profile`` (run ids sort by time).

    A folder is ``profile``'s if its ``report.json`` says so; folders of other profiles,
    and anything shopsync did not write, are left alone.
    """
    import json  # noqa: PLC0415 - only runs that wrote a folder get here
    import shutil  # noqa: PLC0415

    mine: list[Path] = []
    for folder in sorted(runs_dir.iterdir(), key=lambda path: path.name):
        try:
            report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(report, dict) and report.get("profile") == profile:
            mine.append(folder)
    for folder in mine[: max(0, len(mine) - keep)]:
        shutil.rmtree(folder, ignore_errors=True)


def exit_code_for(counts: RunCounts) -> ExitCode:
    """A finished run's exit code: items refused beat writes accepted but not applied,
    which beat rows rejected, which beat success."""
    if counts.failed:
        return ExitCode.ITEMS_FAILED
    if counts.unconfirmed:
        return ExitCode.NOT_APPLIED
    if counts.rejected:
        return ExitCode.INPUT_REJECTED
    return ExitCode.OK


def failed_cells(outcome: ItemOutcome) -> dict[str, Any]:
    """The cells to write for a failed item: the original row, re-feedable as it is."""
    if outcome.row is not None and outcome.row.cells:
        return rejected_cells(outcome.row)
    return rejected_cells(SourceRow("", 0, dict(outcome.body)))
