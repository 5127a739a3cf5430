"""The ledger in PostgreSQL: the same records as the SQLite ledger, for many machines at once.

Chosen by ``ledger_url = "postgresql://…"`` (``SHOPSYNC_LEDGER_URL``). One database holds
the ledgers of many targets (a target is a profile at a base URL), each row keyed by its
target. The semantics are those of :class:`shopsync.state.ledger.Ledger`, and both pass
one test suite; what a fleet needs on top:

- **Leases.** A pending batch is claimed by one worker with ``FOR UPDATE SKIP LOCKED``
  under a lease that expires (:meth:`PgLedger.claim_batch`). Its results are recorded,
  and the batch marked done, only by the worker that still holds the lease, in the same
  transaction (:meth:`PgLedger.record_leased`). A worker killed mid-batch leaves a lease
  that runs out; another worker then claims the batch and sends it with the same
  idempotency key.
- **A lock per target.** :class:`TargetLock`, a PostgreSQL session advisory lock, takes
  the place of the file lock: one planner per target at a time, released by the server
  when the holder's connection ends, however it ends.
- **Versioned migrations**, applied by ``shopsync ledger migrate`` (:func:`migrate`) and
  checked when a ledger is opened: an old schema is refused with that hint, a newer one
  as written by a newer shopsync.

Done batches are kept (state ``done``), not deleted, so ``shopsync fleet status`` can
count them per run; :meth:`PgLedger.pending_batches` lists only the pending ones.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from shopsync.errors import ConfigError, FleetError, LockedError, ShopsyncError
from shopsync.i18n import N_
from shopsync.state.ledger import LedgerEntry, PendingBatch

if TYPE_CHECKING:
    import psycopg

_LOOKUP_CHUNK = 500
_MIGRATION_LOCK = 0x5A0B5C  # one migrator at a time, whichever machine it runs on

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE shopsync_product (
            target TEXT NOT NULL,
            sku TEXT NOT NULL,
            product_id TEXT NOT NULL,
            hash TEXT NOT NULL,
            body TEXT NOT NULL,
            outcome TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (target, sku)
        );
        CREATE TABLE shopsync_stock (
            target TEXT NOT NULL,
            sku TEXT NOT NULL,
            count BIGINT NOT NULL,
            PRIMARY KEY (target, sku)
        );
        CREATE TABLE shopsync_done (
            target TEXT NOT NULL,
            key TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (target, key)
        );
        CREATE TABLE shopsync_batch (
            target TEXT NOT NULL,
            key TEXT NOT NULL,
            request TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'done', 'failed')),
            run_id TEXT,
            items INTEGER NOT NULL DEFAULT 0,
            lease_owner TEXT,
            lease_until TIMESTAMPTZ,
            attempts INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            failed INTEGER NOT NULL DEFAULT 0,
            finished_at TIMESTAMPTZ,
            finished_by TEXT,
            PRIMARY KEY (target, key)
        );
        CREATE INDEX shopsync_batch_state ON shopsync_batch (target, state, at);
        CREATE INDEX shopsync_batch_run ON shopsync_batch (run_id, state);
        CREATE TABLE shopsync_run (
            run_id TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            profile TEXT NOT NULL,
            started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            planned_at TIMESTAMPTZ,
            batches INTEGER NOT NULL DEFAULT 0,
            items INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            limiter_key TEXT
        );
        CREATE TABLE shopsync_worker (
            name TEXT PRIMARY KEY,
            hostname TEXT NOT NULL,
            pid INTEGER NOT NULL,
            started_at TIMESTAMPTZ NOT NULL,
            seen_at TIMESTAMPTZ NOT NULL,
            batches INTEGER NOT NULL DEFAULT 0
        );
        """,
    ),
    (
        2,
        # Local images uploaded, by content hash (the SQLite ledger's format 2).
        """
        CREATE TABLE shopsync_image (
            target TEXT NOT NULL,
            hash TEXT NOT NULL,
            reference TEXT NOT NULL,
            url TEXT,
            image_id TEXT,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (target, hash)
        );
        """,
    ),
    (
        3,
        # When each target's state was last read from the platform (--refresh): the
        # SQLite ledger's marker file, for the drift warning.
        """
        CREATE TABLE shopsync_target (
            target TEXT PRIMARY KEY,
            refreshed_at DOUBLE PRECISION NOT NULL
        );
        """,
    ),
    (
        4,
        # Items the platform refused in a fleet's batches, for `upload --queue --wait`'s
        # failed file (a worker has no file of its own to write them to).
        """
        CREATE TABLE shopsync_failure (
            target TEXT NOT NULL,
            key TEXT NOT NULL,
            sku TEXT NOT NULL,
            run_id TEXT,
            code TEXT NOT NULL,
            message TEXT NOT NULL,
            cells TEXT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (target, key, sku)
        );
        CREATE INDEX shopsync_failure_run ON shopsync_failure (run_id);
        """,
    ),
)
"""``(version, SQL)`` in order. Append, never edit: a migration that ran stays as it ran."""

LATEST_VERSION = MIGRATIONS[-1][0]


class LeaseLost(ShopsyncError):
    """A worker's lease on a batch ran out (or was never its own) before it could record.

    Its results are not recorded; whoever holds the batch now sends it again with the
    same idempotency key, so the platform replays the first answer.
    """


def display_url(url: str) -> str:
    """``url`` with any password replaced by ``***``, for messages and status output."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    user = f"{parts.username}:***@" if parts.username else ":***@"
    return urlunsplit((parts.scheme, user + host, parts.path, parts.query, parts.fragment))


def connect(url: str, *, autocommit: bool = True) -> psycopg.Connection[Any]:
    """A connection to the ledger database, or :class:`FleetError` saying why not."""
    import psycopg  # noqa: PLC0415 - the fleet extra, only when a PostgreSQL ledger is used

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=10)
    except psycopg.Error as error:
        reason = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
        raise FleetError(
            N_("cannot connect to the ledger database {url}: {reason}.").format(
                url=display_url(url), reason=reason
            ),
            hint=N_("Check ledger_url (SHOPSYNC_LEDGER_URL) and that PostgreSQL is running."),
        ) from None


def schema_version(db: psycopg.Connection[Any]) -> int:
    """The highest migration applied to ``db`` (0: none, not even the version table)."""
    row = db.execute("SELECT to_regclass('shopsync_schema') IS NOT NULL").fetchone()
    if not row or not row[0]:
        return 0
    found = db.execute("SELECT coalesce(max(version), 0) FROM shopsync_schema").fetchone()
    return int(found[0]) if found else 0


def migrate(url: str) -> list[int]:
    """Apply every migration ``url``'s database lacks, in order; the versions applied.

    Safe to run from several machines at once: migrators take turns on an advisory lock,
    and each migration commits with its version row.
    """
    applied: list[int] = []
    with connect(url) as db:
        db.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS shopsync_schema ("
                "version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
            )
            current = schema_version(db)
            if current > LATEST_VERSION:
                raise _newer(url, current)
            for version, sql in MIGRATIONS:
                if version <= current:
                    continue
                with db.transaction():
                    db.execute(sql)
                    db.execute("INSERT INTO shopsync_schema (version) VALUES (%s)", (version,))
                applied.append(version)
        finally:
            db.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
    return applied


def check_schema(db: psycopg.Connection[Any], url: str) -> None:
    """Refuse a database whose schema is not this shopsync's (older: migrate; newer: upgrade)."""
    version = schema_version(db)
    if version > LATEST_VERSION:
        raise _newer(url, version)
    if version < LATEST_VERSION:
        raise ConfigError(
            N_(
                "the ledger database {url} has schema version {version}; "
                "this shopsync needs version {needed}."
            ).format(url=display_url(url), version=version, needed=LATEST_VERSION),
            hint=N_("Run `shopsync ledger migrate` once (any machine of the fleet will do)."),
        )


def _newer(url: str, version: int) -> ConfigError:
    return ConfigError(
        N_(
            "the ledger database {url} was migrated by a newer "
            "shopsync (schema version {version}; this one knows "
            "{known})."
        ).format(url=display_url(url), version=version, known=LATEST_VERSION),
        hint=N_("Upgrade shopsync on this machine to the fleet's version."),
    )


@dataclass(frozen=True, slots=True)
class ItemFailure:
    """One item a platform refused in a fleet's batch: its row as read, and why."""

    sku: str
    code: str
    message: str
    cells: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClaimedBatch:
    """A pending batch this worker holds a lease on, until ``lease_seconds`` from the claim."""

    key: str
    request: dict[str, Any]
    started_at: float
    attempts: int
    run_id: str | None


class PgLedger:
    """The ledger of one ``target`` in a PostgreSQL database. Safe across threads and machines.

    Each thread has its own connection (autocommit; writes open explicit transactions).
    The database's schema must be the current one (:func:`migrate`).
    """

    def __init__(self, url: str, *, target: str) -> None:
        """Connect and check the schema (:class:`FleetError`, :class:`ConfigError` if not)."""
        self.url = url
        self.target = target
        self._local = threading.local()
        self._connections: list[psycopg.Connection[Any]] = []
        self._connections_lock = threading.Lock()
        check_schema(self._db(), url)

    def _db(self) -> psycopg.Connection[Any]:
        db: psycopg.Connection[Any] | None = getattr(self._local, "connection", None)
        if db is None or db.closed:
            db = connect(self.url)
            self._local.connection = db
            with self._connections_lock:
                self._connections.append(db)
        return db

    # -- products ----------------------------------------------------------------------

    def get(self, sku: str) -> LedgerEntry | None:
        """The entry for ``sku``, or None if shopsync has not put it on this target."""
        return self.get_many([sku]).get(sku)

    def get_many(self, skus: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those ``skus`` that the ledger holds, 500 SKUs per query."""
        found: dict[str, LedgerEntry] = {}
        db = self._db()
        for start in range(0, len(skus), _LOOKUP_CHUNK):
            rows = db.execute(
                "SELECT sku, product_id, hash, body, outcome, at FROM shopsync_product "
                "WHERE target = %s AND sku = ANY(%s)",
                (self.target, list(skus[start : start + _LOOKUP_CHUNK])),
            )
            for sku, product_id, digest, body, outcome, at in rows:
                found[sku] = LedgerEntry(product_id, digest, body, outcome, at)
        return found

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The counts shopsync last set for those ``skus`` that have one."""
        found: dict[str, int] = {}
        db = self._db()
        for start in range(0, len(skus), _LOOKUP_CHUNK):
            rows = db.execute(
                "SELECT sku, count FROM shopsync_stock WHERE target = %s AND sku = ANY(%s)",
                (self.target, list(skus[start : start + _LOOKUP_CHUNK])),
            )
            found.update((sku, int(count)) for sku, count in rows)
        return found

    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Record one batch's results (products, stock counts set) and settle it, atomically."""
        db = self._db()
        with db.transaction():
            self._write_results(db, entries, stocks)
            if finished_batch is not None:
                self._settle(db, finished_batch, "done", entries, owner=None)

    def _write_results(
        self,
        db: psycopg.Connection[Any],
        entries: Mapping[str, LedgerEntry],
        stocks: Mapping[str, int] | None,
    ) -> None:
        with db.cursor() as cursor:
            if entries:
                cursor.executemany(
                    "INSERT INTO shopsync_product VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (target, sku) DO UPDATE SET product_id = EXCLUDED.product_id, "
                    "hash = EXCLUDED.hash, body = EXCLUDED.body, outcome = EXCLUDED.outcome, "
                    "at = EXCLUDED.at",
                    [
                        (
                            self.target,
                            sku,
                            entry.product_id,
                            entry.content_hash,
                            entry.body_json,
                            entry.outcome,
                            entry.updated_at,
                        )
                        for sku, entry in entries.items()
                    ],
                )
            if stocks:
                cursor.executemany(
                    "INSERT INTO shopsync_stock VALUES (%s, %s, %s) "
                    "ON CONFLICT (target, sku) DO UPDATE SET count = EXCLUDED.count",
                    [(self.target, sku, count) for sku, count in stocks.items()],
                )

    def _settle(
        self,
        db: psycopg.Connection[Any],
        key: str,
        state: str,
        entries: Mapping[str, LedgerEntry],
        *,
        owner: str | None,
        updated: int = 0,
    ) -> None:
        outcomes = [entry.outcome for entry in entries.values()]
        db.execute(
            "UPDATE shopsync_batch SET state = %s, lease_owner = NULL, lease_until = NULL, "
            "finished_at = now(), finished_by = %s, created = created + %s, "
            "updated = updated + %s WHERE target = %s AND key = %s AND state = 'pending'",
            (
                state,
                owner,
                outcomes.count("created"),
                outcomes.count("updated") + updated,
                self.target,
                key,
            ),
        )

    def skus(self) -> Iterator[str]:
        """Every SKU in the ledger, in order."""
        rows = self._db().execute(
            "SELECT sku FROM shopsync_product WHERE target = %s ORDER BY sku", (self.target,)
        )
        for (sku,) in rows.fetchall():
            yield sku

    def __len__(self) -> int:
        row = (
            self._db()
            .execute("SELECT count(*) FROM shopsync_product WHERE target = %s", (self.target,))
            .fetchone()
        )
        return int(row[0]) if row else 0

    def forget(self, skus: Sequence[str]) -> None:
        """Drop ``skus``: removed on the platform, so a product that returns is created again."""
        db = self._db()
        with db.transaction():
            db.execute(
                "DELETE FROM shopsync_product WHERE target = %s AND sku = ANY(%s)",
                (self.target, list(skus)),
            )

    def mark_refreshed(self, at: float | None = None) -> None:
        """Note that the platform's state was read into the ledger (``--refresh``) now."""
        self._db().execute(
            "INSERT INTO shopsync_target VALUES (%s, %s) "
            "ON CONFLICT (target) DO UPDATE SET refreshed_at = EXCLUDED.refreshed_at",
            (self.target, time.time() if at is None else at),
        )

    def state_as_of(self) -> float | None:
        """When the ledger last learned the platform's state: the last ``--refresh``, or
        if there was none, its oldest entry (None: the ledger is empty)."""
        db = self._db()
        row = db.execute(
            "SELECT refreshed_at FROM shopsync_target WHERE target = %s", (self.target,)
        ).fetchone()
        if row is not None:
            return float(row[0])
        oldest = db.execute(
            "SELECT min(at) FROM shopsync_product WHERE target = %s", (self.target,)
        ).fetchone()
        return None if oldest is None or oldest[0] is None else float(oldest[0])

    # -- images --------------------------------------------------------------------------

    def image(self, content_hash: str) -> str | None:
        """What the platform calls the image with this content hash, if uploaded before."""
        row = (
            self._db()
            .execute(
                "SELECT reference FROM shopsync_image WHERE target = %s AND hash = %s",
                (self.target, content_hash),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def record_image(
        self, content_hash: str, reference: str, *, url: str | None, image_id: str | None
    ) -> None:
        """Remember that the image with this content hash is on the platform as ``reference``."""
        self._db().execute(
            "INSERT INTO shopsync_image VALUES (%s, %s, %s, %s, %s, %s) "
            "ON CONFLICT (target, hash) DO UPDATE SET reference = EXCLUDED.reference, "
            "url = EXCLUDED.url, image_id = EXCLUDED.image_id, at = EXCLUDED.at",
            (self.target, content_hash, reference, url, image_id, time.time()),
        )

    # -- one-off writes and pending batches ---------------------------------------------

    def mark_done(self, key: str) -> None:
        """Remember that the write with idempotency key ``key`` was applied for good."""
        self._db().execute(
            "INSERT INTO shopsync_done VALUES (%s, %s, %s) "
            "ON CONFLICT (target, key) DO UPDATE SET at = EXCLUDED.at",
            (self.target, key, time.time()),
        )

    def is_done(self, key: str) -> bool:
        """Whether the write with idempotency key ``key`` was applied by an earlier run."""
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM shopsync_done WHERE target = %s AND key = %s", (self.target, key)
            )
            .fetchone()
        )
        return row is not None

    def begin_batch(
        self,
        key: str,
        request: str | Mapping[str, Any],
        *,
        run_id: str | None = None,
        items: int = 0,
    ) -> None:
        """Note that the batch ``key`` is about to be sent (or, in a fleet, queued).

        As in the SQLite ledger, beginning a key again makes it pending again, with the
        new request; ``run_id`` and ``items`` are for ``fleet status``.
        """
        text = request if isinstance(request, str) else json.dumps(request, ensure_ascii=False)
        self._db().execute(
            "INSERT INTO shopsync_batch (target, key, request, at, run_id, items) "
            "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (target, key) DO UPDATE SET "
            "request = EXCLUDED.request, at = EXCLUDED.at, state = 'pending', "
            "run_id = coalesce(EXCLUDED.run_id, shopsync_batch.run_id), "
            "items = EXCLUDED.items, lease_owner = NULL, lease_until = NULL, "
            "created = 0, updated = 0, failed = 0, finished_at = NULL, finished_by = NULL",
            (self.target, key, text, time.time(), run_id, items),
        )

    def finish_batch(self, key: str) -> None:
        """Settle a pending batch whose outcome is settled without results (refused whole)."""
        db = self._db()
        with db.transaction():
            self._settle(db, key, "failed", {}, owner=None)

    def pending_batches(self) -> list[PendingBatch]:
        """Batches not yet settled, oldest first."""
        rows = self._db().execute(
            "SELECT key, request, at FROM shopsync_batch WHERE target = %s AND state = 'pending' "
            "ORDER BY at, key",
            (self.target,),
        )
        return [PendingBatch(key, json.loads(request), at) for key, request, at in rows]

    # -- leases (a fleet's workers) -----------------------------------------------------

    def claim_batch(self, key: str, *, owner: str, lease_seconds: float) -> ClaimedBatch | None:
        """Take the lease on pending batch ``key`` for ``owner``; None if done, failed or leased.

        A batch whose lease ran out is pending and free again. Two workers claiming the
        same batch at once: one gets it, the other skips the locked row and gets None.
        """
        return self._claim("AND key = %s", (key,), owner=owner, lease_seconds=lease_seconds)

    def claim_next(self, *, owner: str, lease_seconds: float) -> ClaimedBatch | None:
        """Take the lease on this target's oldest free pending batch; None if there is none.

        What a worker that has just sent a batch of a shop with slots to spare does next,
        rather than wait for that batch's own task to reach it through the queue (the
        task, when it comes, finds the batch done or leased and does nothing).
        """
        return self._claim("ORDER BY at, key LIMIT 1", (), owner=owner, lease_seconds=lease_seconds)

    def _claim(
        self, which: str, args: tuple[Any, ...], *, owner: str, lease_seconds: float
    ) -> ClaimedBatch | None:
        # ``which`` is one of the two fixed texts above, never input.
        row = (
            self._db()
            .execute(
                "UPDATE shopsync_batch AS b SET lease_owner = %s, "  # noqa: S608
                "lease_until = now() + make_interval(secs => %s), attempts = b.attempts + 1 "
                "FROM (SELECT target, key FROM shopsync_batch WHERE target = %s "
                "AND state = 'pending' AND (lease_until IS NULL OR lease_until < now()) "
                f"{which} FOR UPDATE SKIP LOCKED) AS free "
                "WHERE b.target = free.target AND b.key = free.key "
                "RETURNING b.key, b.request, b.at, b.attempts, b.run_id",
                (owner, lease_seconds, self.target, *args),
            )
            .fetchone()
        )
        if row is None:
            return None
        key, request, at, attempts, run_id = row
        return ClaimedBatch(key, json.loads(request), at, attempts, run_id)

    def try_drain_slot(self, slot: int) -> bool:
        """Take sending slot ``slot`` of this target for the calling thread; False if held.

        A session advisory lock on the thread's own connection: the server lets it go
        when that connection ends, so a worker killed mid-drain never leaves it behind.
        """
        row = (
            self._db()
            .execute(
                "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))",
                (self._drain_lock_name(slot),),
            )
            .fetchone()
        )
        return bool(row and row[0])

    def release_drain_slot(self, slot: int) -> None:
        """Let go of sending slot ``slot`` (taken by this thread with :meth:`try_drain_slot`)."""
        self._db().execute(
            "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", (self._drain_lock_name(slot),)
        )

    def _drain_lock_name(self, slot: int) -> str:
        # Not the bare target: that one is the planner's TargetLock.
        return f"shopsync-drain:{slot}|{self.target}"

    def next_claimable(self) -> str | None:
        """The key of this target's oldest pending batch with no live lease, if any."""
        row = (
            self._db()
            .execute(
                "SELECT key FROM shopsync_batch WHERE target = %s AND state = 'pending' "
                "AND (lease_until IS NULL OR lease_until < now()) ORDER BY at, key LIMIT 1",
                (self.target,),
            )
            .fetchone()
        )
        return None if row is None else str(row[0])

    def is_claimable(self, key: str) -> bool:
        """Whether batch ``key`` is pending with no live lease (a claim now could take it)."""
        row = (
            self._db()
            .execute(
                "SELECT 1 FROM shopsync_batch WHERE target = %s AND key = %s "
                "AND state = 'pending' AND (lease_until IS NULL OR lease_until < now())",
                (self.target, key),
            )
            .fetchone()
        )
        return row is not None

    def extend_lease(self, key: str, *, owner: str, lease_seconds: float) -> bool:
        """Push ``owner``'s lease on ``key`` out again; False if it is no longer ``owner``'s."""
        done = self._db().execute(
            "UPDATE shopsync_batch SET lease_until = now() + make_interval(secs => %s) "
            "WHERE target = %s AND key = %s AND state = 'pending' AND lease_owner = %s "
            "AND lease_until >= now()",
            (lease_seconds, self.target, key, owner),
        )
        return done.rowcount == 1

    def release_lease(self, key: str, *, owner: str) -> None:
        """Give ``owner``'s lease on ``key`` up now (the batch stays pending for another try)."""
        self._db().execute(
            "UPDATE shopsync_batch SET lease_owner = NULL, lease_until = NULL "
            "WHERE target = %s AND key = %s AND lease_owner = %s AND state = 'pending'",
            (self.target, key, owner),
        )

    def record_leased(
        self,
        key: str,
        *,
        owner: str,
        entries: Mapping[str, LedgerEntry],
        stocks: Mapping[str, int] | None = None,
        state: str = "done",
        failures: Sequence[ItemFailure] = (),
        updated: int = 0,
        mark_done: bool = False,
    ) -> None:
        """Record batch ``key``'s results and settle it, only while ``owner`` holds its lease.

        ``failures``, the items the platform refused, are kept with the batch in the same
        transaction, so whoever sees the batch settled sees its refused items too.
        ``updated`` counts items updated that have no ``entries`` (a stock batch's);
        ``mark_done`` remembers ``key`` as applied for good (:meth:`is_done`), as a
        delta stock batch must be: in the same transaction, so it is applied once even
        if the worker dies right after.

        One transaction: the batch row is locked and its lease checked first, so a lease
        that ran out (another worker may hold the batch now) records nothing and raises
        :class:`LeaseLost`.
        """
        db = self._db()
        with db.transaction():
            held = db.execute(
                "SELECT 1 FROM shopsync_batch WHERE target = %s AND key = %s "
                "AND state = 'pending' AND lease_owner = %s AND lease_until >= now() FOR UPDATE",
                (self.target, key, owner),
            ).fetchone()
            if held is None:
                raise LeaseLost(
                    N_(
                        "the lease on batch {key} of {target} is no longer {owner}'s; "
                        "its results were not recorded."
                    ).format(key=key, target=self.target, owner=owner),
                    hint=N_("The batch's current holder sends it again with the same key."),
                )
            self._write_results(db, entries, stocks)
            self._write_failures(db, key, failures)
            if mark_done:
                db.execute(
                    "INSERT INTO shopsync_done VALUES (%s, %s, %s) "
                    "ON CONFLICT (target, key) DO UPDATE SET at = EXCLUDED.at",
                    (self.target, key, time.time()),
                )
            self._settle(db, key, state, entries, owner=owner, updated=updated)

    def _write_failures(
        self, db: psycopg.Connection[Any], key: str, failures: Sequence[ItemFailure]
    ) -> None:
        # A batch sent again (its lease was lost) replaces its own rows.
        if not failures:
            return
        with db.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO shopsync_failure VALUES (%s, %s, %s, "
                "(SELECT run_id FROM shopsync_batch WHERE target = %s AND key = %s), "
                "%s, %s, %s, %s) ON CONFLICT (target, key, sku) DO UPDATE SET "
                "code = EXCLUDED.code, message = EXCLUDED.message, cells = EXCLUDED.cells, "
                "at = EXCLUDED.at",
                [
                    (
                        self.target,
                        key,
                        failure.sku,
                        self.target,
                        key,
                        failure.code,
                        failure.message,
                        json.dumps(failure.cells, ensure_ascii=False),
                        time.time(),
                    )
                    for failure in failures
                ],
            )
            cursor.execute(
                "UPDATE shopsync_batch SET failed = (SELECT count(*) FROM shopsync_failure "
                "WHERE target = %s AND key = %s) WHERE target = %s AND key = %s",
                (self.target, key, self.target, key),
            )

    def settled_skus(self, run_id: str) -> list[tuple[str, str]]:
        """``(sku, kind)`` of every item in run ``run_id``'s done batches, in the order they
        were planned (the file's, whichever batch was sent first), each SKU once:
        ``kind`` is ``product`` or ``stock``.

        With :meth:`failures` (the items refused) and the product records, what the
        run's ``--succeeded`` file holds, whichever workers sent the batches.
        """
        rows = self._db().execute(
            "SELECT request FROM shopsync_batch WHERE target = %s AND run_id = %s "
            "AND state = 'done' ORDER BY at, key",
            (self.target, run_id),
        )
        seen: dict[str, str] = {}
        for (text,) in rows.fetchall():
            request = json.loads(text)
            if "stock" in request:
                for change in request["stock"]["changes"]:
                    seen.setdefault(change["sku"], "stock")
                continue
            for part in ("creates", "updates"):
                for item in request.get(part, ()):
                    seen.setdefault(item["body"]["sku"], "product")
        return list(seen.items())

    def failures(self, run_id: str) -> Iterator[ItemFailure]:
        """The items refused in run ``run_id``'s batches, in the order they were noted."""
        rows = self._db().execute(
            "SELECT sku, code, message, cells FROM shopsync_failure "
            "WHERE target = %s AND run_id = %s ORDER BY at, key, sku",
            (self.target, run_id),
        )
        for sku, code, message, cells in rows.fetchall():
            yield ItemFailure(sku, code, message, json.loads(cells))

    def start_run(self, run_id: str, *, profile: str, limiter_key: str | None) -> None:
        """Note a fleet run of this target as it starts planning."""
        self._db().execute(
            "INSERT INTO shopsync_run (run_id, target, profile, limiter_key) "
            "VALUES (%s, %s, %s, %s)",
            (run_id, self.target, profile, limiter_key),
        )

    def finish_planning(
        self, run_id: str, *, batches: int, items: int, unchanged: int, rejected: int
    ) -> None:
        """Note what run ``run_id`` planned and queued."""
        self._db().execute(
            "UPDATE shopsync_run SET planned_at = now(), batches = %s, items = %s, "
            "unchanged = %s, rejected = %s WHERE run_id = %s",
            (batches, items, unchanged, rejected, run_id),
        )

    def note_worker(self, name: str, *, hostname: str, pid: int, batches: int = 0) -> None:
        """Say that worker ``name`` is alive (and sent ``batches`` more), for ``fleet status``."""
        self._db().execute(
            "INSERT INTO shopsync_worker VALUES (%s, %s, %s, now(), now(), %s) "
            "ON CONFLICT (name) DO UPDATE SET seen_at = now(), hostname = EXCLUDED.hostname, "
            "pid = EXCLUDED.pid, batches = shopsync_worker.batches + EXCLUDED.batches",
            (name, hostname, pid, batches),
        )

    # -- life cycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close every thread's connection."""
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for db in connections:
            db.close()
        self._local = threading.local()

    def __enter__(self) -> PgLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TargetLock:
    """One planner per target across the fleet: a PostgreSQL session advisory lock.

    It replaces the single machine's file lock: the server releases it when the holding
    connection ends, so a killed process never leaves it behind.
    """

    def __init__(self, url: str, *, target: str, profile: str, command: str) -> None:
        """``target`` is locked; ``profile`` and ``command`` go into the message."""
        self.url = url
        self.target = target
        self.profile = profile
        self.command = command
        self._db: psycopg.Connection[Any] | None = None

    def acquire(self) -> None:
        """Take the lock now or raise :class:`LockedError`."""
        db = connect(self.url)
        row = db.execute(
            "SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (self.target,)
        ).fetchone()
        if not row or not row[0]:
            db.close()
            raise LockedError(
                N_("another shopsync run holds the fleet lock for profile {profile!r}.").format(
                    profile=self.profile
                ),
                hint=N_(
                    "Wait for it to finish; this run changed nothing. The lock goes "
                    "away by itself when that process ends, even if it is killed."
                ),
            )
        self._db = db

    def release(self) -> None:
        """Let the lock go (closing the connection releases it)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def __enter__(self) -> TargetLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


class LeaseRenewer:
    """One thread that keeps leases alive while their batches are being sent.

    A slow platform must not let a lease run out under a batch still in flight: every
    third of ``lease_seconds`` each watched key is extended for ``owner``. Callers
    :meth:`watch` a set of keys they hold on a ledger (the set may grow and shrink while
    watched) and :meth:`unwatch` it when done. One thread per process, not per batch:
    each thread would open a database connection of its own.
    """

    def __init__(self, owner: str, lease_seconds: float) -> None:
        """Leases are ``owner``'s, extended by ``lease_seconds`` each time."""
        self.owner = owner
        self.lease_seconds = lease_seconds
        self._lock = threading.Lock()
        self._watched: dict[int, tuple[PgLedger, set[str]]] = {}
        self._closing = threading.Event()
        self._thread: threading.Thread | None = None

    def watch(self, ledger: PgLedger, keys: set[str]) -> None:
        """Renew every key in ``keys`` (held on ``ledger``) until :meth:`unwatch`."""
        with self._lock:
            self._watched[id(keys)] = (ledger, keys)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="shopsync-lease-renewal", daemon=True
                )
                self._thread.start()

    def unwatch(self, keys: set[str]) -> None:
        """Stop renewing ``keys``."""
        with self._lock:
            self._watched.pop(id(keys), None)

    def _run(self) -> None:
        while not self._closing.wait(self.lease_seconds / 3):
            with self._lock:
                # list() of a set is one step under the GIL: a copy, never half a change.
                watched = [(ledger, list(keys)) for ledger, keys in self._watched.values()]
            for ledger, keys in watched:
                for key in keys:
                    ledger.extend_lease(key, owner=self.owner, lease_seconds=self.lease_seconds)

    def close(self) -> None:
        """Stop the thread (leases not given back run out by themselves)."""
        self._closing.set()
        if self._thread is not None:
            self._thread.join()


OWN_LEASE_SECONDS = 120.0
"""How long a single-machine run's claim on a batch lasts unless renewed (every third)."""


class ClaimingLedger:
    """A PostgreSQL ledger for an ordinary run (``upload``/``stock`` without ``--queue``).

    The same ledger a fleet's workers use, so a batch must be sent by one process only:
    every batch this run begins or resumes is claimed under a lease, exactly as a
    worker claims it, and recorded only while that lease holds. A pending batch leased
    by a worker right now is not resumed here: the run is refused (:class:`LockedError`)
    before anything is sent. Leases are renewed by one thread while the run lasts; a
    killed run's leases run out and the next run (or a worker) sends its batches again
    with the same keys. Everything else is the wrapped :class:`PgLedger`.
    """

    def __init__(
        self,
        ledger: PgLedger,
        *,
        owner: str,
        profile: str,
        lease_seconds: float = OWN_LEASE_SECONDS,
    ) -> None:
        """``owner`` names this process in the lease (host and pid)."""
        self.ledger = ledger
        self.owner = owner
        self.profile = profile
        self.lease_seconds = lease_seconds
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._renewer = LeaseRenewer(owner, lease_seconds)

    def __getattr__(self, name: str) -> Any:
        # Reads and the ledger's other records (images, done keys, products) are the
        # shared ledger's own.
        return getattr(self.ledger, name)

    def __len__(self) -> int:
        return len(self.ledger)

    def _claim(self, key: str) -> bool:
        if self.ledger.claim_batch(key, owner=self.owner, lease_seconds=self.lease_seconds):
            with self._lock:
                self._held.add(key)
            self._renewer.watch(self.ledger, self._held)
            return True
        return False

    def pending_batches(self) -> list[PendingBatch]:
        """The pending batches, each claimed for this run; refused if a worker holds one.

        Stock batches queued by ``stock --queue`` (a request with a ``stock`` part) are
        left to the fleet's workers: this run's engine resumes product batches only, and
        would settle one as done with nothing sent.
        """
        pending = [batch for batch in self.ledger.pending_batches() if "stock" not in batch.request]
        busy = [
            batch.idempotency_key for batch in pending if not self._claim(batch.idempotency_key)
        ]
        if busy:
            raise LockedError(
                N_(
                    "{count} pending batches of profile {profile!r} are being sent "
                    "by fleet workers right now, so this run sent nothing."
                ).format(count=len(busy), profile=self.profile),
                hint=N_(
                    "Wait for them (`shopsync fleet status` shows them), or follow "
                    "them with `shopsync upload FILE --queue --wait`."
                ),
            )
        return [batch for batch in pending if batch.idempotency_key in self._held]

    def begin_batch(self, key: str, request: str | Mapping[str, Any]) -> None:
        """Note the batch and claim it before it is sent."""
        self.ledger.begin_batch(key, request)
        if not self._claim(key):
            raise LeaseLost(
                N_(
                    "batch {key} of {target} was claimed by another process as it "
                    "began; this run did not send it."
                ).format(key=key, target=self.ledger.target),
                hint=N_(
                    "Only one run may send to a target at a time; see `shopsync fleet status`."
                ),
            )

    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Results recorded; a batch settled only under this run's lease."""
        if finished_batch is None or finished_batch not in self._held:
            self.ledger.record(entries, stocks=stocks, finished_batch=finished_batch)
            return
        self.ledger.record_leased(finished_batch, owner=self.owner, entries=entries, stocks=stocks)
        with self._lock:
            self._held.discard(finished_batch)

    def finish_batch(self, key: str) -> None:
        """A batch refused as a whole: settled as failed, under the lease."""
        if key not in self._held:
            self.ledger.finish_batch(key)
            return
        self.ledger.record_leased(key, owner=self.owner, entries={}, state="failed")
        with self._lock:
            self._held.discard(key)

    def close(self) -> None:
        """Stop renewing, give back leases still held (their batches stay pending), close."""
        self._renewer.close()
        with self._lock:
            held, self._held = list(self._held), set()
        for key in held:
            self.ledger.release_lease(key, owner=self.owner)
        self.ledger.close()

    def __enter__(self) -> ClaimingLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
