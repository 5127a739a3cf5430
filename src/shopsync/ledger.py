"""What shopsync has put on a platform: the ledger that makes runs incremental and resumable.

One ledger per profile and base URL (see :meth:`shopsync.config.Settings.ledger_dir`),
kept in a diskcache directory (mode 0700, eviction off: losing entries would make the
next run re-send everything). It holds, per SKU, the product's id on the platform and the
content last confirmed there; and, per batch being sent, the exact request and its
``Idempotency-Key``. A batch's record is written before its request leaves and removed
after its results are recorded, so after a crash the next run sends exactly those
batches again with the same keys, and the platform answers from its idempotency store
instead of applying them twice.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shopsync.digest import canonical_body, canonical_json
from shopsync.errors import ConfigError

_PRODUCT = "p:"
_BATCH = "b:"
_STOCK = "s:"
_DONE = "d:"
_LOOKUP_CHUNK = 500
_FORMAT = 1


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """What the platform holds for one SKU, as far as shopsync knows.

    ``body`` is the product's content as last confirmed on the platform (API field
    names, decimals as strings), kept as its canonical JSON text, ``body_json``, and
    parsed only when needed: an unchanged product is recognised by ``content_hash``
    alone. ``body["stock"]`` is the product file's stock as last sent; the count on the
    platform is tracked apart (:meth:`Ledger.stocks`), so a stock sync is not undone by
    the next upload of an unchanged product file.
    """

    product_id: str
    content_hash: str
    body_json: str
    outcome: str
    updated_at: float = field(default_factory=time.time)

    @classmethod
    def of(cls, product_id: str, body: Mapping[str, Any], outcome: str) -> LedgerEntry:
        """An entry for ``body``, hashed here."""
        text, digest = canonical_body(body)
        return cls(product_id, digest, text, outcome)

    @property
    def body(self) -> dict[str, Any]:
        """The body as a new dict."""
        value: dict[str, Any] = json.loads(self.body_json)
        return value

    def to_record(self) -> dict[str, Any]:
        """The plain value stored on disk (no classes, so any version can read it)."""
        return {
            "v": _FORMAT,
            "product_id": self.product_id,
            "hash": self.content_hash,
            "body": self.body_json,
            "outcome": self.outcome,
            "at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LedgerEntry:
        """Read an entry stored by :meth:`to_record`."""
        body = record["body"]
        return cls(
            product_id=record["product_id"],
            content_hash=record["hash"],
            body_json=body if isinstance(body, str) else canonical_json(body),
            outcome=record["outcome"],
            updated_at=record.get("at", 0.0),
        )


@dataclass(frozen=True, slots=True)
class PendingBatch:
    """A batch whose request may have reached the platform but whose results were not recorded."""

    idempotency_key: str
    request: dict[str, Any]
    """What is needed to send it again unchanged (the engine's own shape)."""
    started_at: float


class Ledger:
    """The on-disk ledger of one profile at one base URL. Safe across threads and processes."""

    def __init__(self, directory: Path) -> None:
        """Open (or create, mode 0700) the ledger in ``directory``."""
        import diskcache  # noqa: PLC0415 - only commands that sync need it

        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.chmod(0o700)
            # Nothing in the ledger expires and nothing may be evicted: with cull_limit 0
            # diskcache also skips the query for expired keys it runs on every set.
            self._cache = diskcache.Cache(
                str(directory),
                eviction_policy="none",
                size_limit=1 << 62,
                cull_limit=0,
                statistics=False,
            )
        except OSError as error:
            raise ConfigError(
                f"cannot open the ledger in {directory}: {error.strerror or error}.",
                hint="Set SHOPSYNC_DATA_DIR to a writable directory.",
            ) from None

    def get(self, sku: str) -> LedgerEntry | None:
        """The entry for ``sku``, or None if shopsync has not put it on this platform."""
        record = self._cache.get(_PRODUCT + sku)
        return None if record is None else LedgerEntry.from_record(record)

    def get_many(self, skus: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those ``skus`` that the ledger holds, in one query per 500 SKUs.

        Planning looks every SKU of the input up; one ``get`` per SKU is one SQL
        statement each, the largest cost of re-planning an unchanged catalog.
        """
        return {
            sku: LedgerEntry.from_record(record)
            for sku, record in self._fetch_many(_PRODUCT, skus).items()
        }

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The counts shopsync last set for those ``skus`` that have one, in few queries."""
        return {sku: int(value) for sku, value in self._fetch_many(_STOCK, skus).items()}

    def _fetch_many(self, prefix: str, skus: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        keys = [prefix + sku for sku in skus]
        for start in range(0, len(keys), _LOOKUP_CHUNK):
            chunk = keys[start : start + _LOOKUP_CHUNK]
            # diskcache has no multi-get; entries never expire here (no expire_time is
            # ever set), and Disk.fetch decodes a row exactly as Cache.get does.
            placeholders = ",".join("?" * len(chunk))  # the SKUs themselves are bound
            query = f"SELECT key, mode, filename, value FROM Cache WHERE raw = 1 AND key IN ({placeholders})"  # noqa: S608, E501 - only "?" placeholders are formatted in
            for key, mode, filename, value in self._cache._sql(query, chunk).fetchall():
                try:
                    found[key[len(prefix) :]] = self._cache.disk.fetch(mode, filename, value, False)
                except OSError:  # removed meanwhile by another process
                    continue
        return found

    def put(self, sku: str, entry: LedgerEntry) -> None:
        """Record one SKU."""
        self._cache.set(_PRODUCT + sku, entry.to_record())

    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Record one batch's results (products, stock counts set) and settle it, atomically."""
        with self._cache.transact():
            for sku, entry in entries.items():
                self._cache.set(_PRODUCT + sku, entry.to_record())
            for sku, count in (stocks or {}).items():
                self._cache.set(_STOCK + sku, count)
            if finished_batch is not None:
                self._cache.delete(_BATCH + finished_batch)

    def mark_done(self, key: str) -> None:
        """Remember that the write with idempotency key ``key`` was applied for good."""
        self._cache.set(_DONE + key, time.time())

    def is_done(self, key: str) -> bool:
        """Whether the write with idempotency key ``key`` was applied by an earlier run."""
        return (_DONE + key) in self._cache

    def begin_batch(self, key: str, request: dict[str, Any]) -> None:
        """Note that the batch ``key`` is about to be sent (call before the request leaves)."""
        self._cache.set(_BATCH + key, {"request": request, "at": time.time()})

    def finish_batch(self, key: str) -> None:
        """Forget a pending batch whose outcome is settled."""
        self._cache.delete(_BATCH + key)

    def pending_batches(self) -> list[PendingBatch]:
        """Batches a crashed or interrupted run left unsettled, oldest first."""
        found = []
        for raw_key in self._keys_with_prefix(_BATCH):
            value = self._cache.get(raw_key)
            if value is not None:
                found.append(PendingBatch(raw_key[len(_BATCH) :], value["request"], value["at"]))
        return sorted(found, key=lambda batch: batch.started_at)

    def _keys_with_prefix(self, prefix: str) -> list[str]:
        # Not iterkeys(): it pages with "key = ? AND raw > ? OR key > ?", which SQLite
        # answers by scanning the key index from the start for every page of 100 keys,
        # so listing a ledger is quadratic (15 s at 100,000 SKUs, before every upload).
        # String keys are stored as text with raw = 1 under the index on (key, raw): a
        # range query reads only the keys that carry the prefix.
        end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        rows = self._cache._sql(
            "SELECT key FROM Cache WHERE key >= ? AND key < ? AND raw = 1 ORDER BY key",
            (prefix, end),
        ).fetchall()
        return [key for (key,) in rows]

    def skus(self) -> Iterator[str]:
        """Every SKU in the ledger."""
        for raw_key in self._keys_with_prefix(_PRODUCT):
            yield raw_key[len(_PRODUCT) :]

    def __len__(self) -> int:
        return sum(1 for _ in self.skus())

    def close(self) -> None:
        """Close the underlying database."""
        self._cache.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
