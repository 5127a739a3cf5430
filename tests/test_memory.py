"""Reading stays in constant memory: the catalog is streamed, never loaded whole."""

from __future__ import annotations

import csv
import functools
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from shopsync.catalog import records as catalog
from shopsync.catalog.records import Catalog
from shopsync.catalog.skuindex import SeenSkus


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
        reader = Catalog([path])
        count = sum(1 for _ in reader)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return count, peak


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """20,000 and 200,000 rows of distinct SKUs, written once for the slow tests."""
    directory = tmp_path_factory.mktemp("catalogs")
    small, large = directory / "small.csv", directory / "large.csv"
    _write_catalog(small, 20_000)
    _write_catalog(large, 200_000)
    return small, large


@pytest.fixture
def small_index_cap(monkeypatch: pytest.MonkeyPatch) -> int:
    """Make Catalog's SKU index spill past 2,048 SKUs, so both test files spill."""
    slots = 1 << 12
    monkeypatch.setattr(catalog, "SeenSkus", functools.partial(SeenSkus, memory_slots=slots))
    return slots // 2


@pytest.mark.slow
@pytest.mark.timeout(300)  # 200,000 rows under tracemalloc: slow on a loaded 2-core machine
def test_reading_200k_rows_keeps_memory_flat(catalogs: tuple[Path, Path]) -> None:
    small, large = catalogs
    small_count, small_peak = _peak_while_reading(small)
    large_count, large_peak = _peak_while_reading(large)
    assert (small_count, large_count) == (20_000, 200_000)
    assert large.stat().st_size > 60_000_000  # what loading it whole would cost, at least
    # Ten times the rows may add only the fixed parts of the duplicate-SKU index: its
    # table at full size (4 MiB, 6 MiB while it doubles the last time) and, once it has
    # spilled, the 2 MiB filter. Before the index spilled, this grew 32 bytes a SKU.
    growth = large_peak - small_peak
    assert growth < 8 * 2**20, f"peak grew by {growth:,} bytes"
    assert large_peak < 16_000_000, f"peak {large_peak:,} bytes"


@pytest.mark.slow
@pytest.mark.timeout(300)  # as above
def test_past_the_index_cap_python_memory_does_not_grow(
    catalogs: tuple[Path, Path], small_index_cap: int
) -> None:
    small, large = catalogs
    small_count, small_peak = _peak_while_reading(small)
    large_count, large_peak = _peak_while_reading(large)
    assert (small_count, large_count) == (20_000, 200_000)
    assert small_count > 2 * small_index_cap  # both spill, many times
    # 180,000 more SKUs, all of them past the cap: an index that kept them in memory
    # would add at least 16 bytes each (2.9 MB); a bounded one adds nothing.
    growth = large_peak - small_peak
    assert abs(growth) < 256 * 1024, f"peak grew by {growth:,} bytes"


_RSS_SCRIPT = """
import functools, resource, sys
from pathlib import Path
import shopsync.catalog.records as catalog
from shopsync.catalog.skuindex import SeenSkus
catalog.SeenSkus = functools.partial(SeenSkus, memory_slots=int(sys.argv[2]))
count = sum(1 for _ in catalog.Catalog([Path(sys.argv[1])]))
print(count, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _peak_rss_kib(path: Path, memory_slots: int) -> tuple[int, int]:
    """Rows read and peak RSS in KiB of a fresh process reading ``path``."""
    done = subprocess.run(
        [sys.executable, "-c", _RSS_SCRIPT, str(path), str(memory_slots)],
        capture_output=True,
        text=True,
        check=True,
    )
    count, peak = map(int, done.stdout.split())
    return count, peak // 1024 if sys.platform == "darwin" else peak  # bytes on macOS


@pytest.mark.slow
@pytest.mark.skipif(sys.platform == "win32", reason="resource is POSIX-only")
def test_past_the_index_cap_peak_rss_stays_flat(
    catalogs: tuple[Path, Path], small_index_cap: int
) -> None:
    # tracemalloc does not see SQLite's own allocations (its page cache is C memory), so
    # the whole process is measured too: each file read in a fresh interpreter.
    small, large = catalogs
    small_count, small_rss = _peak_rss_kib(small, 2 * small_index_cap)
    large_count, large_rss = _peak_rss_kib(large, 2 * small_index_cap)
    assert (small_count, large_count) == (20_000, 200_000)
    # SQLite's page cache is capped at 2 MiB; the small file's spill file is smaller than
    # that, the large one's fills it. The unbounded index grew by about 10 MiB here.
    growth = large_rss - small_rss
    assert growth < 4 * 1024, f"peak RSS grew by {growth:,} KiB"


def test_seen_skus_finds_every_duplicate_across_growth() -> None:
    seen = SeenSkus(capacity=4)
    for i in range(10_000):
        assert seen.first_or_add(f"S{i}", i % 3, i + 2) is None
    assert len(seen) == 10_000
    for i in range(0, 10_000, 7):
        assert seen.first_or_add(f"S{i}", 9, 1) == (i % 3, i + 2)
    assert len(seen) == 10_000
