"""``shopsync sandbox serve``: the click group, and the server as a separate process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from shopsync.cli.sandbox_cmds import sandbox_group
from shopsync.errors import UsageError
from shopsync.sandbox import running_sandbox


def test_serve_help_lists_every_knob() -> None:
    result = CliRunner().invoke(sandbox_group, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--db",
        "--client-id",
        "--client-secret",
        "--token-ttl",
        "--rate",
        "--burst",
        "--max-batch",
        "--latency-ms",
        "--jitter-ms",
        "--fault-rate",
        "--reset-rate",
        "--slow-rate",
        "--slow-ms",
        "--drop-after-commit-rate",
        "--seed",
        "--orders",
        "--order-rate",
    ):
        assert flag in result.output


def test_contradictory_fault_rates_are_a_usage_error() -> None:
    result = CliRunner().invoke(
        sandbox_group, ["serve", "--port", "0", "--fault-rate", "0.7", "--reset-rate", "0.7"]
    )
    assert isinstance(result.exception, UsageError)
    assert "add up to more than 1" in str(result.exception)


def test_out_of_range_fraction_is_rejected_by_click() -> None:
    result = CliRunner().invoke(sandbox_group, ["serve", "--fault-rate", "2"])
    assert result.exit_code == 2
    assert "--fault-rate" in result.output


def test_missing_extra_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(UsageError) as caught, running_sandbox():
        pass
    assert caught.value.hint == "pip install 'shopsync[sandbox]'"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_in_a_process_prints_the_url_and_stops_cleanly(
    tmp_path: Path, stop: signal.Signals
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopsync.sandbox",
            "serve",
            "--port",
            "0",
            "--db",
            str(tmp_path / "shop.db"),
            "--log-level",
            "warning",
            "--client-secret",
            "s3cret",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("shopsync sandbox serving the platform API at http://127.0.0.1:")
        base_url = first.rsplit(" ", 1)[1].strip()
        lines = [process.stdout.readline() for _ in range(2)]
        assert "demo-client" in lines[0]
        assert "s3cret" in lines[1]
        deadline = time.monotonic() + 10
        while True:
            try:
                token = requests.post(
                    f"{base_url}/auth/token",
                    data={"grant_type": "client_credentials"},
                    auth=("demo-client", "s3cret"),
                    timeout=5,
                )
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        assert token.status_code == 200
        process.send_signal(stop)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
        if process.stderr is not None:
            process.stderr.close()
    assert (tmp_path / "shop.db").exists()
