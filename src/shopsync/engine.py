"""Plan and apply: turn validated products into the fewest writes, and send them safely.

The flow, one stream from file to platform::

    ValidRow ──plan (ledger)──▶ Change: create / update (changed fields) / unchanged
                                   │
        results ◀── record ◀── send ◀── batch (≤ batch size)
     (ledger, audit, outputs)   (worker threads, Idempotency-Key fixed per batch)

Every batch is written to the ledger as pending, with its ``Idempotency-Key``, before its
request leaves, and settled after its results are recorded. A run that crashes or is
killed leaves its unsettled batches in the ledger; the next run sends exactly those
requests again, with the same keys, before anything else, so the platform replays its
answers instead of applying them twice. A create answered ``SKU_EXISTS`` becomes an
update of the existing product; an update answered ``NOT_FOUND`` (deleted on the
platform) becomes a create.

The engine knows a :class:`~shopsync.platforms.base.Platform`, never a URL, and it never
prints: a user interface reads :meth:`Engine.snapshot` while a run goes on.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, Literal, TypeVar

from shopsync.audit import AuditLog, AuditRecord, now_rfc3339
from shopsync.digest import compact_json, hash_text
from shopsync.errors import APIError, AuthError, Interrupted, PlatformError, ShopsyncError
from shopsync.ledger import Ledger, LedgerEntry
from shopsync.models import Product, SourceRow, ValidRow, product_digest
from shopsync.platforms.base import (
    BatchResult,
    ItemResult,
    Platform,
    ProductUpdate,
    derive_idempotency_key,
)

log = logging.getLogger(__name__)

ChangeKind = Literal["create", "update", "unchanged"]
REQUIRED_FIELDS = frozenset({"sku", "title", "price"})
_BATCH_OPERATION = "products.batch"
_RETRIED = frozenset({408, 409, 429})
T = TypeVar("T")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), as they come."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def new_run_id() -> str:
    """A run id that sorts by time and is unique: ``20261127T120102Z-3f9a1c``."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def managed_fields(product: Product) -> frozenset[str]:
    """The fields the input file speaks for: the required ones and every column it filled.

    A column the file does not have (no ``stock`` column, say) is never changed by an
    update, so a file that carries only prices cannot reset everything else.
    """
    return REQUIRED_FIELDS | product.model_fields_set


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class Change:
    """What the plan decided for one product."""

    kind: ChangeKind
    row: SourceRow
    product: Product
    entry: LedgerEntry | None
    fields: frozenset[str] | None = None
    """For updates: the fields that changed, the only ones sent."""
    _text: str = ""
    _digest: str = ""

    @property
    def body_json(self) -> str:
        """The body's JSON text (:attr:`Product.api_json`, unless restored from a ledger)."""
        if not self._text:
            self._text = self.product.api_json
        return self._text

    @property
    def content_hash(self) -> str:
        """The digest of :attr:`body_json`, worked out when first needed: a ``plan`` of
        new products never needs it, an upload needs it when it batches them."""
        if not self._digest:
            self._digest = hash_text(self.body_json)
        return self._digest

    @property
    def sku(self) -> str:
        """The product's SKU."""
        return self.product.sku

    @property
    def body(self) -> dict[str, Any]:
        """The product's full API body (a new dict; made only when something needs it:
        planning a create, or an unchanged product, needs only its hash)."""
        return self.product.to_api()

    def diff(self) -> list[tuple[str, Any, Any]]:
        """``(field, before, after)`` for each changed field of an update, in field order."""
        if self.kind != "update" or self.entry is None or self.fields is None:
            return []
        before, after = self.entry.body, self.body
        return [(name, before.get(name), after.get(name)) for name in after if name in self.fields]


class Planner:
    """Decides create / update / unchanged for each product from the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        force: bool = False,
        refresh_from: Platform | None = None,
        chunk_size: int = 100,
    ) -> None:
        """``refresh_from``: first reconcile the ledger with that platform (``--refresh``).

        ``chunk_size`` SKUs are looked up at once (the platform takes at most 100).
        """
        self.ledger = ledger
        self.force = force
        self.refresh_from = refresh_from
        self.chunk_size = chunk_size

    def plan(self, rows: Iterable[ValidRow[Product]]) -> Iterator[Change]:
        """One :class:`Change` per row, in input order, streaming."""
        for chunk in chunked(rows, self.chunk_size):
            yield from self._plan_chunk(chunk)

    def _plan_chunk(self, rows: list[ValidRow[Product]]) -> Iterator[Change]:
        # Rows are planned in chunks so that the ledger (and with --refresh, the
        # platform) is asked about many SKUs at once, not one query per row.
        skus = [row.product.sku for row in rows]
        recorded = self.ledger.get_many(skus)
        if self.refresh_from is None:
            for row in rows:
                yield self.decide(row, recorded.get(row.product.sku))
            return
        remote = self.refresh_from.lookup_skus(skus)
        refreshed: dict[str, LedgerEntry] = {}
        for sku in skus:
            found = remote.get(sku)
            if found is None:
                continue
            body = _normalized_remote_body(found.fields, sku)
            known = recorded.get(sku)
            known_body = known.body if known is not None else {}
            if "stock" in known_body:
                # Stock on the platform moves with orders and stock syncs; what the
                # product file said last time is what decides if its stock changed.
                body["stock"] = known_body["stock"]
            refreshed[sku] = LedgerEntry.of(found.product_id, body, "refreshed")
        # One transaction for the chunk, before any of its changes is acted on.
        if refreshed:
            self.ledger.record(refreshed)
        for row in rows:
            yield self.decide(row, refreshed.get(row.product.sku))

    def decide(self, row: ValidRow[Product], entry: LedgerEntry | None) -> Change:
        """The change for one row given what the ledger knows of its SKU."""
        product = row.product
        if entry is None:
            return Change("create", row.row, product, None)
        text = product.api_json
        digest = hash_text(text)
        if self.force:
            fields = frozenset(managed_fields(product) - {"sku"})
            return Change("update", row.row, product, entry, fields, text, digest)
        if entry.content_hash == digest and entry.outcome != "failed":
            return Change("unchanged", row.row, product, entry, None, text, digest)
        body = product.to_api()
        before = entry.body
        changed = frozenset(
            name
            for name in managed_fields(product)
            if name != "sku" and before.get(name) != body.get(name)
        )
        if not changed:
            return Change("unchanged", row.row, product, entry, None, text, digest)
        return Change("update", row.row, product, entry, changed, text, digest)


def _normalized_remote_body(fields: Mapping[str, Any], sku: str) -> dict[str, Any]:
    """A remote product's content in the shape of :meth:`Product.to_api`, for comparison."""
    known = {name: value for name, value in fields.items() if name in Product.model_fields}
    known["sku"] = sku
    try:
        return Product.model_validate(known).to_api()
    except ValueError:
        # Content the platform holds but our rules refuse: compare it as it is, so
        # whatever the file says is sent.
        return {name: str(value) if value is not None else None for name, value in known.items()}


@dataclass
class RunCounts:
    """How many products went which way; read by the UI while the run goes on."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    rejected: int = 0
    resumed: int = 0
    """Items of batches left pending by an earlier run, sent again first."""

    @property
    def processed(self) -> int:
        """Products with a final outcome in this run."""
        return self.created + self.updated + self.unchanged + self.failed

    def as_dict(self) -> dict[str, int]:
        """The counts by outcome, for reports."""
        return {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "rejected": self.rejected,
            "resumed": self.resumed,
        }


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class ItemOutcome:
    """The final outcome of one product in a run, for the succeeded and failed files."""

    sku: str
    action: str
    """``created``, ``updated``, or ``failed``."""
    product_id: str | None
    row: SourceRow | None
    source: Mapping[str, Any] | Product
    """The body sent, or the product it is the body of (made into one only if an output
    file asks: most outcomes are only counted)."""
    code: str | None = None
    message: str | None = None

    @property
    def body(self) -> Mapping[str, Any]:
        """The API body of the item."""
        return self.source.to_api() if isinstance(self.source, Product) else self.source


@dataclass
class EngineOptions:
    """How the engine sends: batch size, parallelism, and how long to wait when stopped."""

    batch_size: int = 50
    workers: int = 4
    grace_seconds: float = 15.0
    """After a stop request, how long to wait for batches already sent."""


OutcomeSink = Callable[[ItemOutcome], None]


@dataclass
class _Batch:
    key: str
    creates: list[Change]
    updates: list[Change]
    follow_up: bool = False


class Engine:
    """Sends planned changes to a platform in batches, recording every result.

    Create one per run. Thread-safe where it needs to be: several worker threads send
    batches and record results while the caller's thread reads and plans the input.
    """

    def __init__(
        self,
        platform: Platform,
        ledger: Ledger,
        *,
        namespace: str,
        run_id: str,
        profile: str,
        audit: AuditLog | None = None,
        options: EngineOptions | None = None,
        on_outcome: OutcomeSink | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        """``namespace`` (profile and base URL) keeps two shops' idempotency keys apart."""
        self.platform = platform
        self.ledger = ledger
        self.namespace = namespace
        self.run_id = run_id
        self.profile = profile
        self.audit = audit
        self.options = options or EngineOptions()
        self.batch_size = max(1, min(self.options.batch_size, platform.max_batch_size))
        self.on_outcome = on_outcome
        self.stop = stop or threading.Event()
        self.counts = RunCounts()
        self._lock = threading.Lock()
        self._fatal: ShopsyncError | None = None

    # -- what a UI reads ---------------------------------------------------------------

    def snapshot(self) -> RunCounts:
        """A consistent copy of the counts."""
        with self._lock:
            return RunCounts(**self.counts.as_dict())

    # -- resuming ----------------------------------------------------------------------

    def resume_pending(self) -> int:
        """Send again, with their original keys, the batches an earlier run left unsettled."""
        pending = self.ledger.pending_batches()
        items = 0
        for batch in pending:
            if self.stop.is_set():
                break
            restored = _restore_batch(batch.idempotency_key, batch.request)
            log.info(
                "resuming batch %s from an earlier run (%d items)",
                batch.idempotency_key,
                len(restored.creates) + len(restored.updates),
            )
            with self._lock:
                self.counts.resumed += len(restored.creates) + len(restored.updates)
            self._send(restored)
            items += len(restored.creates) + len(restored.updates)
            if self._fatal is not None:
                raise self._fatal
        return items

    # -- applying ----------------------------------------------------------------------

    def apply(self, changes: Iterable[Change]) -> RunCounts:
        """Send every create and update in ``changes``; count the unchanged.

        Returns the counts. Raises :class:`~shopsync.errors.Interrupted` if :attr:`stop`
        was set, and re-raises a fatal platform or auth error once in-flight batches
        are settled; the ledger holds what is needed to resume either way.
        """
        send_batches(
            self._batches(changes),
            self._send_safely,
            workers=self.options.workers,
            stop=self.stop,
            grace_seconds=self.options.grace_seconds,
            fatal=lambda: self._fatal,
        )
        return self.snapshot()

    def _batches(self, changes: Iterable[Change]) -> Iterator[_Batch]:
        creates: list[Change] = []
        updates: list[Change] = []
        for change in changes:
            if self.stop.is_set() or self._fatal is not None:
                return
            if change.kind == "unchanged":
                with self._lock:
                    self.counts.unchanged += 1
                continue
            (creates if change.kind == "create" else updates).append(change)
            if len(creates) + len(updates) >= self.batch_size:
                yield self._batch(creates, updates)
                creates, updates = [], []
        if creates or updates:
            yield self._batch(creates, updates)

    def _batch(
        self, creates: list[Change], updates: list[Change], *, follow_up: bool = False
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
        return _Batch(key, creates, updates, follow_up)

    def _send_safely(self, batch: _Batch) -> None:
        if self._fatal is not None or self.stop.is_set():
            # Queued before the run had to stop: not sent, so not failed either; the
            # next run plans these rows again.
            return
        try:
            self._send(batch)
        except Exception as error:  # a worker must record, never die silently
            log.exception("unexpected error while sending batch %s", batch.key)
            with self._lock:
                if self._fatal is None:
                    self._fatal = PlatformError(f"unexpected error while sending: {error}")

    def _send(self, batch: _Batch) -> None:
        self.ledger.begin_batch(batch.key, _request_of(batch.creates, batch.updates))
        try:
            result = self.platform.write_products(
                [change.product for change in batch.creates],
                [
                    ProductUpdate(change.entry.product_id, change.product, change.fields)
                    for change in batch.updates
                    if change.entry is not None
                ],
                idempotency_key=batch.key,
            )
        except AuthError as error:
            self._fail_batch(batch, "AUTH", error.message, settle=True)
            self._set_fatal(error)
            return
        except APIError as error:
            if error.status is not None and error.status < 500 and error.status not in _RETRIED:
                # The platform refused the whole batch (too large, malformed): nothing was
                # applied, and sending it again would get the same answer. Its items
                # fail; the run goes on with the next batch.
                code = error.code or f"HTTP_{error.status}"
                self._fail_batch(batch, code, error.message, settle=True)
                return
            self._fail_batch(batch, error.code or type(error).__name__, error.message, settle=False)
            self._set_fatal(error)
            return
        except PlatformError as error:
            # Past every retry: the batch may or may not have been applied. It stays
            # pending in the ledger, so the next run sends it again with the same key.
            code = getattr(error, "code", None) or type(error).__name__
            self._fail_batch(batch, code, error.message, settle=False)
            self._set_fatal(error)
            return
        self._record(batch, result)

    def _set_fatal(self, error: ShopsyncError) -> None:
        with self._lock:
            if self._fatal is None:
                self._fatal = error

    def _record(self, batch: _Batch, result: BatchResult) -> None:
        entries: dict[str, LedgerEntry] = {}
        # Stock the upload set is now the platform's count, as far as a stock sync knows:
        # every create sets it, an update only when the stock column changed.
        stocks: dict[str, int] = {}
        outcomes: list[ItemOutcome] = []
        audit: list[AuditRecord] = []
        follow_creates: list[Change] = []
        follow_updates: list[Change] = []
        answered_at = now_rfc3339()  # one clock read per batch: its items share an answer
        for change, item in zip(batch.creates, result.created, strict=True):
            if item.ok and item.product_id:
                entries[change.sku] = LedgerEntry(
                    item.product_id,
                    change.content_hash,
                    change.body_json,
                    "created",
                )
                stocks[change.sku] = change.product.stock
                outcomes.append(
                    ItemOutcome(change.sku, "created", item.product_id, change.row, change.product)
                )
            elif item.code == "SKU_EXISTS" and item.product_id and not batch.follow_up:
                # On the platform already (made elsewhere, or by a run whose ledger was
                # lost): update that product with what the file says, never a duplicate.
                follow_updates.append(_adopt(change, item.product_id))
            else:
                outcomes.append(_failed(change, item))
            audit.append(self._audit("create", change.sku, item, batch.key, answered_at))
        for change, item in zip(batch.updates, result.updated, strict=True):
            assert change.entry is not None
            if item.ok:
                sent = change.body
                body = {
                    **change.entry.body,
                    **{name: sent[name] for name in change.fields or ()},
                }
                body["sku"] = change.sku
                entries[change.sku] = LedgerEntry.of(
                    item.product_id or change.entry.product_id, body, "updated"
                )
                if "stock" in (change.fields or ()):
                    stocks[change.sku] = change.product.stock
                outcomes.append(
                    ItemOutcome(
                        change.sku,
                        "updated",
                        item.product_id or change.entry.product_id,
                        change.row,
                        change.product,
                    )
                )
            elif item.code == "NOT_FOUND" and not batch.follow_up:
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
        if self.audit is not None:
            self.audit.append(audit)
        self._count(outcomes)
        if follow_creates or follow_updates:
            for start in range(0, len(follow_creates) + len(follow_updates), self.batch_size):
                both = [*follow_creates, *follow_updates][start : start + self.batch_size]
                self._send(
                    self._batch(
                        [c for c in both if c.kind == "create"],
                        [c for c in both if c.kind == "update"],
                        follow_up=True,
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
        self._count(outcomes)

    def _count(self, outcomes: Sequence[ItemOutcome]) -> None:
        with self._lock:
            for outcome in outcomes:
                if outcome.action == "created":
                    self.counts.created += 1
                elif outcome.action == "updated":
                    self.counts.updated += 1
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
        (f"{item.field}: " if item.field else "") + (item.message or "refused by the platform"),
    )


def _request_of(creates: Sequence[Change], updates: Sequence[Change]) -> str:
    """What the ledger keeps of a pending batch, as JSON text: enough to send it again.

    Each body goes in as the canonical text it was hashed as when planned, so a batch is
    not encoded a second time just to be remembered.
    """

    def item(change: Change, extra: dict[str, Any]) -> str:
        place = json.dumps({"file": change.row.file, "line": change.row.line, **extra})
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
            },
        )
        for c in updates
    )
    return '{"creates":[' + created + '],"updates":[' + updated + "]}"


def _restore_batch(key: str, request: Mapping[str, Any]) -> _Batch:
    def change(kind: ChangeKind, item: Mapping[str, Any]) -> Change:
        body = dict(item["body"])
        product = Product.model_validate(body)
        row = SourceRow(item.get("file") or "(resumed)", item.get("line") or 0, body)
        entry = LedgerEntry.from_record(item["entry"]) if item.get("entry") else None
        fields = frozenset(item.get("fields") or ()) if kind == "update" else None
        text, digest = product_digest(body)
        return Change(kind, row, product, entry, fields, text, digest)

    return _Batch(
        key,
        [change("create", item) for item in request.get("creates", [])],
        [change("update", item) for item in request.get("updates", [])],
    )


class WorkerPool(Generic[T]):
    """A few daemon threads taking batches from a bounded queue.

    Bounded, so reading the file never runs far ahead of sending (memory stays flat and
    the first batch leaves before the file is read). Daemon threads, so a run that
    gave up waiting for a hung request can still exit.
    """

    def __init__(self, workers: int, handle: Callable[[T], None]) -> None:
        """Start ``workers`` threads that call ``handle`` on each submitted item."""
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=max(1, workers) * 2)
        self._handle = handle
        self._threads = [
            threading.Thread(target=self._run, name=f"shopsync-worker-{n}", daemon=True)
            for n in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self._handle(batch)

    def submit(self, batch: T, stop: threading.Event) -> None:
        """Queue ``batch``, waiting for room unless ``stop`` is set meanwhile."""
        while not stop.is_set():
            try:
                self._queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self, timeout: float | None) -> bool:
        """Finish queued batches (all of them, or within ``timeout``); True if all settled."""
        if timeout is not None:
            # Stopping: batches still queued are dropped unsent (their rows are simply
            # not done; the next run plans them again).
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        for _ in self._threads:
            self._queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(thread.is_alive() for thread in self._threads)


def send_batches(
    batches: Iterable[T],
    send: Callable[[T], None],
    *,
    workers: int,
    stop: threading.Event,
    grace_seconds: float,
    fatal: Callable[[], ShopsyncError | None],
) -> None:
    """Hand ``batches`` to ``workers`` threads calling ``send``, until done, stopped or failed.

    Raises the error ``fatal()`` reports once the batches in flight are settled, or
    :class:`~shopsync.errors.Interrupted` if ``stop`` was set (after waiting at most
    ``grace_seconds`` for answers to batches already sent).
    """
    pool: WorkerPool[T] = WorkerPool(workers, send)
    try:
        for batch in batches:
            if stop.is_set() or fatal() is not None:
                break
            pool.submit(batch, stop)
    finally:
        settled = pool.close(grace_seconds if stop.is_set() else None)
    error = fatal()
    if error is not None:
        raise error
    if stop.is_set():
        raise Interrupted(
            "Interrupted: no new batches were sent"
            + ("" if settled else "; some sent batches had no answer yet")
            + ". The ledger is saved: run the same command again to resume.",
        )


@dataclass
class RunReport:
    """The machine-readable account of one run (``--report``)."""

    run_id: str
    command: str
    profile: str
    started_at: str
    finished_at: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    exit_code: int = 0
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The report document."""
        return {
            "run_id": self.run_id,
            "command": self.command,
            "profile": self.profile,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": self.counts,
            "requests": self.traffic.get("requests", 0),
            "retries": self.traffic.get("retries", 0),
            "throttled": self.traffic.get("throttled", 0),
            "traffic": self.traffic,
            "files": self.files,
            "outputs": self.outputs,
            "exit_code": self.exit_code,
            "error": self.error,
        }
