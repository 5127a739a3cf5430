"""``upload --queue``: validate and plan into the shared ledger, one task per batch.

Planning is the single machine's (:class:`~shopsync.sync.planner.Planner` and the
engine's batching, so a batch and its idempotency key are what one machine would have
sent); instead of sending a batch, :class:`_QueueingEngine` writes it to the ledger as
pending and enqueues its key. One planner per target at a time (the target's advisory
lock). ``--wait`` then follows the run in the ledger (:func:`follow`) until every batch
is settled, sending a batch again whose lease ran out (its worker died).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shopsync.domain.models import Product, RowError, ValidRow
from shopsync.errors import LockedError
from shopsync.fleet.app import enqueue
from shopsync.i18n import N_, nN_
from shopsync.state.ledger_pg import PgLedger, TargetLock
from shopsync.sync.engine import Engine, EngineOptions, _Batch, _request_of
from shopsync.sync.planner import Planner
from shopsync.sync.report import new_run_id

if TYPE_CHECKING:
    from celery import Celery

    from shopsync.catalog.records import Catalog, RejectsFile
    from shopsync.fleet.status import RunProgress
    from shopsync.fleet.targets import FleetTarget
    from shopsync.platforms.base import Platform


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
        queue: Callable[[str], None],
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
        self._queue(batch.key)
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
            pending = ledger.pending_batches()
            if pending:
                raise LockedError(
                    nN_(
                        "{count} batch of an earlier run for profile {profile} is still "
                        "pending, so nothing new was planned.",
                        "{count} batches of an earlier run for profile {profile} are still "
                        "pending, so nothing new was planned.",
                        len(pending),
                    ).format(count=len(pending), profile=repr(target.profile)),
                    hint=N_(
                        "Run again with --wait: it queues them again and waits for them "
                        "first. `shopsync fleet status` shows them."
                    ),
                )
            ledger.start_run(run.run_id, profile=target.profile, limiter_key=target.limiter_key)
            engine = _QueueingEngine(
                platform,
                ledger,
                queue=lambda key: enqueue(app, target.profile, key),
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
