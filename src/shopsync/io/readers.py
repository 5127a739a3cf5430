"""Streaming readers for catalog files: CSV, TSV, JSON, JSON Lines and Excel workbooks.

Each reader yields :class:`~shopsync.domain.models.SourceRow` records one at a time, with the
file name and the physical line the record starts on, so a file of ten million rows is
read in constant memory. Problems with the file as a whole (not text, empty, no header)
raise :class:`~shopsync.errors.InputError` when the file is opened, before any row is
read; a problem found later (a syntax error halfway through a JSON array) ends that
file with a :class:`~shopsync.domain.models.RowError` that says the rest was not read.
Workbooks are read by :mod:`shopsync.io.xlsx`; their rows are named ``file[Sheet]`` and
numbered as the sheet numbers them.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal, cast

from shopsync.domain.models import FieldError, RowError, SourceRow
from shopsync.errors import InputError
from shopsync.i18n import N_
from shopsync.io.encoding import Detected, decode_error, detect_encoding, open_text, sniff_binary
from shopsync.io.xlsx import Workbook, iter_sheet, open_workbook

Format = Literal["csv", "tsv", "json", "jsonl", "xlsx"]
FORMATS: tuple[Format, ...] = ("csv", "tsv", "json", "jsonl", "xlsx")
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".txt": "csv",  # Excel's "Unicode Text" is tab-separated; the sniffer finds the tabs
    ".tsv": "tsv",
    ".tab": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".xls": "xlsx",
}
_DELIMITERS = (",", ";", "\t")
_JSON_LIST_KEYS = ("products", "items", "data")
_CHUNK = 1 << 16

# csv refuses fields over 128 KiB by default; a 20,000-character description in a
# 4-byte encoding plus quoting stays well under 1 MiB.
csv.field_size_limit(1 << 20)


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read input files; every ``None`` means "work it out from the file"."""

    format: Format | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal_comma: bool | None = None
    """``None``: decimal commas are read when the file is semicolon-separated."""
    sheet: str | None = None
    """A workbook's sheet, by name or 1-based number (``None``: the first)."""


@dataclass(slots=True)
class OpenedFile:
    """What was learned about a file when it was opened, and how to read its rows."""

    path: Path
    format: Format
    detected: Detected
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    decimal_comma: bool = False
    size: int = 0
    """The file's size in bytes."""
    bytes_read: int = 0
    """How far reading has got, in bytes of the file, for progress displays."""
    workbook: Workbook | None = None
    """A workbook's chosen sheet (format ``xlsx`` only)."""

    @property
    def name(self) -> str:
        """The name rows and messages use: the path as the user gave it, and a workbook's
        sheet in brackets (``catalog.xlsx[Sheet1]``)."""
        if self.workbook is not None:
            return f"{self.path}[{self.workbook.sheet}]"
        return str(self.path)

    @property
    def warnings(self) -> list[str]:
        """What opening the file noticed that the user should hear about."""
        return self.workbook.warnings if self.workbook is not None else []


def format_for(path: Path, override: Format | None = None) -> Format:
    """The file format, from ``--format`` or else the file's extension."""
    if override:
        return override
    suffix = path.suffix.lower()
    if suffix in (".gz", ".zip", ".ods", ".xlsb"):
        raise InputError(
            N_("{path}: {suffix} files cannot be read directly.").format(path=path, suffix=suffix),
            hint=N_("Export the sheet as CSV (in Excel: File > Save As > 'CSV UTF-8')."),
        )
    try:
        return _EXTENSIONS[suffix]
    except KeyError:
        raise InputError(
            N_("{path}: cannot tell the format from the extension {suffix!r}.").format(
                path=path, suffix=suffix or "(none)"
            ),
            hint=N_("Name it .csv, .tsv, .json, .jsonl or .xlsx, or pass --format."),
        ) from None


def open_file(path: Path, options: ReadOptions) -> OpenedFile:
    """Check that ``path`` is a readable catalog file and learn its shape (not its rows)."""
    if not path.exists():
        raise InputError(N_("{path}: no such file.").format(path=path))
    if path.is_dir():
        raise InputError(N_("{path}: is a directory, not a file.").format(path=path))
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError as error:
        raise InputError(
            N_("{path}: cannot be read: {strerror}.").format(path=path, strerror=error.strerror)
        ) from None
    fmt = format_for(path, options.format)
    if fmt == "xlsx":
        workbook = open_workbook(path, options.sheet)
        return OpenedFile(
            path=path,
            format=fmt,
            detected=Detected("binary", N_("an Excel workbook")),
            header=workbook.header,
            size=path.stat().st_size,
            workbook=workbook,
        )
    sniff_binary(path, head)
    if not head.strip(b" \t\r\n\xef\xbb\xbf\xff\xfe\x00"):
        raise InputError(N_("{path}: the file is empty.").format(path=path))
    detected = detect_encoding(path, options.encoding)
    if b"\x00" in head and "16" not in detected.encoding and "32" not in detected.encoding:
        raise InputError(
            N_("{path}: this is a binary file (it contains NUL bytes), not a catalog.").format(
                path=path
            ),
            hint=N_("If it is UTF-16 text without a byte-order mark, pass --encoding utf-16-le."),
        )
    opened = OpenedFile(path=path, format=fmt, detected=detected, size=path.stat().st_size)
    if fmt in ("csv", "tsv"):
        _read_header(opened, options)
    elif fmt == "json":
        # Find the list of products now, so that a document holding none is refused
        # before anything else happens; iteration walks to it again.
        with open_text(path, detected) as text:
            try:
                _to_products_array(opened, _JsonScanner(text))
            except UnicodeDecodeError as error:
                raise decode_error(path, detected, error) from None
            except _JsonSyntaxError as error:
                raise InputError(
                    N_("{path}: invalid JSON at line {line}: {message}.").format(
                        path=path, line=error.line, message=error.message
                    )
                ) from None
    return opened


def _read_header(opened: OpenedFile, options: ReadOptions) -> None:
    with open_text(opened.path, opened.detected) as text:
        try:
            first = _first_nonblank_line(text)
        except UnicodeDecodeError as error:
            raise decode_error(opened.path, opened.detected, error) from None
        if first is None:
            raise InputError(N_("{path}: the file is empty.").format(path=opened.path))
        delimiter = "\t" if opened.format == "tsv" else options.delimiter or _sniff_delimiter(first)
        header = next(csv.reader([first], delimiter=delimiter), [])
        if not any(cell.strip() for cell in header):
            raise InputError(
                N_("{path}: the first line holds no column names.").format(path=opened.path)
            )
        # A header and no rows is not an error: it is an empty delta (nothing to do),
        # which the commands report as a notice (RecordReader.empty_files).
    opened.delimiter = delimiter
    opened.header = [cell.strip().lstrip("\ufeff") for cell in header]
    opened.decimal_comma = (
        options.decimal_comma if options.decimal_comma is not None else delimiter == ";"
    )


def _position(text: io.TextIOWrapper) -> int:
    """Bytes of the file consumed so far (read-ahead included: close enough for progress)."""
    return cast(BinaryIO, text.buffer).tell()


def _first_nonblank_line(text: IO[str]) -> str | None:
    for line in text:
        if line.strip():
            return line
    return None


def _sniff_delimiter(header_line: str) -> str:
    # The header names the columns, so it holds the delimiter more often than any other
    # character among the three candidates; csv.Sniffer guesses wrong on short files.
    counts = {delimiter: _count_unquoted(header_line, delimiter) for delimiter in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _count_unquoted(line: str, char: str) -> int:
    count = 0
    quoted = False
    for c in line:
        if c == '"':
            quoted = not quoted
        elif c == char and not quoted:
            count += 1
    return count


def iter_rows(
    opened: OpenedFile, on_empty: Callable[[int], None] | None = None
) -> Iterator[SourceRow | RowError]:
    """Yield the file's records; a file-level failure part-way ends it with a RowError.

    ``on_empty`` is called with the line of each CSV/TSV record whose cells are all
    empty (``,,,,``: what Excel writes for a row that once held something), which is
    skipped.
    """
    if opened.format in ("csv", "tsv"):
        rows = _iter_csv(opened, on_empty)
    elif opened.workbook is not None:
        rows = _iter_workbook(opened, opened.workbook)
    elif opened.format == "jsonl":
        rows = _iter_jsonl(opened)
    else:
        rows = _iter_json(opened)
    try:
        yield from rows
        opened.bytes_read = opened.size
    except UnicodeDecodeError as error:
        failure = decode_error(opened.path, opened.detected, error)
        yield _file_failure(opened, None, failure.message)


def _file_failure(opened: OpenedFile, line: int | None, message: str) -> RowError:
    return RowError(
        SourceRow(opened.name, line or 0, {}),
        (
            FieldError(
                "", "", N_("{message} The rest of the file was not read.").format(message=message)
            ),
        ),
    )


def _iter_csv(
    opened: OpenedFile, on_empty: Callable[[int], None] | None
) -> Iterator[SourceRow | RowError]:
    with open_text(opened.path, opened.detected) as text:
        first_line = _skip_to_header(text)

        def progress() -> None:
            opened.bytes_read = _position(text)

        yield from csv_records(
            text,
            opened.name,
            tuple(opened.header),
            opened.delimiter or ",",
            first_line,
            progress,
            on_empty,
        )


def _iter_workbook(opened: OpenedFile, workbook: Workbook) -> Iterator[SourceRow | RowError]:
    header = tuple(opened.header)
    width = len(header)
    for line, cells in iter_sheet(workbook):
        beyond = [index for index in range(width, len(cells)) if cells[index].strip()]
        if beyond:
            yield RowError(
                SourceRow(opened.name, line, cells, header),
                (
                    FieldError(
                        "",
                        "",
                        N_(
                            "the row has a value in column {number} but the header names "
                            "{width} columns"
                        ).format(number=beyond[-1] + 1, width=width),
                    ),
                ),
            )
            continue
        yield SourceRow(opened.name, line, cells[:width], header)


def _skip_to_header(text: IO[str]) -> int:
    """Read past the header line the same way _read_header found it; the next line's number."""
    line_number = 0
    for header_line in text:
        line_number += 1
        if header_line.strip():
            break
    return line_number + 1


def csv_records(
    lines: Iterable[str],
    name: str,
    header: tuple[str, ...],
    delimiter: str,
    first_line: int,
    progress: Callable[[], None] | None = None,
    on_empty: Callable[[int], None] | None = None,
) -> Iterator[SourceRow | RowError]:
    """The records of CSV ``lines`` whose first line is the file's line ``first_line``.

    Each record carries the physical line it starts on, counting the lines a quoted
    newline spans; blank lines are skipped, and so are records whose cells are all
    empty, each reported to ``on_empty`` with its line; a record with cells past the
    header's columns is a :class:`RowError`. ``progress`` is called every 64 records. Shared by
    the reader and by the worker processes that validate chunks of a file
    (:mod:`shopsync.catalog.parallel`).
    """
    width = len(header)
    reader = csv.reader(lines, delimiter=delimiter, strict=False)
    start = first_line
    for count, values in enumerate(reader, start=1):
        line = start
        start = first_line + reader.line_num
        if progress is not None and not count & 63:
            progress()
        if not values or (len(values) == 1 and not values[0].strip()):
            continue
        first = values[0]
        if (not first or first.isspace()) and not any(
            value and not value.isspace() for value in values
        ):
            if on_empty is not None:
                on_empty(line)
            continue
        if len(values) > width and any(v.strip() for v in values[width:]):
            yield RowError(
                SourceRow(name, line, values, header),
                (
                    FieldError(
                        "",
                        "",
                        N_(
                            "the row has {count} cells but the header names {width} columns "
                            "(an unquoted delimiter in a value?)"
                        ).format(count=len(values), width=width),
                    ),
                ),
            )
            continue
        yield SourceRow(name, line, values, header)


@dataclass(frozen=True, slots=True)
class CsvChunk:
    """Whole records of a CSV file as its text: what a worker process parses itself."""

    first_line: int
    """The file's line number of the chunk's first line."""
    text: str


def iter_csv_chunks(opened: OpenedFile, records: int) -> Iterator[CsvChunk | RowError]:
    """A CSV/TSV file's data as chunks of ``records`` whole records (blank ones included).

    Parsing is the only safe way to find where a record ends (a quoted value may hold
    line breaks), so the file is read with ``csv.reader``, but what is handed on is the
    text of the lines it consumed: one string per chunk, which a worker parses again
    with :func:`csv_records`, instead of a list of cells per record, which would cost
    more to send between processes than to parse. A file that stops decoding ends with
    the same :class:`RowError` as :func:`iter_rows`.
    """
    if opened.format not in ("csv", "tsv"):
        raise ValueError("iter_csv_chunks reads CSV and TSV files only")
    with open_text(opened.path, opened.detected) as text:
        first_line = _skip_to_header(text)
        # Two views of the same lines, both iterated in C: the reader parses one, and at
        # each chunk's end the lines it consumed are taken from the other.
        parsed, kept = itertools.tee(text)
        reader = csv.reader(parsed, delimiter=opened.delimiter or ",", strict=False)
        start, count, sent, finished = first_line, 0, 0, 0
        try:
            for _values in reader:
                count += 1
                if count == records:
                    lines = reader.line_num - sent
                    yield CsvChunk(start, "".join(itertools.islice(kept, lines)))
                    start, sent, count = start + lines, reader.line_num, 0
                    opened.bytes_read = _position(text)
                finished = reader.line_num
        except UnicodeDecodeError as error:
            if finished > sent:
                # The records read whole before the bad bytes; one cut by them is not.
                yield CsvChunk(start, "".join(itertools.islice(kept, finished - sent)))
            failure = decode_error(opened.path, opened.detected, error)
            yield _file_failure(opened, None, failure.message)
            return
        if reader.line_num > sent:
            yield CsvChunk(start, "".join(itertools.islice(kept, reader.line_num - sent)))
        opened.bytes_read = opened.size


def _iter_jsonl(opened: OpenedFile) -> Iterator[SourceRow | RowError]:
    name = opened.name
    with open_text(opened.path, opened.detected) as text:
        for number, line in enumerate(text, start=1):
            if not number & 63:
                opened.bytes_read = _position(text)
            stripped = line.strip()
            if not stripped:
                continue
            try:
                item = json.loads(stripped, parse_float=Decimal)
            except json.JSONDecodeError as error:
                yield RowError(
                    SourceRow(name, number, {"raw": stripped}),
                    (
                        FieldError(
                            "",
                            _shorten(stripped),
                            N_("not valid JSON: {msg}").format(msg=error.msg),
                        ),
                    ),
                )
                continue
            yield _json_item(name, number, item)


def _json_item(name: str, line: int, item: Any) -> SourceRow | RowError:
    if isinstance(item, dict):
        return SourceRow(name, line, item)
    return RowError(
        SourceRow(name, line, {"raw": json.dumps(item, default=str)}),
        (
            FieldError(
                "",
                _shorten(str(item)),
                N_("expected a product object, found {kind}").format(kind=_kind(item)),
            ),
        ),
    )


def _kind(value: Any) -> str:
    return {
        list: "a list",
        str: "a string",
        int: "a number",
        Decimal: "a number",
        bool: "true/false",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _iter_json(opened: OpenedFile) -> Iterator[SourceRow | RowError]:
    with open_text(opened.path, opened.detected) as text:
        scanner = _JsonScanner(text)
        try:
            yield from _json_products(opened, scanner)
        except _JsonSyntaxError as error:
            yield _file_failure(
                opened,
                error.line,
                N_("invalid JSON at line {line}: {message}.").format(
                    line=error.line, message=error.message
                ),
            )


def _json_products(opened: OpenedFile, scanner: _JsonScanner) -> Iterator[SourceRow | RowError]:
    _to_products_array(opened, scanner)
    yield from _json_array(opened, scanner)


def _to_products_array(opened: OpenedFile, scanner: _JsonScanner) -> None:
    """Move ``scanner`` to the ``[`` of the products list: the document or its "products"."""
    first = scanner.peek()
    if first == "[":
        return
    if first != "{":
        value = scanner.value()
        raise InputError(
            N_("{path}: the JSON document is {kind}, not a list of products.").format(
                path=opened.path, kind=_kind(value)
            ),
            hint=N_('Expected [ {...}, ... ] or {"products": [ {...}, ... ]}.'),
        )
    scanner.expect("{")
    keys: list[str] = []
    while scanner.peek() != "}":
        if keys:
            scanner.expect(",")
        key = scanner.value()
        scanner.expect(":")
        keys.append(str(key))
        if key in _JSON_LIST_KEYS and scanner.peek() == "[":
            return
        scanner.value()  # another key's value: skip it
    raise InputError(
        N_("{path}: the JSON object holds no list of products (keys: {keys}).").format(
            path=opened.path, keys=", ".join(keys) or N_("none")
        ),
        hint=N_("Put the products in a list under one of: {names}.").format(
            names=", ".join(_JSON_LIST_KEYS)
        ),
    )


def _json_array(opened: OpenedFile, scanner: _JsonScanner) -> Iterator[SourceRow | RowError]:
    scanner.expect("[")
    first = True
    while scanner.peek() != "]":
        if not first:
            scanner.expect(",")
        first = False
        line = scanner.line_of_next()
        opened.bytes_read = scanner.bytes_read()
        yield _json_item(opened.name, line, scanner.value())
    scanner.expect("]")


class _JsonSyntaxError(Exception):
    def __init__(self, message: str, line: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _JsonScanner:
    """Reads one JSON value at a time from a text stream, tracking line numbers.

    Only the structure around the products (the outer array or object) is walked by
    hand; each value inside is parsed by the standard library's decoder.
    """

    def __init__(self, text: io.TextIOWrapper) -> None:
        self._text = text
        self._buffer = ""
        self._pos = 0
        self._line = 1
        self._eof = False
        self._decoder = json.JSONDecoder(parse_float=Decimal)

    def _fill(self) -> bool:
        if self._eof:
            return False
        chunk = self._text.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buffer = self._buffer[self._pos :] + chunk
        self._pos = 0
        return True

    def _advance(self, to: int) -> None:
        self._line += self._buffer.count("\n", self._pos, to)
        self._pos = to

    def _skip_whitespace(self) -> None:
        while True:
            buffer = self._buffer
            pos = self._pos
            length = len(buffer)
            while pos < length and buffer[pos] in " \t\r\n\ufeff":
                pos += 1
            self._advance(pos)
            if pos < length or not self._fill():
                return

    def bytes_read(self) -> int:
        """How many bytes of the file the underlying reader has consumed."""
        return _position(self._text)

    def peek(self) -> str:
        """The next non-blank character, without consuming it ("" at the end)."""
        self._skip_whitespace()
        return self._buffer[self._pos] if self._pos < len(self._buffer) else ""

    def line_of_next(self) -> int:
        """The line on which the next value starts."""
        self._skip_whitespace()
        return self._line

    def expect(self, char: str) -> None:
        """Consume ``char`` or fail with the line where something else stood."""
        found = self.peek()
        if found != char:
            shown = repr(found) if found else N_("the end of the file")
            raise _JsonSyntaxError(
                N_("expected {char!r} but found {shown}").format(char=char, shown=shown), self._line
            )
        self._advance(self._pos + 1)

    def value(self) -> Any:
        """Parse and consume the next complete JSON value."""
        self._skip_whitespace()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buffer, self._pos)
            except json.JSONDecodeError as error:
                if self._fill():
                    continue
                line = self._line + self._buffer.count("\n", self._pos, error.pos)
                raise _JsonSyntaxError(error.msg, line) from None
            # A number that ends the buffer may go on in the next chunk.
            if end == len(self._buffer) and self._fill():
                continue
            self._advance(end)
            return value
