"""The sandbox's dialects: chosen by name (``serve --dialect``, the profile's platform), and
the ``try:`` line that ``sandbox serve`` prints works exactly as printed."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import shopsync.sandbox
from shopsync.cli import cli
from shopsync.cli.sandbox_cmds import sandbox_group
from shopsync.errors import UsageError
from shopsync.sandbox import SandboxConfig
from shopsync.sandbox.dialects import DIALECTS, known_dialects

EXAMPLES = Path(__file__).parent.parent / "examples"


def test_the_generic_dialect_is_the_default() -> None:
    assert SandboxConfig().dialect == "generic"
    assert known_dialects() == sorted(DIALECTS)
    assert "generic" in DIALECTS


def test_an_unknown_dialect_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        SandboxConfig(dialect="nope")
    known = known_dialects()  # every registered dialect, generic first by name
    assert f"there is no sandbox dialect 'nope' (known: {', '.join(known)})" in str(caught.value)
    result = CliRunner().invoke(sandbox_group, ["serve", "--dialect", "nope"])
    assert result.exit_code == 2
    choices = ", ".join(repr(name) for name in known)
    assert f"Invalid value for '--dialect': 'nope' is not one of {choices}." in result.output


def test_serve_passes_the_dialect_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SandboxConfig] = []
    monkeypatch.setattr(
        "shopsync.sandbox.server.serve", lambda config, on_ready=None: seen.append(config)
    )
    result = CliRunner().invoke(sandbox_group, ["serve", "--dialect", "generic"])
    assert result.exit_code == 0, result.output
    assert seen[0].dialect == "generic"


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SHOPSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_upload_sandbox_speaks_the_dialect_of_the_profiles_platform(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialects: list[str] = []
    real = shopsync.sandbox.running_sandbox

    @contextmanager
    def recording(config: SandboxConfig) -> Iterator[Any]:
        dialects.append(config.dialect)
        with real(config) as handle:
            yield handle

    monkeypatch.setattr(shopsync.sandbox, "running_sandbox", recording)
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "generic")
    result = CliRunner().invoke(cli, ["upload", str(EXAMPLES / "products.csv"), "--sandbox"])
    assert result.exit_code == 0, result.output
    assert dialects == ["generic"]


def test_the_printed_try_command_works_as_printed(tmp_path: Path) -> None:
    # The served sandbox, a fresh HOME with no shopsync configuration at all, and the line
    # run by a shell exactly as a person would paste it.
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("SHOPSYNC_", "XDG_"))
    }
    env.update(
        HOME=str(home),
        PYTHONUNBUFFERED="1",
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
    )
    serve = ["sandbox", "serve", "--port", "0", "--log-level", "warning"]
    server = subprocess.Popen(
        [sys.executable, "-m", "shopsync", *serve, "--client-secret", "it's s3cret"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=home,
    )
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(6)]
        tries = [line for line in lines if line.startswith("  try:")]
        assert len(tries) == 1, lines
        command = tries[0].split(":", 1)[1].strip()
        assert "shopsync auth check" in command
        # The server has bound its port before printing: the command can run at once.
        result = subprocess.run(
            ["/bin/sh", "-c", command],
            capture_output=True,
            text=True,
            env=env,
            cwd=home,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith("Credentials OK: client 'demo-client' got a token")
        assert shlex.quote("it's s3cret") in command
    finally:
        server.terminate()
        server.wait(timeout=15)
        for stream in (server.stdout, server.stderr):
            if stream is not None:
                stream.close()
