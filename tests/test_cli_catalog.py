"""``shopsync validate`` and ``shopsync schema`` through click's runner, with exact output."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shopsync import __version__
from shopsync.cli import cli

DATA = Path(__file__).parent / "data"


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.csv"
    shutil.copy(DATA / "broken.csv", path)
    return path


def test_validate_broken_json_reports_three_valid_and_eight_invalid(
    runner: CliRunner, broken: Path
) -> None:
    result = runner.invoke(cli, ["validate", str(broken), "--json"])
    assert result.exit_code == 3
    document = json.loads(result.stdout)
    assert (document["rows"], document["valid"], document["invalid"]) == (11, 3, 8)
    assert [(e["line"], e["column"]) for e in document["errors"]] == [
        (3, "sku"),
        (4, "price"),
        (5, "stock"),
        (6, "sku"),
        (7, "title"),
        (8, "images"),
        (12, "price"),
        (13, "sku"),
    ]
    assert document["errors"][1] == {
        "file": str(broken),
        "line": 4,
        "column": "price",
        "value": "-3",
        "message": "must be greater than 0",
    }


def test_validate_plain_output_is_one_line_per_problem(runner: CliRunner, broken: Path) -> None:
    result = runner.invoke(cli, ["validate", str(broken), "--max-errors", "2"])
    assert result.exit_code == 3
    assert result.stdout.splitlines() == [
        f"{broken}:3: sku: is required",
        f"{broken}:4: price: must be greater than 0 (value: '-3')",
        "... and 6 more rejected rows (all of them are in --rejects and --json).",
        "11 rows: 3 valid, 8 invalid in 1 file.",
    ]


def test_validate_all_valid_exits_zero(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", str(DATA / "excel-gbk.csv")])
    assert result.exit_code == 0
    assert result.stdout == "3 rows: 3 valid, 0 invalid in 1 file.\n"


def test_rejects_file_is_safe_and_refeeds_after_fixing(
    runner: CliRunner, broken: Path, tmp_path: Path
) -> None:
    rejects = tmp_path / "rejects.csv"
    result = runner.invoke(cli, ["validate", str(broken), "--rejects", str(rejects)])
    assert result.exit_code == 3
    assert result.stdout.endswith(f"Rejected rows written to {rejects} (8).\n")
    assert rejects.read_bytes().startswith(b"\xef\xbb\xbfsku,")  # UTF-8 that Excel reads
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["sku", "title", "price", "stock", "images", "description", "error"]
    assert [row["sku"] for row in rows] == [
        "",
        "NEG-1",
        "BAD-STOCK",
        "OK-1",
        "LONG-1",
        "HTTP-1",
        "PREC-1",
        "SPACE 1",
    ]
    assert rows[1]["price"] == "'-3"  # a cell starting with - is defused for spreadsheets
    assert rows[0]["error"] == f"{broken}:3: sku: is required"

    fixes = {
        "": "FIXED-0",
        "NEG-1": "NEG-1",
        "BAD-STOCK": "BAD-STOCK",
        "OK-1": "OK-2",
        "LONG-1": "LONG-1",
        "HTTP-1": "HTTP-1",
        "PREC-1": "PREC-1",
        "SPACE 1": "SPACE-1",
    }
    for row in rows:
        row["sku"] = fixes[row["sku"]]
        row["price"] = "10.00"
        row["stock"] = "5"
        row["title"] = row["title"][:100]
        row["images"] = row["images"].replace("http://", "https://")
    with rejects.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    again = runner.invoke(cli, ["validate", str(rejects)])
    assert again.exit_code == 0, again.output
    assert again.stdout == "8 rows: 8 valid, 0 invalid in 1 file.\n"


def test_formula_cells_round_trip_through_rejects(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text('sku,title,price\nF-1,"=SUM(A1)",-1\n', encoding="utf-8")
    rejects = tmp_path / "rejects.csv"
    runner.invoke(cli, ["validate", str(source), "--rejects", str(rejects)])
    assert rejects.read_text(encoding="utf-8").splitlines()[1].startswith("F-1,'=SUM(A1),'-1,")
    fixed = rejects.read_text(encoding="utf-8").replace(",'-1,", ",1,")
    rejects.write_text(fixed, encoding="utf-8")
    result = runner.invoke(cli, ["validate", str(rejects), "--json"])
    assert result.exit_code == 0
    from shopsync.catalog.records import Catalog  # noqa: PLC0415

    (row,) = list(Catalog([rejects]))
    assert row.product.title == "=SUM(A1)"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "Error: missing.csv: no such file.\n"),
        (["--encoding", "klingon", "x.csv"], "Error: x.csv: no such file.\n"),
    ],
)
def test_input_errors_are_one_message_and_exit_3(
    runner: CliRunner, args: list[str], message: str
) -> None:
    result = runner.invoke(cli, ["validate", *args])
    assert result.exit_code == 3
    assert result.stderr == message


def test_unknown_encoding_is_named(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--encoding", "klingon", str(DATA / "broken.csv")])
    assert result.exit_code == 3
    assert result.stderr.startswith("Error: unknown encoding 'klingon'.\n")


def test_bad_map_option_is_a_usage_error(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "--map", "colour=Farbe", str(DATA / "broken.csv")])
    assert result.exit_code == 2
    assert "'colour' is not a field" in result.stderr


def test_traceback_flag_shows_one_and_default_does_not(runner: CliRunner) -> None:
    quiet = runner.invoke(cli, ["validate", "nope.csv"])
    assert "Traceback" not in quiet.output
    loud = runner.invoke(cli, ["--traceback", "validate", "nope.csv"])
    assert "Traceback (most recent call last)" in loud.stderr
    assert loud.exit_code == 3


def test_schema_prints_the_product_json_schema(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "Product"
    assert schema["required"] == ["sku", "title", "price"]
    assert schema["properties"]["sku"]["pattern"] == "^[A-Za-z0-9._-]{1,64}$"


def test_version(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["--version"])
    assert result.stdout == f"shopsync, version {__version__}\n"


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        path = (*prefix, name)
        found.append(path)
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, path))
    return found


@pytest.mark.parametrize("path", _all_commands(cli), ids=" ".join)
def test_every_command_has_help(runner: CliRunner, path: tuple[str, ...]) -> None:
    result = runner.invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage: " in result.stdout
    command = cli
    for name in path:
        command = command.commands[name]  # type: ignore[attr-defined]
    assert command.help, f"{' '.join(path)} has no help text"


def test_installed_entry_point_runs(tmp_path: Path) -> None:
    executable = Path(sys.executable).with_name("shopsync")
    assert executable.exists(), "the console script is installed with the package"
    result = subprocess.run(
        [str(executable), "validate", str(DATA / "broken.csv"), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 3
    assert json.loads(result.stdout)["invalid"] == 8
    module = subprocess.run(
        [sys.executable, "-m", "shopsync", "--version"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert module.stdout == f"shopsync, version {__version__}\n"


def test_input_options_reach_the_reader(runner: CliRunner, tmp_path: Path) -> None:
    source = tmp_path / "own.txt"
    source.write_text("Artikel\tName\tPreis\nA-1\tKaffee\t4,50\n", encoding="utf-8")
    result = runner.invoke(
        cli,
        [
            "validate",
            str(source),
            "--json",
            "--format",
            "csv",
            "--delimiter",
            "tab",
            "--decimal-comma",
            "--map",
            "sku=Artikel",
            "--map",
            'title="Name"',
            "--map",
            "price=Preis",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert (document["valid"], document["files"][0]["delimiter"]) == (1, "\t")
    assert document["files"][0]["decimal_comma"] is True
