"""How commands end: --detailed-exitcode, --json on failure, closed pipes, global flags.

Every exit code is decided in one place (``cli/main.py``); these tests go through it,
with click's runner and, for closed pipes, with a real pipe in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.sandbox import SandboxHandle

EXAMPLES = Path(__file__).parent.parent / "examples"
GOOD = "sku,title,price,stock\nA-1,Good,1.00,5\nA-2,Also good,2.00,7\n"
CANARY = "canary-s3cret-9f27d1c4"


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
    (tmp_path / "p.csv").write_text(GOOD)
    return CliRunner()


# -- --detailed-exitcode: 0 no changes, 2 changes, 1 anything else ----------------------


def test_detailed_exitcode_changes_then_none(runner: CliRunner) -> None:
    changes = runner.invoke(cli, ["plan", "p.csv", "--sandbox", "--detailed-exitcode"])
    assert changes.exit_code == 2, changes.output
    assert runner.invoke(cli, ["upload", "p.csv", "--sandbox"]).exit_code == 0
    none = runner.invoke(cli, ["plan", "p.csv", "--sandbox", "--detailed-exitcode"])
    assert none.exit_code == 0, none.output


@pytest.mark.parametrize(
    ("arguments", "without_flag"),
    [
        (["plan", "p.csv", "--sandbox", "--bogus"], 2),  # click's usage error
        (["--bogus", "plan", "p.csv", "--sandbox"], 2),  # before the subcommand
        (["plan", "p.csv", "--refresh"], 2),  # no configuration
        (["plan", "missing.csv", "--sandbox"], 3),  # a file that cannot be read
        (["plan", "p.csv", "--sandbox", "-q", "-v"], 2),  # contradicting flags
    ],
)
def test_detailed_exitcode_turns_every_failure_into_1(
    runner: CliRunner, arguments: list[str], without_flag: int
) -> None:
    plain = runner.invoke(cli, arguments)
    assert plain.exit_code == without_flag, plain.output
    detailed = runner.invoke(cli, [*arguments, "--detailed-exitcode"])
    assert detailed.exit_code == 1, detailed.output


def test_detailed_exitcode_turns_a_crash_into_1(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("shopsync.jobs.plan.plan", crash)
    assert runner.invoke(cli, ["plan", "p.csv", "--sandbox"]).exit_code == 70
    result = runner.invoke(cli, ["plan", "p.csv", "--sandbox", "--detailed-exitcode"])
    assert result.exit_code == 1
    assert "Internal error: RuntimeError: boom" in result.stderr


def test_detailed_exitcode_with_rejected_rows_is_1(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.csv").write_text("sku,title,price\nA-1,Good,1.00\nA-2,,-1\n")
    result = runner.invoke(cli, ["plan", "bad.csv", "--sandbox", "--detailed-exitcode"])
    assert result.exit_code == 1, result.output


# -- --json: always one JSON object on stdout ------------------------------------------


def test_upload_and_stock_json_summaries(runner: CliRunner) -> None:
    upload = runner.invoke(cli, ["upload", "p.csv", "--sandbox", "--json"])
    assert upload.exit_code == 0, upload.output
    document = json.loads(upload.stdout)
    assert document["command"] == "upload"
    assert document["counts"]["created"] == 2
    assert document["exit_code"] == 0
    assert "Done in" in upload.stderr  # the human summary moved to stderr

    stock = runner.invoke(cli, ["stock", "p.csv", "--sandbox", "--json"])
    assert stock.exit_code == 0, stock.output
    document = json.loads(stock.stdout)
    assert document["command"] == "stock"
    assert document["counts"]["unchanged"] == 2
    assert document["requests"] == 0


@pytest.mark.parametrize(
    ("arguments", "exit_code"),
    [
        (["validate", "missing.csv", "--json"], 3),
        (["plan", "missing.csv", "--sandbox", "--json"], 3),
        (["upload", "missing.csv", "--sandbox", "--json"], 3),
        (["stock", "missing.csv", "--sandbox", "--json"], 3),
        (["upload", "p.csv", "--json"], 2),  # no configuration
        (["plan", "p.csv", "--json", "--no-such-flag"], 2),
        (["plan", "p.csv", "--json", "--detailed-exitcode", "--no-such-flag"], 1),
        (["orders", "--format", "json"], 2),
        (["audit", "--json", "--sandbox", "--run", "x", "--bogus"], 2),
    ],
)
def test_json_failures_print_one_object(
    runner: CliRunner, arguments: list[str], exit_code: int
) -> None:
    result = runner.invoke(cli, arguments)
    assert result.exit_code == exit_code, result.output
    document = json.loads(result.stdout)
    assert document["exit_code"] == exit_code
    assert document["error"]["message"]
    assert document["error"]["message"] in result.stderr  # people still read stderr


def test_a_file_that_cannot_be_read_is_named_in_the_json(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["validate", "missing.csv", "--json"])
    document = json.loads(result.stdout)
    assert document["error"]["type"] == "InputError"
    assert "missing.csv" in document["error"]["message"]


# -- a closed pipe is not a bug --------------------------------------------------------


def _run_into_closed_pipe(
    arguments: list[str], env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    """Run shopsync with stdout a pipe whose reading end is already closed (`| head -0`)."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return subprocess.run(
            [sys.executable, "-m", "shopsync", *arguments],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)


def test_closed_pipe_ends_quietly(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(cli, ["upload", "p.csv", "--sandbox"]).exit_code == 0
    env = {**os.environ, "SHOPSYNC_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    for arguments in (
        ["audit", "--sandbox"],
        ["validate", "p.csv"],
        ["plan", "p.csv", "--sandbox"],
        ["plan", "p.csv", "--sandbox", "--json"],
        ["schema"],
        ["orders", "--sandbox", "--format", "csv"],
    ):
        ended = _run_into_closed_pipe(arguments, env)
        assert (ended.returncode, ended.stderr) == (141, ""), arguments


def test_closed_pipe_under_detailed_exitcode_is_1(runner: CliRunner, tmp_path: Path) -> None:
    env = {**os.environ, "SHOPSYNC_DATA_DIR": str(tmp_path / "data"), "HOME": str(tmp_path)}
    ended = _run_into_closed_pipe(["plan", "p.csv", "--sandbox", "--detailed-exitcode"], env)
    assert (ended.returncode, ended.stderr) == (1, "")


# -- -q, -v and --traceback after the subcommand ---------------------------------------


def _every_command(group: click.Group, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*path, name))
        if isinstance(command, click.Group):
            found += _every_command(command, (*path, name))
    return found


@pytest.mark.parametrize("path", _every_command(cli))
def test_every_command_lists_the_global_flags(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    for flag in ("-v, --verbose", "-q, --quiet", "--traceback"):
        assert flag in result.stdout, (path, flag)


def test_quiet_after_the_subcommand(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["upload", "p.csv", "--sandbox", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Done in ")


def test_traceback_after_the_subcommand(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("shopsync.jobs.plan.plan", crash)
    result = runner.invoke(cli, ["plan", "p.csv", "--sandbox", "--traceback"])
    assert result.exit_code == 70
    assert "Traceback (most recent call last)" in result.stderr


def test_verbose_counts_before_and_after(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["-v", "upload", "p.csv", "--sandbox", "-v"])
    assert result.exit_code == 0, result.output
    assert "DEBUG shopsync.http.transport: > POST" in result.stderr


def test_verbose_shows_batches_answers_and_request_ids(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["upload", "p.csv", "--sandbox", "-v"])
    assert result.exit_code == 0, result.output
    assert "INFO shopsync.sync.engine: sending batch shopsync-" in result.stderr
    assert "2 to create, 0 to update" in result.stderr
    assert "INFO shopsync.http.client: POST /products/batch: 200 OK (request id " in result.stderr
    assert "DEBUG" not in result.stderr


def test_very_verbose_shows_the_exchange_but_never_a_secret(
    runner: CliRunner,
    monkeypatch: pytest.MonkeyPatch,
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    sandbox = make_sandbox(client_id="shop-client", client_secret=CANARY)
    monkeypatch.setenv("SHOPSYNC_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("SHOPSYNC_CLIENT_ID", "shop-client")
    monkeypatch.setenv("SHOPSYNC_CLIENT_SECRET", CANARY)
    result = runner.invoke(cli, ["upload", "p.csv", "-vv", "--report", "report.json"])
    assert result.exit_code == 0, result.output
    assert "> POST " + sandbox.base_url + "/auth/token" in result.stderr
    assert "> POST " + sandbox.base_url + "/products/batch" in result.stderr
    assert '"access_token":"***"' in result.stderr
    assert "Authorization: ***" in result.stderr
    assert "client_secret=***" in result.stderr
    assert CANARY not in result.output
    assert CANARY not in Path("report.json").read_text()


def test_schema_text_is_for_people() -> None:
    result = CliRunner().invoke(cli, ["schema"])
    assert result.exit_code == 0
    document = json.loads(result.stdout)
    assert "docs/platform-api.md" in document["description"]
    for developer_word in (":meth:", ":class:", "pydantic", "model_validate", "/work/"):
        assert developer_word not in result.stdout
    assert (Path(__file__).parent.parent / "docs" / "platform-api.md").is_file()
