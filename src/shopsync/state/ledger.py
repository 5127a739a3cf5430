"""What shopsync has put on a platform: the ledger that makes runs incremental and resumable.

One ledger per profile and base URL (see :meth:`shopsync.config.Settings.ledger_dir`): a
SQLite database (``ledger.sqlite3``, in a 0700 directory) with five tables:

``product``
    per SKU, the product's id on the platform and the content last confirmed there
    (canonical JSON and its hash);
``stock``
    per SKU, the count shopsync last set;
``pending``
    per batch being sent, the exact request and its ``Idempotency-Key``;
``done``
    the keys of one-off writes (stock deltas) that were applied;
``image``
    per image content hash, the platform's URL or id for it once uploaded (format 2).

A batch's ``pending`` row is committed before its request leaves and deleted, in the
same transaction that records its results, afterwards. After a crash the next run sends
exactly those batches again with the same keys, and the platform answers from its
idempotency store instead of applying them twice.

Why SQLite tables and not diskcache (which the first ledger used): a batch's 50 results
are one ``executemany`` in one transaction here, where a key-value cache paid a pickle,
a connection lookup and two statements per SKU — a quarter of an upload's CPU. The
database runs in WAL mode with ``synchronous=NORMAL``: a committed transaction survives
the process being killed at any moment; after a power cut the last ones may be lost,
which costs at worst a create answered "exists" (then adopted), never a duplicate.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Concatenate, ParamSpec, TypeVar

from shopsync.domain.models import product_digest, product_json
from shopsync.errors import ConfigError, LockedError, ShopsyncError
from shopsync.i18n import N_

_FILE = "ledger.sqlite3"
_DISKCACHE_FILE = "cache.db"
"""The database of the first ledger format (a diskcache directory), imported once."""
_FORMAT = 2
"""``PRAGMA user_version`` of the schema below; a newer one is refused, not guessed at."""
_ENTRY_FORMAT = 1
"""The ``v`` of an entry kept inside a pending batch (:meth:`LedgerEntry.to_record`)."""
_REFRESHED_FILE = "refreshed_at"
"""When ``--refresh`` last read the platform's state (seconds since the epoch, as text)."""
_LOOKUP_CHUNK = 500
"""SKUs per lookup query (SQLite allows 32,766 bound parameters; 500 keeps plans small)."""
_BUSY_TIMEOUT_S = 60.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS product (
    sku TEXT PRIMARY KEY,
    product_id TEXT NOT NULL,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    outcome TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS stock (sku TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS pending (key TEXT PRIMARY KEY, request TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS done (key TEXT PRIMARY KEY, at REAL NOT NULL) WITHOUT ROWID;
"""
_MIGRATIONS: dict[int, str] = {
    2: """
CREATE TABLE IF NOT EXISTS image (
    hash TEXT PRIMARY KEY,
    reference TEXT NOT NULL,
    url TEXT,
    image_id TEXT,
    at REAL NOT NULL
) WITHOUT ROWID;
""",
}
"""What each format adds to the one before: run in order from the ledger's format up."""
_UPSERT_PRODUCT = "INSERT OR REPLACE INTO product VALUES (?, ?, ?, ?, ?, ?)"
_UPSERT_STOCK = "INSERT OR REPLACE INTO stock VALUES (?, ?)"


_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26
"""SQLite's result codes (the sqlite3 module names them only from Python 3.11)."""
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _explain_errors(
    method: Callable[Concatenate[Ledger, _P], _R],
) -> Callable[Concatenate[Ledger, _P], _R]:
    """Turn a SQLite error inside a ledger method into a ShopsyncError that says what is so."""

    def explained(ledger: Ledger, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(ledger, *args, **kwargs)
        except sqlite3.Error as error:
            explained = ledger._explained(error)
            if explained is None:
                raise  # not the user's to fix: a bug, shown as one
            raise explained from error

    functools.update_wrapper(explained, method)  # its name and docstring, for help()
    return explained


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
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
        text, digest = product_digest(body)
        return cls(product_id, digest, text, outcome)

    @property
    def body(self) -> dict[str, Any]:
        """The body as a new dict."""
        value: dict[str, Any] = json.loads(self.body_json)
        return value

    def to_record(self) -> dict[str, Any]:
        """The entry as plain JSON values (kept inside a pending batch's request)."""
        return {
            "v": _ENTRY_FORMAT,
            "product_id": self.product_id,
            "hash": self.content_hash,
            "body": self.body_json,
            "outcome": self.outcome,
            "at": self.updated_at,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LedgerEntry:
        """Read an entry written by :meth:`to_record`."""
        body = record["body"]
        return cls(
            product_id=record["product_id"],
            content_hash=record["hash"],
            body_json=body if isinstance(body, str) else product_json(body),
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
    """The on-disk ledger of one profile at one base URL. Safe across threads and processes.

    Each thread gets its own SQLite connection (a connection is not to be shared by
    threads that use it at the same time); SQLite's own locking, with a generous busy
    timeout, orders writers across threads and processes.
    """

    def __init__(self, directory: Path) -> None:
        """Open (or create: directory 0700, file 0600) the ledger in ``directory``."""
        self.directory = directory
        self.path = directory / _FILE
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        # Writers of this process take turns here rather than in SQLite: its busy
        # handler sleeps 1, 2, 5, 10... ms between tries, and eight workers committing
        # batches collided on every one. Other processes still meet the busy timeout.
        self._write_lock = threading.Lock()
        try:
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            directory.chmod(0o700)
            # Created here with 0600 so that SQLite never makes it with the umask's mode
            # (its -wal and -shm files copy the database file's permissions).
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            self._open_schema()
        except (OSError, sqlite3.Error) as error:
            explained = self._explained(error) if isinstance(error, sqlite3.Error) else None
            raise explained or ConfigError(
                N_("cannot open the ledger in {directory}: {reason}.").format(
                    directory=directory, reason=getattr(error, "strerror", None) or error
                ),
                hint=N_("Set SHOPSYNC_DATA_DIR to a writable directory."),
            ) from None

    def _explained(self, error: sqlite3.Error) -> ShopsyncError | None:
        """What a SQLite error means for the person running shopsync (None: not theirs)."""
        code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
        text = str(error)
        if code in (_SQLITE_BUSY, _SQLITE_LOCKED) or "locked" in text:
            return LockedError(
                N_(
                    "the ledger {path} is locked by another process: waited "
                    "{seconds:g}s for it ({text})."
                ).format(path=self.path, seconds=_BUSY_TIMEOUT_S, text=text),
                hint=N_(
                    "Another shopsync run, or a program that opened the ledger (an "
                    "sqlite3 shell?), holds it; wait for it to finish, or find it "
                    "with: fuser {path}"
                ).format(path=self.path),
            )
        if (
            code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
            or "malformed" in text
            or "not a database" in text
        ):
            return ConfigError(
                N_("the ledger {path} is damaged ({text}).").format(path=self.path, text=text),
                hint=N_(
                    "Move it aside (mv {path} {path}.damaged) and run again with "
                    "--refresh: shopsync rebuilds it from the products on the "
                    "platform (which stock delta files were applied is not on the "
                    "platform: do not re-run them)."
                ).format(path=self.path),
            )
        return None

    # -- connections -------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            # isolation_level=None: no implicit transactions; writes open their own
            # BEGIN IMMEDIATE, so a writer waits for the lock up front, not mid-way.
            connection = sqlite3.connect(
                self.path,
                timeout=_BUSY_TIMEOUT_S,
                isolation_level=None,
                check_same_thread=False,  # closed by close(), from whichever thread
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            # 8 MiB of page cache instead of 2: a batch's upserts touch pages all over
            # the SKU index, and re-reading them was a third of the ledger's syscalls.
            connection.execute("PRAGMA cache_size=-8192")
            self._local.connection = connection
            with self._connections_lock:
                self._connections.append(connection)
        return connection

    def _open_schema(self) -> None:
        db = self._db()
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > _FORMAT:
            raise ConfigError(
                N_(
                    "the ledger in {directory} was written by a newer shopsync "
                    "(format {version}; this one knows {known})."
                ).format(directory=self.directory, version=version, known=_FORMAT),
                hint=N_("Upgrade shopsync, or point SHOPSYNC_DATA_DIR at another directory."),
            )
        if version < _FORMAT:
            with self._write() as db:
                scripts = [] if version else [_SCHEMA]
                scripts += [_MIGRATIONS[n] for n in range(max(version, 1) + 1, _FORMAT + 1)]
                for script in scripts:
                    for statement in script.split(";"):
                        if statement.strip():
                            db.execute(statement)
                if not version and (self.directory / _DISKCACHE_FILE).exists():
                    _import_diskcache_ledger(self.directory, db)
                db.execute(f"PRAGMA user_version={_FORMAT}")

    def _write(self) -> _Transaction:
        return _Transaction(self._db(), self._write_lock)

    # -- products ----------------------------------------------------------------------

    def get(self, sku: str) -> LedgerEntry | None:
        """The entry for ``sku``, or None if shopsync has not put it on this platform."""
        return self.get_many([sku]).get(sku)

    @_explain_errors
    def get_many(self, skus: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those ``skus`` that the ledger holds, in one query per 500 SKUs.

        Planning looks every SKU of the input up; a query per SKU was the largest cost
        of re-planning an unchanged catalog.
        """
        found: dict[str, LedgerEntry] = {}
        db = self._db()
        for start in range(0, len(skus), _LOOKUP_CHUNK):
            chunk = skus[start : start + _LOOKUP_CHUNK]
            placeholders = ",".join("?" * len(chunk))  # the SKUs themselves are bound
            rows = db.execute(
                "SELECT sku, product_id, hash, body, outcome, at FROM product "  # noqa: S608
                f"WHERE sku IN ({placeholders})",
                chunk,
            )
            for sku, product_id, digest, body, outcome, at in rows:
                found[sku] = LedgerEntry(product_id, digest, body, outcome, at)
        return found

    @_explain_errors
    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The counts shopsync last set for those ``skus`` that have one, in few queries."""
        found: dict[str, int] = {}
        db = self._db()
        for start in range(0, len(skus), _LOOKUP_CHUNK):
            chunk = skus[start : start + _LOOKUP_CHUNK]
            placeholders = ",".join("?" * len(chunk))
            rows = db.execute(
                f"SELECT sku, count FROM stock WHERE sku IN ({placeholders})",  # noqa: S608
                chunk,
            )
            found.update(rows)
        return found

    @_explain_errors
    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Record one batch's results (products, stock counts set) and settle it, atomically."""
        with self._write() as db:
            if entries:
                db.executemany(
                    _UPSERT_PRODUCT, [_product_row(sku, entry) for sku, entry in entries.items()]
                )
            if stocks:
                db.executemany(_UPSERT_STOCK, stocks.items())
            if finished_batch is not None:
                db.execute("DELETE FROM pending WHERE key = ?", (finished_batch,))

    def skus(self) -> Iterator[str]:
        """Every SKU in the ledger, in order."""
        for (sku,) in self._db().execute("SELECT sku FROM product ORDER BY sku"):
            yield sku

    @_explain_errors
    def forget(self, skus: Sequence[str]) -> None:
        """Drop ``skus`` from the product table: removed (archived or deleted) on the
        platform, so a product that returns to the catalog is created again."""
        with self._write() as db:
            db.executemany("DELETE FROM product WHERE sku = ?", [(sku,) for sku in skus])

    def mark_refreshed(self, at: float | None = None) -> None:
        """Note that the platform's state was read into the ledger (``--refresh``) now."""
        marker = self.directory / _REFRESHED_FILE
        marker.write_text(repr(time.time() if at is None else at), encoding="utf-8")

    @_explain_errors
    def state_as_of(self) -> float | None:
        """When the ledger last learned the platform's state: the last ``--refresh``, or
        if there was none, its oldest entry (None: the ledger is empty)."""
        try:
            return float((self.directory / _REFRESHED_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            pass
        oldest = self._db().execute("SELECT min(at) FROM product").fetchone()[0]
        return None if oldest is None else float(oldest)

    @_explain_errors
    def __len__(self) -> int:
        count: int = self._db().execute("SELECT count(*) FROM product").fetchone()[0]
        return count

    # -- uploaded images ---------------------------------------------------------------

    @_explain_errors
    def image(self, content_hash: str) -> str | None:
        """What the platform calls the image with this content hash, if uploaded before."""
        row = (
            self._db()
            .execute("SELECT reference FROM image WHERE hash = ?", (content_hash,))
            .fetchone()
        )
        return None if row is None else str(row[0])

    @_explain_errors
    def record_image(
        self, content_hash: str, reference: str, *, url: str | None, image_id: str | None
    ) -> None:
        """Remember that the image with this content hash is on the platform as ``reference``."""
        with self._write() as db:
            db.execute(
                "INSERT OR REPLACE INTO image VALUES (?, ?, ?, ?, ?)",
                (content_hash, reference, url, image_id, time.time()),
            )

    # -- one-off writes and pending batches ---------------------------------------------

    @_explain_errors
    def mark_done(self, key: str) -> None:
        """Remember that the write with idempotency key ``key`` was applied for good."""
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO done VALUES (?, ?)", (key, time.time()))

    @_explain_errors
    def is_done(self, key: str) -> bool:
        """Whether the write with idempotency key ``key`` was applied by an earlier run."""
        row = self._db().execute("SELECT 1 FROM done WHERE key = ?", (key,)).fetchone()
        return row is not None

    @_explain_errors
    def begin_batch(self, key: str, request: str | Mapping[str, Any]) -> None:
        """Note that the batch ``key`` is about to be sent (call before the request leaves).

        ``request`` is what :meth:`pending_batches` gives back: a JSON object, or its
        text already encoded (the engine builds it from bodies it has encoded anyway).
        """
        text = request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
        with self._write() as db:
            db.execute("INSERT OR REPLACE INTO pending VALUES (?, ?, ?)", (key, text, time.time()))

    @_explain_errors
    def finish_batch(self, key: str) -> None:
        """Forget a pending batch whose outcome is settled."""
        with self._write() as db:
            db.execute("DELETE FROM pending WHERE key = ?", (key,))

    @_explain_errors
    def pending_batches(self) -> list[PendingBatch]:
        """Batches a crashed or interrupted run left unsettled, oldest first."""
        rows = self._db().execute("SELECT key, request, at FROM pending ORDER BY at, key")
        return [PendingBatch(key, json.loads(request), at) for key, request, at in rows]

    # -- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection to the database."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for connection in connections:
            connection.close()
        self._local = threading.local()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Transaction:
    """``with``: one write transaction, committed on success and rolled back on any error."""

    __slots__ = ("_db", "_lock")

    def __init__(self, db: sqlite3.Connection, lock: threading.Lock) -> None:
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            if kind is None:
                try:
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:
                        self._db.execute("ROLLBACK")
                    raise
            else:
                self._db.execute("ROLLBACK")
        finally:
            self._lock.release()


def _import_diskcache_ledger(directory: Path, db: sqlite3.Connection) -> None:
    """Copy a ledger of shopsync's first format (a diskcache directory) into ``db``.

    Without it, an upgrade would find an empty ledger, plan every product as a create
    and send the whole catalog again (as updates, after "exists" answers), and batches an
    interrupted run left pending would not be resumed. The old files are left in place.
    """
    import diskcache  # noqa: PLC0415 - only for this one-off import

    with diskcache.Cache(str(directory), eviction_policy="none") as cache:
        # Not iterkeys(): it pages quadratically (see the first ledger's notes). String
        # keys are stored as text with raw = 1; Disk.fetch decodes a row as get() does.
        rows = cache._sql("SELECT key, mode, filename, value FROM Cache WHERE raw = 1").fetchall()
        for key, mode, filename, stored in rows:
            try:
                value = cache.disk.fetch(mode, filename, stored, False)
            except OSError:
                continue
            kind, name = key[:2], key[2:]
            if kind == "p:":
                entry = LedgerEntry.from_record(value)
                text, digest = product_digest(entry.body)  # today's text and hash
                db.execute(
                    _UPSERT_PRODUCT,
                    _product_row(
                        name,
                        LedgerEntry(
                            entry.product_id, digest, text, entry.outcome, entry.updated_at
                        ),
                    ),
                )
            elif kind == "s:":
                db.execute(_UPSERT_STOCK, (name, int(value)))
            elif kind == "b:":
                db.execute(
                    "INSERT OR REPLACE INTO pending VALUES (?, ?, ?)",
                    (name, json.dumps(value["request"], ensure_ascii=False), value["at"]),
                )
            elif kind == "d:":
                db.execute("INSERT OR REPLACE INTO done VALUES (?, ?)", (name, float(value)))


def _product_row(sku: str, entry: LedgerEntry) -> tuple[str, str, str, str, str, float]:
    return (
        sku,
        entry.product_id,
        entry.content_hash,
        entry.body_json,
        entry.outcome,
        entry.updated_at,
    )
