"""What a run shows and leaves behind: progress by items, empty inputs, run folders,
rejected rows' reasons, and messages that say what is so (issue 11)."""

from __future__ import annotations

import csv
import json
import sqlite3
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from shopsync.catalog.records import Catalog
from shopsync.cli import cli
from shopsync.jobs.base import KEEP_RUNS, JobOptions, Outputs, Progress, Target
from shopsync.jobs.upload import UploadJob
from shopsync.state import ledger as ledger_module
from shopsync.sync.report import RunCounts
from shopsync.ui.console import Output, RunView

DATA = Path(__file__).parent / "data"
BROKEN = DATA / "broken.csv"


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


def _runs(tmp_path: Path) -> Path:
    return tmp_path / "data" / "runs"


# -- progress: items done of items planned ------------------------------------------


def test_the_count_pass_counts_what_iterating_gives(tmp_path: Path) -> None:
    # broken.csv has a quoted line break, a duplicate SKU and invalid rows; a blank line
    # and an over-wide row are added: each counts as iterating counts it.
    csv_file = tmp_path / "mixed.csv"
    csv_file.write_bytes(BROKEN.read_bytes() + b"\n\nWIDE-1,Wide,1.00,1,,,extra\n")
    json_file = tmp_path / "items.json"
    json_file.write_text('{"products": [{"sku": "A", "title": "a", "price": 1}, 3]}')
    jsonl_file = tmp_path / "items.jsonl"
    jsonl_file.write_text('{"sku": "B", "title": "b", "price": 1}\n\nnot json\n')
    catalog = Catalog([csv_file, json_file, jsonl_file])
    assert catalog.count_records() == 12 + 2 + 2
    assert sum(1 for _ in catalog) == 16
    assert catalog.progress()[0] == catalog.progress()[1]  # the real pass read it all


def test_the_count_pass_gives_up_when_told_to_stop(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("sku,title,price\n" + "".join(f"S-{i},t,1\n" for i in range(5000)))
    assert Catalog([path]).count_records(stop=lambda: True) is None


def _progress(planned: int | None, elapsed: float = 12.0, wait: float = 0.0) -> Progress:
    counts = RunCounts(created=200, unchanged=40, rejected=10)
    return Progress(counts, 1000, 3400, elapsed, wait, planned)


def test_the_plain_progress_line_says_n_of_m_elapsed_and_an_eta_by_items() -> None:
    # The case: 250 of 5,000 done after 12 s is 5%, with 3m48s to go at that
    # speed; by bytes read (1000 of 3400) it would have said 29%.
    assert RunView.plain_line(_progress(5000)) == (
        "progress: 250 of 5000 products, 5%, 12.0s elapsed, ETA 3m48s, 21/s "
        "(created 200, updated 0, unchanged 40, failed 0, rejected 10)"
    )
    assert RunView.plain_line(_progress(None, wait=1.5)) == (
        "progress: 250 products, 12.0s elapsed, 21/s "
        "(created 200, updated 0, unchanged 40, failed 0, rejected 10), "
        "waiting 1.5s for the platform's rate limit"
    )
    assert RunView.plain_line(_progress(250)) == (
        "progress: 250 of 250 products, 100%, 12.0s elapsed, 21/s "
        "(created 200, updated 0, unchanged 40, failed 0, rejected 10)"
    )


def test_the_live_view_shows_n_of_m_elapsed_and_an_eta_by_items() -> None:
    console = Console(record=True, width=160, force_terminal=True)
    output = Output()
    output.out = console
    view = RunView(output, lambda: _progress(5000))
    console.print(view._render())
    text = console.export_text()
    assert "250 of 5000 products, 5%  12.0s elapsed  ETA 3m48s  21 products/s" in text
    assert "29%" not in text


class _QuietPlatform:
    """Enough of a platform for a job's progress(): nothing is sent in this test."""

    def throttle_wait(self) -> float:
        return 0.0


def test_a_job_counts_its_input_beside_the_run(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    path.write_text("sku,title,price\n" + "".join(f"S-{i},t,1\n" for i in range(3000)))
    target = Target(
        platform=_QuietPlatform(),  # type: ignore[arg-type]
        ledger_dir=tmp_path / "ledger",
        namespace="test",
        profile="test",
    )
    job = UploadJob(Catalog([path]), target, JobOptions(), Outputs())
    assert job.progress().planned is None
    job.count_planned()
    deadline = time.monotonic() + 30
    while job.progress().planned is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert job.progress().planned == 3000
    assert job.progress().done == 0


# -- header-only input ----------------------------------------------------------------


def test_a_header_only_file_is_nothing_to_do_for_every_command(runner: CliRunner) -> None:
    Path("delta.csv").write_text("sku,delta\r\n", encoding="utf-8")
    Path("products.csv").write_text("sku,title,price\r\n", encoding="utf-8")
    notice = "Notice: {} has no rows below its header: nothing to do.\n"

    validate = runner.invoke(cli, ["validate", "products.csv"])
    assert (validate.exit_code, validate.stdout) == (0, "0 rows: 0 valid, 0 invalid in 1 file.\n")
    assert validate.stderr == notice.format("products.csv")

    plan = runner.invoke(cli, ["plan", "products.csv", "--sandbox"])
    assert plan.exit_code == 0
    assert plan.stdout == "Plan: 0 to create, 0 to update, 0 unchanged, 0 rejected.\n"
    assert plan.stderr == notice.format("products.csv")

    upload = runner.invoke(cli, ["upload", "products.csv", "--sandbox"])
    assert upload.exit_code == 0
    assert upload.stderr == notice.format("products.csv")
    assert "0 created, 0 updated, 0 unchanged, 0 failed, 0 rejected; 0 requests" in upload.stdout

    stock = runner.invoke(cli, ["stock", "delta.csv", "--sandbox"])
    assert stock.exit_code == 0
    assert stock.stderr == notice.format("delta.csv")
    assert "0 counts changed, 0 unchanged, 0 failed, 0 rejected; 0 requests" in stock.stdout

    quiet = runner.invoke(cli, ["--quiet", "validate", "products.csv"])
    assert (quiet.exit_code, quiet.stderr) == (0, "")


def test_an_empty_file_beside_one_with_rows_is_named_and_the_rest_goes(
    runner: CliRunner,
) -> None:
    Path("empty.json").write_text("[]", encoding="utf-8")
    result = runner.invoke(cli, ["validate", "empty.json", str(DATA / "excel-gbk.csv")])
    assert result.exit_code == 0
    assert result.stderr == "Notice: empty.json has no rows: nothing to do for it.\n"
    assert result.stdout == "3 rows: 3 valid, 0 invalid in 2 files.\n"


# -- run folders ---------------------------------------------------------------------


def test_unnamed_rejects_go_into_the_runs_folder_named_in_the_summary(
    runner: CliRunner, tmp_path: Path
) -> None:
    result = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox"])
    assert result.exit_code == 3
    (run,) = _runs(tmp_path).iterdir()
    assert sorted(path.name for path in run.iterdir()) == ["rejects.csv", "report.json"]
    assert result.stdout.endswith(f"Rejected rows written to {run / 'rejects.csv'}.\n")
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    assert (report["run_id"], report["profile"]) == (run.name, "sandbox")
    assert report["outputs"] == {"rejects": str(run / "rejects.csv")}
    with (run / "rejects.csv").open(encoding="utf-8", newline="") as handle:
        assert len(list(csv.DictReader(handle))) == 8
    assert not list(tmp_path.glob("shopsync-*"))  # nothing piles up where it ran
    assert (run.stat().st_mode & 0o777) == 0o700

    clean = runner.invoke(cli, ["upload", str(DATA / "excel-gbk.csv"), "--sandbox"])
    assert clean.exit_code == 0
    assert len(list(_runs(tmp_path).iterdir())) == 1  # a clean run leaves no folder

    named = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox", "--rejects", "mine.csv"])
    assert named.exit_code == 3
    assert Path("mine.csv").is_file()
    assert len(list(_runs(tmp_path).iterdir())) == 1


def test_only_the_last_runs_of_a_profile_are_kept(runner: CliRunner, tmp_path: Path) -> None:
    runs = _runs(tmp_path)
    for number in range(KEEP_RUNS + 2):
        for profile in ("sandbox", "other"):
            folder = runs / f"20200101T0000{number:02d}Z-{profile}"
            folder.mkdir(parents=True)
            (folder / "report.json").write_text(json.dumps({"profile": profile}))
    (runs / "notes").mkdir()  # not a run folder: left alone
    result = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox"])
    assert result.exit_code == 3
    kept = sorted(path.name for path in runs.iterdir())
    mine = [name for name in kept if name.endswith("-sandbox") or name.startswith("2026")]
    assert len(mine) == KEEP_RUNS
    assert "20200101T000000Z-sandbox" not in kept
    assert "20200101T000002Z-sandbox" not in kept
    assert "20200101T000003Z-sandbox" in kept
    assert len([name for name in kept if name.endswith("-other")]) == KEEP_RUNS + 2
    assert "notes" in kept


# -- why rows were rejected ------------------------------------------------------------


def test_upload_shows_the_first_reasons_like_validate(runner: CliRunner, tmp_path: Path) -> None:
    checked = runner.invoke(cli, ["validate", str(BROKEN)])
    reasons = checked.stdout.splitlines()[:8]
    assert reasons[0] == f"{BROKEN}:3: sku: is required"
    result = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox"])
    assert result.exit_code == 3
    assert result.stdout.splitlines()[:8] == reasons
    assert "more rejected rows" not in result.stdout


def test_past_the_first_ten_the_rest_are_in_the_rejects_file(runner: CliRunner) -> None:
    rows = "".join(f"BAD-{i},t,-{i + 1}\n" for i in range(12))
    Path("bad.csv").write_text("sku,title,price\n" + rows, encoding="utf-8")
    result = runner.invoke(cli, ["upload", "bad.csv", "--sandbox", "--rejects", "r.csv"])
    assert result.exit_code == 3
    lines = result.stdout.splitlines()
    assert lines[0] == "bad.csv:2: price: must be greater than 0 (value: '-1')"
    assert lines[9] == "bad.csv:11: price: must be greater than 0 (value: '-10')"
    assert lines[10] == "... and 2 more rejected rows (all of them are in r.csv)."
    assert lines[-1] == "Rejected rows written to r.csv."
    quiet = runner.invoke(cli, ["--quiet", "upload", "bad.csv", "--sandbox"])
    assert "must be greater than 0" not in quiet.stdout


def test_stock_shows_the_first_reasons_too(runner: CliRunner) -> None:
    Path("stock.csv").write_text("sku,stock\nA-1,many\n", encoding="utf-8")
    result = runner.invoke(cli, ["stock", "stock.csv", "--sandbox"])
    assert result.exit_code == 3
    assert (
        result.stdout.splitlines()[0] == "stock.csv:2: stock: is not a whole number (value: 'many')"
    )


# -- messages that say what is so ------------------------------------------------------


def test_rejects_in_a_missing_directory_fail_before_reading(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "x.csv"
    result = runner.invoke(cli, ["validate", str(BROKEN), "--rejects", str(target)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        f"Error: cannot write --rejects {target}: the directory {target.parent} does not exist.\n"
        "Hint: Create the directory first, or name a file in an existing one.\n"
    )
    assert not (tmp_path / "no").exists()
    plan = runner.invoke(cli, ["plan", str(BROKEN), "--sandbox", "--rejects", str(target)])
    assert plan.exit_code == 2
    assert plan.stderr == result.stderr


@pytest.mark.parametrize("option", ["--rejects", "--failed", "--report", "--metrics-file"])
def test_upload_outputs_in_a_missing_directory_fail_before_sending(
    runner: CliRunner, tmp_path: Path, option: str
) -> None:
    result = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox", option, "missing/out.file"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"Error: cannot write {option} missing/out.file: the directory missing does not exist."
    )
    assert not _runs(tmp_path).exists()
    plan = runner.invoke(cli, ["plan", str(BROKEN), "--sandbox"])
    assert "3 to create" in plan.stdout  # nothing was sent


def test_delta_mode_on_a_file_of_counts_says_so(runner: CliRunner) -> None:
    Path("counts.csv").write_text("sku,stock\nA-1,3\n", encoding="utf-8")
    result = runner.invoke(cli, ["stock", "counts.csv", "--sandbox", "--mode", "delta"])
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: counts.csv: the file has a stock column ('stock') and no delta column, "
        "so --mode delta has nothing to read.\n"
        "Hint: Use --mode set to set counts from the stock column.\n"
    )
    Path("deltas.csv").write_text("sku,增减\nA-1,3\n", encoding="utf-8")
    result = runner.invoke(cli, ["stock", "deltas.csv", "--sandbox", "--mode", "set"])
    assert result.exit_code == 3
    assert result.stderr == (
        "Error: deltas.csv: the file has a delta column ('增减') and no stock column, "
        "so --mode set has nothing to read.\n"
        "Hint: Use --mode delta to apply changes from the delta column.\n"
    )


def _ledger_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "ledger" / "sandbox-embedded" / "ledger.sqlite3"


def _damaged_hint(path: Path) -> str:
    return (
        f"Hint: Move it aside (mv {path} {path}.damaged) and run again with --refresh: "
        "shopsync rebuilds it from the products on the platform (which stock delta files "
        "were applied is not on the platform: do not re-run them).\n"
    )


def test_a_ledger_that_is_not_a_database_is_called_damaged(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = _ledger_file(tmp_path)
    path.parent.mkdir(parents=True, mode=0o700)
    path.write_bytes(b"this is not SQLite" * 1000)
    result = runner.invoke(cli, ["upload", str(DATA / "excel-gbk.csv"), "--sandbox"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the ledger {path} is damaged (file is not a database).\n" + _damaged_hint(path)
    )
    assert "writable" not in result.stderr


def test_a_malformed_ledger_is_called_damaged(runner: CliRunner, tmp_path: Path) -> None:
    many = "".join(f"S-{i},Product {i} {'x' * 200},1.00\n" for i in range(2000))
    Path("many.csv").write_text("sku,title,price\n" + many, encoding="utf-8")
    assert runner.invoke(cli, ["upload", "many.csv", "--sandbox"]).exit_code == 0
    path = _ledger_file(tmp_path)
    with sqlite3.connect(path) as db:  # fold the WAL in, so the pages are in the file
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for start in range(page * 2, len(data) - page, page):  # every page but the first
        data[start : start + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    result = runner.invoke(cli, ["plan", "many.csv", "--sandbox"])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: the ledger {path} is damaged (database disk image is malformed).\n"
        + _damaged_hint(path)
    )


def test_a_ledger_locked_past_the_busy_timeout_is_a_clear_error(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert runner.invoke(cli, ["upload", str(DATA / "excel-gbk.csv"), "--sandbox"]).exit_code == 0
    Path("counts.csv").write_text("sku,stock\nSM-2023-Pro,7\n", encoding="utf-8")
    monkeypatch.setattr(ledger_module, "_BUSY_TIMEOUT_S", 0.1)
    path = _ledger_file(tmp_path)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process writing, and not letting go
    try:
        result = runner.invoke(cli, ["upload", str(BROKEN), "--sandbox"])
        stock = runner.invoke(cli, ["stock", "counts.csv", "--sandbox"])
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    expected = (
        f"Error: the ledger {path} is locked by another process: waited 0.1s for it "
        "(database is locked).\n"
        "Hint: Another shopsync run, or a program that opened the ledger (an sqlite3 shell?), "
        f"holds it; wait for it to finish, or find it with: fuser {path}\n"
    )
    assert result.exit_code == 6, result.output
    assert result.stderr.endswith(expected)
    assert stock.exit_code == 6, stock.output
    assert stock.stderr.endswith(expected)
