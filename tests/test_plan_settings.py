"""``plan`` with no configuration fails like ``upload``: missing settings, exit code 2.

An empty environment variable (what GitHub Actions passes for an unset ``vars.X``) is
"not set", for every setting.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.config import SHARED_SETTINGS, load_settings
from shopsync.errors import ExitCode
from shopsync.platforms import platform_settings

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def empty_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith(("SHOPSYNC_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def every_setting_variable() -> list[str]:
    names = ["SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG"]
    names += [spec.env for spec in (*SHARED_SETTINGS, *platform_settings("generic"))]
    return names


def test_plan_with_an_empty_home_is_a_configuration_error(empty_home: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(EXAMPLES / "products.csv")])
    assert result.exit_code == ExitCode.USAGE == 2
    assert "to create" not in result.stdout
    assert result.stderr.startswith(
        "Error: Missing setting(s) for profile 'default': base_url, client_id, client_secret."
    )


def test_plan_with_empty_variables_is_a_configuration_error(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in every_setting_variable():
        monkeypatch.setenv(name, "")
    result = CliRunner().invoke(cli, ["plan", str(EXAMPLES / "products.csv")])
    assert result.exit_code == 2
    assert "to create" not in result.stdout
    assert "Missing setting(s)" in result.stderr


def test_plan_with_detailed_exitcode_never_reports_changes_without_settings(
    empty_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_BASE_URL", "")
    result = CliRunner().invoke(
        cli, ["plan", str(EXAMPLES / "products.csv"), "--detailed-exitcode"]
    )
    assert result.exit_code != 2  # 2 would read as "changes" in CI
    assert result.exit_code == 1  # terraform's "error", whatever the cause
    assert "to create" not in result.stdout
    assert "Missing setting(s)" in result.stderr


def test_an_empty_variable_is_not_set_for_every_setting(tmp_path: Path) -> None:
    empty = dict.fromkeys(every_setting_variable(), "")
    empty["HOME"] = str(tmp_path)
    unset = {"HOME": str(tmp_path)}
    loaded = load_settings(config_dir=tmp_path, environ=empty, platform_settings=platform_settings)
    expected = load_settings(
        config_dir=tmp_path, environ=unset, platform_settings=platform_settings
    )
    assert loaded == expected
    assert loaded.sources == expected.sources


def test_plan_still_works_against_the_sandbox(empty_home: Path) -> None:
    result = CliRunner().invoke(cli, ["plan", str(EXAMPLES / "products.csv"), "--sandbox"])
    assert result.exit_code == 0, result.output
    assert "200 to create" in result.stdout
