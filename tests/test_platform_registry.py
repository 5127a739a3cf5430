"""The platform registry and per-platform settings: one lazy construction path, each
adapter declaring its own settings (secrets masked, 0600-checked and redacted)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from shopsync import platforms
from shopsync.cli import cli
from shopsync.config import Setting, Settings, load_settings, parse_text
from shopsync.errors import ConfigError
from shopsync.http.redact import redact_text
from shopsync.platforms import AuthStatus, platform_settings


class TinyPlatform:
    """A platform used only here: a static API token and a shop name, no OAuth2."""

    name = "tiny"
    max_batch_size = 1
    settings = (
        Setting("shop", parse_text, help="the shop's name", required=True),
        Setting("api_token", parse_text, secret=True, help="static token", required=True),
        Setting("api_version", parse_text, "2024-01", help="API version"),
    )
    built: ClassVar[list[Settings]] = []

    def __init__(self, settings: Settings) -> None:
        self.settings_used = settings

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> TinyPlatform:
        cls.built.append(settings)
        return cls(settings)

    def check_auth(self) -> AuthStatus:
        return AuthStatus(
            client_id=str(self.settings_used.get("shop")),
            token_url=f"{self.settings_used.base_url}/token",
            expires_in=60.0,
            granted_scopes=None,
        )

    def close(self) -> None:
        pass


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[TinyPlatform]]:
    monkeypatch.setitem(platforms.REGISTRY, "tiny", (__name__, "TinyPlatform"))
    TinyPlatform.built.clear()
    yield TinyPlatform


@pytest.fixture
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in list(os.environ):
        if name.startswith("SHOPSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_config(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


TINY_PROFILE = """
[profiles.default]
platform = "tiny"
base_url = "https://tiny.example/api"
shop = "lantern"
api_token = "tiny-token-0123456789"
"""


def test_the_platform_defaults_to_generic_and_comes_from_every_layer(tmp_path: Path) -> None:
    settings = load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)
    assert (settings.platform, settings.sources["platform"]) == ("generic", "default")
    env = {"SHOPSYNC_PLATFORM": "generic"}
    by_env = load_settings(config_dir=tmp_path, environ=env, platform_settings=platform_settings)
    assert by_env.sources["platform"] == "environment SHOPSYNC_PLATFORM"
    by_flag = load_settings(
        config_dir=tmp_path,
        environ=env,
        flags={"platform": "generic"},
        platform_settings=platform_settings,
    )
    assert by_flag.sources["platform"] == "flag --platform"


def test_an_adapter_declares_its_own_settings(tmp_path: Path, tiny: type[TinyPlatform]) -> None:
    path = write_config(tmp_path, TINY_PROFILE)
    settings = load_settings(
        config_dir=tmp_path,
        environ={"SHOPSYNC_API_VERSION": "2025-04"},
        platform_settings=platform_settings,
    )
    assert settings.platform == "tiny"
    assert settings.get("shop") == "lantern"
    assert settings.get("api_token") == "tiny-token-0123456789"
    assert settings.get("api_version") == "2025-04"
    assert settings.sources["shop"] == f"config file {path} [profiles.default]"
    assert settings.client_id is None  # the generic platform's settings do not apply
    assert "tiny-token" not in repr(settings)
    settings.require_credentials()
    names = [name for name, _, _ in settings.describe()]
    assert names[:6] == ["profile", "platform", "base_url", "shop", "api_token", "api_version"]
    assert "client_id" not in names


def test_a_setting_another_platform_declares_is_unknown_here(
    tmp_path: Path, tiny: type[TinyPlatform]
) -> None:
    write_config(tmp_path, TINY_PROFILE + 'client_id = "x"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)
    assert "for the tiny platform: client_id" in caught.value.message


def test_missing_adapter_settings_name_their_variables(
    tmp_path: Path, tiny: type[TinyPlatform]
) -> None:
    settings = load_settings(
        config_dir=tmp_path,
        environ={"SHOPSYNC_PLATFORM": "tiny", "SHOPSYNC_BASE_URL": "https://tiny.example"},
        platform_settings=platform_settings,
    )
    with pytest.raises(ConfigError) as caught:
        settings.require_credentials()
    assert caught.value.message == "Missing setting(s) for profile 'default': shop, api_token."
    assert "shop: SHOPSYNC_SHOP; api_token: SHOPSYNC_API_TOKEN" in (caught.value.hint or "")


def test_an_adapter_secret_in_a_readable_file_is_refused(
    tmp_path: Path, tiny: type[TinyPlatform]
) -> None:
    path = write_config(tmp_path, TINY_PROFILE, mode=0o644)
    with pytest.raises(ConfigError) as caught:
        load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)
    assert f"chmod 600 {path}" in caught.value.message
    assert "tiny-token" not in caught.value.message
    # Without the secret, the same file may be readable.
    write_config(tmp_path, TINY_PROFILE.replace('api_token = "tiny-token-0123456789"\n', ""), 0o644)
    load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)


def test_a_bad_secret_value_is_not_echoed(tmp_path: Path, tiny: type[TinyPlatform]) -> None:
    # A value no temporary path can contain (a digit run like "42" may be in tmp_path).
    write_config(tmp_path, TINY_PROFILE.replace('"tiny-token-0123456789"', "987654321987"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)
    assert caught.value.message.startswith("api_token from config file")
    assert "***" in caught.value.message and "987654321987" not in caught.value.message


def test_connect_builds_the_named_adapter_and_registers_its_secrets(
    tmp_path: Path, tiny: type[TinyPlatform]
) -> None:
    write_config(tmp_path, TINY_PROFILE.replace("0123456789", "registered-by-connect"))
    settings = load_settings(config_dir=tmp_path, environ={}, platform_settings=platform_settings)
    platform = platforms.connect(settings)
    assert isinstance(platform, TinyPlatform)
    assert redact_text("token tiny-token-registered-by-connect here") == "token *** here"


def test_an_unknown_platform_is_a_configuration_error_listing_the_known(
    clean_env: Path, tiny: type[TinyPlatform]
) -> None:
    result = CliRunner().invoke(cli, ["config", "show", "--platform", "nope"])
    assert result.exit_code == 2
    assert "Unknown platform 'nope'." in result.stderr
    # Every registered adapter is listed (the list grows as adapters are added).
    known = platforms.known_platforms()
    assert {"generic", "tiny"} <= set(known)
    assert f"Known platforms: {', '.join(known)}." in result.stderr


def test_config_show_and_auth_check_work_for_another_adapter(
    clean_env: Path, tiny: type[TinyPlatform], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(clean_env, TINY_PROFILE)
    monkeypatch.setenv("SHOPSYNC_CONFIG", str(clean_env / "config.toml"))
    shown = CliRunner().invoke(cli, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    assert "tiny-token" not in shown.output
    lines = {line.split()[0]: line for line in shown.output.splitlines() if line.startswith("  ")}
    assert "*** (set)" in lines["api_token"]
    assert "lantern" in lines["shop"]
    assert "2024-01" in lines["api_version"] and "(default)" in lines["api_version"]
    checked = CliRunner().invoke(cli, ["auth", "check"])
    assert checked.exit_code == 0, checked.output
    assert "client 'lantern'" in checked.stdout
    assert [s.platform for s in TinyPlatform.built] == ["tiny"]


def test_commands_build_platforms_only_through_the_registry(
    clean_env: Path, tiny: type[TinyPlatform], monkeypatch: pytest.MonkeyPatch
) -> None:
    # upload reaches the platform that the settings name, through platforms.connect.
    write_config(clean_env, TINY_PROFILE)
    monkeypatch.setenv("SHOPSYNC_CONFIG", str(clean_env / "config.toml"))
    calls: list[str] = []

    def spy(settings: Settings, **options: Any) -> Any:
        calls.append(settings.platform)
        raise ConfigError("stop here")

    monkeypatch.setattr(platforms, "connect", spy)
    examples = Path(__file__).parent.parent / "examples" / "products.csv"
    for command in (["upload", str(examples)], ["stock", str(examples)], ["orders"]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 2, result.output
        assert "stop here" in result.stderr
    assert calls == ["tiny", "tiny", "tiny"]


_LAZY_CHECK = """
import sys
import shopsync.platforms as registry
registry.REGISTRY["decoy"] = ("shopsync_decoy_never_imported", "Decoy")
modules = {name: module for name, (module, _) in registry.REGISTRY.items()}
assert not [m for m in modules.values() if m in sys.modules], "the registry imported an adapter"
registry.adapter_class(sys.argv[1])
others = [m for name, m in modules.items() if name != sys.argv[1]]
assert not [m for m in others if m in sys.modules], "one adapter imported another"
print("ok")
"""


@pytest.mark.parametrize("name", sorted(platforms.REGISTRY))
def test_importing_the_registry_or_one_adapter_imports_no_other_adapter(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _LAZY_CHECK, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "ok\n"
