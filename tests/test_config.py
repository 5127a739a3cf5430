"""Settings: precedence, the environment alone, file safety, URL safety, sources, CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.config import Settings, is_loopback_host, load_settings
from shopsync.errors import ConfigError, ExitCode


def write_config(directory: Path, text: str, mode: int = 0o600) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


FILE = """
default_profile = "shop"

[profiles.shop]
base_url = "https://file.example/v1"
client_id = "file-id"
client_secret = "file-secret-xyz"
rate = 10
batch_size = 50
workers = 2

[profiles.other]
base_url = "https://other.example"
"""


def test_flag_beats_environment_beats_file(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    path = write_config(config, FILE)
    environ = {"SHOPSYNC_RATE": "20", "SHOPSYNC_BATCH_SIZE": "70"}
    settings = load_settings(config_dir=config, environ=environ, flags={"rate": 30.0})
    assert settings.profile == "shop"
    assert settings.rate == 30.0
    assert settings.batch_size == 70
    assert settings.workers == 2
    assert settings.burst == 20
    assert settings.client_secret == "file-secret-xyz"
    label = f"config file {path} [profiles.shop]"
    assert settings.sources["rate"] == "flag --rate"
    assert settings.sources["batch_size"] == "environment SHOPSYNC_BATCH_SIZE"
    assert settings.sources["workers"] == label
    assert settings.sources["burst"] == "default"
    assert settings.sources["profile"] == f"config file {path}"
    assert settings.token_url == "https://file.example/v1/auth/token"
    assert settings.sources["token_url"] == "derived from base_url"


def test_profile_from_flag_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_config(config, FILE)
    env = {"SHOPSYNC_PROFILE": "other"}
    assert load_settings(config_dir=config, environ=env).base_url == "https://other.example"
    flagged = load_settings(config_dir=config, environ=env, flags={"profile": "shop"})
    assert flagged.base_url == "https://file.example/v1"
    with pytest.raises(ConfigError, match="There is no profile 'nope'") as caught:
        load_settings(config_dir=config, environ={}, flags={"profile": "nope"})
    assert caught.value.hint == "Known profiles: other, shop."


def test_the_environment_alone_is_a_complete_configuration(tmp_path: Path) -> None:
    environ = {
        "SHOPSYNC_BASE_URL": "https://ci.example/v1/",
        "SHOPSYNC_TOKEN_URL": "https://auth.example/oauth/token",
        "SHOPSYNC_CLIENT_ID": "ci",
        "SHOPSYNC_CLIENT_SECRET": "ci-secret",
        "SHOPSYNC_SCOPE": "products",
        "SHOPSYNC_RATE": "12.5",
        "SHOPSYNC_BURST": "3",
        "SHOPSYNC_BATCH_SIZE": "25",
        "SHOPSYNC_WORKERS": "8",
        "SHOPSYNC_CONNECT_TIMEOUT": "2",
        "SHOPSYNC_READ_TIMEOUT": "9",
        "SHOPSYNC_MAX_ATTEMPTS": "3",
        "SHOPSYNC_DEADLINE": "30",
        "SHOPSYNC_DATA_DIR": str(tmp_path / "d"),
    }
    settings = load_settings(config_dir=tmp_path / "none", environ=environ)
    settings.require_credentials()
    assert settings == Settings(
        base_url="https://ci.example/v1",
        token_url="https://auth.example/oauth/token",
        client_id="ci",
        client_secret="ci-secret",
        scope="products",
        rate=12.5,
        burst=3,
        batch_size=25,
        workers=8,
        connect_timeout=2.0,
        read_timeout=9.0,
        max_attempts=3,
        deadline=30.0,
        data_dir=tmp_path / "d",
    )
    assert settings.config_file is None
    assert settings.cache_dir == tmp_path / "d" / "cache"
    assert settings.audit_path == tmp_path / "d" / "audit" / "default.jsonl"
    assert settings.ledger_dir().parent == tmp_path / "d" / "ledger"
    assert settings.ledger_dir().name.startswith("default-")


def test_missing_credentials_name_every_way_to_set_them(tmp_path: Path) -> None:
    settings = load_settings(config_dir=tmp_path, environ={"HOME": str(tmp_path)})
    with pytest.raises(ConfigError) as caught:
        settings.require_credentials()
    assert caught.value.message == (
        "Missing setting(s) for profile 'default': base_url, client_id, client_secret."
    )
    assert "SHOPSYNC_CLIENT_SECRET" in (caught.value.hint or "")


def test_a_secret_in_a_group_readable_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    path = write_config(config, FILE, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_dir=config, environ={})
    assert f"chmod 600 {path}" in caught.value.message
    assert "mode 0644" in caught.value.message
    assert "file-secret-xyz" not in caught.value.message
    path.chmod(0o600)
    assert load_settings(config_dir=config, environ={}).client_id == "file-id"


def test_a_file_without_secrets_may_be_readable(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_config(
        config,
        '[profiles.default]\nbase_url = "https://x.example"\nclient_secret_env = "MY_SECRET"\n',
        mode=0o644,
    )
    settings = load_settings(config_dir=config, environ={"MY_SECRET": "from-env-var"})
    assert settings.client_secret == "from-env-var"
    assert settings.sources["client_secret"] == (
        "environment MY_SECRET (named by client_secret_env)"
    )
    unset = load_settings(config_dir=config, environ={})
    with pytest.raises(ConfigError, match="MY_SECRET, which is not set"):
        unset.require_credentials()


def test_a_secret_in_the_environment_beats_the_files_indirection(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_config(config, '[profiles.default]\nclient_secret_env = "MY_SECRET"\n')
    environ = {"MY_SECRET": "indirect", "SHOPSYNC_CLIENT_SECRET": "direct"}
    assert load_settings(config_dir=config, environ=environ).client_secret == "direct"
    flagged = load_settings(
        config_dir=config, environ=environ, flags={"client_secret_env": "MY_SECRET"}
    )
    assert flagged.client_secret == "indirect"


@pytest.mark.parametrize(
    "url",
    ["http://shop.example/v1", "http://10.0.0.1/v1", "ftp://127.0.0.1/", "https://a:b@x.example"],
)
def test_unsafe_urls_are_refused(tmp_path: Path, url: str) -> None:
    with pytest.raises(ConfigError):
        load_settings(config_dir=tmp_path, environ={"SHOPSYNC_BASE_URL": url})


def test_plain_http_to_a_non_loopback_token_url_is_refused(tmp_path: Path) -> None:
    environ = {"SHOPSYNC_BASE_URL": "https://x.example", "SHOPSYNC_TOKEN_URL": "http://x.example/t"}
    with pytest.raises(ConfigError, match="plain http://") as caught:
        load_settings(config_dir=tmp_path, environ=environ)
    assert caught.value.hint == "Use https://x.example/t"


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8000", "http://127.3.2.1", "http://[::1]:80/v1", "http://localhost"]
)
def test_plain_http_to_loopback_is_allowed(tmp_path: Path, url: str) -> None:
    settings = load_settings(config_dir=tmp_path, environ={"SHOPSYNC_BASE_URL": url})
    assert settings.base_url == url.rstrip("/")


def test_is_loopback_host() -> None:
    assert is_loopback_host("127.0.0.1")
    assert is_loopback_host("::1")
    assert is_loopback_host("LOCALHOST")
    assert not is_loopback_host("localhost.evil.example")
    assert not is_loopback_host("128.0.0.1")


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("SHOPSYNC_RATE", "fast", "rate from environment SHOPSYNC_RATE: 'fast' expected a number."),
        ("SHOPSYNC_RATE", "0", "must be a number greater than 0"),
        ("SHOPSYNC_WORKERS", "100", "must be between 1 and 64"),
        ("SHOPSYNC_BATCH_SIZE", "1.5", "expected a whole number"),
        ("SHOPSYNC_CLIENT_SECRET_ENV", "not a name", "must be the name of an environment"),
    ],
)
def test_bad_values_name_their_source(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings(config_dir=tmp_path, environ={name: value})


def test_unknown_keys_and_bad_toml_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "cfg"
    write_config(config, '[profiles.default]\nbase_ulr = "https://x.example"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(config_dir=config, environ={})
    write_config(config, "[profiles.default\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(config_dir=config, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_dir=config, environ={"SHOPSYNC_CONFIG": str(tmp_path / "nope.toml")})


def test_data_dir_defaults_to_xdg(tmp_path: Path) -> None:
    xdg = load_settings(config_dir=tmp_path, environ={"XDG_DATA_HOME": str(tmp_path / "x")})
    assert xdg.data_dir == tmp_path / "x" / "shopsync"
    assert xdg.sources["data_dir"] == "XDG_DATA_HOME"
    home = load_settings(config_dir=tmp_path, environ={"HOME": str(tmp_path / "h")})
    assert home.data_dir == tmp_path / "h" / ".local" / "share" / "shopsync"


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "HOME": str(tmp_path / "home"),
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
    }


def test_cli_config_show_masks_the_secret_and_shows_sources(tmp_path: Path) -> None:
    env = _env(tmp_path)
    path = write_config(tmp_path / "xdg-config" / "shopsync", FILE)
    env["SHOPSYNC_WORKERS"] = "6"
    result = CliRunner().invoke(cli, ["config", "show", "--rate", "7", "--timeout", "3"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == f"Config file: {path}"
    rows = {line.split()[0]: line for line in lines[1:] if line.startswith("  ")}
    assert rows["client_secret"].split()[1:3] == ["***", "(set)"]
    assert "file-secret-xyz" not in result.output
    assert rows["rate"].split()[1:] == ["7.0", "(flag", "--rate)"]
    assert rows["workers"].split()[1:] == ["6", "(environment", "SHOPSYNC_WORKERS)"]
    assert rows["read_timeout"].split()[1:] == ["3.0", "(flag", "--read-timeout)"]
    assert rows["batch_size"].endswith(f"(config file {path} [profiles.shop])")
    assert f"  token cache  {tmp_path / 'data' / 'cache' / 'tokens'}" in lines
    assert f"  audit log    {tmp_path / 'data' / 'audit' / 'shop.jsonl'}" in lines


def test_cli_config_errors_exit_2_with_the_fix(tmp_path: Path) -> None:
    env = _env(tmp_path)
    path = write_config(tmp_path / "xdg-config" / "shopsync", FILE, mode=0o640)
    result = CliRunner().invoke(cli, ["config", "show"], env=env)
    assert result.exit_code == ExitCode.USAGE
    assert f"chmod 600 {path}" in result.output
    path.chmod(0o600)
    refused = CliRunner().invoke(
        cli, ["config", "show", "--base-url", "http://shop.example"], env=env
    )
    assert refused.exit_code == ExitCode.USAGE
    assert "plain http://" in refused.output


def test_cli_has_no_plain_secret_flag(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--client-secret", "x"], env=_env(tmp_path))
    assert result.exit_code == 2
    assert "No such option '--client-secret'" in result.output
