"""The sandbox's shop in SQLite: products, tokens, idempotent responses, orders.

One connection, guarded by one re-entrant lock. The ASGI app calls the store from its event
loop thread without awaiting in between, so each request's reads and writes are one atomic
step; the lock is there for the other threads that reach the store (a test through
:attr:`SandboxHandle.store`, the order generator). Writes go in one transaction per request
(``BEGIN IMMEDIATE`` … ``COMMIT``), with ``executemany`` for batches, WAL for files.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from shopsync.errors import UsageError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS products (
    id INTEGER PRIMARY KEY,
    product_id TEXT NOT NULL UNIQUE,
    sku TEXT NOT NULL,
    archived INTEGER NOT NULL DEFAULT 0,
    stock INTEGER NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    scopes TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    client_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (client_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS orders_updated ON orders (updated_at, order_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS variant_skus (
    sku TEXT NOT NULL,
    product_row INTEGER NOT NULL,
    PRIMARY KEY (sku, product_row)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS variant_skus_row ON variant_skus (product_row);
"""

# SKUs are unique among live products only: archiving a product frees its SKU. A shop
# that allows duplicate SKUs keeps a plain index instead, for its lookups.
_UNIQUE_SKUS = """
DROP INDEX IF EXISTS products_sku;
CREATE UNIQUE INDEX IF NOT EXISTS products_live_sku ON products (sku) WHERE archived = 0;
"""
_DUPLICATE_SKUS = """
DROP INDEX IF EXISTS products_live_sku;
CREATE INDEX IF NOT EXISTS products_sku ON products (sku) WHERE archived = 0;
"""

# SQLite builds before 3.32 allow 999 bound parameters per statement.
_CHUNK = 500

_COLUMNS = "id, product_id, version, created_at, updated_at, sku, stock, data"

HANDLE_KEY = "handle:"
"""The ``sku`` column of a product with variants holds this and its handle: a ``:`` is in
no SKU, so handles are unique among live products by the same index as SKUs, and never
match a SKU. Its variants' SKUs are in ``variant_skus``; their stock is in ``data``."""


@dataclass
class ProductRow:
    """A stored product: server fields plus ``values``, the product fields its dialect keeps."""

    id: int
    product_id: str
    version: int
    created_at: str
    updated_at: str
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def sku(self) -> str:
        """The product's SKU (a product with variants: its first variant's)."""
        variants = self.values.get("variants")
        if variants:
            return str(variants[0]["sku"])
        return str(self.values["sku"])

    @property
    def has_variants(self) -> bool:
        """Whether the product has a handle and variants (API v2)."""
        return bool(self.values.get("variants"))

    @property
    def key(self) -> str:
        """What the ``sku`` column holds: the SKU, or :data:`HANDLE_KEY` and the handle."""
        if self.has_variants:
            return HANDLE_KEY + str(self.values["handle"])
        return self.sku

    @property
    def variant_skus(self) -> list[str]:
        """The SKUs of its variants (none for a single-variant product)."""
        return [str(variant["sku"]) for variant in self.values.get("variants") or []]

    def to_json(self) -> dict[str, Any]:
        """The product as plain data: its id, its stored fields, the server's fields.

        For tests and tools; each dialect writes its own answers (field order, nulls).
        """
        return {
            "product_id": self.product_id,
            **self.values,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "version": self.version,
        }


def _row(raw: Sequence[Any]) -> ProductRow:
    values: dict[str, Any] = json.loads(raw[7])
    if not str(raw[5]).startswith(HANDLE_KEY):
        values["sku"] = raw[5]
        values["stock"] = raw[6]
    return ProductRow(raw[0], raw[1], raw[2], raw[3], raw[4], values)


_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _data(values: dict[str, Any]) -> str:
    return _compact({k: v for k, v in values.items() if k not in ("sku", "stock")})


@dataclass(frozen=True)
class StoredReply:
    """A response kept for an idempotency key."""

    fingerprint: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class TokenInfo:
    """What an access token grants, and until when."""

    client_id: str
    scopes: frozenset[str]
    expires_at: float


class Store:
    """The shop's state in one SQLite database (a file, or ``:memory:``)."""

    def __init__(self, path: str, *, unique_skus: bool = True) -> None:
        self.path = path
        self.lock = threading.RLock()
        # isolation_level=None: the store issues BEGIN/COMMIT itself, one per request.
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._depth = 0
        with self.lock:
            if path != ":memory:":
                self._conn.execute("PRAGMA journal_mode=WAL")
                # NORMAL in WAL mode survives a crash of the process (not of the machine):
                # the right trade for a sandbox that must keep up with a benchmark.
                self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(_SCHEMA)
            try:
                self._conn.executescript(_UNIQUE_SKUS if unique_skus else _DUPLICATE_SKUS)
            except sqlite3.IntegrityError:
                self._conn.close()
                raise UsageError(
                    f"The sandbox shop {path} holds products that share an SKU, made while "
                    "duplicate SKUs were allowed.",
                    hint="Serve it with --allow-duplicate-skus again, or use another --db file.",
                ) from None

    def close(self) -> None:
        """Close the database connection."""
        with self.lock:
            self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Hold the lock and one SQLite transaction; nested uses join the outer one."""
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._conn.execute("COMMIT")
            finally:
                self._depth = 0

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """Undo the block's writes if it raises, without ending the enclosing transaction."""
        with self.lock:
            self._conn.execute("SAVEPOINT op")
            try:
                yield
            except BaseException:
                self._conn.execute("ROLLBACK TO op")
                self._conn.execute("RELEASE op")
                raise
            self._conn.execute("RELEASE op")

    # -- products ------------------------------------------------------------------------

    def products_by_skus(self, skus: Iterable[str]) -> dict[str, ProductRow]:
        """Live products whose SKU is in ``skus``, by SKU (the oldest, if SKUs repeat)."""
        return {sku: rows[0] for sku, rows in self.products_with_skus(skus).items()}

    def products_with_skus(self, skus: Iterable[str]) -> dict[str, list[ProductRow]]:
        """Every live product whose SKU is in ``skus``, by SKU, oldest first.

        One product per SKU, unless the shop allows duplicate SKUs.
        """
        wanted = list(dict.fromkeys(skus))
        found: dict[str, list[ProductRow]] = {}
        with self.lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT {_COLUMNS} FROM products WHERE archived = 0 AND sku IN ({marks})"  # noqa: S608 - only placeholders are interpolated
                    " ORDER BY id"
                )
                for raw in self._conn.execute(sql, chunk):
                    row = _row(raw)
                    found.setdefault(row.sku, []).append(row)
                by_variant = (
                    f"SELECT v.sku, {', '.join('p.' + c for c in _COLUMNS.split(', '))}"  # noqa: S608 - only placeholders are interpolated
                    " FROM variant_skus v JOIN products p ON p.id = v.product_row"
                    f" WHERE p.archived = 0 AND v.sku IN ({marks}) ORDER BY p.id"
                )
                for sku, *raw in self._conn.execute(by_variant, chunk):
                    found.setdefault(sku, []).append(_row(raw))
        for rows in found.values():
            rows.sort(key=lambda row: row.id)
        return found

    def product_ids_by_skus(self, skus: Iterable[str]) -> dict[str, str]:
        """Live product ids by SKU, for the SKUs in ``skus`` that exist (cheaper than rows)."""
        wanted = list(dict.fromkeys(skus))
        found: dict[str, str] = {}
        with self.lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = (
                    f"SELECT sku, product_id FROM products WHERE archived = 0 AND sku IN ({marks})"  # noqa: S608 - only placeholders are interpolated
                )
                found.update(self._conn.execute(sql, chunk).fetchall())
                by_variant = (
                    "SELECT v.sku, p.product_id FROM variant_skus v JOIN products p"  # noqa: S608 - only placeholders are interpolated
                    f" ON p.id = v.product_row WHERE p.archived = 0 AND v.sku IN ({marks})"
                )
                for sku, product_id in self._conn.execute(by_variant, chunk):
                    found.setdefault(sku, product_id)
        return found

    def product_id_by_handle(self, handle: str) -> str | None:
        """The id of the live product with variants whose handle is ``handle``, if any."""
        with self.lock:
            raw = self._conn.execute(
                "SELECT product_id FROM products WHERE archived = 0 AND sku = ?",
                (HANDLE_KEY + handle,),
            ).fetchone()
        return None if raw is None else str(raw[0])

    def product(self, product_id: str) -> ProductRow | None:
        """The live product with this id, or ``None``."""
        with self.lock:
            raw = self._conn.execute(
                f"SELECT {_COLUMNS} FROM products WHERE product_id = ? AND archived = 0",  # noqa: S608 - constant column list
                (product_id,),
            ).fetchone()
        return None if raw is None else _row(raw)

    def product_by_sku(self, sku: str) -> ProductRow | None:
        """The live product with this SKU, or ``None``."""
        return self.products_by_skus([sku]).get(sku)

    def insert_products(self, rows: Sequence[ProductRow]) -> None:
        """Store new products (ids and timestamps already set); fills in their row ids."""
        with self.lock:
            self._conn.executemany(
                "INSERT INTO products (product_id, sku, stock, version, created_at, updated_at,"
                " data) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        r.product_id,
                        r.key,
                        r.values.get("stock", 0),
                        r.version,
                        r.created_at,
                        r.updated_at,
                        _data(r.values),
                    )
                    for r in rows
                ],
            )
            with_variants = [r for r in rows if r.has_variants]
            for r in with_variants:
                r.id = int(
                    self._conn.execute(
                        "SELECT id FROM products WHERE product_id = ?", (r.product_id,)
                    ).fetchone()[0]
                )
            self._index_variants(with_variants)

    def _index_variants(self, rows: Sequence[ProductRow]) -> None:
        """Make ``variant_skus`` name exactly the variants of ``rows``."""
        if not rows:
            return
        self._conn.executemany(
            "DELETE FROM variant_skus WHERE product_row = ?", [(r.id,) for r in rows]
        )
        self._conn.executemany(
            "INSERT OR IGNORE INTO variant_skus (sku, product_row) VALUES (?, ?)",
            [(sku, r.id) for r in rows for sku in r.variant_skus],
        )

    def update_products(self, rows: Sequence[ProductRow]) -> None:
        """Write back changed products."""
        with self.lock:
            self._conn.executemany(
                "UPDATE products SET sku = ?, stock = ?, version = ?, updated_at = ?, data = ?"
                " WHERE id = ?",
                [
                    (
                        r.key,
                        r.values.get("stock", 0),
                        r.version,
                        r.updated_at,
                        _data(r.values),
                        r.id,
                    )
                    for r in rows
                ],
            )
            self._index_variants([r for r in rows if r.has_variants])

    def update_stocks(self, changes: Sequence[tuple[int, int, str, int]]) -> None:
        """Write ``(stock, version, updated_at, id)`` tuples: inventory changes only."""
        with self.lock:
            self._conn.executemany(
                "UPDATE products SET stock = ?, version = ?, updated_at = ? WHERE id = ?",
                changes,
            )

    def stocks_by_skus(self, skus: Iterable[str]) -> dict[str, tuple[int, int, int]]:
        """``sku -> (id, stock, version)`` for live products (the oldest, if SKUs repeat)."""
        wanted = list(dict.fromkeys(skus))
        found: dict[str, tuple[int, int, int]] = {}
        with self.lock:
            for start in range(0, len(wanted), _CHUNK):
                chunk = wanted[start : start + _CHUNK]
                marks = ",".join("?" * len(chunk))
                sql = (
                    "SELECT sku, id, stock, version FROM products"  # noqa: S608 - only placeholders are interpolated
                    f" WHERE archived = 0 AND sku IN ({marks}) ORDER BY id"
                )
                for sku, row_id, stock, version in self._conn.execute(sql, chunk):
                    # Where SKUs repeat, inventory changes go to the oldest product.
                    found.setdefault(sku, (row_id, stock, version))
        return found

    def archive_product(self, product_id: str, updated_at: str) -> bool:
        """Archive a live product; ``False`` if there was none."""
        with self.lock:
            cursor = self._conn.execute(
                "UPDATE products SET archived = 1, version = version + 1, updated_at = ?"
                " WHERE product_id = ? AND archived = 0",
                (updated_at, product_id),
            )
            self._conn.execute(
                "DELETE FROM variant_skus WHERE product_row IN"
                " (SELECT id FROM products WHERE product_id = ?)",
                (product_id,),
            )
            return cursor.rowcount == 1

    def list_products(self, after: int, limit: int) -> list[ProductRow]:
        """Live products in creation order whose row id is above ``after``."""
        with self.lock:
            raws = self._conn.execute(
                f"SELECT {_COLUMNS} FROM products WHERE archived = 0 AND id > ?"  # noqa: S608 - constant column list
                " ORDER BY id LIMIT ?",
                (after, limit),
            ).fetchall()
        return [_row(raw) for raw in raws]

    def product_counts(self) -> tuple[int, int]:
        """``(live, archived)`` product counts."""
        with self.lock:
            live, archived = self._conn.execute(
                "SELECT COALESCE(SUM(archived = 0), 0), COALESCE(SUM(archived = 1), 0)"
                " FROM products"
            ).fetchone()
        return int(live), int(archived)

    # -- tokens --------------------------------------------------------------------------

    def save_token(self, token: str, info: TokenInfo) -> None:
        """Remember an issued access token."""
        with self.transaction():
            self._conn.execute(
                "INSERT INTO tokens (token, client_id, scopes, expires_at) VALUES (?, ?, ?, ?)",
                (token, info.client_id, " ".join(sorted(info.scopes)), info.expires_at),
            )

    def token(self, token: str) -> TokenInfo | None:
        """What ``token`` grants, expired or not; ``None`` if it was never issued."""
        with self.lock:
            raw = self._conn.execute(
                "SELECT client_id, scopes, expires_at FROM tokens WHERE token = ?", (token,)
            ).fetchone()
        if raw is None:
            return None
        return TokenInfo(raw[0], frozenset(raw[1].split()), float(raw[2]))

    def purge_tokens(self, now: float) -> None:
        """Forget tokens that expired before ``now``."""
        with self.transaction():
            self._conn.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))

    # -- idempotency ---------------------------------------------------------------------

    def stored_reply(self, client_id: str, key: str, not_before: float) -> StoredReply | None:
        """The response kept for ``(client_id, key)`` if stored at or after ``not_before``."""
        with self.lock:
            raw = self._conn.execute(
                "SELECT fingerprint, status, headers, body FROM idempotency"
                " WHERE client_id = ? AND key = ? AND created_at >= ?",
                (client_id, key, not_before),
            ).fetchone()
        if raw is None:
            return None
        headers = [(str(name), str(value)) for name, value in json.loads(raw[2])]
        return StoredReply(raw[0], int(raw[1]), headers, bytes(raw[3]))

    def save_reply(self, client_id: str, key: str, reply: StoredReply, now: float) -> None:
        """Keep the first response to ``(client_id, key)`` (an expired one is replaced)."""
        with self.lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO idempotency"
                " (client_id, key, fingerprint, status, headers, body, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    client_id,
                    key,
                    reply.fingerprint,
                    reply.status,
                    json.dumps(reply.headers),
                    reply.body,
                    now,
                ),
            )

    def purge_replies(self, before: float) -> None:
        """Forget responses stored before ``before``."""
        with self.transaction():
            self._conn.execute("DELETE FROM idempotency WHERE created_at < ?", (before,))

    # -- orders --------------------------------------------------------------------------

    def save_order(self, order: dict[str, Any]) -> None:
        """Insert or replace an order."""
        with self.lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO orders (order_id, status, created_at, updated_at, data)"
                " VALUES (?, ?, ?, ?, ?)",
                (
                    order["order_id"],
                    order["status"],
                    order["created_at"],
                    order["updated_at"],
                    json.dumps(order, ensure_ascii=False, separators=(",", ":")),
                ),
            )

    def order(self, order_id: str) -> dict[str, Any] | None:
        """One order, or ``None``."""
        with self.lock:
            raw = self._conn.execute(
                "SELECT data FROM orders WHERE order_id = ?", (order_id,)
            ).fetchone()
        return None if raw is None else dict(json.loads(raw[0]))

    def orders_page(
        self,
        *,
        updated_since: str | None,
        status: str | None,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[dict[str, Any]]:
        """Orders by ``(updated_at, order_id)``, after the cursor position ``after``."""
        clauses: list[str] = []
        params: list[Any] = []
        if updated_since is not None:
            clauses.append("updated_at >= ?")
            params.append(updated_since)
        if status is not None:
            clauses.append("status = ?")
            params.append(status)
        if after is not None:
            clauses.append("(updated_at > ? OR (updated_at = ? AND order_id > ?))")
            params.extend((after[0], after[0], after[1]))
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        params.append(limit)
        with self.lock:
            raws = self._conn.execute(
                f"SELECT data FROM orders {where} ORDER BY updated_at, order_id LIMIT ?",  # noqa: S608 - clauses are constants
                params,
            ).fetchall()
        return [dict(json.loads(raw[0])) for raw in raws]

    def open_orders(self) -> list[tuple[str, str]]:
        """``(order_id, status)`` of orders that can still change, oldest first."""
        with self.lock:
            rows = self._conn.execute(
                "SELECT order_id, status FROM orders"
                " WHERE status IN ('pending', 'paid', 'shipped') ORDER BY order_id"
            ).fetchall()
        return [(str(a), str(b)) for a, b in rows]

    def order_count(self) -> int:
        """How many orders the shop holds."""
        with self.lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0])

    def next_sequence(self, name: str) -> int:
        """The next value of a named counter kept in the database (starts at 1)."""
        with self.transaction():
            raw = self._conn.execute("SELECT value FROM meta WHERE key = ?", (name,)).fetchone()
            value = 1 if raw is None else int(raw[0]) + 1
            self._conn.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (name, str(value))
            )
        return value

    def reset(self) -> None:
        """Empty the shop: products, orders, stored responses and counters (not tokens)."""
        with self.transaction():
            for table in ("products", "variant_skus", "orders", "idempotency", "meta"):
                self._conn.execute(f"DELETE FROM {table}")  # noqa: S608 - constant table names
