"""``shopsync auth shopee``: the signed authorisation link, the code exchange, tokens kept
0600; the region's API host; Shopee's throttling answer (HTTP 200, ``error_too_many_request``)
waited out on an injected clock."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from click.testing import CliRunner

from contract.suite import FakeClock
from shopsync.cli import cli
from shopsync.config import SHARED_SETTINGS, Settings
from shopsync.errors import ExitCode
from shopsync.platforms.shopee import HOSTS, SETTINGS, ShopeePlatform, endpoint_of
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.dialects.shopee import DEMO_CODE
from shopsync.sandbox.ratelimit import RateLimiter
from test_platform_shopee import IMAGES, _calls, _product, _pyshopee2, _settings


@pytest.fixture
def shopee() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="shopee")) as handle:
        yield handle


@pytest.fixture
def seller_env(shopee: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Shopee seller's environment, without any token or code: returns the data dir."""
    given = shopee.client_settings()
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG", "SHOPSYNC_AUTH_CODE"):
        monkeypatch.delenv(name, raising=False)
    environment = {
        "SHOPSYNC_PLATFORM": "shopee",
        "SHOPSYNC_BASE_URL": shopee.base_url,
        "SHOPSYNC_PARTNER_ID": given["partner_id"],
        "SHOPSYNC_PARTNER_KEY": given["partner_key"],
        "SHOPSYNC_SHOP_ID": given["shop_id"],
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    return tmp_path / "data"


def test_auth_shopee_from_link_to_saved_tokens(shopee: SandboxHandle, seller_env: Path) -> None:
    given = shopee.client_settings()
    shown = CliRunner().invoke(cli, ["auth", "shopee", "--redirect", "https://seller.example/back"])
    assert shown.exit_code == 0, shown.output
    [link] = [line.strip() for line in shown.output.splitlines() if "auth_partner" in line]
    query = parse_qs(urlsplit(link).query)
    assert urlsplit(link).path == "/api/v2/shop/auth_partner"
    assert query["redirect"] == ["https://seller.example/back"]
    # The same signature pyshopee2 puts in its authorisation link for that timestamp.
    client = _pyshopee2().Client(
        int(given["shop_id"]), int(given["partner_id"]), given["partner_key"], "x"
    )
    assert query["sign"] == [client._sign("/api/v2/shop/auth_partner", int(query["timestamp"][0]))]
    # The seller opens it and agrees; Shopee sends them back with the code and the shop.
    back = requests.get(link, allow_redirects=False, timeout=5)
    assert back.status_code == 302
    code = parse_qs(urlsplit(back.headers["Location"]).query)
    assert (code["code"], code["shop_id"]) == ([DEMO_CODE], [given["shop_id"]])
    exchanged = CliRunner().invoke(cli, ["auth", "shopee", "--code", code["code"][0]])
    assert exchanged.exit_code == 0, exchanged.output
    [saved] = (seller_env / "cache" / "shopee" / "tokens").glob("*.json")
    assert oct(saved.stat().st_mode & 0o777) == "0o600"
    tokens = json.loads(saved.read_text(encoding="utf-8"))
    assert tokens["access_token"] not in exchanged.output
    assert tokens["refresh_token"] not in exchanged.output
    assert str(saved) in exchanged.output
    # Every later run starts from the saved pair (no code is set): auth check signs a shop
    # call with it, and no refresh was needed.
    checked = CliRunner().invoke(cli, ["auth", "check"])
    assert checked.exit_code == 0, checked.output
    assert _calls(shopee, "logistics/get_channel_list") == 1
    assert json.loads(saved.read_text(encoding="utf-8")) == tokens


def test_a_wrong_code_is_an_auth_error(seller_env: Path) -> None:
    result = CliRunner().invoke(cli, ["auth", "shopee", "--code", "not-the-code"])
    assert result.exit_code == ExitCode.AUTH, result.output
    assert "Invalid code" in result.output
    assert "not-the-code" not in result.output
    assert not list((seller_env / "cache" / "shopee" / "tokens").glob("*.json"))


def test_auth_shopee_on_another_platform_is_a_usage_error(
    seller_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "generic")
    result = CliRunner().invoke(cli, ["auth", "shopee"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "--platform shopee" in result.output


def test_the_region_chooses_the_api_host(tmp_path: Path) -> None:
    def settings(**values: object) -> Settings:
        return Settings(
            platform="shopee", data_dir=tmp_path, extra=values, specs=SHARED_SETTINGS + SETTINGS
        )

    assert endpoint_of(settings()) == "https://partner.shopeemobile.com"
    assert endpoint_of(settings(region="cn")) == "https://openplatform.shopee.cn"
    assert endpoint_of(settings(region="test-sg")) == HOSTS["test-sg"]
    given = Settings(platform="shopee", base_url="http://127.0.0.1:9/", data_dir=tmp_path)
    assert endpoint_of(given) == "http://127.0.0.1:9"
    with pytest.raises(ValueError, match="sg, cn, br"):
        next(spec for spec in SETTINGS if spec.name == "region").parse("us")


def test_too_many_requests_in_the_envelope_is_waited_out(
    shopee: SandboxHandle, tmp_path: Path
) -> None:
    time = FakeClock()
    platform = ShopeePlatform.from_settings(
        _settings(shopee, tmp_path), clock=time.clock, sleep=time.sleep, image_source=IMAGES.get
    )
    with platform:
        platform.check_auth()
        platform.image_id_for("https://img.example/a.png")
        platform._logistics()
        # Someone else spent the partner's calls: the next one is refused, with HTTP 200.
        limiter = RateLimiter(1.0, 1, time.clock)
        limiter.acquire(shopee.client_settings()["partner_id"])
        shopee.app.limiter = limiter  # type: ignore[attr-defined]
        (created,) = platform.write_products([_product("THR-1")]).created
    assert created.ok
    assert shopee.stats()["rate_limited"] == 1
    assert platform.client.stats.snapshot()["throttled"] == 1
    assert time.slept == pytest.approx(1.0)  # the pause Shopee's answer earns, on the fake clock
    assert _calls(shopee, "product/add_item") == 2  # refused once (nothing made), then made
    assert len(shopee.store.products_with_skus(["THR-1"])["THR-1"]) == 1


EXAMPLE = Path(__file__).parent.parent / "examples" / "shopee-products.csv"


def test_the_readme_example_uploads_to_the_embedded_shopee_sandbox_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("SHOPSYNC_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "shopee")
    first = CliRunner().invoke(cli, ["upload", str(EXAMPLE), "--sandbox"])
    assert first.exit_code == 0, first.output
    # 4 items (2 with models), their 4 image files: tokens and channels, 4 uploads,
    # 4 add_item, 2 init_tier_variation.
    assert "4 created, 0 updated, 0 unchanged, 0 failed, 0 rejected; 11 requests" in first.output
    again = CliRunner().invoke(cli, ["upload", str(EXAMPLE), "--sandbox"])
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 4 unchanged, 0 failed, 0 rejected; 0 requests" in again.output
