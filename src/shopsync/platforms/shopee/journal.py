"""Which item each handle's creation made, kept by the adapter across crashes.

An item with models is made in two calls, ``add_item`` (under its handle as
``item_sku``) then ``init_tier_variation`` (its models, under their SKUs), and neither
takes an idempotency key. Shopee's ``search_item`` finds an item by ``item_sku`` only, so
the engine, which looks a product up by its first variant's SKU, cannot find an item
whose models were never made. The journal fills that gap: before ``add_item`` it records
the handle of each of the product's SKUs; after, the item id. A later attempt (a lost
answer, a crash between the two calls) finds the item by the handle and finishes it
instead of adding a second one.

A SQLite file per partner and shop in the data directory, written before the call it
guards (SQLite commits are durable by default), so a SIGKILL at any point leaves it right.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from shopsync.http.auth import private_dir

PENDING = None
"""The item id of a handle whose ``add_item`` was sent and not (yet) answered."""


class HandleJournal:
    """``handle → item id`` (None while unanswered) and ``SKU → handle``."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.executescript(
            "CREATE TABLE IF NOT EXISTS items (handle TEXT PRIMARY KEY, item_id INTEGER);"
            "CREATE TABLE IF NOT EXISTS skus (sku TEXT PRIMARY KEY, handle TEXT NOT NULL);"
        )

    def begin(self, handle: str, skus: Sequence[str]) -> tuple[bool, int | None]:
        """Record that ``handle`` (selling ``skus``) is about to be added; return whether
        an earlier attempt was recorded, and the item id it got (None if unanswered)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT item_id FROM items WHERE handle = ?", (handle,)
            ).fetchone()
            self._conn.execute("BEGIN")
            if row is None:
                self._conn.execute("INSERT INTO items VALUES (?, NULL)", (handle,))
            self._conn.executemany(
                "INSERT OR REPLACE INTO skus VALUES (?, ?)", [(sku, handle) for sku in skus]
            )
            self._conn.execute("COMMIT")
        if row is None:
            return False, None
        return True, None if row[0] is None else int(row[0])

    def added(self, handle: str, item_id: int | None) -> None:
        """``handle``'s item is ``item_id`` (None: forget it, it is gone)."""
        with self._lock:
            self._conn.execute("UPDATE items SET item_id = ? WHERE handle = ?", (item_id, handle))

    def handles(self, skus: Sequence[str]) -> dict[str, str]:
        """The handle of each of ``skus`` that belongs to a product created here."""
        wanted = list(dict.fromkeys(skus))
        out: dict[str, str] = {}
        with self._lock:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT sku, handle FROM skus WHERE sku IN ({marks})"  # noqa: S608 - only placeholders are interpolated
                out.update((str(s), str(h)) for s, h in self._conn.execute(query, chunk))
        return out

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
