"""``upload --queue`` and ``stock --queue``: plan into the shared ledger, one task per batch.

Planning is the single machine's (:class:`~shopsync.sync.planner.Planner` and the
engine's batching, so a batch and its idempotency key are what one machine would have
sent); instead of sending a batch, :class:`_QueueingEngine` writes it to the ledger as
pending and enqueues its key. One planner per target at a time (the target's advisory
lock). ``--wait`` then follows the run in the ledger (:func:`follow`) until every batch
is settled, sending a batch again whose lease ran out (its worker died).

``stock --queue`` is the same for a stock file: :class:`QueueingStockJob` is the stock
job's reading, unknown-SKU lookup, batching and keys against the shared ledger's
counts, each batch written pending (a :class:`~shopsync.jobs.stock.StockRequest`) and
queued; a worker sends it through the stock job's own sender.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shopsync.domain.models import Product, RowError, ValidRow
from shopsync.errors import LockedError
from shopsync.fleet.app import enqueue
from shopsync.i18n import N_, nN_
from shopsync.jobs.base import Outputs, Target, failed_cells
from shopsync.jobs.stock import StockBatch, StockFile, StockJob, StockOptions, StockRequest
from shopsync.state.ledger_pg import ItemFailure, PgLedger, TargetLock
from shopsync.sync.engine import Engine, EngineOptions, _Batch, _request_of
from shopsync.sync.planner import Planner
from shopsync.sync.report import new_run_id

if TYPE_CHECKING:
    from celery import Celery

    from shopsync.catalog.records import Catalog, RejectsFile
    from shopsync.fleet.status import RunProgress
    from shopsync.fleet.targets import FleetTarget
    from shopsync.platforms.base import Platform
    from shopsync.state.audit import AuditLog
    from shopsync.state.store import LedgerStore
    from shopsync.sync.report import ItemOutcome


@dataclass
class QueuedRun:
    """What ``upload --queue`` planned and queued."""

    run_id: str
    profile: str
    batches: int = 0
    items: int = 0
    unchanged: int = 0
    rejected: int = 0
    first_errors: list[RowError] = field(default_factory=list)


class _QueueingEngine(Engine):
    """The engine's batching and keys; each batch is queued for the fleet, not sent."""

    def __init__(
        self,
        platform: Platform,
        ledger: PgLedger,
        *,
        queue: Callable[[str, bool], None],
        **options: Any,
    ) -> None:
        super().__init__(platform, ledger, **options)
        self._pg = ledger
        self._queue = queue
        self.queued_batches = 0
        self.queued_items = 0

    def _send(self, batch: _Batch, *, outcome_unknown: bool = False) -> None:
        items = len(batch.creates) + len(batch.updates)
        # In the ledger first, with its key, then queued: a task never names a batch
        # the ledger does not hold.
        self._pg.begin_batch(
            batch.key,
            _request_of(batch.creates, batch.updates),
            run_id=self.run_id,
            items=items,
        )
        with self._lock:
            first = self.queued_batches == 0
        self._queue(batch.key, first)
        with self._lock:
            self.queued_batches += 1
            self.queued_items += items


def requeue_pending(app: Celery, target: FleetTarget) -> list[str]:
    """Queue again every batch of ``target`` still pending (tasks are safe to repeat)."""
    with PgLedger(target.ledger_url, target=target.namespace) as ledger:
        keys = [batch.idempotency_key for batch in ledger.pending_batches()]
    for key in keys:
        enqueue(app, target.profile, key)
    return keys


def queue_upload(
    catalog: Catalog,
    target: FleetTarget,
    app: Celery,
    platform: Platform,
    *,
    force: bool = False,
    refresh: bool = False,
    rejects: RejectsFile | None = None,
    run_id: str | None = None,
) -> QueuedRun:
    """Plan ``catalog`` for ``target`` into the shared ledger and queue one task per batch.

    Refuses (:class:`LockedError`) while another planner holds the target, or while
    batches of an earlier run are pending: planned again, their products would be
    planned as creates a second time. :func:`requeue_pending` sends those on.
    """
    run = QueuedRun(run_id or new_run_id(), target.profile)
    lock = TargetLock(
        target.ledger_url, target=target.namespace, profile=target.profile, command="upload"
    )
    lock.acquire()
    try:
        with PgLedger(target.ledger_url, target=target.namespace) as ledger:
            _refuse_pending(ledger, target.profile)
            ledger.start_run(run.run_id, profile=target.profile, limiter_key=target.limiter_key)
            engine = _QueueingEngine(
                platform,
                ledger,
                queue=lambda key, first: enqueue(app, target.profile, key, first=first),
                namespace=target.namespace,
                run_id=run.run_id,
                profile=target.profile,
                options=EngineOptions(batch_size=target.settings.batch_size, workers=1),
            )
            planner = Planner(ledger, force=force, refresh_from=platform if refresh else None)
            counts = engine.apply(planner.plan(_valid_rows(catalog, run, rejects)))
            if refresh:
                ledger.mark_refreshed()
            run.batches = engine.queued_batches
            run.items = engine.queued_items
            run.unchanged = counts.unchanged
            ledger.finish_planning(
                run.run_id,
                batches=run.batches,
                items=run.items,
                unchanged=run.unchanged,
                rejected=run.rejected,
            )
    finally:
        lock.release()
    return run


def _refuse_pending(ledger: PgLedger, profile: str) -> None:
    """Refuse to plan while batches of an earlier run are pending (:class:`LockedError`)."""
    pending = ledger.pending_batches()
    if pending:
        raise LockedError(
            nN_(
                "{count} batch of an earlier run for profile {profile} is still "
                "pending, so nothing new was planned.",
                "{count} batches of an earlier run for profile {profile} are still "
                "pending, so nothing new was planned.",
                len(pending),
            ).format(count=len(pending), profile=repr(profile)),
            hint=N_(
                "Run again with --wait: it queues them again and waits for them "
                "first. `shopsync fleet status` shows them."
            ),
        )


class QueueingStockJob(StockJob):
    """``stock --queue``: the stock job's planning; each batch queued for the fleet, not sent.

    It runs as a :class:`StockJob` does (:meth:`run`), under the target's advisory lock
    (one planner per target), its rejected rows in the rejects file. What a lone run
    would send is what is queued: the same batches and keys, against the counts the
    shared ledger knows. Refused while batches of an earlier run are pending: planned
    again, a set file's counts would go twice (and a delta's keys could be begun again).
    SKUs the lookup finds on no product are kept in :attr:`refused` (the caller writes
    them to the run's failed file with those the workers report).
    """

    def __init__(
        self,
        stock_file: StockFile,
        target: FleetTarget,
        platform: Platform,
        queue: Callable[[str, bool], None],
        *,
        options: StockOptions,
        rejects: Path | None = None,
        run_id: str | None = None,
    ) -> None:
        """``queue(key, first)`` puts a task for a batch key on the broker (``first``: the
        run's first batch, queued ahead); nothing is sent here."""
        settings = target.settings
        super().__init__(
            stock_file,
            Target(
                platform=platform,
                ledger_dir=settings.ledger_dir(),
                namespace=target.namespace,
                profile=target.profile,
                platform_name=settings.platform,
                base_url=str(settings.base_url),
                ledger_url=target.ledger_url,
            ),
            options,
            Outputs(rejects=rejects, runs_dir=settings.data_dir / "runs"),
            run_id=run_id or new_run_id(),
        )
        self.fleet = target
        self._queue = queue
        self.queued_batches = 0
        self.queued_items = 0
        self.refused: list[ItemFailure] = []
        """Unknown SKUs, found while planning: no batch carries them."""

    def _execute(self, ledger: LedgerStore, rejects: RejectsFile, audit: AuditLog | None) -> None:
        # The run's own ledger view claims batches to send them; planning only writes
        # them pending, so it goes to the shared ledger itself.
        with PgLedger(self.fleet.ledger_url, target=self.fleet.namespace) as shared:
            _refuse_pending(shared, self.fleet.profile)
            shared.start_run(
                self.run_id, profile=self.fleet.profile, limiter_key=self.fleet.limiter_key
            )
            for batch in self._batches(shared, rejects, self._salt()):
                self._enqueue(shared, batch)
            shared.finish_planning(
                self.run_id,
                batches=self.queued_batches,
                items=self.queued_items,
                unchanged=self.counts.unchanged,
                rejected=self._input.rejected,
            )

    def _enqueue(self, ledger: PgLedger, batch: StockBatch) -> None:
        if self.stock_file.mode == "delta" and ledger.is_done(batch.key):
            # This part of this file was applied by an earlier run: begun again, it
            # would be pending (and sent) once more.
            self.counts.unchanged += len(batch.changes)
            return
        request = StockRequest(
            self.stock_file.mode, batch.changes, batch.lasts, [row.row for row in batch.lines]
        )
        # In the ledger first, with its key, then queued: a task never names a batch
        # the ledger does not hold.
        ledger.begin_batch(
            batch.key, request.to_json(), run_id=self.run_id, items=len(batch.changes)
        )
        self._queue(batch.key, self.queued_batches == 0)
        self.queued_batches += 1
        self.queued_items += len(batch.changes)

    def _record_outcome(self, outcome: ItemOutcome) -> None:
        # Only unknown SKUs have an outcome while planning; they go to the run's failed
        # file with the items the workers report, which the caller writes.
        if outcome.action == "failed":
            self.refused.append(
                ItemFailure(
                    outcome.sku, outcome.code or "", outcome.message or "", failed_cells(outcome)
                )
            )


def _valid_rows(
    catalog: Iterable[ValidRow[Product] | RowError], run: QueuedRun, rejects: RejectsFile | None
) -> Iterator[ValidRow[Product]]:
    for outcome in catalog:
        if isinstance(outcome, RowError):
            run.rejected += 1
            if rejects is not None:
                rejects.add(outcome)
            if len(run.first_errors) < 5:
                run.first_errors.append(outcome)
            continue
        yield outcome


def follow(
    app: Celery,
    target: FleetTarget,
    keys_or_run: str | list[str],
    *,
    on_progress: Callable[[RunProgress], None] | None = None,
    interval: float = 0.5,
    stop: threading.Event | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    stall_seconds: float = 10.0,
) -> RunProgress:
    """Wait until every batch of a run (its id, or a list of keys) is settled.

    A batch whose lease ran out while pending (its worker died) is queued again at once.
    So is a batch nobody claimed once the run has stood still for ``stall_seconds`` with
    the queue empty: its message was taken by a worker that died before starting it
    (Redis would give it back only after the visibility timeout). The ledger lets only
    one worker have either. Returns the last progress read.
    """
    from shopsync.fleet.app import queued_messages  # noqa: PLC0415
    from shopsync.fleet.status import expired_batches, run_progress  # noqa: PLC0415
    from shopsync.state.ledger_pg import connect  # noqa: PLC0415

    stop = stop or threading.Event()
    seen: tuple[int, ...] = ()
    changed_at = clock()
    with connect(target.ledger_url) as db:  # one connection for the whole wait
        while True:
            progress = run_progress(db, target.namespace, keys_or_run)
            if on_progress is not None:
                on_progress(progress)
            if progress.pending == 0 or stop.is_set():
                return progress
            now = (progress.items_settled, progress.leased, progress.attempts)
            if now != seen:
                seen, changed_at = now, clock()
            # Unclaimed batches are normal (queued, or put off until their shop has a
            # slot); only a run that has stood still with an empty queue has lost some.
            stalled = clock() - changed_at >= stall_seconds and queued_messages(app) == 0
            for key in expired_batches(db, target.namespace, keys_or_run, unclaimed=stalled):
                enqueue(app, target.profile, key)
            if stalled:
                changed_at = clock()
            sleep(interval)
