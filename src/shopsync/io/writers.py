"""Safe output files: written atomically and safe to open in a spreadsheet.

Every file shopsync writes for the user (rejects, failed, succeeded, reports) appears
whole or not at all: it is written to a temporary file beside the target, flushed to
disk, then renamed over it. CSV cells that a spreadsheet would run as a formula get a
leading ``'`` (OWASP's CSV injection advice); the readers take it off again, so these
files can be fed back to shopsync unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from shopsync.errors import UsageError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""Cell starts that spreadsheets run as formulas (OWASP)."""
GUARDED_STARTS = (*FORMULA_STARTS, "'")
"""Cell starts written with a ``'`` in front. A value that itself begins with ``'`` is
guarded too, so the reader's rule (drop one ``'`` before any of these) gives it back
unchanged."""


def safe_cell(value: object) -> str:
    """A value as a CSV cell that no spreadsheet will execute."""
    text = format_cell(value)
    if text.startswith(GUARDED_STARTS):
        return "'" + text
    return text


def format_cell(value: object) -> str:
    """Lists joined with ``|`` (as the readers split them), dicts as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return "|".join(format_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


@contextmanager
def atomic_write(
    path: Path, *, newline: str | None = None, mode: int | None = None
) -> Iterator[IO[str]]:
    """Open a temporary file beside ``path`` for writing; on success it replaces ``path``.

    The file is created private (0600) unless ``mode`` says otherwise: a metrics file
    must be readable by the collector's user.
    """
    directory = path.parent if str(path.parent) else Path()
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise UsageError(f"cannot write {path}: {error.strerror}.") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as handle:
            yield handle
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_csv(path: Path, header: Sequence[str], rows: Iterator[Mapping[str, Any]]) -> int:
    """Write ``rows`` under ``header`` atomically with safe cells; return how many were written."""
    count = 0
    with atomic_write(path, newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([safe_cell(name) for name in header])
        for row in rows:
            writer.writerow([safe_cell(row.get(name)) for name in header])
            count += 1
    return count


def write_json(path: Path, document: Any) -> None:
    """Write ``document`` as indented UTF-8 JSON, atomically."""
    with atomic_write(path) as handle:
        json.dump(document, handle, ensure_ascii=False, indent=2, default=_json_default)
        handle.write("\n")


def _json_default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


class SpooledRowsWriter:
    """Collects rows whose columns are not known up front, then writes one CSV.

    Rejected rows from several files (or JSON objects with varying keys) need the union
    of their columns as the header. Rows are spooled to a temporary JSON Lines file so
    memory stays flat however many rows are rejected; :meth:`close` writes the CSV.
    """

    def __init__(self, path: Path, trailing: Sequence[str] = ()) -> None:
        """``trailing`` columns (``error``, say) go last, after the rows' own columns."""
        self.path = path
        self.count = 0
        self._trailing = list(trailing)
        self._columns: dict[str, None] = {}
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def add(self, row: Mapping[str, Any]) -> None:
        """Add one row: a mapping of column name to value."""
        for name in row:
            if name not in self._columns and name not in self._trailing:
                self._columns[name] = None
        self._spool.write(json.dumps(row, ensure_ascii=False, default=str))
        self._spool.write("\n")
        self.count += 1

    def close(self) -> int:
        """Write the CSV (even with no rows, so a stale file from an earlier run is replaced)."""
        self._spool.seek(0)
        header = [*self._columns, *self._trailing]
        try:
            return write_csv(self.path, header, (json.loads(line) for line in self._spool))
        finally:
            self._spool.close()

    def discard(self) -> None:
        """Drop the spooled rows without writing anything."""
        self._spool.close()
