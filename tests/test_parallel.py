"""validate --jobs: worker processes give exactly what one process gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import shopsync.catalog.parallel
from shopsync.catalog.records import Catalog, ValidationReport, validate
from shopsync.cli import cli
from shopsync.cli.catalog import PARALLEL_FROM_BYTES, automatic_jobs
from shopsync.domain.models import RowError
from shopsync.io.readers import CsvChunk, ReadOptions, iter_csv_chunks, open_file
from shopsync.platforms.generic import GenericPlatform

DATA = Path(__file__).parent / "data"
HEADER = "sku,title,price,stock,images,description\n"


def _errors(report: object) -> list[tuple[str, int, str]]:
    return [(e.row.file, e.row.line, e.message) for e in report.errors]  # type: ignore[attr-defined]


def _both(paths: list[Path], tmp_path: Path) -> ValidationReport:
    """Validate ``paths`` with one process and with two workers: the same report (returned)."""
    # The generic API's rules (validate's default platform) run in the workers too.
    rules = GenericPlatform.product_constraints
    serial = validate(Catalog(paths, constraints=rules), rejects=tmp_path / "serial.csv", jobs=1)
    parallel = validate(
        Catalog(paths, constraints=rules), rejects=tmp_path / "parallel.csv", jobs=2
    )
    assert _errors(parallel) == _errors(serial)
    assert parallel.stats == serial.stats
    assert (tmp_path / "parallel.csv").exists() == (tmp_path / "serial.csv").exists()
    if (tmp_path / "serial.csv").exists():
        assert (tmp_path / "parallel.csv").read_bytes() == (tmp_path / "serial.csv").read_bytes()
    return serial


def test_tricky_files_across_small_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shopsync.catalog.parallel, "CHUNK_RECORDS", 3)
    first = tmp_path / "first.csv"
    first.write_text(
        HEADER
        + "A-1,Mug,10.00,5,https://a.example/1.jpg,plain\n"
        + '\nA-2,Cup,,5,,"two\nlines"\n'  # a blank line, then a row with a line break
        + "A-3,Plate,3.50,1,,sep\u2028arator and form\x0cfeed\n"
        + "A-1,Mug again,10.00,5,,a duplicate in the same file\n"
        + "A-4,Bowl,4.00,x,,\n"
        + "A-5,Too,1.00,1,,,extra cell\n"
        + "".join(f"B-{n},Item {n},{n}.00,{n},,\n" for n in range(1, 12))
        + "A-3,Plate again,3.50,1,,duplicate after chunks\n",
        encoding="utf-8",
        newline="",
    )
    second = tmp_path / "second.json"
    second.write_text('[{"sku": "B-5", "title": "From JSON", "price": "1"}]', encoding="utf-8")
    third = tmp_path / "third.csv"
    third.write_text(HEADER + "B-7,Seen before,1.00,1,,\nC-1,New,2.00,1,,\n", encoding="utf-8")
    broken = DATA / "broken.csv"
    report = _both([first, second, third, broken], tmp_path)
    duplicate = "sku: duplicate SKU: already at {}; this later row is not used"
    assert _errors(report) == [
        (str(first), 4, "price: is required"),
        (str(first), 7, duplicate.format(f"{first}:2")),
        (str(first), 8, "stock: is not a whole number"),
        (
            str(first),
            9,
            "the row has 7 cells but the header names 6 columns"
            " (an unquoted delimiter in a value?)",
        ),
        (str(first), 21, duplicate.format(f"{first}:6")),
        (str(second), 1, duplicate.format(f"{first}:14")),
        (str(third), 2, duplicate.format(f"{first}:16")),
        (str(broken), 3, "sku: is required"),
        (str(broken), 4, "price: must be greater than 0"),
        (str(broken), 5, "stock: is not a whole number"),
        (str(broken), 6, duplicate.format(f"{broken}:2")),
        (str(broken), 7, "title: is longer than 255 characters"),
        (
            str(broken),
            8,
            "images: image 'http://cdn.example.com/a.jpg' is not an absolute https:// URL",
        ),
        (str(broken), 12, "price: has more than 2 decimal places"),
        (
            str(broken),
            13,
            "sku: may hold only letters, digits, '.', '_' and '-' (1 to 64 characters, no spaces)",
        ),
    ]
    assert (report.stats.rows, report.stats.valid, report.stats.invalid) == (32, 17, 15)


def test_a_file_that_stops_decoding_ends_with_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopsync.catalog.parallel, "CHUNK_RECORDS", 300)
    path = tmp_path / "bad.csv"
    # Not UTF-8 (\xe9), so read as Windows-1252, where \x81 is undefined: decoding
    # stops there, past the first buffers (so some rows have been read already).
    rows = "".join(f"S-{n},Item {n},1.00,1,,\n" for n in range(2000))
    path.write_bytes((HEADER + rows).encode() + b"S-9,Caf\xe9 \x81,1.00,1,,\n")
    report = _both([path], tmp_path)
    assert _errors(report) == [
        (
            str(path),
            0,
            f"{path}: the bytes at byte offset 49830 (line 2002) are not valid cp1252"
            " (chosen because: not UTF-8 and not Chinese; Windows-1252):"
            " character maps to <undefined>. The rest of the file was not read.",
        )
    ]
    assert report.stats.invalid == 1
    assert 0 < report.stats.valid < 2000


def test_chunks_are_whole_records_with_their_first_line(tmp_path: Path) -> None:
    path = tmp_path / "lines.csv"
    path.write_text(HEADER + 'A,t,1,1,,"x\ny"\n\nB,t,1,1,,\nC,t,1,1,,\n', encoding="utf-8")
    chunks = list(iter_csv_chunks(open_file(path, ReadOptions()), 2))
    assert chunks == [
        CsvChunk(2, 'A,t,1,1,,"x\ny"\n\n'),  # two records: A and the blank one
        CsvChunk(5, "B,t,1,1,,\nC,t,1,1,,\n"),
    ]
    assert not any(isinstance(chunk, RowError) for chunk in chunks)


def test_the_cli_picks_workers_for_large_files_only(tmp_path: Path) -> None:
    assert automatic_jobs(PARALLEL_FROM_BYTES - 1) == 1
    assert 1 <= automatic_jobs(PARALLEL_FROM_BYTES) <= 4
    result = CliRunner().invoke(
        cli, ["validate", "--json", "--jobs", "2", str(DATA / "broken.csv")]
    )
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert (document["valid"], document["invalid"]) == (3, 8)
    assert [error["line"] for error in document["errors"]] == [3, 4, 5, 6, 7, 8, 12, 13]
