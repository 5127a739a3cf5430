"""Plan and apply: turn validated products into the fewest writes, and send them safely.

The flow, one stream from file to platform::

    ValidRow ──plan (ledger)──▶ Change: create / update (changed fields) / unchanged
                                   │
        results ◀── record ◀── send ◀── batch (≤ batch size)
     (ledger, audit, outputs)   (worker threads, Idempotency-Key fixed per batch)

Every batch is written to the ledger as pending, with its ``Idempotency-Key``, before its
request leaves, and settled after its results are recorded. A run that crashes or is
killed leaves its unsettled batches in the ledger; the next run sends exactly those
requests again, with the same keys, before anything else. A create answered "exists"
becomes an update of the existing product; an update answered "not found" (deleted on
the platform) becomes a create.

What happens to a write whose outcome is unknown (sent, no answer) follows the
platform's :class:`~shopsync.platforms.base.Capabilities`: where idempotency keys are
honoured it is resent with the same key (the platform replays its answer); where they
are not, or may not be, the batch's creates are looked up by SKU first and only the
missing ones are sent again; without a lookup, a platform with unique SKUs gets the
batch again (a second create answers ``EXISTS``); a platform with neither has its
products listed (:meth:`~shopsync.platforms.base.Platform.iter_products`) to find the
creates, which costs a full listing per lost answer but never a duplicate.

The engine knows a :class:`~shopsync.platforms.base.Platform`, never a URL, and it never
prints: a user interface reads :meth:`Engine.snapshot` while a run goes on.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shopsync.domain.digest import compact_json
from shopsync.domain.models import Product, SourceRow, product_digest
from shopsync.domain.timefmt import now_rfc3339
from shopsync.errors import (
    AmbiguousWriteError,
    AuthError,
    ShopsyncError,
    UsageError,
)
from shopsync.i18n import N_
from shopsync.platforms.base import (
    AcceptedWrite,
    BatchResult,
    ItemCode,
    ItemResult,
    Platform,
    ProductUpdate,
    RemoteProduct,
    capabilities_of,
    confirmer_of,
    derive_idempotency_key,
)
from shopsync.state.audit import AuditLog, AuditRecord
from shopsync.state.ledger import LedgerEntry
from shopsync.state.store import LedgerStore
from shopsync.sync.images import ImageFailed, ImageUploader, has_local_images
from shopsync.sync.planner import (
    Change,
    ChangeKind,
    managed_fields,
)
from shopsync.sync.report import ItemOutcome, RunCounts
from shopsync.sync.workers import SendLoop

log = logging.getLogger(__name__)


_BATCH_OPERATION = "products.batch"
_MAX_RECONCILE_ROUNDS = 3
"""Lookups and resends of one batch after ambiguous failures, before the run gives up."""


@dataclass
class EngineOptions:
    """How the engine sends: batch size, parallelism, and how long to wait when stopped."""

    batch_size: int = 50
    workers: int = 4
    grace_seconds: float = 15.0
    """After a stop request, how long to wait for batches already sent."""
    verify: bool = False
    """Hold writes the platform only accepted (:attr:`ItemCode.ACCEPTED`) until
    :meth:`Engine.confirm_accepted` finds them applied; False trusts the acceptance."""
    verify_timeout: float = 300.0
    """How long :meth:`Engine.confirm_accepted` waits for accepted writes to be applied."""
    verify_interval: float = 10.0
    """Seconds between two checks of the writes still not applied."""


OutcomeSink = Callable[[ItemOutcome], None]


@dataclass
class _Batch:
    key: str
    creates: list[Change]
    updates: list[Change]
    follow_up: bool = False
    resumed: bool = False
    """Left pending by an earlier run: its outcomes are counted against the file's rows."""


@dataclass
class _Accepted:
    """A write the platform accepted and has not been seen to apply; pending in the
    ledger under :attr:`key` (one per SKU) until it is."""

    change: Change
    action: str
    """``created`` or ``updated``: what it counts as once applied."""
    product_id: str
    key: str
    resumed: bool = False
    counted: bool = False
    """Counted in ``RunCounts.accepted`` while it waits (those of this run)."""


class Engine:
    """Sends planned changes to a platform in batches, recording every result.

    Create one per run. Thread-safe where it needs to be: several worker threads send
    batches and record results while the caller's thread reads and plans the input.
    """

    def __init__(
        self,
        platform: Platform,
        ledger: LedgerStore,
        *,
        namespace: str,
        run_id: str,
        profile: str,
        audit: AuditLog | None = None,
        options: EngineOptions | None = None,
        on_outcome: OutcomeSink | None = None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """``namespace`` (profile and base URL) keeps two shops' idempotency keys apart;
        ``clock`` and ``sleep`` pace the checks of accepted writes (injected in tests)."""
        self.platform = platform
        self.ledger = ledger
        self.namespace = namespace
        self.run_id = run_id
        self.profile = profile
        self.audit = audit
        self.options = options or EngineOptions()
        self.capabilities = capabilities_of(platform)
        self._confirm = confirmer_of(platform)
        if self.capabilities.async_writes and self._confirm is None:
            # Writes applied later, and no way to learn whether they were: the engine
            # would have to guess their outcomes.
            raise UsageError(
                N_(
                    "The {name} platform finishes writes asynchronously and its "
                    "adapter cannot confirm them, which uploads do not support."
                ).format(name=platform.name)
            )
        self.clock = clock
        self.sleep = sleep
        self._accepted: list[_Accepted] = []
        self._held_resumed: dict[str, _Accepted] = {}
        """Accepted writes of resumed batches, by SKU, until the file's row comes by."""
        self.batch_size = max(1, min(self.options.batch_size, self.capabilities.max_batch_size))
        self.on_outcome = on_outcome
        self.stop = stop or threading.Event()
        self.counts = RunCounts()
        self.images = ImageUploader(platform, ledger)
        """Uploads the local images of the products sent (once per content)."""
        self._lock = threading.Lock()
        self._sending: SendLoop[_Batch] = SendLoop(
            platform,
            self._send,
            lambda batch, code, message: self._fail_batch(batch, code, message, settle=True),
            stop=self.stop,
            workers=self.options.workers,
            grace_seconds=self.options.grace_seconds,
            # Not the rows' fault: they stay out of the failed file, planned again next run.
            fail_unexpected=False,
        )
        """The send loop the stock sync shares: worker threads, the fatal error, and how
        far a failure reaches."""
        # Items an earlier run left pending and this run settled, by SKU: counted when
        # the file's row for the SKU comes by (once), or at the end if it never does.
        self._resumed: dict[str, ItemOutcome] = {}

    # -- what a UI reads ---------------------------------------------------------------

    def snapshot(self) -> RunCounts:
        """A consistent copy of the counts."""
        with self._lock:
            return RunCounts(**self.counts.as_dict())

    # -- resuming ----------------------------------------------------------------------

    def resume_pending(self, *, outcome_unknown: bool = True) -> int:
        """Send again, with their original keys, the batches an earlier run left unsettled.

        ``outcome_unknown=False`` is for a caller that knows they were never sent (a fleet
        worker's first claim of a queued batch): no lookup before sending then.
        """
        pending = self.ledger.pending_batches()
        items = 0
        accepted: list[_Accepted] = []
        for batch in pending:
            if self.stop.is_set():
                break
            if batch.request.get("accepted"):
                accepted.append(_restore_accepted(batch.idempotency_key, batch.request))
                continue
            restored = _restore_batch(batch.idempotency_key, batch.request)
            log.info(
                "resuming batch %s from an earlier run (%d items)",
                batch.idempotency_key,
                len(restored.creates) + len(restored.updates),
            )
            with self._lock:
                self.counts.resumed += len(restored.creates) + len(restored.updates)
            # Its first send may have been applied: where keys may be ignored, what it
            # creates is looked up before anything is sent again.
            self._send(restored, outcome_unknown=outcome_unknown)
            items += len(restored.creates) + len(restored.updates)
            fatal = self._sending.fatal
            if fatal is not None:
                self._settle_resumed_not_read()
                raise fatal
        if accepted and self._confirm is not None and not self.stop.is_set():
            # Accepted by the platform in an earlier run, not seen applied then: checked
            # once now. Those applied since count as what they were; the rest stay
            # pending, and the file's rows send them again (no entry says otherwise).
            with self._lock:
                self.counts.resumed += len(accepted)
            self._check_accepted(accepted, wait=False)
            items += len(accepted)
        return items

    # -- accepted, not yet applied -------------------------------------------------------

    def confirm_accepted(self) -> int:
        """Check that the writes the platform only accepted this run were applied.

        Checks again every :attr:`EngineOptions.verify_interval` seconds until all are,
        or :attr:`EngineOptions.verify_timeout` has passed. Those applied are recorded
        and counted as created or updated; the others are counted ``unconfirmed``, go to
        the failed file with the platform's reason, and stay pending in the ledger, so
        the next run checks them again instead of trusting them. Returns how many were
        not applied.
        """
        with self._lock:
            waiting, self._accepted = self._accepted, []
            self._held_resumed.clear()
        # One write per SKU: a later one (the file's row after a resumed batch's) stands.
        latest = list({a.key: a for a in waiting}.values())
        with self._lock:
            self.counts.accepted -= sum(1 for a in waiting if a.counted)
        return len(self._check_accepted(latest, wait=True))

    def _check_accepted(self, waiting: list[_Accepted], *, wait: bool) -> list[_Accepted]:
        if not waiting or self._confirm is None:
            return waiting
        deadline = self.clock() + self.options.verify_timeout
        reasons: dict[str, ItemResult] = {}
        while waiting:
            results = self._confirm(
                [AcceptedWrite(a.change.product, a.change.fields) for a in waiting]
            )
            applied = [a for a, r in zip(waiting, results, strict=True) if r.ok]
            reasons = {a.key: r for a, r in zip(waiting, results, strict=True) if not r.ok}
            self._record_applied(applied)
            waiting = [a for a in waiting if a.key in reasons]
            remaining = deadline - self.clock()
            if not waiting or not wait or remaining <= 0 or self.stop.is_set():
                break
            log.info("%d accepted writes not applied yet; checking again", len(waiting))
            self.sleep(min(self.options.verify_interval, remaining))
        if wait:
            self._count(
                [
                    ItemOutcome(
                        a.change.sku,
                        "unconfirmed",
                        a.product_id,
                        a.change.row,
                        a.change.product,
                        reasons[a.key].code or ItemCode.ACCEPTED.name,
                        reasons[a.key].message or "accepted, not applied",
                    )
                    for a in waiting
                ],
                resumed=False,
            )
        return waiting

    def _record_applied(self, applied: Sequence[_Accepted]) -> None:
        if not applied:
            return
        for a in applied:
            # Recorded and settled as done together, one write each (a shared ledger
            # counts a batch settled without results as failed).
            if a.action == "created":
                entry = _created_entry(a.change, a.product_id)
                stocks = _stocks_of(a.change.product)
            else:
                entry = _updated_entry(a.change, a.product_id)
                stocks = _updated_stocks(a.change)
            self.ledger.record({a.change.sku: entry}, stocks=stocks, finished_batch=a.key)
        outcomes = [
            ItemOutcome(a.change.sku, a.action, a.product_id, a.change.row, a.change.product)
            for a in applied
        ]
        self._count([o for o, a in zip(outcomes, applied, strict=True) if a.resumed], resumed=True)
        self._count([o for o, a in zip(outcomes, applied, strict=True) if not a.resumed])

    def _takes_over_held(self, change: Change) -> bool:
        """Whether ``change`` is a resumed batch's write of the same content, accepted and
        waiting to be confirmed: then it is not sent twice, and the held write stands for
        the file's row (counted with it, its row in the failed file if not applied)."""
        with self._lock:
            held = self._held_resumed.get(change.sku)
            if held is None or held.change.content_hash != change.content_hash:
                return False
            del self._held_resumed[change.sku]
            held.change, held.resumed = change, False
            return True

    def _holds(self, item: ItemResult) -> bool:
        """Whether ``item`` waits for :meth:`confirm_accepted` instead of being trusted."""
        return (
            self.options.verify and self._confirm is not None and item.outcome is ItemCode.ACCEPTED
        )

    def _hold(self, batch: _Batch, change: Change, action: str, product_id: str) -> _Accepted:
        """Note in the ledger, pending, a write only accepted (see :meth:`confirm_accepted`)."""
        key = derive_idempotency_key(self.namespace, "accepted", change.sku)
        creates, updates = ([change], []) if action == "created" else ([], [change])
        head = json.dumps({"accepted": True, "action": action, "product_id": product_id})
        self.ledger.begin_batch(key, head[:-1] + "," + _request_of(creates, updates)[1:])
        return _Accepted(change, action, product_id, key, batch.resumed, counted=True)

    # -- applying ----------------------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> RunCounts:
        """Send every create and update in ``changes``; count the unchanged.

        Returns the counts. Raises :class:`~shopsync.errors.Interrupted` if :attr:`stop`
        was set, and re-raises a fatal platform or auth error once in-flight batches
        are settled; the ledger holds what is needed to resume either way.
        """
        self._sending.run(self._batches(changes))
        self._settle_resumed_not_read()
        return self.snapshot()

    def _settle_resumed_not_read(self) -> None:
        """Resumed items whose SKU the file did not hold: reported, outside the row counts."""
        with self._lock:
            left = list(self._resumed.values())
            self._resumed.clear()
        if self.on_outcome is not None:
            for outcome in left:
                if outcome.action == "failed":
                    self.on_outcome(outcome)

    def _batches(self, changes: Iterable[Change]) -> Iterator[_Batch]:
        # A platform with a bulk path (capabilities.bulk): the changes are held until
        # there are `threshold` of them, then go in bulk batches; a change that stays
        # smaller goes in the usual batches once the input ends.
        bulk = self.capabilities.bulk
        undecided = bulk is not None and bulk.threshold > 0
        size = bulk.batch_size if bulk is not None and not undecided else self.batch_size
        creates: list[Change] = []
        updates: list[Change] = []
        for change in changes:
            if self._sending.stopping:
                return
            if change.kind == "unchanged":
                with self._lock:
                    resumed = self._resumed.pop(change.sku, None)
                    if resumed is not None and resumed.action == "created":
                        self.counts.created += 1  # this run created it, by resuming
                    elif resumed is not None and resumed.action == "updated":
                        self.counts.updated += 1
                    else:
                        self.counts.unchanged += 1
                continue
            if self._held_resumed and self._takes_over_held(change):
                continue
            if self._resumed:
                with self._lock:
                    self._resumed.pop(change.sku, None)  # sent again now, counted then
            (creates if change.kind == "create" else updates).append(change)
            if undecided:
                assert bulk is not None
                if len(creates) + len(updates) < bulk.threshold:
                    continue
                undecided, size = False, bulk.batch_size
            if len(creates) + len(updates) >= size:
                yield self._batch(creates, updates)
                creates, updates = [], []
        yield from self._last_batches(creates, updates, self.batch_size if undecided else size)

    def _last_batches(
        self, creates: list[Change], updates: list[Change], size: int
    ) -> Iterator[_Batch]:
        """What the input's end leaves, in batches of ``size``: one batch, or, for a bulk
        platform's change that stayed under its threshold, the usual batches."""
        changes = creates + updates
        for start in range(0, len(changes), size):
            part = changes[start : start + size]
            yield self._batch(
                [c for c in part if c.kind == "create"], [c for c in part if c.kind != "create"]
            )

    def _batch(
        self,
        creates: list[Change],
        updates: list[Change],
        *,
        follow_up: bool = False,
        resumed: bool = False,
    ) -> _Batch:
        # The key stands for the batch's content through each item's content hash (the
        # bodies were hashed once, when planned), the fields an update sends, the
        # product it goes to and the content it replaces: writing A, then B, then A
        # again is three writes with three keys, while a resumed batch reuses its
        # stored key. One flat list of strings, encoded in one call: building nested
        # lists and sorting their keys was 5% of an upload's CPU.
        material: list[str | None] = []
        for c in (*creates, *updates):
            entry = c.entry
            material += (
                c.kind,
                c.sku,
                c.content_hash,
                ",".join(sorted(c.fields)) if c.fields else "",
                entry.product_id if entry else None,
                entry.content_hash if entry else None,
            )
        key = derive_idempotency_key(
            self.namespace,
            _BATCH_OPERATION + (":follow-up" if follow_up else ""),
            compact_json(material),
        )
        return _Batch(key, creates, updates, follow_up, resumed)

    def _reconciles_by_lookup(self) -> bool:
        """Whether a write that may have been applied is checked on the platform first.

        Not where keys are honoured (the resend replays), nor where SKUs are unique and
        there is no lookup (the resend's creates answer ``EXISTS``): everywhere else,
        by SKU where the platform can look up, else by listing its products.
        """
        caps = self.capabilities
        if caps.keys_guaranteed:
            return False
        return caps.lookup_by_sku or not caps.unique_skus

    def _send(self, batch: _Batch, *, outcome_unknown: bool = False) -> None:
        """Send ``batch`` and record its results; ``outcome_unknown``: it may have been sent."""
        self.ledger.begin_batch(batch.key, _request_of(batch.creates, batch.updates))
        log.info(
            "sending batch %s: %d to create, %d to update",
            batch.key,
            len(batch.creates),
            len(batch.updates),
        )
        found: dict[int, ItemResult] = {}  # creates found on the platform, by position
        # A bulk batch is settled by its adapter, by its key: looked up now, while its
        # operation may still be running, it would be sent twice.
        settles = self.capabilities.settles_by_key(len(batch.creates) + len(batch.updates))
        if outcome_unknown and self._reconciles_by_lookup() and not settles:
            try:
                found = self._look_up(batch, range(len(batch.creates)), batch.key)
            except ShopsyncError as error:
                self._fail_on(batch, error)
                return
        for attempt in range(_MAX_RECONCILE_ROUNDS + 1):
            pending = [i for i in range(len(batch.creates)) if i not in found]
            key = batch.key
            if found:
                # Another body than the batch's first send: another key.
                key = derive_idempotency_key(
                    self.namespace, _BATCH_OPERATION + ":reconciled", f"{batch.key}:{attempt}"
                )
            try:
                result = self._write(batch, pending, key)
            except AmbiguousWriteError as error:
                if attempt == _MAX_RECONCILE_ROUNDS or not self._can_resend():
                    self._fail_batch(
                        batch, ItemCode.UNKNOWN_OUTCOME.name, error.message, settle=False
                    )
                    self._sending.set_fatal(error)
                    return
                if self._reconciles_by_lookup():
                    try:
                        found.update(self._look_up(batch, pending, key))
                    except ShopsyncError as lookup_error:
                        self._fail_on(batch, lookup_error)
                        return
                    log.info(
                        "batch %s: outcome unknown; %d of %d creates found on the platform, "
                        "sending the rest again",
                        batch.key,
                        sum(1 for i in pending if i in found),
                        len(pending),
                    )
                continue
            except ShopsyncError as error:
                self._fail_on(batch, error)
                return
            created = iter(result.created)
            merged = BatchResult(
                created=[
                    found[i] if i in found else next(created) for i in range(len(batch.creates))
                ],
                updated=result.updated,
            )
            self._record(batch, merged)
            return

    def _can_resend(self) -> bool:
        """Whether a write whose outcome is unknown may be sent again (see the module doc)."""
        caps = self.capabilities
        return caps.keys_guaranteed or caps.unique_skus or self._reconciles_by_lookup()

    def _write(self, batch: _Batch, creates: Sequence[int], key: str) -> BatchResult:
        # Local images are uploaded now, as their products are sent; an item whose image
        # failed is answered here and left out of the request (see sync/images.py).
        wired_creates = [
            self._wired(batch.creates[i], batch.creates[i].product, True) for i in creates
        ]
        wired_updates = [
            self._wired(
                change,
                _update_content(change),
                change.fields is None or bool({"images", "variants"} & change.fields),
            )
            for change in batch.updates
            if change.entry is not None
        ]
        sent_creates = [p for p in wired_creates if isinstance(p, Product)]
        updates = [
            ProductUpdate(
                change.entry.product_id,
                wired,
                change.fields,
                change.removed_variants,
                ()
                if change.forced
                else self.images.wire_bodies(change.entry.body.get("variants") or ()),
            )
            for change, wired in zip(
                (c for c in batch.updates if c.entry is not None), wired_updates, strict=True
            )
            if change.entry is not None and isinstance(wired, Product)
        ]
        if not sent_creates and not updates:
            result = BatchResult()
        else:
            if len(sent_creates) < len(wired_creates) or len(updates) < len(wired_updates):
                # Another body than the batch's: another key, or the platform would
                # take it for a reuse of the batch's key with a different request.
                key = derive_idempotency_key(self.namespace, _BATCH_OPERATION + ":less", key)
            result = self.platform.write_products(sent_creates, updates, idempotency_key=key)
        if len(sent_creates) == len(wired_creates) and len(updates) == len(wired_updates):
            return result
        created, updated = iter(result.created), iter(result.updated)
        return BatchResult(
            created=[p if isinstance(p, ItemResult) else next(created) for p in wired_creates],
            updated=[p if isinstance(p, ItemResult) else next(updated) for p in wired_updates],
        )

    def _wired(self, change: Change, product: Product, sends_images: bool) -> Product | ItemResult:
        """``product`` (what ``change`` sends) as the request carries it, images uploaded,
        or its failure."""
        if not sends_images or not has_local_images(product):
            return product
        try:
            return self.images.wire_product(product)
        except ImageFailed as failure:
            return ItemResult(
                sku=change.sku,
                ok=False,
                code=failure.code,
                message=failure.message,
                field="images",
                item_code=ItemCode.INVALID,
            )

    def _look_up(self, batch: _Batch, positions: Iterable[int], key: str) -> dict[int, ItemResult]:
        """The creates at ``positions`` that are on the platform: applied, answer lost."""
        wanted = list(positions)
        if not wanted:
            return {}
        # A product with variants is found by its first variant's SKU (Product.sku).
        remote = self._find_remote([batch.creates[i].product.sku for i in wanted])
        return {
            i: ItemResult(
                sku=batch.creates[i].sku,
                ok=True,
                product_id=remote[batch.creates[i].product.sku].product_id,
                idempotency_key=key,
                reconciled=True,
                item_code=ItemCode.OK,
            )
            for i in wanted
            if batch.creates[i].product.sku in remote
        }

    def _find_remote(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """The products with those SKUs on the platform: looked up, or found by listing
        every product where the platform has no lookup (stopping once all are found)."""
        if self.capabilities.lookup_by_sku:
            return self.platform.lookup_skus(skus)
        wanted = set(skus)
        found: dict[str, RemoteProduct] = {}
        for remote in self.platform.iter_products():
            if remote.sku in wanted and remote.sku not in found:
                found[remote.sku] = remote
                if len(found) == len(wanted):
                    break
        return found

    def _fail_on(self, batch: _Batch, error: ShopsyncError) -> None:
        """Fail ``batch``'s items for ``error``; stop the run unless only the batch is at fault."""
        if isinstance(error, AuthError):
            # Refused before anything was applied, for the credentials, not the rows:
            # they are not failed rows, the next run plans them again.
            self.ledger.finish_batch(batch.key)
        # Refused as a whole (too large, malformed): nothing was applied, and sending it
        # again would get the same answer, so its items fail and the run goes on. About
        # the platform (unreachable, failing past every retry): the rows stay out of the
        # failed file, and the batch stays pending in the ledger, so the next run settles
        # it (see the module doc) before the rest.
        self._sending.settle(batch, error)

    def _record(self, batch: _Batch, result: BatchResult) -> None:  # noqa: PLR0912 - a branch per outcome
        entries: dict[str, LedgerEntry] = {}
        # Stock the upload set is now the platform's count, as far as a stock sync knows:
        # every create sets it, an update only when the stock column changed.
        stocks: dict[str, int] = {}
        outcomes: list[ItemOutcome] = []
        audit: list[AuditRecord] = []
        follow_creates: list[Change] = []
        follow_updates: list[Change] = []
        answered_at = now_rfc3339()  # one clock read per batch: its items share an answer
        held: list[_Accepted] = []
        for change, item in zip(batch.creates, result.created, strict=True):
            if item.ok and item.product_id and self._holds(item):
                held.append(self._hold(batch, change, "created", item.product_id))
            elif item.ok and item.product_id:
                entries[change.sku] = _created_entry(change, item.product_id)
                stocks.update(_stocks_of(change.product))
                outcomes.append(
                    ItemOutcome(change.sku, "created", item.product_id, change.row, change.product)
                )
            elif item.outcome is ItemCode.EXISTS and item.product_id and not batch.follow_up:
                # On the platform already (made elsewhere, or by a run whose ledger was
                # lost): update that product with what the file says, never a duplicate.
                follow_updates.append(_adopt(change, item.product_id))
            else:
                outcomes.append(_failed(change, item))
            audit.append(self._audit("create", change.sku, item, batch.key, answered_at))
        for change, item in zip(batch.updates, result.updated, strict=True):
            assert change.entry is not None
            if item.ok and self._holds(item):
                held.append(
                    self._hold(batch, change, "updated", item.product_id or change.entry.product_id)
                )
            elif item.ok:
                entries[change.sku] = _updated_entry(
                    change, item.product_id or change.entry.product_id
                )
                stocks.update(_updated_stocks(change))
                outcomes.append(
                    ItemOutcome(
                        change.sku,
                        "updated",
                        item.product_id or change.entry.product_id,
                        change.row,
                        change.product,
                    )
                )
            elif item.outcome is ItemCode.NOT_FOUND and not batch.follow_up:
                # Deleted on the platform since: what the file holds must exist again.
                follow_creates.append(
                    Change(
                        "create",
                        change.row,
                        change.product,
                        None,
                        None,
                        change.body_json,
                        change.content_hash,
                    )
                )
            else:
                outcomes.append(_failed(change, item))
            audit.append(self._audit("update", change.sku, item, batch.key, answered_at))
        # Results first, then the pending mark goes: a crash between the two only
        # makes the next run replay a batch whose answers the platform has stored.
        self.ledger.record(entries, stocks=stocks, finished_batch=batch.key)
        if held:
            with self._lock:
                self._accepted.extend(held)
                self.counts.accepted += len(held)
                if batch.resumed:
                    self._held_resumed.update((a.change.sku, a) for a in held)
        if self.audit is not None:
            self.audit.append(audit)
        self._count(outcomes, resumed=batch.resumed)
        if follow_creates or follow_updates:
            for start in range(0, len(follow_creates) + len(follow_updates), self.batch_size):
                both = [*follow_creates, *follow_updates][start : start + self.batch_size]
                self._send(
                    self._batch(
                        [c for c in both if c.kind == "create"],
                        [c for c in both if c.kind == "update"],
                        follow_up=True,
                        resumed=batch.resumed,
                    )
                )

    def _fail_batch(self, batch: _Batch, code: str, message: str, *, settle: bool) -> None:
        outcomes = [
            ItemOutcome(
                change.sku,
                "failed",
                change.entry.product_id if change.entry else None,
                change.row,
                change.product,
                code,
                message,
            )
            for change in (*batch.creates, *batch.updates)
        ]
        if settle:
            self.ledger.finish_batch(batch.key)
        self._count(outcomes, resumed=batch.resumed)

    def _count(self, outcomes: Sequence[ItemOutcome], *, resumed: bool = False) -> None:
        if resumed:
            # Counted once, against the file's row for the SKU (see _batches): the row
            # comes by as unchanged if this settled it, as a change if it is to be sent
            # again. Successes go to the outputs now; failures only if never re-sent.
            with self._lock:
                for outcome in outcomes:
                    self._resumed[outcome.sku] = outcome
            if self.on_outcome is not None:
                for outcome in outcomes:
                    if outcome.action != "failed":
                        self.on_outcome(outcome)
            return
        with self._lock:
            for outcome in outcomes:
                if outcome.action == "created":
                    self.counts.created += 1
                elif outcome.action == "updated":
                    self.counts.updated += 1
                elif outcome.action == "unconfirmed":
                    self.counts.unconfirmed += 1
                else:
                    self.counts.failed += 1
        if self.on_outcome is not None:
            for outcome in outcomes:
                self.on_outcome(outcome)

    def _audit(self, action: str, sku: str, item: ItemResult, key: str, at: str) -> AuditRecord:
        return AuditRecord(
            time=at,
            run_id=self.run_id,
            profile=self.profile,
            action=action,
            sku=sku,
            product_id=item.product_id,
            http_status=item.http_status,
            request_id=item.request_id,
            idempotency_key=key,
            outcome="ok" if item.ok else "error",
            code=item.code,
            message=item.message,
        )


def _created_entry(change: Change, product_id: str) -> LedgerEntry:
    """What the ledger holds of a product ``change`` created as ``product_id``."""
    return LedgerEntry(product_id, change.content_hash, change.body_json, "created")


def _updated_entry(change: Change, product_id: str) -> LedgerEntry:
    """What the ledger holds of a product once the update ``change`` is applied."""
    return LedgerEntry.of(product_id, _updated_body(change), "updated")


def _restore_accepted(key: str, request: Mapping[str, Any]) -> _Accepted:
    """An accepted write an earlier run left pending (see ``Engine._hold``)."""
    restored = _restore_batch(key, request)
    change = (restored.creates or restored.updates)[0]
    return _Accepted(change, str(request["action"]), str(request["product_id"]), key, resumed=True)


def _adopt(change: Change, product_id: str) -> Change:
    """An update of ``product_id`` to the change's content, limited to the file's columns."""
    entry = LedgerEntry(product_id, "", "{}", "adopted")
    fields = managed_fields(change.product) - {"sku"}
    return Change(
        "update", change.row, change.product, entry, fields, change.body_json, change.content_hash
    )


def _failed(change: Change, item: ItemResult) -> ItemOutcome:
    return ItemOutcome(
        change.sku,
        "failed",
        item.product_id or (change.entry.product_id if change.entry else None),
        change.row,
        change.product,
        item.code or "ERROR",
        N_("{field}: {message}").format(
            field=item.field, message=item.message or N_("refused by the platform")
        )
        if item.field
        else (item.message or N_("refused by the platform")),
    )


def _request_of(creates: Sequence[Change], updates: Sequence[Change]) -> str:
    """What the ledger keeps of a pending batch, as JSON text: enough to send it again.

    Each body goes in as the canonical text it was hashed as when planned, so a batch is
    not encoded a second time just to be remembered.
    """

    def item(change: Change, extra: dict[str, Any]) -> str:
        # "given": the fields the file set, so a resumed product is the file's again (a
        # field left to its default, such as currency, must not read as one it named).
        given = sorted(change.product.model_fields_set)
        place = json.dumps(
            {"file": change.row.file, "line": change.row.line, "given": given, **extra}
        )
        body = change.body_json
        return '{"body":' + body + "," + place[1:]

    created = ",".join(item(c, {}) for c in creates)
    updated = ",".join(
        item(
            c,
            {
                "product_id": c.entry.product_id if c.entry else None,
                "fields": sorted(c.fields or ()),
                "entry": c.entry.to_record() if c.entry else None,
                **({"removed_variants": list(c.removed_variants)} if c.removed_variants else {}),
                **({"kept_variants": list(c.kept_variants)} if c.kept_variants else {}),
                # A resumed --force update must send the same body as the first try: its
                # key names that request.
                **({"forced": True} if c.forced else {}),
            },
        )
        for c in updates
    )
    return '{"creates":[' + created + '],"updates":[' + updated + "]}"


def _restore_batch(key: str, request: Mapping[str, Any]) -> _Batch:
    def change(kind: ChangeKind, item: Mapping[str, Any]) -> Change:
        body = dict(item["body"])
        given = item.get("given")  # absent in a journal written before it was kept
        product = Product.model_validate(
            body if given is None else {name: body[name] for name in given if name in body}
        )
        row = SourceRow(item.get("file") or "(resumed)", item.get("line") or 0, body)
        entry = LedgerEntry.from_record(item["entry"]) if item.get("entry") else None
        fields = frozenset(item.get("fields") or ()) if kind == "update" else None
        text, digest = product_digest(body)
        removed = tuple(item.get("removed_variants") or ())
        kept = tuple(item.get("kept_variants") or ())
        return Change(
            kind,
            row,
            product,
            entry,
            fields,
            text,
            digest,
            kept_variants=kept,
            removed_variants=removed,
            forced=bool(item.get("forced")),
        )

    return _Batch(
        key,
        [change("create", item) for item in request.get("creates", [])],
        [change("update", item) for item in request.get("updates", [])],
        resumed=True,
    )


def _updated_body(change: Change) -> dict[str, Any]:
    """What the ledger keeps of a product an update changed: the fields sent, over what
    it knew; a variant the update kept on the platform stays in it."""
    assert change.entry is not None
    sent = change.body
    body = {
        **change.entry.body,
        # A product with variants has no price of its own: under --force its fields
        # name some its body lacks.
        **{name: sent[name] for name in change.fields or () if name in sent},
    }
    if not change.product.variants:
        body["sku"] = change.sku
    elif change.kept_variants:
        body["variants"] = _with_kept_variants(change, body.get("variants") or [])
    return body


def _with_kept_variants(change: Change, variants: list[Any]) -> list[Any]:
    """An updated product's variant bodies for the ledger, with the variants the update
    kept on the platform (the file no longer lists them) as the ledger knew them: so the
    next run still reports them, and ``--remove-missing-variants`` can still remove them."""
    assert change.entry is not None
    listed = {v.get("sku") for v in variants if isinstance(v, Mapping)}
    kept = set(change.kept_variants) - listed
    known = change.entry.body.get("variants") or []
    return [*variants, *(v for v in known if isinstance(v, Mapping) and v.get("sku") in kept)]


def _stocks_of(product: Product) -> dict[str, int]:
    """The stock the file gives each SKU of ``product`` (its variants', or its own)."""
    if product.variants:
        return {variant.sku: variant.stock for variant in product.variants}
    return {product.sku: product.stock}


def _updated_stocks(change: Change) -> dict[str, int]:
    """The stock an update set: the product's when its stock was sent, a variant's when
    that variant was (an update sends only the variants that changed)."""
    fields = change.fields or ()
    if "stock" in fields:
        return {change.sku: change.product.stock}
    if "variants" in fields:
        # A changed variant's stock is sent only if the file changed it (the adapter
        # sends a known variant's changed fields alone).
        before = {
            v["sku"]: v for v in (change.entry.body if change.entry else {}).get("variants", [])
        }
        return {
            variant["sku"]: variant["stock"]
            for variant in change.changed_variants()
            if before.get(variant["sku"], {}).get("stock") != variant["stock"]
        }
    return {}


def _update_content(change: Change) -> Product:
    """What an update sends: the product, with only its new or changed variants (the
    platform keeps the others), so one variant's new price changes that variant alone."""
    product = change.product
    if not product.variants or "variants" not in (change.fields or ()):
        return product
    changed = {variant["sku"] for variant in change.changed_variants()}
    return product.model_copy(
        update={"variants": [variant for variant in product.variants if variant.sku in changed]}
    )
