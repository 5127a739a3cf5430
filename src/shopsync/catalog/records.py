"""From catalog files to validated products: the first stage of every command.

:class:`Catalog` opens the input files (refusing whole files that cannot be catalogs
before reading a single row), then streams their records through header mapping,
value clean-up and the :class:`~shopsync.domain.models.Product` model. Each record comes
out either as a :class:`~shopsync.domain.models.ValidRow` or as a
:class:`~shopsync.domain.models.RowError`
naming file, line, column and reason. A SKU seen twice keeps its first row; the later
one is rejected with both places named.
"""

from __future__ import annotations

import codecs
import pickle
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, cast

from pydantic import ValidationError

from shopsync.catalog.cells import cells_to_data, constraint_errors, read_amounts, row_errors
from shopsync.catalog.skuindex import SeenSkus
from shopsync.catalog.variants import GroupBuffer, VariantRow, assemble, count_handles, split_row
from shopsync.domain.images import ImageLimits
from shopsync.domain.models import (
    FieldError,
    Product,
    RecordT,
    RowError,
    SkuRecord,
    SourceRow,
    ValidRow,
    Variant,
    Warning_,
)
from shopsync.errors import InputError, UsageError
from shopsync.i18n import N_, localized
from shopsync.io.headers import (
    OPTION_PREFIX,
    PRODUCT_SCHEMA,
    VARIANT_ONLY_FIELDS,
    Column,
    HeaderMap,
    RecordSchema,
    normalize,
)
from shopsync.io.readers import OpenedFile, ReadOptions, iter_rows, open_file

if TYPE_CHECKING:
    from shopsync.catalog.images import LocalImages
    from shopsync.catalog.parallel import CheckPool, FileSpec
    from shopsync.io.writers import CsvFormat

Constraints = Callable[[Any], Sequence[tuple[str, str] | tuple[str, str, str]]]
"""A platform's own rules for a valid record: ``(field, message)`` for each broken one, or
``(field, value, message)`` where the value is not the record's attribute of that name
(``field`` a model field, ``attr:KEY`` or ``PLATFORM:FIELD``). ``Platform.check_product``
is one; an adapter class may offer its rules, needing no connection, as
``product_constraints``, which ``validate`` and ``plan`` use."""


@dataclass(slots=True)
class CatalogStats:
    """Running counts, complete once the catalog has been iterated."""

    rows: int = 0
    """Every row read: ``valid + invalid + skipped``."""
    valid: int = 0
    invalid: int = 0
    skipped: int = 0
    """Rows whose cells are all empty (``,,,,``): neither products nor mistakes."""


@dataclass(slots=True)
class _FilePlan:
    opened: OpenedFile
    tabular: bool = False
    """CSV/TSV: rows are lists of cells in header order."""
    fields: list[tuple[int, str]] = field(default_factory=list)
    """(cell index, field) of every CSV column that feeds a field."""
    attributes: list[tuple[int, str]] = field(default_factory=list)
    """(cell index, attribute key) of every ``attr:`` column."""
    column_of_field: dict[str, str] = field(default_factory=dict)
    options: list[tuple[int, str]] = field(default_factory=list)
    """(cell index, option name) of every option column (``option:Size``, ``颜色``)."""
    column_of_option: dict[str, str] = field(default_factory=dict)
    platform_fields: list[tuple[int, str, str]] = field(default_factory=list)
    """(cell index, platform, field) of every per-platform column (``shopify:product_type``)."""
    handle_index: int | None = None
    """The cell index of the handle column: rows sharing a handle are one product."""
    warned: set[str] = field(default_factory=set)
    records: int = 0
    """Records read from the file so far (valid or not)."""
    read: bool = False
    """Whether the file was read to its end."""


def _pooled(plan: _FilePlan) -> bool:
    """Whether worker processes can validate the file: CSV and TSV text, read in chunks."""
    return plan.tabular and plan.opened.format in ("csv", "tsv") and plan.handle_index is None


class RecordReader(Generic[RecordT]):
    """One or more input files, read lazily as validated records or row errors.

    Subclasses name the record model and its column schema: :class:`Catalog` reads
    products, :class:`shopsync.jobs.stock.StockFile` stock lines.
    """

    schema: ClassVar[RecordSchema]
    model: ClassVar[type[SkuRecord]]
    noun: ClassVar[str] = N_("record")

    def __init__(
        self,
        paths: Sequence[Path],
        options: ReadOptions | None = None,
        mapping: Mapping[str, str] | None = None,
        *,
        constraints: Constraints | None = None,
    ) -> None:
        """Open every file now, so a file that cannot be read stops the run before it starts.

        ``constraints`` are the target platform's own rules for a valid record (Taobao's
        title length...): what they find is a row error, by file, line and column.
        """
        self.options = options or ReadOptions()
        self.constraints = constraints
        """The target platform's own rules: a record that breaks one is a row error,
        reported by the column the file names. Given by a command that knows its platform
        (the adapter's ``product_constraints``) or set by a job that has connected it
        (``Platform.check_product``); None checks the model's rules only."""
        self.header_map = HeaderMap(self.schema, mapping or {})
        self.stats = CatalogStats()
        self.warnings: list[Warning_] = []
        self._plans = [self._plan(open_file(path, self.options)) for path in paths]

    def progress(self) -> tuple[int, int]:
        """``(bytes read, bytes in all files)``, for a progress bar with an ETA."""
        return (
            sum(plan.opened.bytes_read for plan in self._plans),
            sum(plan.opened.size for plan in self._plans),
        )

    def count_records(self, stop: Callable[[], bool] = lambda: False) -> int | None:
        """How many records iterating will give, counted by a first pass over the files.

        Progress counts items done out of items planned (as rclone counts files before
        it copies them). The pass reads the files as iterating does, without validating:
        on 100,000 rows about 0.55 s for CSV and 1.2 s for JSON or JSON Lines, a fifth to
        a quarter of reading and validating them (2.9 s, 4.8 s), and far less than
        sending them. None if ``stop`` said to give up part-way.
        """
        total = 0
        for plan in self._plans:
            # A copy, so that the real pass's bytes_read is not moved by this one.
            for count, _record in enumerate(iter_rows(replace(plan.opened)), start=1):
                if not count & 1023 and stop():
                    return None
                total += 1
        return total

    def empty_files(self) -> list[OpenedFile]:
        """The files read to the end that held no records (a header and no rows)."""
        return [plan.opened for plan in self._plans if plan.read and not plan.records]

    @property
    def files(self) -> list[OpenedFile]:
        """What was learned about each input file (format, encoding, delimiter, header)."""
        return [plan.opened for plan in self._plans]

    def _plan(self, opened: OpenedFile) -> _FilePlan:
        plan = _FilePlan(opened)
        self.warnings.extend(Warning_(opened.name, warning) for warning in opened.warnings)
        if opened.format not in ("csv", "tsv", "xlsx"):
            return plan
        try:
            columns = self.header_map.resolve_header(opened.header)
        except InputError as error:
            raise InputError(
                N_("{path}: {message}").format(path=opened.path, message=error.message)
            ) from None
        used = [(index, column) for index, column in enumerate(columns) if self._accepts(column)]
        missing = self.header_map.missing_required([column for _, column in used])
        refused = [column for column in columns if not self._accepts(column)]
        if missing and refused:
            # The file has the column, but this run was told not to read it (stock
            # --mode delta on a file of counts): "no column for" would not be so.
            raise self._refused_error(opened, refused[0], missing)
        if missing:
            raise InputError(
                N_("{path}: no column for {names} (the columns are: {columns}).").format(
                    path=opened.path, names=", ".join(missing), columns=", ".join(opened.header)
                ),
                hint=N_(
                    'Rename the column, or name it with --map, e.g. --map {field}="Your Column".'
                ).format(field=missing[0].split("/")[0]),
            )
        plan.tabular = True
        grouped = any(column.kind == "field" and column.target == "handle" for _, column in used)
        for index, column in used:
            self._use_column(plan, index, column, grouped=grouped)
        return plan

    def _use_column(self, plan: _FilePlan, index: int, column: Column, *, grouped: bool) -> None:
        """Note what the file's column at ``index`` feeds (``grouped``: it has a handle)."""
        if column.kind == "field" and column.target in VARIANT_ONLY_FIELDS and not grouped:
            self._warn_needs_handle(plan, column.name)
        elif column.kind == "field":
            plan.fields.append((index, column.target))
            plan.column_of_field[column.target] = column.name
            if column.target == "handle":
                plan.handle_index = index
        elif column.kind == "attribute":
            plan.attributes.append((index, column.target))
        elif column.kind == "option" and not grouped:
            if column.name.strip().casefold().startswith(OPTION_PREFIX):
                self._warn_needs_handle(plan, column.name)
            else:  # 颜色 in a file of single products: an unknown column, as it always was
                self._warn_unknown(plan, column.name)
        elif column.kind == "option":
            plan.options.append((index, column.target))
            plan.column_of_option[column.target] = column.name
        elif column.kind == "platform":
            plan.platform_fields.append((index, column.target, column.key))
            plan.column_of_field.setdefault("platform_fields", column.name)
        elif column.kind == "unknown":
            self._warn_unknown(plan, column.name)

    def _warn_needs_handle(self, plan: _FilePlan, name: str) -> None:
        if name not in plan.warned:
            plan.warned.add(name)
            self.warnings.append(
                Warning_(
                    plan.opened.name,
                    N_(
                        "column {name!r} belongs to variants and is ignored: the file "
                        "has no handle column (handle, parent_sku, 款号...) grouping rows "
                        "into products."
                    ).format(name=name),
                )
            )

    def _accepts(self, column: Column) -> bool:
        """Whether this reader uses ``column`` (a stock file in set mode ignores deltas)."""
        return True

    def _refused_error(self, opened: OpenedFile, column: Column, missing: list[str]) -> InputError:
        """The error for a file whose column for a required field :meth:`_accepts` refused."""
        return InputError(
            N_(
                "{path}: the column {name!r} ({target}) is not used by this run, "
                "and no other column gives {names}."
            ).format(
                path=opened.path, name=column.name, target=column.target, names=", ".join(missing)
            )
        )

    def _warn_unknown(self, plan: _FilePlan, name: str) -> None:
        if name in plan.warned:
            return
        plan.warned.add(name)
        keep = (
            N_(
                "to keep it as an attribute, name it 'attr:{name}' or pass --map "
                "attr:{name}={name}; or "
            ).format(name=name)
            if self.schema.allow_attributes
            else ""
        )
        self.warnings.append(
            Warning_(
                plan.opened.name,
                N_(
                    "column {name!r} is not a {noun} field and is ignored; {keep}map "
                    "it with --map FIELD={name}."
                ).format(name=name, noun=self.noun, keep=keep),
            )
        )

    def __iter__(self) -> Iterator[ValidRow[RecordT] | RowError]:
        self.stats = CatalogStats()
        for plan in self._plans:
            plan.records, plan.read = 0, False
        # The index may spill to a temporary file; closing it (also when the caller
        # abandons this generator, whose close() runs the with's exit) deletes the file.
        with SeenSkus() as seen:
            for file_index in range(len(self._plans)):
                yield from self._outcomes(seen, file_index)

    def _outcomes(self, seen: SeenSkus, file_index: int) -> Iterator[ValidRow[RecordT] | RowError]:
        """One file's records validated here, duplicates rejected, all counted."""
        plan = self._plans[file_index]
        if plan.handle_index is not None:
            yield from self._grouped_outcomes(seen, file_index)
            return
        for record in iter_rows(plan.opened, self._skip_empty):
            outcome = record if isinstance(record, RowError) else self._validate(plan, record)
            if isinstance(outcome, ValidRow):
                outcome = self._duplicates(seen, file_index, outcome) or outcome
            if isinstance(outcome, ValidRow):
                outcome = self._accepted(plan, outcome)
            self._count(outcome)
            plan.records += 1
            yield outcome
        plan.read = True

    def _duplicates(
        self, seen: SeenSkus, file_index: int, outcome: ValidRow[RecordT]
    ) -> RowError | None:
        record = outcome.product
        if not isinstance(record, Product) or not record.variants:
            return self._duplicate(seen, file_index, outcome.row, record.sku)
        errors = [
            error
            for sku in record.skus
            if (error := self._duplicate(seen, file_index, outcome.row, sku)) is not None
        ]
        if not errors:
            return None
        return RowError(outcome.row, tuple(e for error in errors for e in error.errors))

    def _grouped_outcomes(
        self, seen: SeenSkus, file_index: int
    ) -> Iterator[ValidRow[RecordT] | RowError]:
        """A file with a handle column: rows sharing a handle become one product, given
        out when its last row is read (see :mod:`shopsync.catalog.variants`)."""
        plan = self._plans[file_index]
        handle_index = plan.handle_index
        assert handle_index is not None
        counts = count_handles(
            _cell(record.raw, handle_index)
            for record in iter_rows(replace(plan.opened), self._skip_empty)
            if isinstance(record, SourceRow)
        )
        with GroupBuffer(counts) as buffer:
            for record in iter_rows(plan.opened, self._skip_empty):
                plan.records += 1
                if isinstance(record, RowError):
                    self._count(record)
                    yield record
                    continue
                handle = _cell(record.raw, handle_index)
                if handle is None:
                    outcome = self._validate(plan, record)
                    if isinstance(outcome, ValidRow):
                        outcome = self._duplicates(seen, file_index, outcome) or outcome
                    if isinstance(outcome, ValidRow):
                        outcome = self._accepted(plan, outcome)
                    self._count(outcome)
                    yield outcome
                    continue
                row_or_error = self._variant_row(seen, file_index, plan, record)
                variant_row: VariantRow | None = None
                if isinstance(row_or_error, RowError):
                    self._count(row_or_error)
                    yield row_or_error
                else:
                    variant_row = row_or_error
                complete = buffer.add(handle, variant_row)
                if complete:
                    yield from self._finish_group(plan, handle, complete)
            for handle, rows in buffer.rest():
                yield from self._finish_group(plan, handle, rows)
        plan.read = True

    def _variant_row(
        self, seen: SeenSkus, file_index: int, plan: _FilePlan, record: SourceRow
    ) -> VariantRow | RowError:
        data, sources = self._from_cells(plan, record.raw)
        cells = record.raw
        options = {
            name: value.strip()
            for index, name in plan.options
            if (value := _cell(cells, index)) is not None
        }
        product, variant = split_row(data, options)
        try:
            Variant.model_validate(variant)
        except ValidationError as error:
            sources = {**sources, "image": plan.column_of_field.get("variant_image", "image")}
            return RowError(record, tuple(_variant_errors(error, sources, record, variant)))
        duplicate = self._duplicate(seen, file_index, record, str(variant["sku"]).strip())
        return duplicate or VariantRow(record, product, variant)

    def _finish_group(
        self, plan: _FilePlan, handle: str, rows: list[VariantRow]
    ) -> Iterator[ValidRow[RecordT] | RowError]:
        if not rows:
            return
        assembled = assemble(handle, rows, plan.column_of_field, plan.column_of_option)
        for error in assembled.errors:
            self._count(error)
            yield error
        first = assembled.rows[0]
        try:
            record = self.model.model_validate(assembled.data)
        except ValidationError as error:
            data = assembled.data or {}
            reasons = row_errors(error, plan.column_of_field, data, first.row)
            self._count(RowError(first.row, reasons))
            yield RowError(first.row, reasons)
            for later in assembled.rows[1:]:
                refused = RowError(
                    later.row,
                    (
                        FieldError(
                            plan.column_of_field.get("handle", "handle"),
                            handle,
                            N_(
                                "not used: this product's first row (line {line}) is refused"
                            ).format(line=first.row.line),
                        ),
                    ),
                )
                self._count(refused)
                yield refused
            return
        checked = self._accepted(plan, ValidRow(first.row, cast(RecordT, record)))
        if isinstance(checked, RowError):
            # The product's images (or the platform's rules) refuse it: the product goes
            # nowhere, so neither do the rest of its rows.
            self._count(checked)
            yield checked
            for later in assembled.rows[1:]:
                refused = RowError(
                    later.row,
                    (
                        FieldError(
                            plan.column_of_field.get("handle", "handle"),
                            handle,
                            N_(
                                "not used: this product's first row (line {line}) is refused"
                            ).format(line=first.row.line),
                        ),
                    ),
                )
                self._count(refused)
                yield refused
            return
        self.stats.rows += len(assembled.rows)
        self.stats.valid += len(assembled.rows)
        yield checked

    def check(self, jobs: int = 1) -> Iterator[RowError]:
        """Every row error of the input, in order, with :attr:`stats` as iterating gives.

        What ``validate`` needs. With ``jobs`` > 1, CSV and TSV files are validated by
        that many worker processes (:mod:`shopsync.catalog.parallel`): this process finds where
        each record ends and keeps the duplicate-SKU index, which depends on order; the
        records themselves stay in the workers, so only ``validate`` can use this.
        """
        # An adapter's rules as a module function (``product_constraints``) go to the
        # workers; a connected adapter's bound check does not cross, so rows stay here.
        serial = jobs <= 1 or not _crosses_processes(self.constraints)
        if serial or not any(_pooled(plan) for plan in self._plans):
            yield from (outcome for outcome in self if isinstance(outcome, RowError))
            return
        from shopsync.catalog.parallel import CheckPool, FileSpec  # noqa: PLC0415 - validate only

        self.stats = CatalogStats()
        for plan in self._plans:
            plan.records, plan.read = 0, False
        specs = [
            FileSpec(
                plan.opened.name,
                tuple(plan.opened.header),
                plan.opened.delimiter or ",",
                plan.fields,
                plan.attributes,
                plan.opened.decimal_comma,
                plan.column_of_field,
                self._local_images(),
                str(plan.opened.path),
                self.constraints,
            )
            for plan in self._plans
        ]
        with SeenSkus() as seen, CheckPool(jobs, self.model, specs) as pool:
            for file_index, plan in enumerate(self._plans):
                if _pooled(plan):
                    yield from self._check_pooled(pool, seen, file_index, specs[file_index])
                    continue
                outcomes = self._outcomes(seen, file_index)  # JSON, workbooks: here
                yield from (outcome for outcome in outcomes if isinstance(outcome, RowError))

    def _check_pooled(
        self, pool: CheckPool, seen: SeenSkus, file_index: int, spec: FileSpec
    ) -> Iterator[RowError]:
        from shopsync.catalog.parallel import CHUNK_RECORDS, chunk_records  # noqa: PLC0415
        from shopsync.io.readers import iter_csv_chunks  # noqa: PLC0415

        chunks = iter_csv_chunks(self._plans[file_index].opened, CHUNK_RECORDS)
        first_or_add = seen.first_or_add
        for chunk, answers in pool.check(file_index, chunks):
            rows: dict[int, SourceRow] = {}  # the chunk's rows, parsed only if needed
            self.stats.rows += len(answers)
            for answer in answers:
                if isinstance(answer, int):
                    self.stats.skipped += 1
                    continue
                self._plans[file_index].records += 1  # empty rows are none: as read here
                if isinstance(answer, RowError):
                    error = answer
                elif isinstance(answer[1], str):
                    line, sku = answer
                    first = first_or_add(sku, file_index, line)
                    if first is None:
                        continue  # valid, and the first of its SKU: the common case
                    # The rejects file needs the row's cells, which only the worker had:
                    # the chunk is parsed again (duplicates are rare; a chunk is small).
                    if chunk is not None and not rows:
                        rows = _rows_by_line(chunk_records(spec, chunk))
                    row = rows.get(line) or SourceRow(spec.name, line, {})
                    error = self._duplicate_error(file_index, row, sku, first)
                else:
                    error = RowError(answer[0], answer[1])
                self.stats.invalid += 1
                yield error
        self.stats.valid = self.stats.rows - self.stats.invalid - self.stats.skipped
        self._plans[file_index].read = True

    def _checked(self, plan: _FilePlan, valid: ValidRow[RecordT]) -> ValidRow[RecordT] | RowError:
        """A valid record after the checks that read more than its row (none here)."""
        return valid

    def _accepted(self, plan: _FilePlan, valid: ValidRow[RecordT]) -> ValidRow[RecordT] | RowError:
        """:meth:`_checked`, then the platform's own rules (:attr:`constraints`), which see
        the record as it will be sent (local images already checked references)."""
        checked = self._checked(plan, valid)
        if isinstance(checked, RowError) or self.constraints is None:
            return checked
        problems = self.constraints(checked.product)
        if not problems:
            return checked
        return RowError(
            checked.row, constraint_errors(problems, plan.column_of_field, checked.product)
        )

    def _local_images(self) -> LocalImages | None:
        """The image check validate's worker processes run too (None: no such check)."""
        return None

    def _skip_empty(self, line: int) -> None:
        self.stats.rows += 1
        self.stats.skipped += 1

    def _count(self, outcome: ValidRow[RecordT] | RowError) -> None:
        self.stats.rows += 1
        if isinstance(outcome, ValidRow):
            self.stats.valid += 1
        else:
            self.stats.invalid += 1

    def _duplicate(
        self, seen: SeenSkus, file_index: int, row: SourceRow, sku: str
    ) -> RowError | None:
        """The error for a row whose SKU an earlier row has (None: first seen, now noted)."""
        first = seen.first_or_add(sku, file_index, row.line)
        return None if first is None else self._duplicate_error(file_index, row, sku, first)

    def _duplicate_error(
        self, file_index: int, row: SourceRow, sku: str, first: tuple[int, int]
    ) -> RowError:
        """The error for ``row``, whose SKU was first seen at ``first`` (file index, line)."""
        column = self._plans[file_index].column_of_field.get("sku", "sku")
        where = f"{self._plans[first[0]].opened.name}:{first[1]}"
        message = N_("duplicate SKU: already at {where}; this later row is not used").format(
            where=where
        )
        return RowError(row, (FieldError(column, sku, message),))

    def _validate(self, plan: _FilePlan, row: SourceRow) -> ValidRow[RecordT] | RowError:
        if plan.tabular:
            data, sources = self._from_cells(plan, row.raw)
        else:
            data, sources = self._from_object(plan, row.raw)
        try:
            record = self.model.model_validate(data)
        except ValidationError as error:
            return RowError(row, row_errors(error, sources, data, row))
        return ValidRow(row, cast(RecordT, record))

    def _from_cells(
        self, plan: _FilePlan, cells: list[str]
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        data = cells_to_data(plan.fields, plan.attributes, plan.opened.decimal_comma, cells)
        if plan.handle_index is not None and "handle" not in data:
            for name in VARIANT_ONLY_FIELDS:  # a single product in a file of variants
                data.pop(name, None)
        if plan.platform_fields:
            by_platform: dict[str, dict[str, Any]] = {}
            for index, platform, key in plan.platform_fields:
                value = _cell(cells, index)
                if value is not None:
                    by_platform.setdefault(platform, {})[key] = value
            if by_platform:
                data["platform_fields"] = by_platform
        return data, plan.column_of_field

    def _from_object(
        self, plan: _FilePlan, item: Mapping[str, Any]
    ) -> tuple[dict[str, Any], Mapping[str, str]]:
        data: dict[str, Any] = {}
        sources: dict[str, str] = {}
        attributes: dict[str, Any] = {}
        platform_fields: dict[str, dict[str, Any]] = {}
        for key, value in item.items():
            if value is None or (isinstance(value, str) and not value.strip()):
                continue
            column = self.header_map.resolve(key)
            if not self._accepts(column):
                continue
            if column.kind == "field":
                if column.target == "attributes" and isinstance(value, dict):
                    attributes.update(value)
                else:
                    data[column.target] = value
                sources[column.target] = key
            elif column.kind == "attribute":
                attributes[column.target] = value
            elif column.kind == "platform":
                platform_fields.setdefault(column.target, {})[column.key] = value
                sources["platform_fields"] = key
            elif self.schema.allow_variants and normalize(key) in _VARIANT_KEYS:
                name = _VARIANT_KEYS[normalize(key)]
                data[name] = _json_variants(self.header_map, value) if name == "variants" else value
                sources[name] = key
            elif column.kind == "unknown":
                self._warn_unknown(plan, key)
        if attributes:
            data["attributes"] = attributes
        read_amounts(data, decimal_comma=plan.opened.decimal_comma)
        if platform_fields:
            data["platform_fields"] = platform_fields
        return data, sources


class Catalog(RecordReader[Product]):
    """Catalog files, read lazily as validated products or row errors.

    Images that name local files are checked by :attr:`images` (found, by content an
    image, within the platform's limits) and become checked references; a job sets
    the platform's limits there before reading (:meth:`use_image_limits`).
    """

    schema = PRODUCT_SCHEMA
    model = Product
    noun = N_("product")

    def __init__(
        self,
        paths: Sequence[Path],
        options: ReadOptions | None = None,
        mapping: Mapping[str, str] | None = None,
        *,
        images_from: Path | None = None,
        constraints: Constraints | None = None,
    ) -> None:
        """``images_from``: the directory bare image file names are found in;
        ``constraints``: the target platform's rules (see :class:`RecordReader`)."""
        from shopsync.catalog.images import LocalImages  # noqa: PLC0415 - small, first use

        super().__init__(paths, options, mapping, constraints=constraints)
        self.images = LocalImages(images_from=images_from)

    def use_image_limits(self, limits: ImageLimits | None, platform: str) -> None:
        """Check local images against ``platform``'s limits (None: it takes URLs only)."""
        self.images.limits = limits
        self.images.platform = platform

    def _checked(self, plan: _FilePlan, valid: ValidRow[Product]) -> ValidRow[Product] | RowError:
        column = plan.column_of_field.get("images", "images")
        variant_column = plan.column_of_field.get("variant_image", "image")
        checked = self.images.check(valid.product, plan.opened.path, column, variant_column)
        if isinstance(checked, tuple):
            return RowError(valid.row, checked)
        if checked is not valid.product:
            valid.product = checked
        return valid

    def _local_images(self) -> LocalImages | None:
        return self.images


_VARIANT_KEYS = {"options": "options", "variants": "variants", "platformfields": "platform_fields"}
"""Keys of a JSON product object for variants and per-platform fields, taken as they are."""


def _json_variants(header_map: HeaderMap, value: object) -> object:
    """A JSON product's ``variants``, their keys read as the model names them
    (``options`` for ``option_values``, the product columns' aliases for the rest)."""
    if not isinstance(value, list):
        return value
    variants: list[object] = []
    for item in value:
        if not isinstance(item, Mapping):
            variants.append(item)
            continue
        variant: dict[str, Any] = {}
        for key, inner in item.items():
            name = normalize(key)
            if name in ("options", "optionvalues"):
                variant["option_values"] = inner
            elif name in ("image", "images", "variantimage"):
                variant["image"] = inner
            else:
                column = header_map.resolve(key)
                target = column.target if column.kind == "field" else key
                variant[target] = inner
        variants.append(variant)
    return variants


def _crosses_processes(constraints: Constraints | None) -> bool:
    """Whether ``constraints`` can go to a worker process (None, or a function that pickles
    by its name; not a connected adapter's method, which holds its HTTP client)."""
    if constraints is None:
        return True
    try:
        pickle.dumps(constraints)
    except (pickle.PicklingError, TypeError, AttributeError):
        return False
    return True


def _cell(cells: list[str], index: int) -> str | None:
    """A row's cell at ``index``, None when missing or blank."""
    if index >= len(cells):
        return None
    value = cells[index]
    return value.strip() if value and not value.isspace() else None


def _variant_errors(
    error: ValidationError, sources: Mapping[str, str], row: SourceRow, data: Mapping[str, Any]
) -> Iterator[FieldError]:
    for field_error in row_errors(error, sources, data, row):
        if field_error.column == "option_values":
            continue  # the option values are checked with the product's options
        yield field_error


def _rows_by_line(records: Iterable[SourceRow | RowError]) -> dict[int, SourceRow]:
    return {
        row.line: row
        for row in (record.row if isinstance(record, RowError) else record for record in records)
    }


def rejected_cells(row: SourceRow) -> dict[str, Any]:
    """The row's original cells, shaped so that the rejects CSV can be fed back in.

    CSV rows are returned as they were read. JSON objects are flattened the way the
    CSV reader expects them: image lists joined with ``|``, attributes as ``attr:``
    columns, other nested values as JSON text.
    """
    cells: dict[str, Any] = {}
    for key, value in row.cells.items():
        if isinstance(value, dict) and key.strip().casefold() == "attributes":
            for name, inner in value.items():
                cells[f"attr:{name}"] = inner
        else:
            cells[key] = value
    return cells


def check_output_path(path: Path, option: str) -> None:
    """Refuse, before anything is read, an output file whose directory does not exist.

    Found only at the end of a run, the missing directory would cost the whole run's
    work (or be created silently, somewhere the user did not mean).
    """
    directory = path.parent if str(path.parent) else Path()
    if not directory.is_dir():
        what = N_("is not a directory") if directory.exists() else N_("does not exist")
        raise UsageError(
            N_("cannot write {option} {path}: the directory {directory} {what}.").format(
                option=option, path=path, directory=directory, what=what
            ),
            hint=N_("Create the directory first, or name a file in an existing one."),
        )


_GB_ENCODINGS = frozenset({"gb18030", "gbk", "gb2312", "cp936"})
_UTF16_ENCODINGS = frozenset({"utf-16", "utf-16-le", "utf-16-be"})


def rejects_format(files: Sequence[OpenedFile]) -> CsvFormat:
    """How to write rows of ``files`` back so that the Excel that wrote them opens them.

    GB18030 in, GB18030 out (Chinese Excel's "CSV", and every character fits);
    UTF-16 in, UTF-16 with a byte-order mark and tabs out (Excel's "Unicode Text");
    anything else as UTF-8 with a byte-order mark, which Excel needs to read UTF-8
    (Windows-1252 could not hold every character a message may name). The delimiter
    is the input's (``;`` where Excel's locale uses decimal commas). Inputs that
    differ, or are not CSV/TSV, give UTF-8 with a byte-order mark and commas.
    """
    from shopsync.io.writers import CsvFormat  # noqa: PLC0415 - only with rejects

    tabular = [opened for opened in files if opened.format in ("csv", "tsv")]
    encodings = {codecs.lookup(opened.detected.encoding).name for opened in tabular}
    delimiters = {opened.delimiter or "," for opened in tabular}
    if len(tabular) != len(files) or len(encodings) != 1 or len(delimiters) != 1:
        return CsvFormat("utf-8", bom=True, delimiter=",")
    (encoding,), (delimiter,) = encodings, delimiters
    if encoding in _GB_ENCODINGS:
        return CsvFormat("gb18030", bom=False, delimiter=delimiter)
    if encoding in _UTF16_ENCODINGS:
        return CsvFormat("utf-16-le", bom=True, delimiter="\t")
    return CsvFormat("utf-8", bom=True, delimiter=delimiter)


class RejectsFile:
    """The ``--rejects`` output: every rejected row's cells plus an ``error`` column.

    Files with different headers can feed one run. Columns that mean the same field
    (``sku`` in one file, ``商品编码`` in another) share the first name seen, so the
    rejects file has one column per field and reads back without a conflict. It is
    written in the input's encoding and delimiter (:func:`rejects_format`).
    """

    def __init__(self, path: Path, header_map: HeaderMap, files: Sequence[OpenedFile] = ()) -> None:
        """Rows are spooled to disk and the CSV is written atomically by :meth:`close`.

        ``files`` are the inputs whose rows are rejected, which decide the encoding.
        """
        from shopsync.io.writers import SpooledRowsWriter  # noqa: PLC0415 - only with --rejects

        self.path = path
        self._header_map = header_map
        self._name_of_field: dict[str, str] = {}
        self._writer = SpooledRowsWriter(path, trailing=("error",), form=rejects_format(files))

    def add(self, rejected: RowError) -> None:
        """Record one rejected row."""
        cells: dict[str, Any] = {}
        for name, value in rejected_cells(rejected.row).items():
            column = self._header_map.resolve(name)
            shared = (
                self._name_of_field.setdefault(column.target, name)
                if column.kind == "field"
                else name
            )
            cells[shared] = value
        cells["error"] = f"{rejected.row.file}:{rejected.row.line}: {localized(rejected.message)}"
        self._writer.add(cells)

    @property
    def count(self) -> int:
        """How many rows were recorded."""
        return self._writer.count

    def close(self) -> int:
        """Write the file; returns the number of rows in it."""
        return self._writer.close()

    def discard(self) -> None:
        """Give up without writing (the run failed before the rows were complete)."""
        self._writer.discard()


@dataclass(slots=True)
class ValidationReport:
    """What ``shopsync validate`` found: counts, warnings and the row errors it kept."""

    files: list[OpenedFile]
    stats: CatalogStats
    warnings: list[Warning_]
    errors: list[RowError]
    errors_dropped: int = 0
    """Row errors beyond the number asked to keep (still counted and still in --rejects)."""
    rejects_path: Path | None = None
    rejects_written: int = 0

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document: one entry per field error, in file order."""
        return {
            "rows": self.stats.rows,
            "valid": self.stats.valid,
            "invalid": self.stats.invalid,
            "skipped": self.stats.skipped,
            "errors": [
                {
                    "file": error.row.file,
                    "line": error.row.line,
                    "column": field_error.column,
                    "value": field_error.value,
                    "message": field_error.message,
                }
                for error in self.errors
                for field_error in error.errors
            ],
            "warnings": [
                {"file": warning.file, "message": warning.message} for warning in self.warnings
            ],
            "files": [
                {
                    "file": opened.name,
                    "format": opened.format,
                    "encoding": opened.detected.encoding,
                    "delimiter": opened.delimiter,
                    "decimal_comma": opened.decimal_comma,
                }
                for opened in self.files
            ],
            "rejects": str(self.rejects_path) if self.rejects_path else None,
        }


def validate(
    catalog: Catalog,
    *,
    rejects: Path | None = None,
    keep_errors: int | None = None,
    jobs: int = 1,
) -> ValidationReport:
    """Read the whole catalog once, collect row errors, and write ``rejects`` if asked.

    ``keep_errors`` bounds how many row errors are held in memory (``None``: all);
    ``jobs`` processes validate CSV and TSV rows (:meth:`RecordReader.check`).
    """
    if rejects is not None:
        check_output_path(rejects, "--rejects")
    kept: list[RowError] = []
    dropped = 0
    rejects_file = RejectsFile(rejects, catalog.header_map, catalog.files) if rejects else None
    try:
        for outcome in catalog.check(jobs):
            if keep_errors is None or len(kept) < keep_errors:
                kept.append(outcome)
            else:
                dropped += 1
            if rejects_file:
                rejects_file.add(outcome)
    except BaseException:
        if rejects_file:
            rejects_file.discard()
        raise
    written = rejects_file.close() if rejects_file else 0
    return ValidationReport(
        files=catalog.files,
        stats=catalog.stats,
        warnings=catalog.warnings,
        errors=kept,
        errors_dropped=dropped,
        rejects_path=rejects,
        rejects_written=written,
    )
