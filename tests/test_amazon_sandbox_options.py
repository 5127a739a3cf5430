"""The Amazon dialect's knobs from ``SandboxConfig.dialect_options`` and ``sandbox serve
--dialect-option``, and the ledger of an Amazon profile named by its derived endpoint."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.config import load_settings
from shopsync.errors import UsageError
from shopsync.platforms import endpoint_for, platform_settings
from shopsync.sandbox import SandboxConfig, running_sandbox


def test_the_knobs_come_from_the_config() -> None:
    options = {
        "visibility_delay": "30", "lose_skus": "A, B", "suppress_skus": "C",
        "lose_rate": "0.25", "feed_delay": "120", "usage_scale": "10",
    }  # fmt: skip
    with running_sandbox(SandboxConfig(dialect="amazon", dialect_options=options)) as handle:
        app = handle.app
        assert (app.visibility_delay, app.lose_skus, app.suppress_skus) == (  # type: ignore[attr-defined]
            30.0, {"A", "B"}, {"C"},
        )  # fmt: skip
        assert (app.lose_rate, app.feed_delay, app.usage_scale) == (0.25, 120.0, 10.0)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"visibilty_delay": "3"}, "The amazon sandbox has no option 'visibilty_delay'."),
        (
            {"lose_rate": "2"},
            "The amazon sandbox option lose_rate='2' must be a fraction between 0 and 1.",
        ),
        ({"feed_delay": "soon"}, "The amazon sandbox option feed_delay='soon' must be a number."),
    ],
)
def test_a_wrong_knob_is_a_usage_error(options: dict[str, str], message: str) -> None:
    from shopsync.sandbox.dialects.amazon.app import AmazonApp  # noqa: PLC0415

    with pytest.raises(UsageError) as raised:
        AmazonApp(SandboxConfig(dialect="amazon", dialect_options=options))
    assert raised.value.message == message


def test_serve_takes_dialect_options(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SandboxConfig] = []
    monkeypatch.setattr("shopsync.sandbox.server.serve", lambda config, **_k: seen.append(config))
    result = CliRunner().invoke(
        cli,
        ["sandbox", "serve", "--dialect", "amazon", "--port", "0",
         "--dialect-option", "lose_skus=A,B", "--dialect-option", "visibility_delay=5"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert dict(seen[0].dialect_options) == {"lose_skus": "A,B", "visibility_delay": "5"}
    bad = CliRunner().invoke(cli, ["sandbox", "serve", "--dialect-option", "novalue"])
    assert bad.exit_code == 2
    assert "'novalue' is not NAME=VALUE." in bad.output


def _amazon_settings(tmp_path: Path, **environ: str) -> object:
    return load_settings(
        config_dir=tmp_path / "config",
        environ={
            "SHOPSYNC_PLATFORM": "amazon",
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            "SHOPSYNC_CLIENT_ID": "id",
            "SHOPSYNC_CLIENT_SECRET": "secret",
            "SHOPSYNC_REFRESH_TOKEN": "Atzr|x",
            "SHOPSYNC_SELLER_ID": "S",
            "SHOPSYNC_MARKETPLACE_ID": "M",
            **environ,
        },
        platform_settings=platform_settings,
    )


def test_the_ledger_is_named_by_the_region_s_endpoint_without_a_base_url(tmp_path: Path) -> None:
    na = _amazon_settings(tmp_path)
    eu = _amazon_settings(tmp_path, SHOPSYNC_REGION="eu")
    assert endpoint_for(na) == "https://sellingpartnerapi-na.amazon.com"  # type: ignore[arg-type]
    assert endpoint_for(eu) == "https://sellingpartnerapi-eu.amazon.com"  # type: ignore[arg-type]
    given = _amazon_settings(tmp_path, SHOPSYNC_BASE_URL="http://127.0.0.1:9")
    assert endpoint_for(given) == "http://127.0.0.1:9"  # type: ignore[arg-type]
    # `plan` names its target without connecting: the derived endpoint, never None.
    catalog = tmp_path / "c.csv"
    catalog.write_text("sku,title,price\nA-1,Teapot,9.90\n", encoding="utf-8")
    env = {
        "SHOPSYNC_PLATFORM": "amazon", "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_CLIENT_ID": "id", "SHOPSYNC_CLIENT_SECRET": "secret",
        "SHOPSYNC_REFRESH_TOKEN": "Atzr|x", "SHOPSYNC_SELLER_ID": "S",
        "SHOPSYNC_MARKETPLACE_ID": "M", "SHOPSYNC_REGION": "eu",
    }  # fmt: skip
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(cli, ["plan", str(catalog), "--out", str(out)], env=env)
    assert result.exit_code == 0, result.output
    assert "sellingpartnerapi-eu.amazon.com" in out.read_text(encoding="utf-8")
    assert "None" not in out.read_text(encoding="utf-8")
    digest = hashlib.sha256(b"https://sellingpartnerapi-eu.amazon.com").hexdigest()[:8]
    assert [p.name for p in (tmp_path / "data" / "ledger").iterdir()] == [f"default-{digest}"]
