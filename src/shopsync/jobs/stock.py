"""The nightly stock sync: ``shopsync stock FILE``.

A stock file holds ``sku`` and either ``stock`` (set the count) or ``delta`` (change
it), read through the same readers, encodings and header aliases as a catalog. What is
sent goes through ``POST /inventory/batch``, which never creates products: an unknown
SKU is reported and written to the failed file.

- **Set mode** sends only the counts that differ from the count shopsync last set for
  the SKU (kept in the ledger, by upload or by stock sync), so a second run with the
  same file sends nothing. With ``--cas`` each count goes as a compare-and-set against
  that last count: stock that moved since (orders) comes back as a conflict with the
  current count instead of being overwritten.
- **Delta mode** applies a file once. Each batch's idempotency key is derived from the
  file's content and the batch's place in it, and recorded when done, so re-running the
  same file (after a crash, or by mistake) applies nothing twice; ``--force`` applies it
  again on purpose.

What the platform cannot do is refused up front (``--cas`` without compare-and-set,
delta mode without deltas), by its declared capabilities. A batch whose answer was lost
(sent, outcome unknown) is sent again only where that is safe: counts that are set are;
a delta is not where keys may be ignored, so it goes again as a compare-and-set from the
count known before (where the platform has one and shopsync knows the count), or is
reported as an unknown outcome for a person to check. SKUs neither the ledger nor the
platform knows (looked up once per run) are reported without an inventory request.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from shopsync.catalog.records import RecordReader, RejectsFile, rejected_cells
from shopsync.domain.digest import canonical_json
from shopsync.domain.models import SourceRow, StockLine, ValidRow
from shopsync.domain.timefmt import now_rfc3339
from shopsync.errors import (
    AmbiguousWriteError,
    InputError,
    UsageError,
)
from shopsync.i18n import N_
from shopsync.io.headers import STOCK_SCHEMA, Column
from shopsync.io.readers import OpenedFile, ReadOptions
from shopsync.jobs.base import Outputs, RunJob, Target
from shopsync.platforms.base import (
    ItemCode,
    ItemResult,
    Platform,
    StockChange,
    capabilities_of,
    derive_idempotency_key,
    raw_code_of,
)
from shopsync.state.audit import AuditLog, AuditRecord
from shopsync.state.store import LedgerStore
from shopsync.sync.report import ItemOutcome, RunCounts
from shopsync.sync.workers import SendLoop, chunked

StockMode = Literal["set", "delta"]
_OPERATION = "inventory.batch"
_LOOKUP_CHUNK = 100
_MAX_RESENDS = 3
"""Resends of one batch after lost answers, before its items are left as unknown."""


class StockFile(RecordReader[StockLine]):
    """Stock files, read lazily as validated stock lines or row errors."""

    schema = STOCK_SCHEMA
    model = StockLine
    noun = "stock"
    _other: ClassVar[dict[str, str]] = {"set": "delta", "delta": "stock"}

    def __init__(
        self,
        paths: Sequence[Path],
        options: ReadOptions | None = None,
        mapping: Mapping[str, str] | None = None,
        *,
        mode: StockMode | None = None,
    ) -> None:
        """``mode`` None: each file's columns decide (a file with both must be told)."""
        self.requested_mode = mode
        super().__init__(paths, options, mapping)
        self.mode: StockMode = mode or self._mode_from_files()

    def _accepts(self, column: Column) -> bool:
        if column.kind != "field" or self.requested_mode is None:
            return True
        return column.target != self._other[self.requested_mode]

    def _refused_error(self, opened: OpenedFile, column: Column, missing: list[str]) -> InputError:
        wanted = self.requested_mode or "set"
        other: StockMode = "set" if wanted == "delta" else "delta"
        needed = "delta" if wanted == "delta" else "stock"
        return InputError(
            N_(
                "{path}: the file has a {target} column ({name!r}) and no "
                "{needed} column, so --mode {wanted} has nothing to read."
            ).format(
                path=opened.path,
                target=column.target,
                name=column.name,
                needed=needed,
                wanted=wanted,
            ),
            hint=N_("Use --mode {other} to {action} from the {target} column.").format(
                other=other,
                action=N_("set counts") if other == "set" else N_("apply changes"),
                target=column.target,
            ),
        )

    def _mode_from_files(self) -> StockMode:
        modes: set[StockMode] = set()
        for opened in self.files:
            if opened.format not in ("csv", "tsv"):
                continue
            targets = {self.header_map.resolve(name).target for name in opened.header}
            if {"stock", "delta"} <= targets:
                raise InputError(
                    N_("{path} has both a stock and a delta column.").format(path=opened.path),
                    hint=N_("Choose which to use with --mode set or --mode delta."),
                )
            modes.add("delta" if "delta" in targets else "set")
        if len(modes) > 1:
            raise InputError(
                N_(
                    "some files set counts (a stock column) and others change them "
                    "(a delta column); run them separately, or choose with --mode."
                )
            )
        return modes.pop() if modes else "set"


@dataclass(frozen=True)
class StockOptions:
    """How to send stock."""

    cas: bool = False
    force: bool = False
    batch_size: int = 100
    workers: int = 4
    grace_seconds: float = 15.0


@dataclass
class StockBatch:
    """One batch of a stock file: its rows, the changes they make, its key."""

    index: int
    lines: list[ValidRow[StockLine]]
    changes: list[StockChange]
    key: str
    lasts: list[int | None]
    """The count shopsync last set for each change's SKU, when it knows one."""


@dataclass(frozen=True)
class StockRequest:
    """A stock batch as the shared ledger keeps it for a fleet's worker (``stock --queue``).

    In the ledger as ``{"stock": {"mode", "changes", "lasts", "rows"}}``: the changes as
    sent, the count each replaces (for a safe resend), and each change's source row
    (file, line, cells: for the failed file, which the worker cannot read). Never
    credentials: the worker has its own.
    """

    mode: StockMode
    changes: list[StockChange]
    lasts: list[int | None]
    rows: list[SourceRow | None]

    def to_json(self) -> dict[str, Any]:
        """The batch's ``request`` in the ledger."""
        return {
            "stock": {
                "mode": self.mode,
                "changes": [change.to_api() for change in self.changes],
                "lasts": self.lasts,
                "rows": [
                    None
                    if row is None
                    else {"file": row.file, "line": row.line, "cells": rejected_cells(row)}
                    for row in self.rows
                ],
            }
        }

    @classmethod
    def from_json(cls, request: Mapping[str, Any]) -> StockRequest | None:
        """The stock batch a ledger ``request`` holds, or None if it is a product batch."""
        stock = request.get("stock") if isinstance(request, Mapping) else None
        if not isinstance(stock, Mapping):
            return None
        return cls(
            mode="delta" if stock["mode"] == "delta" else "set",
            changes=[StockChange(**change) for change in stock["changes"]],
            lasts=list(stock["lasts"]),
            rows=[
                None if row is None else SourceRow(row["file"], row["line"], dict(row["cells"]))
                for row in stock["rows"]
            ],
        )


def file_digest(paths: Sequence[Path]) -> str:
    """A digest of the files' bytes: the identity of a delta file, for its idempotency keys."""
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


@dataclass
class SettledBatch:
    """What one sent stock batch comes to: for the ledger, the audit log and the counts."""

    stocks: dict[str, int]
    """The count the platform now holds, as far as shopsync knows, per SKU."""
    outcomes: list[ItemOutcome]
    audit: list[AuditRecord]
    updated: int
    failed: int


class StockSender:
    """Sends one stock batch and reads its answer: the single machine's :class:`StockJob`
    and a fleet's worker (``stock --queue``) share it, so a batch goes out and is settled
    by the same rules wherever it is sent."""

    def __init__(self, platform: Platform, namespace: str, mode: StockMode) -> None:
        """``namespace`` keeps the keys of resends apart per target, as the batch's own are."""
        self.platform = platform
        self.namespace = namespace
        self.mode = mode
        self.capabilities = capabilities_of(platform)

    def send(
        self,
        changes: list[StockChange],
        lasts: Sequence[int | None],
        key: str,
        *,
        outcome_unknown: bool = False,
    ) -> list[ItemResult]:
        """Send one batch's ``changes`` with ``key``; after a lost answer, send again only
        what is safe to repeat. ``changes`` is left as what was sent last, for the outcomes.

        ``outcome_unknown``: the batch may have been sent before (a fleet worker died
        holding it), so even the first send is only what is safe to repeat.
        """
        first_key = key
        results: list[ItemResult | None] = [None] * len(changes)
        todo = list(range(len(changes)))
        if outcome_unknown and not self.capabilities.keys_guaranteed:
            todo = self.safe_to_resend(changes, lasts, todo, results, key)
            # What goes now may differ from what went then (a delta made a CAS): a body
            # of its own needs a key of its own.
            key = derive_idempotency_key(self.namespace, _OPERATION + ":resent", f"{key}:claimed")
        for attempt in range(_MAX_RESENDS + 1):
            if not todo:
                break
            try:
                answered = self.platform.update_inventory(
                    [changes[i] for i in todo], idempotency_key=key
                )
            except AmbiguousWriteError as error:
                if attempt == _MAX_RESENDS:
                    for i in todo:
                        results[i] = _unknown(changes[i], error.message, key)
                    break
                todo = self.safe_to_resend(changes, lasts, todo, results, key)
                key = derive_idempotency_key(
                    self.namespace, _OPERATION + ":resent", f"{first_key}:{attempt}"
                )
                continue
            for i, item in zip(todo, answered, strict=True):
                results[i] = item
            break
        return [
            r if r is not None else _unknown(c, None, key)
            for r, c in zip(results, changes, strict=True)
        ]

    def safe_to_resend(
        self,
        changes: list[StockChange],
        lasts: Sequence[int | None],
        todo: list[int],
        results: list[ItemResult | None],
        key: str,
    ) -> list[int]:
        """Of ``todo``, what may go again; a delta becomes a CAS from the count before, or
        is settled as unknown (``results``) where keys may be ignored."""
        if self.capabilities.keys_guaranteed:
            return todo
        again = []
        for i in todo:
            change = changes[i]
            if change.delta is None:
                again.append(i)  # setting a count twice sets it once
                continue
            before = change.expected if change.expected is not None else lasts[i]
            if self.capabilities.stock_cas and before is not None:
                # Applied already: the platform holds before + delta and answers a
                # conflict with exactly that (counted as applied); not applied: it is now.
                changes[i] = StockChange(change.sku, stock=before + change.delta, expected=before)
                again.append(i)
            else:
                results[i] = _unknown(change, None, key)
        return again

    def outcome(self, row: SourceRow | None, change: StockChange, item: ItemResult) -> ItemOutcome:
        """What the platform's answer ``item`` to ``change`` (from ``row``) comes to."""
        body: dict[str, Any] = change.to_api()
        if item.ok:
            return ItemOutcome(change.sku, "updated", None, row, body)
        kind = item.outcome
        if kind is ItemCode.CONFLICT and change.stock is not None and item.stock == change.stock:
            # An earlier attempt of this very change was applied; its answer was lost.
            return ItemOutcome(change.sku, "updated", None, row, body)
        message = item.message or N_("refused by the platform")
        if kind is ItemCode.NOT_FOUND:
            message = _NOT_FOUND
        elif kind is ItemCode.CONFLICT:
            message = N_(
                "the count on the platform is {stock}, not {expected} as "
                "shopsync last set it: it moved since (orders?), so it was not "
                "overwritten. shopsync now knows {stock}: check it, then run "
                "again to set your count over it (or drop --cas to overwrite "
                "whatever the platform holds)"
            ).format(stock=item.stock, expected=change.expected)
        return ItemOutcome(change.sku, "failed", None, row, body, item.code or "ERROR", message)

    def settle(
        self,
        rows: Sequence[SourceRow | None],
        changes: Sequence[StockChange],
        results: Sequence[ItemResult],
        *,
        key: str,
        run_id: str,
        profile: str,
    ) -> SettledBatch:
        """The outcome of each change (``changes`` as sent last), the counts to record
        and the audit records of a batch sent with ``key``."""
        settled = SettledBatch({}, [], [], 0, 0)
        for row, change, item in zip(rows, changes, results, strict=True):
            outcome = self.outcome(row, change, item)
            if outcome.action != "failed" and item.stock is not None:
                settled.stocks[change.sku] = item.stock
            elif outcome.action != "failed" and change.stock is not None:
                settled.stocks[change.sku] = change.stock
            elif item.outcome is ItemCode.CONFLICT and item.stock is not None:
                # What the platform holds is now the count shopsync knows: the next run
                # compares against it, so a conflict clears once it has been seen.
                settled.stocks[change.sku] = item.stock
            settled.outcomes.append(outcome)
            if outcome.action == "failed":
                settled.failed += 1
            else:
                settled.updated += 1
            settled.audit.append(
                AuditRecord(
                    time=now_rfc3339(),
                    run_id=run_id,
                    profile=profile,
                    action=f"stock.{self.mode}",
                    sku=change.sku,
                    product_id=None,
                    http_status=item.http_status,
                    request_id=item.request_id,
                    idempotency_key=key,
                    outcome="ok" if outcome.action != "failed" else "error",
                    code=item.code,
                    message=item.message,
                )
            )
        return settled


class StockJob(RunJob):
    """One ``shopsync stock`` run."""

    def __init__(
        self,
        stock_file: StockFile,
        target: Target,
        options: StockOptions,
        outputs: Outputs,
        *,
        run_id: str | None = None,
    ) -> None:
        """Nothing is read or sent until :meth:`run`."""
        super().__init__(stock_file, target, outputs, command="stock", run_id=run_id)
        self.stock_file = stock_file
        self.options = options
        self.sender = StockSender(self.platform, target.namespace, stock_file.mode)
        self.capabilities = self.sender.capabilities
        self._check_capabilities()
        self.batch_size = max(1, min(options.batch_size, self.capabilities.max_batch_size))
        self._unknown_skus: set[str] = set()
        """SKUs this run's lookup found on no product: reported, never sent."""
        self.counts = RunCounts()
        self._lock = threading.Lock()
        self._sending: SendLoop[StockBatch] = SendLoop(
            self.platform,
            self._send,
            self._fail,
            stop=self.stop,
            workers=options.workers,
            grace_seconds=options.grace_seconds,
        )
        """The engine's send loop: worker threads, the fatal error, how far a failure
        reaches (a refused batch's rows fail; an outage or refused credentials stop the
        run, their rows left for the next one, a delta file's batch not done)."""
        self._ledger: LedgerStore | None = None
        self._audit: AuditLog | None = None

    def _check_capabilities(self) -> None:
        caps, name = self.capabilities, self.platform.name
        if self.options.cas and not caps.stock_cas:
            raise UsageError(
                N_(
                    "The {name} platform has no compare-and-set for stock, so --cas "
                    "cannot be honoured."
                ).format(name=name),
                hint=N_("Run without --cas."),
            )
        if self.stock_file.mode == "delta" and not caps.stock_delta:
            raise UsageError(
                N_("The {name} platform cannot change stock by a delta.").format(name=name),
                hint=N_("Send the counts themselves: a stock column, with --mode set."),
            )
        if self.stock_file.mode == "set" and not caps.stock_set:
            raise UsageError(
                N_("The {name} platform cannot set stock counts, only change them.").format(
                    name=name
                ),
                hint=N_("Send changes: a delta column, with --mode delta."),
            )

    def _current_counts(self) -> RunCounts:
        with self._lock:
            return RunCounts(**self.counts.as_dict())

    def _execute(self, ledger: LedgerStore, rejects: RejectsFile, audit: AuditLog | None) -> None:
        self._ledger = ledger
        self._audit = audit
        self._sending.run(self._batches(ledger, rejects, self._salt()))

    def _salt(self) -> str:
        """What a delta file's keys derive from: its content (a set file's: nothing)."""
        if self.stock_file.mode != "delta":
            return ""
        return file_digest([opened.path for opened in self.stock_file.files])

    def _batches(
        self, ledger: LedgerStore, rejects: RejectsFile, salt: str
    ) -> Iterator[StockBatch]:
        lines: list[ValidRow[StockLine]] = []
        changes: list[StockChange] = []
        lasts: list[int | None] = []
        index = 0
        for chunk in chunked(self._valid_rows(rejects), _LOOKUP_CHUNK):
            if self._sending.stopping:
                return
            skus = [row.product.sku for row in chunk]
            known = ledger.stocks(skus)
            self._look_up_unknown(ledger, skus, known)
            for row in chunk:
                if row.product.sku in self._unknown_skus:
                    self._report_unknown(row)
                    continue
                change = self._change(row.product, known.get(row.product.sku))
                if change is None:
                    continue
                lines.append(row)
                changes.append(change)
                lasts.append(known.get(row.product.sku))
                if len(changes) >= self.batch_size:
                    yield self._batch(index, lines, changes, lasts, salt)
                    index += 1
                    lines, changes, lasts = [], [], []
        if changes:
            yield self._batch(index, lines, changes, lasts, salt)

    def _change(self, line: StockLine, last: int | None) -> StockChange | None:
        """What to send for ``line`` given the count shopsync last set (None: nothing)."""
        expected = last if self.options.cas and last is not None else None
        if line.stock is None:
            return StockChange(line.sku, delta=line.delta, expected=expected)
        if last == line.stock and not self.options.force:
            with self._lock:
                self.counts.unchanged += 1
            return None
        return StockChange(line.sku, stock=line.stock, expected=expected)

    def _batch(
        self,
        index: int,
        lines: list[ValidRow[StockLine]],
        changes: list[StockChange],
        lasts: list[int | None],
        salt: str,
    ) -> StockBatch:
        body = {"updates": [change.to_api() for change in changes]}
        if self.stock_file.mode == "delta":
            # The file and the batch's place in it: the same file re-run gives the same
            # keys (nothing applied twice); a new file, new keys.
            batch_salt = f"{salt}:{index}:{self.batch_size}"
            if self.options.force:
                batch_salt += f":{self.run_id}"
        else:
            # What each count replaces, so setting 5, then 7, then 5 again is three writes.
            batch_salt = canonical_json(
                [[c.sku, last] for c, last in zip(changes, lasts, strict=True)]
            )
        key = derive_idempotency_key(self.target.namespace, _OPERATION, body, batch_salt)
        return StockBatch(index, lines, changes, key, lasts)

    def _look_up_unknown(
        self, ledger: LedgerStore, skus: list[str], known: Mapping[str, int]
    ) -> None:
        """Note which of ``skus`` no product has, asking the platform about those the
        ledger has never seen (once per run), so they cost no inventory request."""
        if not self.capabilities.lookup_by_sku:
            return
        unseen = [sku for sku in dict.fromkeys(skus) if sku not in known]
        if unseen:
            entries = ledger.get_many(unseen)
            unseen = [sku for sku in unseen if sku not in entries and sku not in self._unknown_skus]
        if unseen:
            found = self.platform.lookup_skus(unseen)
            self._unknown_skus.update(sku for sku in unseen if sku not in found)

    def _report_unknown(self, row: ValidRow[StockLine]) -> None:
        line = row.product
        body: dict[str, Any] = {"sku": line.sku}
        body["stock" if line.stock is not None else "delta"] = (
            line.stock if line.stock is not None else line.delta
        )
        with self._lock:
            self.counts.failed += 1
        self._record_outcome(
            ItemOutcome(
                line.sku,
                "failed",
                None,
                row.row,
                body,
                raw_code_of(self.platform, ItemCode.NOT_FOUND, "inventory"),
                _NOT_FOUND,
            )
        )

    def _send(self, batch: StockBatch) -> None:
        ledger = self._ledger
        assert ledger is not None
        if ledger.is_done(batch.key):
            with self._lock:
                self.counts.unchanged += len(batch.changes)
            return
        results = self.sender.send(batch.changes, batch.lasts, batch.key)
        settled = self.sender.settle(
            [row.row for row in batch.lines],
            batch.changes,
            results,
            key=batch.key,
            run_id=self.run_id,
            profile=self.target.profile,
        )
        ledger.record({}, stocks=settled.stocks)
        if self.stock_file.mode == "delta":
            ledger.mark_done(batch.key)
        if self._audit is not None:
            self._audit.append(settled.audit)
        with self._lock:
            self.counts.failed += settled.failed
            self.counts.updated += settled.updated
        for outcome in settled.outcomes:
            self._record_outcome(outcome)

    def _fail(self, batch: StockBatch, code: str, message: str) -> None:
        with self._lock:
            self.counts.failed += len(batch.changes)
        for row, change in zip(batch.lines, batch.changes, strict=True):
            self._record_outcome(
                ItemOutcome(change.sku, "failed", None, row.row, change.to_api(), code, message)
            )


_NOT_FOUND = N_("no product with this SKU on the platform; stock updates never create products")


_UNKNOWN_DELTA = N_(
    "The change was sent but no answer came back, and a delta cannot be safely repeated: "
    "check the stock of this SKU on the platform, then correct it with a stock (set) file "
    "if needed."
)


def _unknown(change: StockChange, detail: str | None, key: str) -> ItemResult:
    """An item sent with no answer back, not safe to send again: for a person to check."""
    return ItemResult(
        sku=change.sku,
        ok=False,
        code=ItemCode.UNKNOWN_OUTCOME.name,
        message=(N_("{detail} {advice}") if detail else N_("{advice}")).format(
            detail=detail, advice=_UNKNOWN_DELTA
        ),
        idempotency_key=key,
        item_code=ItemCode.UNKNOWN_OUTCOME,
    )
