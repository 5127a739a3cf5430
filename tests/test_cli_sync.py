"""``shopsync plan`` and ``shopsync upload --sandbox`` through click's runner."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopsync.cli import cli

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in (
        "SHOPSYNC_BASE_URL",
        "SHOPSYNC_CLIENT_ID",
        "SHOPSYNC_CLIENT_SECRET",
        "SHOPSYNC_PROFILE",
        "SHOPSYNC_CONFIG",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_sandbox_upload_then_plan_then_detailed_exit_codes(
    runner: CliRunner, tmp_path: Path
) -> None:
    first = runner.invoke(
        cli, ["upload", str(EXAMPLES / "products.csv"), "--sandbox", "--report", "report.json"]
    )
    assert first.exit_code == 0, first.output
    assert "200 created, 0 updated, 0 unchanged, 0 failed, 0 rejected" in first.stdout
    # A run under a second reads "Done in 0.05s", not "0.0s".
    assert re.search(r"Done in (0\.\d\ds|\d+\.\ds|\d+m\d\ds) \(\d+ products/s\)", first.stdout)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["counts"]["created"] == 200
    assert report["exit_code"] == 0

    again = runner.invoke(cli, ["upload", str(EXAMPLES / "products.csv"), "--sandbox"])
    assert again.exit_code == 0
    assert "0 created, 0 updated, 200 unchanged" in again.stdout
    assert "0 requests" in again.stdout

    same = runner.invoke(
        cli, ["plan", str(EXAMPLES / "products.csv"), "--sandbox", "--detailed-exitcode"]
    )
    assert same.exit_code == 0
    assert same.stdout == "Plan: 0 to create, 0 to update, 200 unchanged, 0 rejected.\n"

    with (EXAMPLES / "products.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    old_price = rows[0]["price"]
    rows[0]["price"] = "1.23"
    changed = tmp_path / "changed.csv"
    with changed.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    diff = runner.invoke(cli, ["plan", str(changed), "--sandbox", "--detailed-exitcode"])
    assert diff.exit_code == 2
    lines = diff.stdout.splitlines()
    assert lines[0].startswith(f"~ update {rows[0]['sku']} [prod_")
    assert lines[1] == f"    price: {old_price} -> 1.23"
    assert lines[-1] == "Plan: 0 to create, 1 to update, 199 unchanged, 0 rejected."

    as_json = runner.invoke(cli, ["plan", str(changed), "--sandbox", "--json"])
    assert as_json.exit_code == 0
    document = json.loads(as_json.stdout)
    assert document["updates"][0]["changes"] == [
        {"field": "price", "before": old_price, "after": "1.23"}
    ]


def test_upload_sets_rejected_rows_aside_and_sends_the_rest(
    runner: CliRunner, tmp_path: Path
) -> None:
    broken = Path(__file__).parent / "data" / "broken.csv"
    result = runner.invoke(cli, ["upload", str(broken), "--sandbox", "--rejects", "rej.csv"])
    assert result.exit_code == 3
    assert "3 created, 0 updated, 0 unchanged, 0 failed, 8 rejected" in result.stdout
    assert "Rejected rows written to rej.csv." in result.stdout
    with (tmp_path / "rej.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8


def test_strict_sends_nothing(runner: CliRunner) -> None:
    broken = Path(__file__).parent / "data" / "broken.csv"
    result = runner.invoke(cli, ["upload", str(broken), "--sandbox", "--strict"])
    assert result.exit_code == 3
    assert "8 of 11 rows are invalid and --strict is set, so nothing was sent" in result.stderr
    plan = runner.invoke(
        cli, ["plan", str(Path(__file__).parent / "data" / "excel-gbk.csv"), "--sandbox"]
    )
    assert plan.stdout.endswith("Plan: 3 to create, 0 to update, 0 unchanged, 0 rejected.\n")


def test_plan_errors_exit_1_with_detailed_exitcode(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["plan", "missing.csv", "--detailed-exitcode"])
    assert result.exit_code == 1
    assert result.stderr == "Error: missing.csv: no such file.\n"


def test_upload_without_configuration_says_what_is_missing(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["upload", str(EXAMPLES / "products.csv")])
    assert result.exit_code == 2
    assert "base_url" in result.stderr
    assert "SHOPSYNC_BASE_URL" in result.stderr
