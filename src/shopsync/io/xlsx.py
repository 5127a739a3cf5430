"""Excel workbooks (.xlsx, .xlsm, .xls) read as rows of text, as the seller means them.

Two readers, chosen per sheet on the figures in docs/benchmarks.md ("Excel readers",
"Streaming large sheets"). python-calamine (the Rust calamine crate) is 6 to 8 times
faster, but holds the chosen sheet's cells in memory (about 1.3 KB a row of 13 columns;
python-calamine 0.9 has no streaming reader). openpyxl's read-only mode streams the
sheet's XML in a flat amount of memory. A sheet with more than :data:`STREAM_ABOVE`
cells holding a value (about 10,000 rows of 13 columns; counted by the scan below) is
therefore read by openpyxl, anything smaller, and every .xls, by calamine (a sheet of a
million empty styled rows has few values, and calamine skips the empty rows at Rust
speed). Both are imported only when a workbook is opened.

Before calamine sees an .xlsx/.xlsm, the zip is checked with the standard library: a
file that is not a zip (a renamed CSV), an encrypted one (password-protected workbooks
are OLE files holding an ``EncryptedPackage``), members whose declared sizes add up to
more than :data:`MAX_UNCOMPRESSED` or that expand more than :data:`MAX_RATIO` times (a
zip bomb), and XML with a document type declaration (entity expansion: no real workbook
has one) are refused with a message. The chosen sheet's XML is then scanned once, as a
stream of bytes, for formulas without a cached value and for merged cells, which
calamine does not report as such: both become warnings.

Cells become the text a seller typed: whole numbers without ``.0`` or an exponent (a
13-digit EAN stored as a number is its 13 digits), other numbers with Excel's 15
significant digits, dates as ISO dates, text as stored (``00123`` stays ``00123``).
"""

from __future__ import annotations

import itertools
import re
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from shopsync.errors import InputError
from shopsync.i18n import N_, nN_

WORKBOOK_SUFFIXES = (".xlsx", ".xlsm", ".xls")
MAX_UNCOMPRESSED = 2 << 30
"""Bytes all members of a workbook may expand to (Excel's own limits stay far below)."""
MAX_RATIO = 200
"""How many times a member larger than 1 MiB may expand (text XML: typically 5 to 20)."""
STREAM_ABOVE = 130_000
"""Cells with a value above which a sheet is streamed (openpyxl) rather than loaded
(calamine): 10,000 rows of 13 columns, which calamine holds in some 13 MB (about 100
bytes a cell); openpyxl reads any size in about 27 MB."""
MAX_CELLS = 50_000_000
"""Cells a sheet's declared dimension may span (what calamine would allocate)."""
_MAX_REPORTED = 5
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_DOCTYPE = re.compile(rb"<!(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]+)(\d+)(?::([A-Z]+)(\d+))?"')
_MERGE = re.compile(rb'<mergeCell ref="([A-Z]+\d+(?::[A-Z]+\d+)?)"')
# A formula cell with no cached value: <f>..</f> or <f .../>, then no <v> (or an empty
# one) before the cell ends. The cell's reference is found by looking back.
_EMPTY_FORMULA = re.compile(rb"(?:<f[^>]*/>|</f>)\s*(?:<v\s*/>|<v>\s*</v>)?\s*</c>")
_CELL_START = re.compile(rb'<c r="([A-Z]+\d+)"')
_CHUNK = 1 << 20
_TAIL = 4096


@dataclass(slots=True)
class Workbook:
    """What was learned about a workbook's chosen sheet when it was opened."""

    path: Path
    sheet: str
    header: list[str]
    header_row: int
    """The sheet's row number (1-based) of the header."""
    warnings: list[str] = field(default_factory=list)
    loaded: Iterator[tuple[int, list[Any]]] | None = None
    """The sheet's rows after the header, as read to find it, until :func:`iter_sheet`
    uses them (a second pass reads the sheet again)."""
    streamed: bool = False
    """Whether the sheet is streamed by openpyxl rather than loaded by calamine."""


def cell_text(value: Any) -> str:  # noqa: PLR0911 - one return per cell type
    """A cell's value as the text the seller typed (see the module docstring)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return format(Decimal(f"{value:.15g}"), "f")
    if isinstance(value, datetime):
        if value.time() == time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value)


def open_workbook(path: Path, sheet: str | None) -> Workbook:
    """Check ``path``, choose its sheet (name, or 1-based number; default the first)
    and read its header. Raises :class:`InputError` for anything that cannot be read."""
    sheet_xml = _check_container(path) if path.suffix.lower() != ".xls" else None
    book = _load(path)
    names = list(book.sheet_names)
    if not names:
        raise InputError(N_("{path}: the workbook has no sheets.").format(path=path))
    index = _sheet_index(path, names, sheet)
    warnings: list[str] = []
    values = 0
    member = sheet_xml[index] if sheet_xml is not None and index < len(sheet_xml) else None
    if member is not None:
        warnings, values = _scan_sheet(path, names[index], member)
    streamed = values > STREAM_ABOVE
    name = f"{path}[{names[index]}]"
    rows = _rows(path, book, index, streamed)
    for row_number, cells in rows:
        header = [cell_text(cell).strip() for cell in cells]
        while header and not header[-1]:
            header.pop()
        if header:
            # The first row with a value after the header: read now, handed on first.
            first = next(
                (row for row in rows if any(cell_text(cell).strip() for cell in row[1])), None
            )
            if first is None:
                raise InputError(
                    N_("{name}: the sheet has a header ({names}) but no rows.").format(
                        name=name, names=", ".join(header[:6])
                    )
                )
            loaded = itertools.chain([first], rows)
            return Workbook(path, names[index], header, row_number, warnings, loaded, streamed)
    raise InputError(N_("{name}: the sheet is empty.").format(name=name))


def iter_sheet(workbook: Workbook) -> Iterator[tuple[int, list[str]]]:
    """``(sheet row number, cells as text)`` for every non-empty row after the header."""
    rows, workbook.loaded = workbook.loaded, None  # used once: a second pass reads again
    if rows is None:
        book = _load(workbook.path)
        index = list(book.sheet_names).index(workbook.sheet)
        rows = _rows(workbook.path, book, index, workbook.streamed)
    for row_number, cells in rows:
        if row_number <= workbook.header_row:
            continue
        texts = [cell_text(cell) for cell in cells]
        if any(text.strip() for text in texts):
            yield row_number, texts


def _rows(path: Path, book: Any, index: int, streamed: bool) -> Iterator[tuple[int, list[Any]]]:
    """The sheet's rows with their row numbers, from calamine or, ``streamed``, openpyxl."""
    if streamed:
        return _streamed_rows(path, index)
    return _sheet_rows(_load_sheet(path, book, index))


def _streamed_rows(path: Path, index: int) -> Iterator[tuple[int, list[Any]]]:
    # openpyxl's read-only mode parses the sheet's XML as it goes (cached values of
    # formulas, dates by their number format, the 1904 date system), filling in the rows
    # the XML leaves out, so that position and row number agree.
    # openpyxl ships no type information (the sheet is typed Any here, as calamine's).
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # noqa: PLC0415

    try:
        book = load_workbook(path, read_only=True, data_only=True, keep_links=False)
    except Exception as error:  # any failure of its parser is the file's: it checked out
        raise _unreadable(path, error) from None
    try:
        sheet = book.worksheets[index]
        first_column = getattr(sheet, "min_column", 1) or 1  # as calamine: from the first
        try:
            numbered = enumerate(
                sheet.iter_rows(min_row=1, min_col=first_column, values_only=True), start=1
            )
            for row_number, cells in numbered:
                yield row_number, list(cells)
        except (ValueError, KeyError, TypeError, zipfile.BadZipFile) as error:
            raise _unreadable(path, error) from None
    finally:
        book.close()


def _load(path: Path) -> Any:
    from python_calamine import CalamineError, CalamineWorkbook  # noqa: PLC0415 - lazily

    try:
        return CalamineWorkbook.from_path(str(path))
    except CalamineError as error:
        raise _unreadable(path, error) from None
    except (OSError, ValueError) as error:
        raise _unreadable(path, error) from None


def _unreadable(path: Path, error: Exception) -> InputError:
    text = str(error).strip().rstrip(".") or type(error).__name__
    if "password" in text.lower() or "encrypt" in text.lower():
        return _protected(path)
    return InputError(
        N_("{path}: cannot be read as an Excel workbook ({text}).").format(path=path, text=text),
        hint=N_("Open it in Excel and save it again as .xlsx, or as 'CSV UTF-8'."),
    )


def _protected(path: Path) -> InputError:
    return InputError(
        N_("{path}: the workbook is password-protected (encrypted).").format(path=path),
        hint=N_("In Excel, remove the password (File > Info > Protect Workbook), save, and retry."),
    )


def _sheet_index(path: Path, names: Sequence[str], sheet: str | None) -> int:
    if sheet is None:
        return 0
    if sheet in names:
        return names.index(sheet)
    if sheet.isdigit() and 1 <= int(sheet) <= len(names):
        return int(sheet) - 1
    raise InputError(
        N_("{path}: no sheet {sheet!r} (the sheets are: {names}).").format(
            path=path, sheet=sheet, names=", ".join(names)
        ),
        hint=N_("Pass --sheet with a sheet's name or its number, 1 for the first."),
    )


def _load_sheet(path: Path, book: Any, index: int) -> Any:
    from python_calamine import CalamineError  # noqa: PLC0415

    try:
        return book.get_sheet_by_index(index)
    except CalamineError as error:
        raise _unreadable(path, error) from None


def _sheet_rows(sheet: Any) -> Iterator[tuple[int, list[Any]]]:
    # calamine's rows start at the sheet's row 1 (and column A), whatever the first
    # cell with a value: the sheet's row number is the position plus one.
    for offset, cells in enumerate(sheet.iter_rows()):
        yield offset + 1, cells


def _check_container(path: Path) -> list[str | None]:
    """Refuse what is not a sane .xlsx zip; the member name of each sheet, in order."""
    with path.open("rb") as handle:
        head = handle.read(1 << 16)
    if head.startswith(_OLE):
        if "EncryptedPackage".encode("utf-16-le") in head:
            raise _protected(path)
        raise InputError(
            N_("{path}: this is an old-style Excel file (.xls), not {suffix}.").format(
                path=path, suffix=path.suffix
            ),
            hint=N_("Rename it to .xls, or save it again in Excel as .xlsx."),
        )
    if not head.startswith(b"PK"):
        kind = N_("text (CSV?)") if _looks_like_text(head) else N_("not a zip archive")
        raise InputError(
            N_("{path}: this is not an Excel workbook: the file is {kind}.").format(
                path=path, kind=kind
            ),
            hint=N_("If it is CSV text, name it .csv."),
        )
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise InputError(
            N_("{path}: the workbook is damaged ({error}).").format(path=path, error=error)
        ) from None
    with archive:
        members = archive.infolist()
        total = sum(member.file_size for member in members)
        if total > MAX_UNCOMPRESSED:
            raise _bomb(path, N_("its parts expand to {total:,} bytes").format(total=total))
        for member in members:
            if member.flag_bits & 0x1:
                raise _protected(path)
            if member.file_size > 1 << 20 and member.file_size > MAX_RATIO * max(
                member.compress_size, 1
            ):
                raise _bomb(path, f"{member.filename} expands {member.file_size:,} bytes")
            if member.filename.endswith((".xml", ".rels")):
                with archive.open(member) as part:
                    if _DOCTYPE.search(part.read(1 << 14)):
                        raise InputError(
                            N_(
                                "{path}: {filename} declares a document type (possible entity "
                                "expansion); it is not read."
                            ).format(path=path, filename=member.filename),
                            hint=N_("A workbook saved by Excel never has one: save it again."),
                        )
        return _sheet_members(archive)


def _looks_like_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        return error.start > len(head) - 4 and b"\x00" not in head
    return b"\x00" not in head


def _bomb(path: Path, what: str) -> InputError:
    return InputError(
        N_("{path}: {what}, far beyond any real workbook; it is not read (a zip bomb?).").format(
            path=path, what=what
        ),
        hint=N_("Export the sheet as 'CSV UTF-8' if the file is genuine."),
    )


def _sheet_members(archive: zipfile.ZipFile) -> list[str | None]:
    """Each sheet's XML member, in the workbook's order (None where it cannot be told)."""
    try:
        workbook = archive.read("xl/workbook.xml")
        rels = archive.read("xl/_rels/workbook.xml.rels")
    except KeyError:
        return []
    targets = {
        rid.decode(): target.decode()
        for rid, target in re.findall(rb'Id="([^"]+)"[^>]*?Target="([^"]+)"', rels)
    }
    targets.update(
        {
            rid.decode(): target.decode()
            for target, rid in re.findall(rb'Target="([^"]+)"[^>]*?Id="([^"]+)"', rels)
        }
    )
    members: list[str | None] = []
    for sheet in re.findall(rb"<sheet\b[^>]*>", workbook):
        match = re.search(rb'r:id="([^"]+)"', sheet) or re.search(rb'\bid="([^"]+)"', sheet)
        target = targets.get(match.group(1).decode()) if match else None
        if target is None:
            members.append(None)
        else:
            members.append(target.lstrip("/") if target.startswith("/") else f"xl/{target}")
    return members


def _scan_sheet(path: Path, sheet: str, member: str) -> tuple[list[str], int]:
    """Warnings about the sheet's XML (formulas without a cached value, merged cells),
    and how many cells hold a value (a ``<v>`` or an inline string)."""
    values = 0
    empty_formulas: list[str] = []
    empty_count = 0
    merged: list[str] = []
    with zipfile.ZipFile(path) as archive, archive.open(member) as part:
        head = part.read(_TAIL)
        dimension = _DIMENSION.search(head)
        if dimension and dimension.group(3):
            rows = int(dimension.group(4)) - int(dimension.group(2)) + 1
            columns = _column(dimension.group(3)) - _column(dimension.group(1)) + 1
            if rows * columns > MAX_CELLS:
                raise InputError(
                    N_(
                        "{path}[{sheet}]: the sheet spans {rows:,} rows by {columns:,} "
                        "columns, more cells than shopsync reads from one sheet."
                    ).format(path=path, sheet=sheet, rows=rows, columns=columns),
                    hint=N_("Delete the empty rows and columns past the data, or export as CSV."),
                )
        buffer = head
        while True:
            chunk = part.read(_CHUNK)
            buffer += chunk
            # Scan up to the last complete cell; keep the rest for the next round.
            cut = len(buffer) if not chunk else buffer.rfind(b"</c>") + 4
            if cut < 4:
                cut = buffer.rfind(b"/>") + 2
            if cut < 2:
                cut = len(buffer) - _TAIL if len(buffer) > 4 * _CHUNK else 0
            scanned = buffer[:cut]
            values += scanned.count(b"<v>") + scanned.count(b"<is>")
            for match in _EMPTY_FORMULA.finditer(scanned):
                empty_count += 1
                if len(empty_formulas) < _MAX_REPORTED:
                    starts = list(_CELL_START.finditer(scanned, 0, match.start()))
                    if starts:
                        empty_formulas.append(starts[-1].group(1).decode())
            merged.extend(ref.decode() for ref in _MERGE.findall(scanned))
            buffer = buffer[cut:]
            if not chunk:
                break
    warnings: list[str] = []
    if empty_count:
        warnings.append(
            N_(
                "{count} without a saved result, read as empty ({listed}); open "
                "the workbook in Excel and save it to compute them."
            ).format(
                count=nN_("{count:,} formula", "{count:,} formulas", empty_count).format(
                    count=empty_count
                ),
                listed=_listed(empty_formulas, empty_count),
            )
        )
    if merged:
        warnings.append(
            N_(
                "{count} ({listed}): only the first cell of each holds the "
                "value, the others are read as empty."
            ).format(
                count=nN_("{count:,} merged range", "{count:,} merged ranges", len(merged)).format(
                    count=len(merged)
                ),
                listed=_listed(merged[:_MAX_REPORTED], len(merged)),
            )
        )
    return warnings, values


def _listed(shown: list[str], total: int) -> str:
    if total > len(shown):
        return N_("{shown} and {more:,} more").format(
            shown=", ".join(shown), more=total - len(shown)
        )
    return ", ".join(shown)


def _column(letters: bytes) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + letter - 64
    return number
