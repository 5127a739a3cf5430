"""The duplicate-SKU index: exact answers on both sides of a spill, and no file left behind.

``memory_slots=8`` makes the in-memory table spill when its fourth SKU arrives (half of
eight slots), so every path is reached with a handful of SKUs.
"""

from __future__ import annotations

import functools
import gc
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

import shopsync.catalog.records
from shopsync.catalog.records import Catalog
from shopsync.catalog.skuindex import SeenSkus
from shopsync.domain.models import RowError, ValidRow
from shopsync.errors import ConfigError


def _index(tmp_path: Path, **options: int) -> SeenSkus:
    return SeenSkus(capacity=2, memory_slots=8, spill_dir=tmp_path, **options)


def test_nothing_touches_the_disk_below_the_cap(tmp_path: Path) -> None:
    with SeenSkus(capacity=2, memory_slots=16, spill_dir=tmp_path) as seen:
        for line in range(7):  # half of 16 slots is 8: the eighth SKU would spill
            assert seen.first_or_add(f"S{line}", 0, line) is None
        assert seen.first_or_add("S3", 1, 99) == (0, 3)
        assert (len(seen), seen.spilled, seen.spill_path) == (7, 0, None)
        assert list(tmp_path.iterdir()) == []


def test_duplicates_are_found_on_both_sides_of_a_spill(tmp_path: Path) -> None:
    with _index(tmp_path) as seen:
        for line, sku in enumerate(["A", "B", "C"], start=2):
            assert seen.first_or_add(sku, 0, line) is None
        assert seen.spilled == 0
        assert seen.first_or_add("D", 1, 5) is None  # the fourth: all four move to disk
        assert (len(seen), seen.spilled) == (4, 4)
        assert seen.spill_path is not None
        assert seen.spill_path.parent == tmp_path

        # First seen before the spill, repeated after it: found in SQLite.
        assert seen.first_or_add("A", 3, 100) == (0, 2)
        assert seen.first_or_add("D", 3, 101) == (1, 5)
        # First seen after the spill, repeated before the next flush: found in memory.
        assert seen.first_or_add("E", 2, 7) is None
        assert seen.first_or_add("E", 3, 102) == (2, 7)
        assert (len(seen), seen.spilled) == (5, 4)
        # ... and after that flush: found in SQLite.
        for line, sku in enumerate(["F", "G", "H"], start=8):
            assert seen.first_or_add(sku, 2, line) is None
        assert (len(seen), seen.spilled) == (8, 8)
        assert seen.first_or_add("E", 3, 103) == (2, 7)
        assert seen.first_or_add("H", 3, 104) == (2, 10)
        # A repeat is never recorded again, wherever its first place is kept.
        assert len(seen) == 8


@pytest.mark.parametrize(
    ("memory_slots", "filter_bits"),
    [(2, 8), (8, 8), (8, 1 << 24), (64, 8), (1024, 1 << 12), (1 << 18, 1 << 24)],
)
def test_every_answer_matches_a_dict(tmp_path: Path, memory_slots: int, filter_bits: int) -> None:
    # A filter of 8 bits is full at once, so every new SKU is also looked up in SQLite.
    rng = random.Random(memory_slots * filter_bits)  # noqa: S311 - a repeatable mix of SKUs
    first: dict[str, tuple[int, int]] = {}
    with SeenSkus(
        capacity=2, memory_slots=memory_slots, spill_dir=tmp_path, filter_bits=filter_bits
    ) as seen:
        for line in range(6_000):
            sku = f"SKU-{rng.randrange(4_000)}"
            location = (line % 3, line + 2)
            assert seen.first_or_add(sku, *location) == first.get(sku), sku
            first.setdefault(sku, location)
        assert len(seen) == len(first)
        # Each spill moves a full table: half of memory_slots.
        assert seen.spilled == len(first) - len(first) % (memory_slots // 2)


def test_locations_keep_every_bit(tmp_path: Path) -> None:
    big_line = (1 << 40) - 1
    with _index(tmp_path) as seen:
        for number in range(4):
            assert seen.first_or_add(f"S{number}", 1_000 + number, big_line - number) is None
        assert seen.spilled == 4
        assert seen.first_or_add("S0", 0, 1) == (1_000, big_line)
        assert seen.first_or_add("S3", 0, 1) == (1_003, big_line - 3)


def test_close_deletes_the_file_and_is_idempotent(tmp_path: Path) -> None:
    seen = _index(tmp_path)
    for number in range(10):
        seen.first_or_add(f"S{number}", 0, number)
    directory = seen.spill_path
    assert directory is not None
    assert [path.name for path in directory.iterdir()] == ["seen.sqlite"]
    seen.close()
    assert not directory.exists()
    assert list(tmp_path.iterdir()) == []
    assert seen.spill_path is None
    seen.close()
    with pytest.raises(ValueError, match="closed"):
        for number in range(10, 20):
            seen.first_or_add(f"S{number}", 0, number)


def test_the_file_goes_when_the_with_block_fails(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), _index(tmp_path) as seen:
        for number in range(10):
            seen.first_or_add(f"S{number}", 0, number)
        raise RuntimeError
    assert list(tmp_path.iterdir()) == []


def test_an_index_that_is_never_closed_deletes_its_file_when_collected(tmp_path: Path) -> None:
    seen = _index(tmp_path)
    for number in range(10):
        seen.first_or_add(f"S{number}", 0, number)
    assert list(tmp_path.iterdir()) != []
    del seen
    gc.collect()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "value"),
    [("capacity", 3), ("memory_slots", 0), ("filter_bits", 4), ("filter_bits", 1 << 33)],
)
def test_sizes_must_be_powers_of_two(name: str, value: int) -> None:
    with pytest.raises(ValueError, match=name):
        SeenSkus(**{name: value})


# Through Catalog: the index it creates spills into tmp_path after four SKUs.


@pytest.fixture
def spill_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "spill"
    directory.mkdir()
    small = functools.partial(SeenSkus, memory_slots=8, spill_dir=directory)
    monkeypatch.setattr(shopsync.catalog.records, "SeenSkus", small)
    return directory


def _catalog(tmp_path: Path, skus: list[str]) -> Path:
    path = tmp_path / "catalog.csv"
    rows = "".join(f"{sku},Product {sku},1.50\n" for sku in skus)
    path.write_text("sku,title,price\n" + rows, encoding="utf-8")
    return path


def test_catalog_reports_duplicates_across_the_spill(tmp_path: Path, spill_dir: Path) -> None:
    skus = [f"S-{number}" for number in range(20)] + ["S-0", "S-19", "S-7"]
    path = _catalog(tmp_path, skus)
    outcomes = list(Catalog([path]))
    assert [isinstance(outcome, ValidRow) for outcome in outcomes] == [True] * 20 + [False] * 3
    messages = [outcome.message for outcome in outcomes if isinstance(outcome, RowError)]
    assert messages == [
        f"sku: duplicate SKU: already at {path}:{line}; this later row is not used"
        for line in (2, 21, 9)
    ]
    assert list(spill_dir.iterdir()) == []


def test_an_abandoned_catalog_iteration_deletes_the_file(tmp_path: Path, spill_dir: Path) -> None:
    path = _catalog(tmp_path, [f"S-{number}" for number in range(20)])
    outcomes: Iterator[object] = iter(Catalog([path]))
    for _ in range(10):
        next(outcomes)
    assert len(list(spill_dir.iterdir())) == 1
    del outcomes  # never exhausted, never closed explicitly: collection closes it
    gc.collect()
    assert list(spill_dir.iterdir()) == []


def test_a_failing_consumer_leaves_no_file(tmp_path: Path, spill_dir: Path) -> None:
    path = _catalog(tmp_path, [f"S-{number}" for number in range(20)])
    with pytest.raises(RuntimeError, match="consumer"):
        for count, _ in enumerate(Catalog([path])):
            if count == 10:
                assert len(list(spill_dir.iterdir())) == 1
                raise RuntimeError("consumer failed")
    gc.collect()
    assert list(spill_dir.iterdir()) == []


def test_a_temporary_directory_that_cannot_be_written_is_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-directory"
    with (
        SeenSkus(capacity=2, memory_slots=8, spill_dir=missing) as seen,
        pytest.raises(ConfigError, match="temporary file") as caught,
    ):
        for number in range(100):
            seen.first_or_add(f"S-{number}", 0, number + 2)
    assert "TMPDIR" in (caught.value.hint or "")
