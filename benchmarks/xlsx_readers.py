"""Which library should read Excel workbooks? Rows/s, peak RSS and import time of each.

    python benchmarks/xlsx_readers.py [--rows 100000] [--repeat 3] [--keep DIR]

Writes one workbook of ``--rows`` generated products (``generate_catalog.py``, the
columns of the CSV benchmarks; SKUs as text, prices, stock and 13-digit barcodes as
numbers) with openpyxl's write-only mode, then reads every row of its first sheet as
Python values with each candidate, each in its own process, so that peak RSS (from
``wait4``) is that reader's alone:

openpyxl
    ``load_workbook(read_only=True, data_only=True)`` and ``iter_rows(values_only=True)``:
    a streaming XML parser in Python.
calamine
    python-calamine's ``get_sheet_by_index(0).iter_rows()``: the Rust calamine crate,
    which reads the whole sheet into memory first.
fastexcel
    ``read_excel(path).load_sheet(0).to_arrow()`` then ``to_pylist()``: calamine again,
    into Arrow columns (needs pyarrow, which shopsync would not otherwise need).

shopsync
    ``shopsync.io.xlsx`` as ``validate`` reads a workbook: cells to text, the reader
    chosen by the sheet's size (streamed by openpyxl above ``STREAM_ABOVE`` cells).
shopsync-loaded
    the same with every sheet loaded by calamine, as before large sheets were streamed.

``import`` is the time of ``python -c "import MODULE"`` less ``python -c pass``. Each
figure is the median of ``--repeat`` runs. Needs openpyxl, python-calamine, fastexcel and
pyarrow installed; a missing one is reported and skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
READERS = ("openpyxl", "calamine", "fastexcel", "shopsync", "shopsync-loaded")
MODULES = {
    "openpyxl": "openpyxl",
    "calamine": "python_calamine",
    "fastexcel": "fastexcel",
    "shopsync": "shopsync.io.xlsx",
    "shopsync-loaded": "shopsync.io.xlsx",
}


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location("generate_catalog", HERE / "generate_catalog.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def write_workbook(path: Path, rows: int) -> None:
    """``rows`` generated products as an .xlsx, typed as Excel would hold them."""
    from openpyxl import Workbook  # noqa: PLC0415 - only this step needs it

    generator = _generator()
    numeric = {"price", "stock", "barcode", "weight_kg"}
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Products")
    columns = generator.CSV_COLUMNS
    sheet.append(list(columns))
    for product in generator.iter_products(rows, seed=7):
        cells: list[Any] = []
        for column, value in zip(columns, generator.to_csv_row(product), strict=True):
            if column in numeric and value:
                cells.append(int(value) if column in ("stock", "barcode") else float(value))
            else:
                cells.append(value or None)
        sheet.append(cells)
    workbook.save(path)


def read_all(reader: str, path: Path) -> int:
    """Read every row of the first sheet with ``reader``; the number of data rows."""
    count = 0
    if reader == "openpyxl":
        from openpyxl import load_workbook  # noqa: PLC0415

        workbook = load_workbook(path, read_only=True, data_only=True)
        for _row in workbook.worksheets[0].iter_rows(values_only=True):
            count += 1
        workbook.close()
    elif reader == "calamine":
        from python_calamine import CalamineWorkbook  # noqa: PLC0415

        sheet = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0)
        for _row in sheet.iter_rows():
            count += 1
    elif reader == "fastexcel":
        import fastexcel  # noqa: PLC0415

        table = fastexcel.read_excel(path).load_sheet(0, header_row=None).to_arrow()
        for _row in table.to_pylist():
            count += 1
    elif reader.startswith("shopsync"):
        from shopsync.io import xlsx  # noqa: PLC0415

        if reader == "shopsync-loaded":
            xlsx.STREAM_ABOVE = sys.maxsize  # every sheet loaded whole, as before streaming
        for _row in xlsx.iter_sheet(xlsx.open_workbook(path, None)):
            count += 1
        return count  # rows after the header, as text
    else:
        raise ValueError(reader)
    return count - 1  # the header


def _run(command: list[str]) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in KiB and stdout of ``command``."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert process.stdout is not None
    out = process.stdout.read().decode()
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    process.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command} failed")
    return elapsed, usage.ru_maxrss, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="write the workbook here and keep it")
    parser.add_argument("--read", choices=READERS, help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.read:
        started = time.perf_counter()
        rows = read_all(args.read, args.path)
        print(rows, time.perf_counter() - started)
        return
    directory = args.keep or Path(tempfile.mkdtemp(prefix="shopsync-xlsx-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"catalog-{args.rows}.xlsx"
    if not path.exists():
        write_workbook(path, args.rows)
    print(f"{path}: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
    baseline = statistics.median(
        _run([sys.executable, "-c", "pass"])[0] for _ in range(args.repeat)
    )
    print(f"{'reader':<10} {'rows/s':>10} {'read s':>8} {'peak RSS':>10} {'import':>8}")
    for reader in READERS:
        module = MODULES[reader]
        if importlib.util.find_spec(module) is None or (
            reader == "fastexcel" and importlib.util.find_spec("pyarrow") is None
        ):
            print(f"{reader:<10} not installed")
            continue
        runs = [
            _run([sys.executable, __file__, "--read", reader, str(path)])
            for _ in range(args.repeat)
        ]
        rows = int(runs[0][2].split()[0])
        assert rows == args.rows, (reader, rows)
        seconds = statistics.median(float(out.split()[1]) for _, _, out in runs)
        rss = statistics.median(rss for _, rss, _ in runs) / 1024
        imports = statistics.median(
            _run([sys.executable, "-c", f"import {module}"])[0] for _ in range(args.repeat)
        )
        print(
            f"{reader:<10} {args.rows / seconds:>10,.0f} {seconds:>8.2f} {rss:>8.0f} MB"
            f" {(imports - baseline) * 1000:>5.0f} ms"
        )


if __name__ == "__main__":
    main()
