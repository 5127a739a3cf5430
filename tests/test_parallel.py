"""validate --jobs: worker processes give exactly what one process gives."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import shopsync.catalog.parallel
from shopsync.catalog.records import Catalog, validate
from shopsync.cli import cli
from shopsync.cli.catalog import PARALLEL_FROM_BYTES, automatic_jobs
from shopsync.domain.models import RowError
from shopsync.io.readers import CsvChunk, ReadOptions, iter_csv_chunks, open_file

DATA = Path(__file__).parent / "data"
HEADER = "sku,title,price,stock,images,description\n"


def _errors(report: object) -> list[tuple[str, int, str]]:
    return [(e.row.file, e.row.line, e.message) for e in report.errors]  # type: ignore[attr-defined]


def _both(paths: list[Path], tmp_path: Path) -> None:
    """Validate ``paths`` with one process and with two workers: the same report."""
    serial = validate(Catalog(paths), rejects=tmp_path / "serial.csv", jobs=1)
    parallel = validate(Catalog(paths), rejects=tmp_path / "parallel.csv", jobs=2)
    assert _errors(parallel) == _errors(serial)
    assert parallel.stats == serial.stats
    assert (tmp_path / "parallel.csv").exists() == (tmp_path / "serial.csv").exists()
    if (tmp_path / "serial.csv").exists():
        assert (tmp_path / "parallel.csv").read_bytes() == (tmp_path / "serial.csv").read_bytes()


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
    _both([first, second, third, DATA / "broken.csv"], tmp_path)
    report = validate(Catalog([first, second, third]), jobs=2)
    assert [(Path(file).name, line) for file, line, _ in _errors(report)] == [
        ("first.csv", 4),
        ("first.csv", 7),
        ("first.csv", 8),
        ("first.csv", 9),
        ("first.csv", 21),
        ("second.json", 1),
        ("third.csv", 2),
    ]


def test_a_file_that_stops_decoding_ends_with_the_same_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shopsync.catalog.parallel, "CHUNK_RECORDS", 2)
    path = tmp_path / "bad.csv"
    rows = "".join(f"S-{n},Item {n},1.00,1,,\n" for n in range(7))
    path.write_bytes((HEADER + rows).encode() + b"S-9,Caf\xe9 \xff\xfe,1.00,1,,\n")
    _both([path], tmp_path)


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
