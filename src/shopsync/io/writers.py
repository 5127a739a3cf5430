"""Safe output files: written atomically and safe to open in a spreadsheet.

Every file shopsync writes for the user (rejects, failed, succeeded, reports, metrics)
goes through :func:`atomic_write`, the one place that decides what an output path means:

- ``-`` is standard output;
- a symbolic link is followed, and its target is what gets written;
- a regular file, or a path that does not exist yet, appears whole or not at all: it is
  written to a temporary file beside it, flushed to disk, then renamed over it;
- a character device (``/dev/null``, a terminal) or a FIFO is written straight into:
  renaming over one would replace the device itself with a regular file;
- anything else (a directory, a block device, a socket) is refused.

CSV cells that a spreadsheet would run as a formula get a leading ``'`` (OWASP's CSV
injection advice); the readers take it off again, so these files can be fed back to
shopsync unchanged.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from shopsync.errors import UsageError
from shopsync.i18n import N_

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


STDOUT = "-"
"""The output path that means standard output."""


def is_stdout(path: Path) -> bool:
    """Whether ``path`` is ``-``, the name for standard output."""
    return str(path) == STDOUT


def is_regular_target(path: Path) -> bool:
    """Whether writing ``path`` replaces a regular file (or creates one).

    False for ``-`` and for devices and FIFOs (followed through symbolic links): their
    old content cannot be read back as an earlier version of the file.
    """
    if is_stdout(path):
        return False
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True  # does not exist yet (or cannot be inspected: the write will say)


@dataclass(frozen=True, slots=True)
class CsvFormat:
    """How a CSV file is written: its encoding, whether a byte-order mark leads, and
    the delimiter. The default is plain UTF-8 with commas."""

    encoding: str = "utf-8"
    bom: bool = False
    delimiter: str = ","


@contextmanager
def atomic_write(
    path: Path, *, newline: str | None = None, mode: int | None = None, encoding: str = "utf-8"
) -> Iterator[IO[str]]:
    """Open ``path`` for writing text, in the way that fits what the path is.

    A regular file (or a new path) is written to a temporary file beside it that replaces
    it on success; a symbolic link is resolved first, so the link stays and its target
    is replaced. ``-`` writes to standard output, and a character device or FIFO is
    written straight into (see the module's docstring). A new regular file is created
    private (0600) unless ``mode`` says otherwise: a metrics file must be readable by the
    collector's user.
    """
    if is_stdout(path):
        with _standard_output(newline, encoding) as handle:
            yield handle
        return
    target = path.resolve()
    try:
        kind = target.stat().st_mode
    except FileNotFoundError:
        kind = None
    except OSError as error:
        raise UsageError(
            N_("cannot write {path}: {strerror}.").format(path=path, strerror=error.strerror)
        ) from None
    if kind is not None and (stat.S_ISCHR(kind) or stat.S_ISFIFO(kind)):
        with _straight_into(path, target, newline, encoding) as handle:
            yield handle
        return
    if kind is not None and not stat.S_ISREG(kind):
        raise UsageError(
            N_(
                "cannot write {path}: it is not a regular file, a character device or a FIFO."
            ).format(path=path),
            hint=N_("Name a file to write, or - for standard output."),
        )
    with _replacing(path, target, newline, mode, encoding) as handle:
        yield handle


@contextmanager
def _replacing(
    path: Path, target: Path, newline: str | None, mode: int | None, encoding: str
) -> Iterator[IO[str]]:
    directory = target.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    except OSError as error:
        raise UsageError(
            N_("cannot write {path}: {strerror}.").format(path=path, strerror=error.strerror)
        ) from None
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
            yield handle
            handle.flush()
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        Path(temporary).replace(target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@contextmanager
def _straight_into(
    path: Path, target: Path, newline: str | None, encoding: str
) -> Iterator[IO[str]]:
    # No O_CREAT and no O_TRUNC: the device or FIFO exists, and truncating means nothing to
    # it. Opening a FIFO blocks until a reader opens the other end, as a shell's > does.
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise UsageError(
            N_("cannot write {path}: {strerror}.").format(path=path, strerror=error.strerror)
        ) from None
    with os.fdopen(fd, "w", encoding=encoding, newline=newline) as handle:
        yield handle


@contextmanager
def _standard_output(newline: str | None, encoding: str) -> Iterator[IO[str]]:
    # The file's encoding (UTF-8 unless asked) whatever the locale says; the wrapper is
    # detached at the end so that closing it leaves the process's stdout open.
    sys.stdout.flush()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:  # a text-only stream (a test's StringIO): write to it as it is
        yield sys.stdout
        return
    handle = io.TextIOWrapper(buffer, encoding=encoding, newline=newline, write_through=True)
    try:
        yield handle
        handle.flush()
    finally:
        handle.detach()


def write_csv(
    path: Path,
    header: Sequence[str],
    rows: Iterator[Mapping[str, Any]],
    form: CsvFormat = CsvFormat(),
) -> int:
    """Write ``rows`` under ``header`` atomically with safe cells; return how many were written."""
    count = 0
    with atomic_write(path, newline="", encoding=form.encoding) as handle:
        if form.bom:
            handle.write("\ufeff")
        writer = csv.writer(handle, delimiter=form.delimiter)
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

    def __init__(
        self, path: Path, trailing: Sequence[str] = (), form: CsvFormat | None = None
    ) -> None:
        """``trailing`` columns (``error``, say) go last, after the rows' own columns;
        ``form`` says how the CSV is encoded and delimited (default: UTF-8, commas)."""
        self.path = path
        self.form = form or CsvFormat()
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
            rows = (json.loads(line) for line in self._spool)
            return write_csv(self.path, header, rows, self.form)
        finally:
            self._spool.close()

    def discard(self) -> None:
        """Drop the spooled rows without writing anything."""
        self._spool.close()
