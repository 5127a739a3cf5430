"""Validating a large CSV file in worker processes: ``shopsync validate --jobs``.

Building and validating a pydantic record is most of what reading a catalog costs, and
one Python process runs it on one core. Here the main process only finds where each
record ends (``csv.reader``: a quoted value may hold line breaks) and hands the text of
a few thousand whole records at a time to worker processes, which parse it again, build
and validate the records, and answer each with its SKU, or with its errors. The main
process keeps what depends on order: the duplicate-SKU index, the counts, the rejects.

Only :meth:`shopsync.catalog.RecordReader.check` uses this: sending a validated product
back to the main process would cost more than validating it there (unpickling a product
takes about 6.5 µs, validating one about 8 µs), so commands that need the records
validate them in-process. Sending cells instead of text is no better: a row of cells
with non-ASCII text takes 5.5 µs to pickle.

Workers start from a fork server (a clean process that has imported shopsync, so no
lock held by another thread of the main process is inherited) or, where there is none,
by spawning. They ignore Ctrl-C: the main process handles it and stops them.
"""

from __future__ import annotations

import io
import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from shopsync.catalog.cells import cells_to_data, constraint_errors, row_errors
from shopsync.domain.models import FieldError, Product, RowError, SkuRecord, SourceRow
from shopsync.errors import ShopsyncError
from shopsync.i18n import N_
from shopsync.io.readers import CsvChunk, csv_records

if TYPE_CHECKING:
    from shopsync.catalog.images import LocalImages
    from shopsync.catalog.records import Constraints

CHUNK_RECORDS = 1_000
"""Records per task: large enough that sending it (~0.3 ms) is small against validating
it (~15 ms); small, with at most one task per worker waiting, so that the main process
holds little text in flight (2,000 records and two per worker: +8 MiB at 1,000,000
rows, against +3 MiB now)."""


@dataclass(frozen=True)
class FileSpec:
    """What a worker needs to turn one file's rows into records (picklable)."""

    name: str
    header: tuple[str, ...]
    delimiter: str
    fields: Sequence[tuple[int, str]]
    attributes: Sequence[tuple[int, str]]
    decimal_comma: bool
    column_of_field: Mapping[str, str]
    images: LocalImages | None = None
    """The catalog's check of local image files (products only), run here too."""
    path: str = ""
    """The file's path: relative image names are beside it."""
    constraints: Constraints | None = None
    """The target platform's rules, run here too: a module function, which pickles."""


Answer = int | tuple[int, str] | tuple[SourceRow, tuple[FieldError, ...]] | RowError
"""Per record: ``(line, sku)`` if valid; the row and its errors if not; the reader's
own :class:`RowError` (a row with more cells than the header); or the line alone of an
empty row, which was skipped."""

_model: type[SkuRecord] | None = None
_specs: Sequence[FileSpec] = ()


def _start_worker(model: type[SkuRecord], specs: Sequence[FileSpec]) -> None:
    global _model, _specs
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _model, _specs = model, specs


def chunk_records(
    spec: FileSpec, chunk: CsvChunk, on_empty: Callable[[int], None] | None = None
) -> Iterator[SourceRow | RowError]:
    """The records of ``chunk``, with their lines in the file, as the reader gives them."""
    # Split as the file was read (newline=""), not as str.splitlines would: that also
    # breaks at U+2028, form feeds and the like, which may sit inside a value.
    lines = io.StringIO(chunk.text, newline="")
    return csv_records(
        lines, spec.name, spec.header, spec.delimiter, chunk.first_line, None, on_empty
    )


def _check_chunk(file_index: int, chunk: CsvChunk) -> list[Answer]:
    assert _model is not None
    spec = _specs[file_index]
    validate = _model.model_validate
    answers: list[Answer] = []
    for record in chunk_records(spec, chunk, answers.append):
        if isinstance(record, RowError):
            answers.append(record)
            continue
        data = cells_to_data(spec.fields, spec.attributes, spec.decimal_comma, record.raw)
        try:
            valid = validate(data)
        except ValidationError as error:
            answers.append((record, row_errors(error, spec.column_of_field, data, record)))
            continue
        if spec.images is not None and isinstance(valid, Product):
            column = spec.column_of_field.get("images", "images")
            variant_column = spec.column_of_field.get("variant_image", "image")
            checked = spec.images.check(valid, Path(spec.path), column, variant_column)
            if isinstance(checked, tuple):
                answers.append((record, checked))
                continue
            valid = checked
        if spec.constraints is not None:
            problems = spec.constraints(valid)
            if problems:
                answers.append((record, constraint_errors(problems, spec.column_of_field, valid)))
                continue
        answers.append((record.line, valid.sku))
    return answers


def _context() -> Any:
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["shopsync.catalog.parallel"])
        return context
    return multiprocessing.get_context("spawn")


class CheckPool:
    """``jobs`` worker processes validating the CSV files that ``specs`` describe."""

    def __init__(self, jobs: int, model: type[SkuRecord], specs: Sequence[FileSpec]) -> None:
        """Start the workers (each imports shopsync once, then waits for chunks)."""
        self.jobs = jobs
        self._executor = ProcessPoolExecutor(
            max_workers=jobs,
            mp_context=_context(),
            initializer=_start_worker,
            initargs=(model, list(specs)),
        )

    def check(
        self, file_index: int, chunks: Iterable[CsvChunk | RowError]
    ) -> Iterator[tuple[CsvChunk | None, list[Answer]]]:
        """Each chunk with the answers for its records, in order; ``jobs + 1`` in flight.

        A :class:`RowError` among ``chunks`` (the file stopped decoding) comes back in
        its place, as the only answer of a ``None`` chunk.
        """
        in_flight: deque[tuple[CsvChunk | None, Future[list[Answer]] | RowError]] = deque()
        for chunk in chunks:
            if isinstance(chunk, RowError):
                in_flight.append((None, chunk))
            else:
                in_flight.append((chunk, self._executor.submit(_check_chunk, file_index, chunk)))
            if len(in_flight) > self.jobs:
                yield self._settle(*in_flight.popleft())
        while in_flight:
            yield self._settle(*in_flight.popleft())

    @staticmethod
    def _settle(
        chunk: CsvChunk | None, item: Future[list[Answer]] | RowError
    ) -> tuple[CsvChunk | None, list[Answer]]:
        if isinstance(item, RowError):
            return None, [item]
        try:
            return chunk, item.result()
        except BrokenProcessPool:
            raise ShopsyncError(
                N_("A validation worker process stopped unexpectedly (out of memory?)."),
                hint=N_("Run the command again with --jobs 1."),
            ) from None

    def close(self) -> None:
        """Stop the workers; chunks not started are dropped."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> CheckPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
