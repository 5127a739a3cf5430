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
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from shopsync.errors import AuthError, ShopsyncError
from shopsync.jobs.base import failed_cells
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

MAX_AUTH_CLAIMS = 30
"""Claims of one batch refused for credentials before it is settled as failed: other
machines may hold the right ones (or the secret may be fixed meanwhile), but a fleet
where none does must end the run. With the task's back-off, about half an hour."""

BatchOutcome = Literal["done", "skipped", "lost", "retry", "refused"]


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
    ) -> None:
        self.load_settings = load_settings
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.lease_seconds = lease_seconds
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

    def defer_for(self, profile: str) -> float:
        """Seconds to put this task off by, if its shop's shared limit is booked ahead (or 0).

        Without it, a slow shop's tasks fill every thread of every worker with waiting
        while the fast shops' batches queue behind them: ten shops reached a third of
        the sum of their limits. Only peeks: no slot is booked and then wasted.
        """
        _, _, platform = self._open(profile)
        limiter = getattr(getattr(platform, "client", None), "limiter", None)
        peek = getattr(limiter, "peek", None)
        if peek is None:
            return 0.0
        wait = float(peek())
        return wait if wait > DEFER_AFTER_S else 0.0

    def run(self, profile: str, key: str) -> BatchOutcome:
        """Send batch ``key`` of target ``profile`` if nobody has or holds it.

        ``done``: sent and recorded here; ``skipped``: done, failed or leased already;
        ``lost``: the lease ran out before the results could be recorded (the new
        holder sends it again); ``retry``: the platform failed past every retry, the
        lease is given back and the task should be retried later; ``refused``: this
        machine's credentials were refused, the lease is given back and the task should
        be retried later still (another machine may take it meanwhile).
        """
        target, ledger, platform = self._open(profile)
        claimed = ledger.claim_batch(key, owner=self.name, lease_seconds=self.lease_seconds)
        if claimed is None:
            log.info("batch %s of %s: done or held elsewhere; nothing to do", key, profile)
            return "skipped"
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
        ledger.note_worker(self.name, hostname=socket.gethostname(), pid=os.getpid(), batches=1)
        return "done"

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
