"""Issue 13, large Excel sheets are streamed: read by openpyxl's read-only mode in flat
memory, with the same rows as python-calamine reads from a small sheet."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from shopsync.io import xlsx
from shopsync.io.xlsx import iter_sheet, open_workbook

HEADER = [
    "sku",
    "title",
    "price",
    "compare_at_price",
    "stock",
    "barcode",
    "weight_kg",
    "brand",
    "category",
    "images",
    "attr:material",
    "attr:origin",
    "description",
]


def write_products(path: Path, rows: int) -> Path:
    """``rows`` products as Excel holds them: numbers as numbers, 13 columns."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Products")
    sheet.append(HEADER)
    description = "A sturdy, well-made product, described at length. " * 3
    for i in range(rows):
        sheet.append(
            [
                f"SKU-{i:07d}",
                f"产品 {i} Product",
                9.99 + i % 100,
                19.99 + i % 100,
                i % 500,
                6920000000000 + i,
                0.25 + i % 7,
                f"Brand {i % 40}",
                f"Category {i % 90}",
                f"https://cdn.example.com/{i}/a.jpg",
                "cotton",
                "Hangzhou",
                description,
            ]
        )
    workbook.save(path)
    return path


def test_a_large_sheet_is_streamed_and_a_small_one_loaded(tmp_path: Path) -> None:
    small = open_workbook(write_products(tmp_path / "small.xlsx", 10), None)
    large = open_workbook(write_products(tmp_path / "large.xlsx", 20_000), None)
    assert (small.streamed, large.streamed) == (False, True)
    rows = list(iter_sheet(large))
    assert len(rows) == 20_000
    assert rows[0][0] == 2
    assert rows[0][1][:7] == [
        "SKU-0000000",
        "产品 0 Product",
        "9.99",
        "19.99",
        "0",
        "6920000000000",
        "0.25",
    ]
    assert rows[-1][0] == 20_001
    assert [row[0] for row in iter_sheet(large)][:2] == [2, 3]  # a second pass reads again


def test_the_streaming_reader_reads_cells_as_calamine_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["B2"], sheet["C2"], sheet["D2"], sheet["E2"] = "sku", "barcode", "price", "added"
    sheet["B4"], sheet["C4"], sheet["D4"] = "00123", 6920190000013, "¥12.50"
    sheet["E4"] = date(2026, 12, 1)
    sheet["B7"], sheet["C7"], sheet["D7"] = "A-2", 1.5, 3
    sheet["D8"] = "=D7*2"  # no cached value: empty, with a warning, as with calamine
    path = tmp_path / "cells.xlsx"
    workbook.save(path)
    loaded = open_workbook(path, None)
    monkeypatch.setattr(xlsx, "STREAM_ABOVE", -1)
    streamed = open_workbook(path, None)
    assert (loaded.streamed, streamed.streamed) == (False, True)
    assert (
        (streamed.header, streamed.header_row)
        == (loaded.header, loaded.header_row)
        == (
            ["sku", "barcode", "price", "added"],
            2,
        )
    )
    assert streamed.warnings == loaded.warnings
    assert len(streamed.warnings) == 1
    assert (
        list(iter_sheet(streamed))
        == list(iter_sheet(loaded))
        == [
            (4, ["00123", "6920190000013", "¥12.50", "2026-12-01"]),
            (7, ["A-2", "1.5", "3", ""]),
        ]
    )


_PEAK = textwrap.dedent(
    """
    import re, sys
    from pathlib import Path
    import openpyxl  # in every run, so that its own size is no difference between them
    from shopsync.io.xlsx import iter_sheet, open_workbook
    count = sum(1 for _ in iter_sheet(open_workbook(Path(sys.argv[1]), None)))
    # VmHWM: this process's own peak (ru_maxrss would count the parent's, across exec).
    status = Path("/proc/self/status").read_text()
    print(count, re.search(r"VmHWM:\\s+(\\d+) kB", status).group(1))
    """
)


def _peak_kib(path: Path) -> tuple[int, int]:
    """(rows read, peak RSS in KiB) of reading ``path``'s sheet in a fresh process."""
    out = subprocess.run(
        [sys.executable, "-c", _PEAK, str(path)], capture_output=True, check=True, text=True
    ).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="peak RSS from /proc")
def test_a_20000_row_workbook_reads_in_bounded_memory(tmp_path: Path) -> None:
    # Peak RSS of a whole process, so the cells a Rust reader holds count too (tracemalloc
    # sees only Python's allocations). Loaded whole by calamine, the 18,000 more rows
    # cost about 20 MiB; streamed, about 1 MiB: the bound leaves room for noise.
    small_rows, small_peak = _peak_kib(write_products(tmp_path / "small.xlsx", 2_000))
    large_rows, large_peak = _peak_kib(write_products(tmp_path / "large.xlsx", 20_000))
    assert (small_rows, large_rows) == (2_000, 20_000)
    assert large_peak - small_peak < 8 * 1024, (small_peak, large_peak)
