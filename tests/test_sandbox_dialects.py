"""The sandbox's dialects: chosen by name (``serve --dialect``, the profile's platform), and
the ``try:`` line that ``sandbox serve`` prints works exactly as printed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from shopsync.cli.sandbox_cmds import sandbox_group
from shopsync.errors import UsageError
from shopsync.sandbox import SandboxConfig
from shopsync.sandbox.dialects import DIALECTS, known_dialects


def test_the_generic_dialect_is_the_default() -> None:
    assert SandboxConfig().dialect == "generic"
    assert known_dialects() == sorted(DIALECTS)
    assert "generic" in DIALECTS


def test_an_unknown_dialect_is_refused_with_the_known_ones() -> None:
    with pytest.raises(UsageError) as caught:
        SandboxConfig(dialect="nope")
    assert "there is no sandbox dialect 'nope' (known: generic)" in str(caught.value)
    result = CliRunner().invoke(sandbox_group, ["serve", "--dialect", "nope"])
    assert result.exit_code == 2
    assert "Invalid value for '--dialect': 'nope' is not 'generic'." in result.output


def test_serve_passes_the_dialect_on(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SandboxConfig] = []
    monkeypatch.setattr(
        "shopsync.sandbox.server.serve", lambda config, on_ready=None: seen.append(config)
    )
    result = CliRunner().invoke(sandbox_group, ["serve", "--dialect", "generic"])
    assert result.exit_code == 0, result.output
    assert seen[0].dialect == "generic"
