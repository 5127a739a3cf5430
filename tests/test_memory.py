"""Reading stays in constant memory: the catalog is streamed, never loaded whole."""

from __future__ import annotations

import csv
import tracemalloc
from pathlib import Path

import pytest

from shopsync.catalog import Catalog, SeenSkus


def _write_catalog(path: Path, rows: int) -> None:
    description = "A sturdy, well-made product, described at length. " * 4
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock", "images", "description"])
        for i in range(rows):
            writer.writerow(
                [
                    f"SKU-{i:07d}",
                    f"产品 {i} Product",
                    f"{i % 1000 + 1}.99",
                    i % 500,
                    f"https://cdn.example.com/{i}/a.jpg|https://cdn.example.com/{i}/b.jpg",
                    description,
                ]
            )


def _peak_while_reading(path: Path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        catalog = Catalog([path])
        count = sum(1 for _ in catalog)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


@pytest.mark.slow
def test_reading_200k_rows_keeps_memory_flat(tmp_path: Path) -> None:
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _write_catalog(small, 20_000)
    _write_catalog(large, 200_000)
    small_count, small_peak = _peak_while_reading(small)
    large_count, large_peak = _peak_while_reading(large)
    assert (small_count, large_count) == (20_000, 200_000)
    assert large.stat().st_size > 60_000_000  # what loading it whole would cost, at least
    # Ten times the rows may add only the duplicate-SKU index: 16 bytes a slot, at most
    # four slots a SKU while the table is between half full and doubling, plus the old
    # table while it is copied: 96 bytes a SKU at worst, against 300 bytes a row of file.
    growth = large_peak - small_peak
    assert growth < 200_000 * 96, f"peak grew by {growth:,} bytes"
    assert large_peak < 24_000_000, f"peak {large_peak:,} bytes"


def test_seen_skus_finds_every_duplicate_across_growth() -> None:
    seen = SeenSkus(capacity=4)
    for i in range(10_000):
        assert seen.first_or_add(f"S{i}", i % 3, i + 2) is None
    assert len(seen) == 10_000
    for i in range(0, 10_000, 7):
        assert seen.first_or_add(f"S{i}", 9, 1) == (i % 3, i + 2)
    assert len(seen) == 10_000
