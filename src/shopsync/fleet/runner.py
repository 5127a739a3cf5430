"""What a worker does with one task: claim the batch, send it, record it under its lease.

A task carries only (target, batch key). Celery delivers at least once (with
``acks_late`` a task whose worker died is delivered again), so exactly once comes from
the ledger: the batch is claimed with a lease, and a task that finds it done, failed or
leased by another worker does nothing. A worker killed mid-batch leaves a lease that
runs out; the next claim sends the batch again with the same idempotency key (and the
adapter's lookup before resending where keys may be ignored), and only the holder of
the lease can record it.

The sending itself is the single machine's engine, given a view of the ledger
(:class:`LeasedLedger`) whose only pending batch is the claimed one: the engine's resume
path sends it with its stored key, adopts ``SKU_EXISTS`` and recreates ``NOT_FOUND``
exactly as on one machine.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shopsync.errors import AuthError, ShopsyncError
from shopsync.fleet.app import RETRY_AFTER_S
from shopsync.jobs.base import failed_cells
from shopsync.jobs.stock import StockRequest, StockSender
from shopsync.platforms.base import ErrorScope, error_code_of, error_scope_of
from shopsync.state.audit import AuditLog
from shopsync.state.ledger import LedgerEntry, PendingBatch
from shopsync.state.ledger_pg import (
    ClaimedBatch,
    ItemFailure,
    LeaseLost,
    LeaseRenewer,
    PgLedger,
)
from shopsync.sync.engine import Engine, EngineOptions
from shopsync.sync.report import ItemOutcome

if TYPE_CHECKING:
    import redis

    from shopsync.config import Settings
    from shopsync.fleet.targets import FleetTarget
    from shopsync.platforms.base import Platform

log = logging.getLogger(__name__)

LEASE_SECONDS = 60.0
"""How long a claim holds a batch unless renewed (renewed every third of it while sending)."""
DEFER_AFTER_S = 0.5
"""A task whose shop has no slot for longer than this is put back for later, rather than
hold one of the worker's threads asleep while other shops' batches wait behind it."""
DRAIN_SECONDS = 10.0
"""How long one thread goes on sending a shop's pending batches (while the shop has
slots) before it hands the shop back to the queue, where other shops' tasks wait."""
BUSY_AFTER_S = DRAIN_SECONDS
"""A task whose shop another thread is sending for is put off this long: by then that
thread has most likely sent its batch (the task then finds it done), or has stopped."""
MAX_SENDERS = 8
"""Threads of the whole fleet that send for one shop at once. The first sends while the
shop's next slot is near; the others join only while slots go unused (a platform slow
to answer leaves one thread unable to keep up with the shop's limit)."""
REFUSED_AFTER_S = 30.0
"""A batch taken by a drain whose credentials were refused is queued again this much later."""
_IDLE_SLOT_S = 0.05
"""A shop whose next slot is this near has slots going unused: another sender may join."""

MAX_AUTH_CLAIMS = 30
"""Claims of one batch refused for credentials before it is settled as failed: other
machines may hold the right ones (or the secret may be fixed meanwhile), but a fleet
where none does must end the run. With the task's back-off, about half an hour."""

BatchOutcome = Literal["done", "skipped", "lost", "retry", "refused", "busy"]


class LeasedLedger:
    """The ledger as the engine sees it inside a worker: one claimed batch, under a lease.

    Reads go to the shared ledger. The claimed batch is the only pending one; its
    results are recorded only while this worker holds the lease. Follow-up batches the
    engine makes (an update for a create answered ``SKU_EXISTS``) are claimed by this
    worker as they begin.
    """

    def __init__(self, ledger: PgLedger, claimed: ClaimedBatch, owner: str) -> None:
        self.ledger = ledger
        self.claimed = claimed
        self.owner = owner
        self.held = {claimed.key}
        self.refused: list[str] = []
        """Batches the engine settled without results (refused whole, or for this
        worker's credentials), settled by the runner once it knows why."""
        self.finished: list[tuple[str, dict[str, LedgerEntry], dict[str, int] | None]] = []
        """Batches sent and answered, settled by the runner with the items the platform
        refused (known only once the engine has gone through the whole task)."""

    def get(self, sku: str) -> LedgerEntry | None:
        return self.ledger.get(sku)

    def get_many(self, skus: Sequence[str]) -> dict[str, LedgerEntry]:
        return self.ledger.get_many(skus)

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        return self.ledger.stocks(skus)

    def skus(self) -> Iterator[str]:
        return self.ledger.skus()

    def __len__(self) -> int:
        return len(self.ledger)

    def mark_done(self, key: str) -> None:
        self.ledger.mark_done(key)

    def forget(self, skus: Sequence[str]) -> None:
        self.ledger.forget(skus)

    def mark_refreshed(self, at: float | None = None) -> None:
        self.ledger.mark_refreshed(at)

    def state_as_of(self) -> float | None:
        return self.ledger.state_as_of()

    def is_done(self, key: str) -> bool:
        return self.ledger.is_done(key)

    def image(self, content_hash: str) -> str | None:
        return self.ledger.image(content_hash)

    def record_image(
        self, content_hash: str, reference: str, *, url: str | None, image_id: str | None
    ) -> None:
        self.ledger.record_image(content_hash, reference, url=url, image_id=image_id)

    def pending_batches(self) -> list[PendingBatch]:
        """Only the claimed batch: the engine resumes it with its stored key."""
        claimed = self.claimed
        return [PendingBatch(claimed.key, claimed.request, claimed.started_at)]

    def begin_batch(self, key: str, request: str | Mapping[str, Any]) -> None:
        """The claimed batch is pending already; a follow-up is added and claimed at once."""
        if key in self.held:
            return
        self.ledger.begin_batch(key, request, run_id=self.claimed.run_id, items=0)
        if self.ledger.claim_batch(key, owner=self.owner, lease_seconds=LEASE_SECONDS) is None:
            raise LeaseLost(f"follow-up batch {key} is held by another worker.")
        self.held.add(key)

    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Results of a held batch: kept until the runner settles it under the lease."""
        if finished_batch is None:
            self.ledger.record(entries, stocks=stocks)
            return
        self.finished.append((finished_batch, dict(entries), dict(stocks) if stocks else None))

    def finish_batch(self, key: str) -> None:
        """A batch settled without results: noted, settled by the runner (see ``refused``)."""
        self.refused.append(key)

    def close(self) -> None:
        """The shared ledger stays open for the worker's next task."""

    def __enter__(self) -> LeasedLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class _Tally:
    """The items the platform refused in one task's batches, for the run's failed file."""

    failures: list[ItemFailure] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, outcome: ItemOutcome) -> None:
        if outcome.action == "failed":
            failure = ItemFailure(
                outcome.sku, outcome.code or "", outcome.message or "", failed_cells(outcome)
            )
            with self.lock:
                self.failures.append(failure)


def _batch_only(platform: Platform, error: ShopsyncError) -> bool:
    """Whether ``error`` refuses one batch as a whole (not the run: an outage, credentials)."""
    return error_scope_of(platform, error) is ErrorScope.BATCH


def _limiter(platform: Platform) -> Any:
    """The platform client's rate limiter, if it has one."""
    return getattr(getattr(platform, "client", None), "limiter", None)


def _slot_wait(platform: Platform) -> float:
    """How long the shop's next request would wait for its shared slot (0 if unknown)."""
    peek = getattr(_limiter(platform), "peek", None)
    return 0.0 if peek is None else max(0.0, float(peek()))


class BatchRunner:
    """One worker process's runner: ledgers and platforms per target, shared by its threads.

    ``load_settings`` turns a profile name into that profile's settings on this machine.
    """

    def __init__(
        self,
        load_settings: Callable[[str], Settings],
        *,
        name: str | None = None,
        lease_seconds: float = LEASE_SECONDS,
        requeue: Callable[[str, str, float, bool], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.load_settings = load_settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
        self.requeue = requeue
        """``(profile, key, countdown, ahead)``: queue a task for a batch again (``ahead``:
        in the lane of runs' first batches). A drain takes batches whose own tasks may
        have gone by already; one it had to give back is queued again through this
        (without it, ``upload --wait`` finds it stalled), and so is the shop it hands back."""
        self.clock = clock
        self._lock = threading.Lock()
        self._targets: dict[str, tuple[FleetTarget, PgLedger, Platform]] = {}
        # Each machine keeps the audit log of what it sent, as a single machine does.
        self._audits: dict[str, AuditLog] = {}
        self._redis: dict[str, redis.Redis] = {}
        # Leases being sent under, renewed by one thread for the whole process.
        self._renewer = LeaseRenewer(self.name, lease_seconds)

    def _open(self, profile: str) -> tuple[FleetTarget, PgLedger, Platform]:
        with self._lock:
            opened = self._targets.get(profile)
            if opened is not None:
                return opened
            from shopsync.fleet.limiter import connect_redis  # noqa: PLC0415
            from shopsync.fleet.targets import connect_platform, fleet_target  # noqa: PLC0415

            target = fleet_target(self.load_settings(profile), need_broker=False)
            limiter = None
            if target.limiter_url:
                limiter = self._redis.get(target.limiter_url)
                if limiter is None:
                    limiter = self._redis[target.limiter_url] = connect_redis(target.limiter_url)
            ledger = PgLedger(target.ledger_url, target=target.namespace)
            platform = connect_platform(target, limiter)
            self._targets[profile] = (target, ledger, platform)
            self._audits[profile] = AuditLog(target.settings.audit_path)
            return target, ledger, platform

    def defer_for(self, profile: str, key: str | None = None) -> float:
        """Seconds to put this task off by, if its shop's shared limit is booked ahead (or 0).

        Without it, a slow shop's tasks fill every thread of every worker with waiting
        while the fast shops' batches queue behind them: ten shops reached a third of
        the sum of their limits. Only peeks: no slot is booked and then wasted. A task
        whose batch ``key`` is done or held already is not put off: it has nothing to
        send, and goes on to find that out.
        """
        _, ledger, platform = self._open(profile)
        wait = _slot_wait(platform)
        if wait <= DEFER_AFTER_S:
            return 0.0
        if key is not None and not ledger.is_claimable(key):
            return 0.0
        return wait

    def run(self, profile: str, key: str) -> BatchOutcome:
        """Send batch ``key`` of target ``profile`` if nobody has or holds it.

        ``done``: sent and recorded here; ``skipped``: done, failed or leased already;
        ``lost``: the lease ran out before the results could be recorded (the new
        holder sends it again); ``retry``: the platform failed past every retry, the
        lease is given back and the task should be retried later; ``refused``: this
        machine's credentials were refused, the lease is given back and the task should
        be retried later still (another machine may take it meanwhile); ``busy``: other
        threads are sending for the shop, and the task should be put off
        (:data:`BUSY_AFTER_S`).

        A thread sends for a shop holding one of its sending slots, and once its own
        batch is done goes on with the shop's next pending batches for as long as the
        shop has slots (:meth:`_drain`): a shop's batches then leave at its limit, not
        at the pace its tasks come round in a queue shared with every other shop, and
        no more threads wait on one shop than it can use.
        """
        target, ledger, platform = self._open(profile)
        slot = self._take_slot(ledger, platform)
        if slot is None:
            return "busy" if ledger.is_claimable(key) else "skipped"
        try:
            sent = 0
            claimed = ledger.claim_batch(key, owner=self.name, lease_seconds=self.lease_seconds)
            if claimed is None:
                log.info("batch %s of %s: done or held elsewhere", key, profile)
                outcome: BatchOutcome = "skipped"
            else:
                outcome = self._send(profile, target, ledger, platform, claimed)
                if outcome != "done":
                    return outcome
                sent = 1
            # Drained even when the task's own batch was done already: the shop's other
            # batches may be waiting on tasks put off until later.
            sent += self._drain(profile, target, ledger, platform, first=slot == 0)
        finally:
            ledger.release_drain_slot(slot)
        if sent:
            ledger.note_worker(
                self.name, hostname=socket.gethostname(), pid=os.getpid(), batches=sent
            )
        return outcome

    def _take_slot(self, ledger: PgLedger, platform: Platform) -> int | None:
        """One of the shop's sending slots for this thread, or None if it has senders enough.

        Slot 0 whenever it is free; a further one only while the shop's slots go unused.
        """
        for slot in range(MAX_SENDERS):
            if slot > 0 and _slot_wait(platform) > _IDLE_SLOT_S:
                return None
            if ledger.try_drain_slot(slot):
                return slot
        return None

    def _drain(
        self,
        profile: str,
        target: FleetTarget,
        ledger: PgLedger,
        platform: Platform,
        *,
        first: bool,
    ) -> int:
        """Send the shop's next pending batches while it has a slot soon; how many were sent.

        The first sender waits for the shop's slots as they come (up to two of the
        shop's intervals, at least :data:`DEFER_AFTER_S`); the others only while slots
        go unused. After :data:`DRAIN_SECONDS`, or when the shop is busy with other
        senders, the shop is handed back to the queue: a task for its next pending
        batch goes behind the shops waiting to start (:meth:`_hand_back`). The
        batches' own tasks find them done when they come. A batch given back (the
        platform failed it, or refused these credentials) is queued again, since its
        own task may be gone.
        """
        rate = float(getattr(_limiter(platform), "max_rate", 0.0) or 0.0)
        if not first:
            near = _IDLE_SLOT_S
        else:
            near = max(DEFER_AFTER_S, 2.0 / rate) if rate > 0 else DEFER_AFTER_S
        sent = 0
        ends = self.clock() + DRAIN_SECONDS
        while True:
            wait = _slot_wait(platform)
            if wait > near or self.clock() >= ends:
                log.info(
                    "%s: %d batches sent after the task's own; next slot in %.2f s%s",
                    profile,
                    sent,
                    wait,
                    "" if wait > near else "; time to let other shops go first",
                )
                if first:
                    self._hand_back(profile, ledger, wait if wait > near else 0.0)
                return sent
            claimed = ledger.claim_next(owner=self.name, lease_seconds=self.lease_seconds)
            if claimed is None:
                return sent
            outcome = self._send(profile, target, ledger, platform, claimed)
            if outcome == "done":
                sent += 1
                continue
            if outcome in ("retry", "refused") and self.requeue is not None:
                later = RETRY_AFTER_S if outcome == "retry" else REFUSED_AFTER_S
                self.requeue(profile, claimed.key, later, False)
            return sent

    def _hand_back(self, profile: str, ledger: PgLedger, later: float) -> None:
        """Queue a task for the shop's next free pending batch, if it has one: in the lane
        of runs' first batches, behind the shops waiting to start but ahead of the tasks
        put off while the shop was drained (behind those, the shop would stand idle)."""
        if self.requeue is None:
            return
        pending = ledger.next_claimable()
        if pending is not None:
            self.requeue(profile, pending, later, True)

    def _send(
        self,
        profile: str,
        target: FleetTarget,
        ledger: PgLedger,
        platform: Platform,
        claimed: ClaimedBatch,
    ) -> BatchOutcome:
        """Send one claimed batch and settle it under its lease (see :meth:`run`)."""
        key = claimed.key
        stock = StockRequest.from_json(claimed.request)
        if stock is not None:
            return self._send_stock(profile, target, ledger, platform, claimed, stock)
        view = LeasedLedger(ledger, claimed, self.name)
        tally = _Tally()
        engine = Engine(
            platform,
            view,
            namespace=target.namespace,
            run_id=claimed.run_id or "fleet",
            profile=target.profile,
            audit=self._audits.get(profile),
            options=EngineOptions(batch_size=target.settings.batch_size, workers=1),
            on_outcome=tally,
        )
        self._renewer.watch(ledger, view.held)
        try:
            # A first claim was never sent by anyone (a batch is sent only under a
            # claim); a later one may have been, so it is looked up first where the
            # platform's keys may be ignored.
            engine.resume_pending(outcome_unknown=claimed.attempts > 1)
            # The engine reports a resumed batch's refused items when a run's input
            # ends (they might be sent again from the file); a worker has no file.
            engine.apply(())
            self._settle(ledger, view, tally.failures)
        except LeaseLost as error:
            log.warning("batch %s of %s: %s", key, profile, error.message)
            return "lost"
        except AuthError as error:
            # This machine's credentials for the shop were refused before anything was
            # applied. Another worker may hold good ones (or these may be fixed): the
            # batch goes back, pending, rather than failing for good on one machine.
            if claimed.attempts < MAX_AUTH_CLAIMS:
                log.warning("batch %s of %s: %s; given back", key, profile, error.message)
                self._give_back(ledger, view)
                return "refused"
            log.error(
                "batch %s of %s: %s; failed after %d claims",
                key,
                profile,
                error.message,
                claimed.attempts,
            )
            self._settle(ledger, view, tally.failures)
            return "done"
        except ShopsyncError as error:
            log.warning("batch %s of %s failed for now: %s", key, profile, error.message)
            self._give_back(ledger, view)
            return "retry"
        finally:
            self._renewer.unwatch(view.held)
        return "done"

    def _send_stock(
        self,
        profile: str,
        target: FleetTarget,
        ledger: PgLedger,
        platform: Platform,
        claimed: ClaimedBatch,
        stock: StockRequest,
    ) -> BatchOutcome:
        """Send a claimed stock batch (``stock --queue``) and settle it under its lease
        (:meth:`_stock_leased`); what went wrong is answered as for a product batch."""
        key = claimed.key
        held = {key}
        self._renewer.watch(ledger, held)
        try:
            self._stock_leased(profile, target, ledger, platform, claimed, stock)
        except LeaseLost as error:
            log.warning("stock batch %s of %s: %s", key, profile, error.message)
            return "lost"
        except AuthError as error:
            # As for a product batch: another machine's credentials may work, up to
            # MAX_AUTH_CLAIMS claims.
            if claimed.attempts >= MAX_AUTH_CLAIMS:
                log.error("stock batch %s of %s: %s; failed", key, profile, error.message)
                self._fail_stock(ledger, key, stock, error)
                return "done"
            log.warning("stock batch %s of %s: %s; given back", key, profile, error.message)
            ledger.release_lease(key, owner=self.name)
            return "refused"
        except ShopsyncError as error:
            log.warning("stock batch %s of %s failed for now: %s", key, profile, error.message)
            ledger.release_lease(key, owner=self.name)
            return "retry"
        finally:
            self._renewer.unwatch(held)
        return "done"

    def _stock_leased(
        self,
        profile: str,
        target: FleetTarget,
        ledger: PgLedger,
        platform: Platform,
        claimed: ClaimedBatch,
        stock: StockRequest,
    ) -> None:
        """Send ``stock`` by the stock job's own rules (:class:`StockSender`) and settle
        it in one transaction: the counts, the refused items, for a delta its key done."""
        key = claimed.key
        if stock.mode == "delta" and ledger.is_done(key):
            # Applied under this key already: a delta is never applied twice.
            ledger.record_leased(key, owner=self.name, entries={})
            return
        sender = StockSender(platform, target.namespace, stock.mode)
        changes = list(stock.changes)
        try:
            # A later claim may follow a send whose answer nobody read (its worker
            # died): then only what is safe to repeat goes again.
            results = sender.send(changes, stock.lasts, key, outcome_unknown=claimed.attempts > 1)
        except ShopsyncError as error:
            if isinstance(error, AuthError) or not _batch_only(platform, error):
                raise
            # Refused as a whole (as the single machine's send loop settles it): its
            # items fail, and the batch with them.
            self._fail_stock(ledger, key, stock, error)
            return
        settled = sender.settle(
            stock.rows,
            changes,
            results,
            key=key,
            run_id=claimed.run_id or "fleet",
            profile=target.profile,
        )
        tally = _Tally()
        for outcome in settled.outcomes:
            tally(outcome)
        ledger.record_leased(
            key,
            owner=self.name,
            entries={},
            stocks=settled.stocks,
            failures=tally.failures,
            updated=settled.updated,
            mark_done=stock.mode == "delta",
        )
        audit = self._audits.get(profile)
        if audit is not None:
            audit.append(settled.audit)

    def _fail_stock(
        self,
        ledger: PgLedger,
        key: str,
        stock: StockRequest,
        error: ShopsyncError,
    ) -> None:
        """Settle a stock batch as failed, each of its items refused with ``error``."""
        tally = _Tally()
        for row, change in zip(stock.rows, stock.changes, strict=True):
            tally(
                ItemOutcome(
                    change.sku,
                    "failed",
                    None,
                    row,
                    change.to_api(),
                    error_code_of(error),
                    error.message,
                )
            )
        ledger.record_leased(
            key, owner=self.name, entries={}, state="failed", failures=tally.failures
        )

    def _give_back(self, ledger: PgLedger, view: LeasedLedger) -> None:
        for held in view.held:
            ledger.release_lease(held, owner=self.name)

    def _settle(self, ledger: PgLedger, view: LeasedLedger, failures: list[ItemFailure]) -> None:
        """Settle the task's batches under the lease; the refused items go with the
        claimed batch (follow-ups are part of its task), in the same transaction."""
        key = view.claimed.key
        for batch, entries, stocks in view.finished:
            ledger.record_leased(
                batch,
                owner=self.name,
                entries=entries,
                stocks=stocks,
                failures=failures if batch == key else (),
            )
        for batch in view.refused:
            ledger.record_leased(
                batch,
                owner=self.name,
                entries={},
                state="failed",
                failures=failures if batch == key else (),
            )

    def close(self) -> None:
        """Close every ledger connection and platform client."""
        self._renewer.close()
        with self._lock:
            for _, ledger, platform in self._targets.values():
                ledger.close()
                platform.close()
            self._targets.clear()
            for audit in self._audits.values():
                audit.close()
            self._audits.clear()
            for client in self._redis.values():
                client.close()
            self._redis.clear()
