"""Rows of one product with variants, gathered from anywhere in a file in bounded memory.

A CSV, TSV or workbook row that has a handle is one variant; the rows sharing a handle
are one product. Those rows may be scattered over the file, so a product is complete
only when its last row is read. :class:`GroupBuffer` makes that work in bounded memory:

- a first pass over the file counts the rows of each handle (:func:`count_handles`:
  one more read of the file, without validating, about a fifth of validating it; the
  counts cost ~100 bytes a handle, not a row);
- a product is assembled, validated and given out as soon as its last row is read, and
  its rows are forgotten;
- rows of products not yet complete wait in memory up to :data:`MEMORY_ROWS`; past that,
  the waiting rows move to a temporary SQLite file (their cells as JSON, ~100 bytes a
  cell), deleted on close, and are read back when their product completes.

So a file whose groups are contiguous (the usual export) never touches the disk; one
whose groups are spread over the whole file writes most of its rows once and reads them
once (measured in benchmarks/bench_variants.py, figures in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from shopsync.domain.models import FieldError, RowError, SourceRow
from shopsync.errors import ConfigError
from shopsync.i18n import N_

MEMORY_ROWS = 20_000
"""Rows of incomplete products kept in memory at most; the rest wait on disk."""

VARIANT_FIELDS_OF_ROW = ("sku", "price", "stock", "barcode", "weight_kg", "compare_at_price")
"""A grouped row's fields that are its variant's (``variant_image`` becomes ``image``)."""


@dataclass(slots=True)
class VariantRow:
    """One row of a product with variants: where it stands and what it says."""

    row: SourceRow
    product: dict[str, Any]
    """The product-level values the row gives (title, images, attributes...)."""
    variant: dict[str, Any]
    """The variant's values (sku, price...; ``option_values`` by option name)."""


def split_row(
    data: Mapping[str, Any], options: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A grouped row's data as (product-level values, the variant's values)."""
    product: dict[str, Any] = {}
    variant: dict[str, Any] = {}
    for name, value in data.items():
        if name in VARIANT_FIELDS_OF_ROW:
            variant[name] = value
        elif name == "variant_image":
            variant["image"] = value
        elif name != "handle":
            product[name] = value
    variant["option_values"] = dict(options)
    return product, variant


@dataclass(slots=True)
class Assembled:
    """A complete group: the product's data to validate, and the rows refused on the way."""

    rows: list[VariantRow]
    data: dict[str, Any] | None
    errors: list[RowError] = field(default_factory=list)


def assemble(
    handle: str,
    rows: Sequence[VariantRow],
    columns: Mapping[str, str],
    option_columns: Mapping[str, str],
) -> Assembled:
    """One product's data from its rows (in file order), and the rows that contradict it.

    The product-level values and the option names come from the first row; a later row
    that gives another value, another option, or no value for an option is refused,
    naming both rows; so is a row with the option values of an earlier one.
    """
    first = rows[0]
    options = list(first.variant["option_values"])
    kept: list[VariantRow] = [first]
    errors: list[RowError] = []
    seen_values = {tuple(first.variant["option_values"].values()): first.row.line}
    for later in rows[1:]:
        problems = list(_contradictions(first, later, options, columns, option_columns))
        values = tuple(later.variant["option_values"].get(name, "") for name in options)
        if not problems and values in seen_values:
            shown = " / ".join(values) or "(no options)"
            problems.append(
                FieldError(
                    option_columns.get(options[0], "handle") if options else "handle",
                    shown,
                    N_("the same option values as line {line} of product {handle}").format(
                        line=seen_values[values], handle=handle
                    ),
                )
            )
        if problems:
            errors.append(RowError(later.row, tuple(problems)))
            continue
        seen_values[values] = later.row.line
        kept.append(later)
    data = {
        **first.product,
        "handle": handle,
        "options": options,
        "variants": [row.variant for row in kept],
    }
    return Assembled(kept, data, errors)


def _contradictions(
    first: VariantRow,
    later: VariantRow,
    options: list[str],
    columns: Mapping[str, str],
    option_columns: Mapping[str, str],
) -> Iterator[FieldError]:
    where = f"line {first.row.line}"
    for name, value in later.product.items():
        if name not in first.product:
            yield FieldError(
                columns.get(name, name),
                _short(value),
                N_(
                    "is empty on {where}, this product's first row, where "
                    "product-level values come from"
                ).format(where=where),
            )
        elif first.product[name] != value:
            yield FieldError(
                columns.get(name, name),
                _short(value),
                N_(
                    "differs from {where} ({short!r}), this product's first row, "
                    "where product-level values come from"
                ).format(where=where, short=_short(first.product[name])),
            )
    values = later.variant["option_values"]
    for name in options:
        if name not in values:
            yield FieldError(
                option_columns.get(name, name),
                "",
                N_("has no value, but the product's options ({where}) include {name!r}").format(
                    where=where, name=name
                ),
            )
    for name in values:
        if name not in options:
            yield FieldError(
                option_columns.get(name, name),
                _short(values[name]),
                N_("is not one of the product's options on {where} ({options})").format(
                    where=where, options=", ".join(options) or N_("none")
                ),
            )


def _short(value: object) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


class GroupBuffer:
    """Rows of products not yet complete, by handle: in memory up to a cap, then on disk."""

    def __init__(self, counts: Mapping[str, int], memory_rows: int = MEMORY_ROWS) -> None:
        """``counts``: how many rows each handle has in the file (:func:`count_handles`)."""
        self._expected = dict(counts)
        self._memory_rows = memory_rows
        self._waiting: dict[str, list[VariantRow]] = {}
        self._seen: dict[str, int] = {}
        self._in_memory = 0
        self._directory: Path | None = None
        self._db: sqlite3.Connection | None = None
        self.spilled_rows = 0
        """Rows that waited on disk (for the benchmark and the tests)."""

    def add(self, handle: str, row: VariantRow | None) -> list[VariantRow] | None:
        """Note one row of ``handle`` (None: a row refused on its own); its product's rows
        in file order when this was the last, else None."""
        seen = self._seen.get(handle, 0) + 1
        if row is not None:
            self._waiting.setdefault(handle, []).append(row)
            self._in_memory += 1
        if seen < self._expected.get(handle, 1):
            self._seen[handle] = seen
            if self._in_memory > self._memory_rows:
                self._spill()
            return None
        self._seen.pop(handle, None)
        self._expected.pop(handle, None)
        rows = self._waiting.pop(handle, [])
        self._in_memory -= len(rows)
        if self._db is not None:
            rows = self._read_back(handle) + rows
        return rows

    def rest(self) -> Iterator[tuple[str, list[VariantRow]]]:
        """The groups left incomplete (the file changed between the passes), as they are."""
        for handle in list(self._seen):
            rows = self._waiting.pop(handle, [])
            if self._db is not None:
                rows = self._read_back(handle) + rows
            if rows:
                yield handle, rows
        self._seen.clear()

    def _spill(self) -> None:
        db = self._store()
        with db:
            db.executemany(
                "INSERT INTO waiting VALUES (?, ?)",
                ((handle, _encode(row)) for handle, rows in self._waiting.items() for row in rows),
            )
        self.spilled_rows += self._in_memory
        self._waiting.clear()
        self._in_memory = 0

    def _read_back(self, handle: str) -> list[VariantRow]:
        assert self._db is not None
        found = self._db.execute(
            "SELECT rowid, body FROM waiting WHERE handle = ? ORDER BY rowid", (handle,)
        ).fetchall()
        if not found:
            return []
        with self._db:
            self._db.execute("DELETE FROM waiting WHERE handle = ?", (handle,))
        return [_decode(body) for _, body in found]

    def _store(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._directory = Path(tempfile.mkdtemp(prefix="shopsync-variants-"))
                self._db = sqlite3.connect(self._directory / "waiting.sqlite3")
                self._db.execute("PRAGMA journal_mode=OFF")
                self._db.execute("PRAGMA synchronous=OFF")
                self._db.execute("PRAGMA cache_size=-2048")
                self._db.execute("CREATE TABLE waiting (handle TEXT NOT NULL, body TEXT NOT NULL)")
                self._db.execute("CREATE INDEX waiting_handle ON waiting (handle)")
            except (OSError, sqlite3.Error) as error:
                raise ConfigError(
                    N_(
                        "cannot keep the rows of scattered products in a temporary file: {error}"
                    ).format(error=error),
                    hint=N_(
                        "Free space in the temporary directory (TMPDIR), or sort the "
                        "file by its handle column."
                    ),
                ) from None
        return self._db

    def close(self) -> None:
        """Delete the temporary file, if rows went there."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
            self._directory = None

    def __enter__(self) -> GroupBuffer:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _encode(row: VariantRow) -> str:
    source = row.row
    return json.dumps(
        [source.file, source.line, source.raw, source.header, row.product, row.variant],
        ensure_ascii=False,
        default=str,
    )


def _decode(body: str) -> VariantRow:
    file, line, raw, header, product, variant = json.loads(body)
    return VariantRow(
        SourceRow(file, line, raw, tuple(header) if header is not None else None), product, variant
    )


def count_handles(handles: Iterable[str | None]) -> dict[str, int]:
    """How many rows each handle has (rows without one are not counted)."""
    counts: dict[str, int] = {}
    for handle in handles:
        if handle:
            counts[handle] = counts.get(handle, 0) + 1
    return counts
