"""The duplicate-SKU index: every SKU read so far and where it first stood, in bounded memory.

Finding duplicate SKUs in one streaming pass needs state that grows with the number of
SKUs. Kept wholly in memory, that state was the only thing that made a million-row run
bigger than a hundred-thousand-row one (32 bytes a SKU, plus the old table while it
doubled: +48 MiB). :class:`SeenSkus` keeps a table of at most :data:`MEMORY_SLOTS` slots in
memory; when it is half full at that size, its entries move to an SQLite file in the
temporary directory and the table starts again empty. From then on memory stays the same
however many SKUs follow; the file grows instead (about 20 bytes a SKU).

What keeps the hot loop cheap once entries live on disk (figures per SKU, measured at a
million SKUs on a shared 2-core machine):

- The in-memory table doubles as the write buffer. It is flushed whole, in one
  transaction per ~131,000 SKUs, with 200 rows per INSERT statement: one row per
  statement spends more in the sqlite3 module than in SQLite (~1.3 µs against ~0.7 µs).
- Its slot is taken from the *top* bits of the hash, so walking the table from the middle
  yields the hashes in almost ascending order, and SQLite fills its B-tree page after
  page instead of at random (batches of 8,192 SKUs in random order cost ~2.4 µs).
- A Bloom filter of the hashes on disk (:data:`FILTER_BITS` bits, two per SKU) says
  "certainly not on disk" for nearly every new SKU, so SQLite (~4-10 µs a point lookup)
  is asked only about repeated SKUs and the filter's false positives: about 1 new SKU
  in 80 with a million SKUs on disk.

In all, a row costs ~2 µs once the index has spilled, against ~1 µs before.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import weakref
from array import array
from collections.abc import Iterator
from itertools import chain, islice
from operator import itemgetter
from pathlib import Path
from types import TracebackType

from shopsync.errors import ConfigError
from shopsync.i18n import N_

_LINE_BITS = 40
_LINE_MASK = (1 << _LINE_BITS) - 1

MEMORY_SLOTS = 1 << 18
"""Slots of the in-memory table at most: 4 MiB (two 8-byte arrays), up to 131,072 SKUs.

Big enough that catalogs of up to ~130,000 rows never touch the disk, and that each flush
hands SQLite enough keys to fill pages in order; small enough that the table, the filter
and SQLite's page cache together (~8 MiB) stay within a tenth of a run's baseline memory
(~45 MiB), which is what "flat from 100,000 to 1,000,000 rows" asks.
"""

FILTER_BITS = 1 << 24
"""Bits in the Bloom filter of SKUs on disk (2 MiB), allocated at the first spill.

With two bits a SKU, the share of new SKUs that still reach SQLite is about
``(1 - exp(-2n / FILTER_BITS)) ** 2`` with ``n`` SKUs on disk: 1.3 % at a million, 14 %
at four million, half at ten million (where a bounded filter must give way). Half the
bits would save 1 MiB and send 3.5 times as many SKUs to SQLite at a million.
"""

_CACHE_KIB = 2048
"""SQLite's page cache for the spill file, in KiB: what bounds SQLite's own memory."""

_ROWS_PER_INSERT = 200
"""Rows a spill inserts with each statement: 400 parameters, under SQLite's old limit of 999."""


class SeenSkus:
    """Which SKUs have been read, and where each first stood, in memory that stops growing.

    Each SKU is kept as its 64-bit ``hash()`` and its location packed as
    ``file_index << 40 | line``. Two different SKUs with the same hash (odds of about 1 in
    36 million for a million SKUs) would be reported as duplicates; the message names both
    places, so the seller can see that they are not.

    Up to ``memory_slots // 2`` SKUs live in an open-addressing table in memory. When it is
    half full at that size, its entries move to a temporary SQLite file (in ``spill_dir``,
    or the system's temporary directory) and the table is emptied for the next ones. Use
    the index as a context manager, or call :meth:`close`, to delete the file; an index
    that is garbage-collected, or still open at exit, deletes it too.
    """

    __slots__ = (
        "__weakref__",
        "_closed",
        "_db",
        "_directory",
        "_filled",
        "_filter",
        "_filter_mask",
        "_finalizer",
        "_hashes",
        "_locations",
        "_mask",
        "_max_slots",
        "_shift",
        "_spill_dir",
        "_spilled",
    )

    def __init__(
        self,
        capacity: int = 1 << 12,
        *,
        memory_slots: int = MEMORY_SLOTS,
        spill_dir: Path | None = None,
        filter_bits: int = FILTER_BITS,
    ) -> None:
        """Start with ``capacity`` slots and double up to ``memory_slots``, then spill.

        All three sizes are powers of two; ``filter_bits`` is between 8 and 2**32. Tests
        make ``memory_slots`` tiny to spill early, and ``filter_bits`` tiny so that every
        new SKU is looked up in SQLite.
        """
        for name, value, least in (
            ("capacity", capacity, 2),
            ("memory_slots", memory_slots, 2),
            ("filter_bits", filter_bits, 8),
        ):
            if value < least or value & (value - 1):
                raise ValueError(f"{name} must be a power of two of at least {least}: {value}")
        if filter_bits > 1 << 32:
            # The two filter bits come from hash bits 0-31 and 32-63; wider, they would overlap.
            raise ValueError(f"filter_bits must be at most 2**32: {filter_bits}")
        capacity = min(capacity, memory_slots)
        self._shift = 65 - capacity.bit_length()  # 64 - log2(capacity)
        self._mask = capacity - 1
        self._hashes = array("q", bytes(8 * capacity))
        self._locations = array("q", bytes(8 * capacity))
        self._max_slots = memory_slots
        self._filled = 0
        """SKUs in the in-memory table."""
        self._spilled = 0
        """SKUs in the SQLite file; 0 until the first spill, so the hot loop can test it."""
        self._filter = bytearray()
        self._filter_mask = filter_bits - 1
        self._spill_dir = spill_dir
        self._db: sqlite3.Connection | None = None
        self._directory: Path | None = None
        self._finalizer: weakref.finalize[[sqlite3.Connection, Path], SeenSkus] | None = None
        self._closed = False

    def first_or_add(self, sku: str, file_index: int, line: int) -> tuple[int, int] | None:
        """The (file index, line) where ``sku`` was first seen, or None after recording it here."""
        # The hot loop of every command: every operation here costs every row.
        key = hash(sku) or 1  # 0 marks an empty slot
        mask = self._mask
        hashes = self._hashes
        # The top bits, as a signed number: a negative slot counts from the end, so no mask
        # is needed, and the table walks in hash order from the middle (see _spill).
        slot = key >> self._shift
        while True:
            found = hashes[slot]
            if found == 0:
                break
            if found == key:
                location = self._locations[slot]
                return location >> _LINE_BITS, location & _LINE_MASK
            slot = (slot + 1) & mask
        if self._spilled:
            # Ask SQLite only if both filter bits are set; the second is needed only for
            # the few SKUs whose first bit is.
            filter_, filter_mask = self._filter, self._filter_mask
            bit = key & filter_mask
            if filter_[bit >> 3] >> (bit & 7) & 1:
                bit = (key >> 32) & filter_mask
                if filter_[bit >> 3] >> (bit & 7) & 1:
                    on_disk = self._on_disk(key)
                    if on_disk is not None:
                        return on_disk
        hashes[slot] = key
        self._locations[slot] = (file_index << _LINE_BITS) | line
        self._filled += 1
        if self._filled * 2 > mask:
            self._make_room()
        return None

    def __len__(self) -> int:
        """How many distinct SKUs have been recorded."""
        return self._filled + self._spilled

    @property
    def spilled(self) -> int:
        """How many of them live in the temporary file rather than in memory."""
        return self._spilled

    @property
    def spill_path(self) -> Path | None:
        """The temporary directory that holds the SQLite file, while there is one."""
        return self._directory

    def close(self) -> None:
        """Delete the temporary file, if there is one. Do not use the index afterwards."""
        self._closed = True
        self._db = self._directory = None
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> SeenSkus:
        """The index itself; :meth:`close` is called on the way out."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Close the index, whatever happened inside the ``with`` block."""
        self.close()

    def _on_disk(self, key: int) -> tuple[int, int] | None:
        try:
            row = self._store().execute("SELECT loc FROM seen WHERE h = ?", (key,)).fetchone()
        except (OSError, sqlite3.Error) as error:
            raise self._disk_error(error) from None
        if row is None:
            return None
        location: int = row[0]
        return location >> _LINE_BITS, location & _LINE_MASK

    def _make_room(self) -> None:
        if self._mask + 1 < self._max_slots:
            self._grow()
        else:
            self._spill()

    def _grow(self) -> None:
        old_hashes, old_locations = self._hashes, self._locations
        capacity = (self._mask + 1) * 2
        self._shift -= 1
        shift = self._shift
        self._mask = mask = capacity - 1
        self._hashes = hashes = array("q", bytes(8 * capacity))
        self._locations = locations = array("q", bytes(8 * capacity))
        for key, location in zip(old_hashes, old_locations, strict=True):
            if key:
                slot = key >> shift
                while hashes[slot]:
                    slot = (slot + 1) & mask
                hashes[slot] = key
                locations[slot] = location

    def _disk_error(self, error: BaseException) -> ConfigError:
        place = self._directory or self._spill_dir or Path(tempfile.gettempdir())
        return ConfigError(
            N_(
                "cannot keep the index of SKUs already read in a temporary file "
                "in {place}: {reason}."
            ).format(place=place, reason=getattr(error, "strerror", None) or error),
            hint=N_(
                "Free some space there, or set TMPDIR to a directory with room "
                "(it needs about 40 bytes per SKU past the first 131,072)."
            ),
        )

    def _spill(self) -> None:
        """Move every entry of the in-memory table to SQLite, and empty the table."""
        try:
            self._spill_unchecked()
        except (OSError, sqlite3.Error) as error:
            raise self._disk_error(error) from None

    def _spill_unchecked(self) -> None:
        db = self._store()
        hashes, locations = self._hashes, self._locations
        filter_, filter_mask = self._filter, self._filter_mask
        for key in filter(None, hashes):  # the occupied slots, skipped over in C
            bit = key & filter_mask
            filter_[bit >> 3] |= 1 << (bit & 7)
            bit = (key >> 32) & filter_mask
            filter_[bit >> 3] |= 1 << (bit & 7)
        # Slot 0 holds the smallest top bits read as unsigned, so the negative hashes start
        # half-way: starting there hands SQLite the hashes in (almost) ascending order.
        half = (self._mask + 1) // 2
        hash_view, location_view = memoryview(hashes), memoryview(locations)
        pairs = chain(
            zip(hash_view[half:], location_view[half:], strict=True),
            zip(hash_view[:half], location_view[:half], strict=True),
        )
        # One row per statement would spend more in the sqlite3 module than in SQLite
        # (~1.3 µs a SKU, against ~0.7 µs with _ROWS_PER_INSERT rows a statement).
        occupied: Iterator[tuple[int, int]] = filter(itemgetter(0), pairs)
        values = chain.from_iterable(occupied)  # h, loc, h, loc, ...
        whole = self._filled - self._filled % _ROWS_PER_INSERT
        width = 2 * _ROWS_PER_INSERT
        db.execute("BEGIN")
        # zip() of one iterator repeated ``width`` times: ``width`` values a statement.
        statements = zip(*[islice(values, 2 * whole)] * width, strict=True)
        db.executemany(_insert(_ROWS_PER_INSERT), statements)
        rest = list(values)
        if rest:
            db.execute(_insert(len(rest) // 2), rest)
        db.execute("COMMIT")
        # Zero the arrays in place, 64 KiB at a time: allocating fresh ones would hold two
        # tables at once, the very peak this index is here to avoid.
        zeros = bytes(1 << 16)
        for table in (hashes, locations):
            with memoryview(table).cast("B") as raw:
                for start in range(0, len(raw), len(zeros)):
                    raw[start : start + len(zeros)] = zeros[: len(raw) - start]
        self._spilled += self._filled
        self._filled = 0

    def _store(self) -> sqlite3.Connection:
        """The SQLite connection, created (with its directory and filter) on first use."""
        if self._db is not None:
            return self._db
        if self._closed:
            raise ValueError("this SKU index is closed")
        directory = Path(tempfile.mkdtemp(prefix="shopsync-skus-", dir=self._spill_dir))
        try:
            # check_same_thread off: one thread at a time uses the index, but a generator
            # may be resumed, or collected, on another thread than the one that began it.
            db = sqlite3.connect(
                directory / "seen.sqlite", isolation_level=None, check_same_thread=False
            )
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        # Registered before anything else can fail, so the file cannot be left behind.
        self._finalizer = weakref.finalize(self, _remove_store, db, directory)
        self._directory = directory
        # A private scratch file: no journal, no fsync, no file locking between statements,
        # and a small page cache, which is what bounds SQLite's memory.
        for pragma in (
            "journal_mode = OFF",
            "synchronous = OFF",
            "locking_mode = EXCLUSIVE",
            f"cache_size = -{_CACHE_KIB}",
        ):
            db.execute(f"PRAGMA {pragma}")
        db.execute("CREATE TABLE seen (h INTEGER PRIMARY KEY, loc INTEGER NOT NULL)")
        self._filter = bytearray((self._filter_mask + 1) // 8)
        self._db = db
        return db


def _insert(rows: int) -> str:
    """An INSERT of ``rows`` (hash, location) rows."""
    return "INSERT INTO seen (h, loc) VALUES " + ", ".join(["(?, ?)"] * rows)  # noqa: S608 - no data, only placeholders


def _remove_store(db: sqlite3.Connection, directory: Path) -> None:
    """Close the spill file and delete its directory (also run at collection or exit)."""
    try:
        db.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)
