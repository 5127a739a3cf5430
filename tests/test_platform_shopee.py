# ruff: noqa: E501 - SDK calls and stats assertions read best on one line each
"""The Shopee adapter against the Shopee sandbox dialect, and both against third-party SDKs.

Signatures are held to ``pyshopee`` 1.4.0 (module ``pyshopee2``) and ``snowland-shopeeapi``
0.1.0, which nobody here wrote; ``pyshopee2`` also drives the dialect. ``pyshopee2.client``
imports selenium at load (for a browser login it never uses here): a stub module stands in.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shopsync.config import SHARED_SETTINGS, Settings
from shopsync.domain.models import Product
from shopsync.errors import AmbiguousWriteError, AuthError
from shopsync.platforms import connect
from shopsync.platforms.base import ItemCode, ProductUpdate, StockChange
from shopsync.platforms.shopee import SETTINGS, ShopeePlatform
from shopsync.platforms.shopee.signing import signature
from shopsync.platforms.shopee.tokens import ShopeeAuth
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.store import TokenInfo

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x01" * 64
IMAGES = {"https://img.example/a.png": PNG, "https://img.example/b.jpg": JPEG}


def _pyshopee2() -> Any:
    sys.modules.setdefault("selenium", types.ModuleType("selenium"))
    webdriver = types.ModuleType("selenium.webdriver")
    sys.modules.setdefault("selenium.webdriver", webdriver)
    sys.modules["selenium"].webdriver = sys.modules["selenium.webdriver"]  # type: ignore[attr-defined]
    import pyshopee2  # noqa: PLC0415

    return pyshopee2


@pytest.fixture
def shopee() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="shopee")) as handle:
        yield handle


def _settings(handle: SandboxHandle, data_dir: Path, **extra: Any) -> Settings:
    given = handle.client_settings()
    values: dict[str, Any] = {
        "partner_id": int(given["partner_id"]),
        "partner_key": given["partner_key"],
        "shop_id": int(given["shop_id"]),
        "auth_code": given["auth_code"],
        "category_id": 100001,
        **extra,
    }
    return Settings(
        profile="t",
        platform="shopee",
        base_url=given["base_url"],
        data_dir=data_dir,
        max_attempts=3,
        extra=values,
        specs=SHARED_SETTINGS + SETTINGS,
    )


@pytest.fixture
def platform(shopee: SandboxHandle, tmp_path: Path) -> Iterator[ShopeePlatform]:
    adapter = connect(_settings(shopee, tmp_path), sleep=lambda _s: None, image_source=IMAGES.get)
    assert isinstance(adapter, ShopeePlatform)
    with adapter:
        yield adapter


def _product(sku: str, **fields: Any) -> Product:
    base: dict[str, Any] = {
        "sku": sku,
        "title": f"Teapot {sku}",
        "price": "19.90",
        "stock": 5,
        "weight_kg": "0.4",
        "images": ["https://img.example/a.png"],
    }
    return Product.model_validate({**base, **fields})


def _calls(handle: SandboxHandle, call: str) -> int:
    counts = handle.stats()["requests"]
    return sum(
        sum(counts.get(f"{method} /api/v2/{call}", {}).values()) for method in ("GET", "POST")
    )


# -- signatures ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "token", "shop"),
    [
        ("/api/v2/product/add_item", "59777174636562737266615546704c6d", 14701711),
        ("/api/v2/shop/get_shop_info", "tok", 1),
        ("/api/v2/auth/token/get", None, None),
    ],
)
def test_signature_equals_both_sdks(path: str, token: str | None, shop: int | None) -> None:
    from snowland_shopeeapi.sign import generate_signature  # noqa: PLC0415

    pyshopee2 = _pyshopee2()
    client = pyshopee2.Client(
        shop or 1, 2001887, "partner-key-x", "https://cb.example", access_token=token
    )
    ours = signature("partner-key-x", 2001887, path, 1655714431, token, shop)
    if token is None:
        assert ours == client._api_short_sign(path, 1655714431)
    else:
        assert ours == client._api_sign(path, 1655714431)
    assert ours == generate_signature("partner-key-x", 2001887, path, 1655714431, token, shop)


def test_pyshopee2_drives_the_dialect(shopee: SandboxHandle) -> None:
    pyshopee2 = _pyshopee2()
    given = shopee.client_settings()
    client = pyshopee2.Client(
        given["shop_id"], given["partner_id"], given["partner_key"], "https://cb.example",
        code=given["auth_code"],
    )  # fmt: skip
    client.host = shopee.base_url
    # Its token call hard-codes Shopee's host; the token comes from ours, as a seller's would.
    path = "/api/v2/auth/token/get"
    url = client.auth_url(path)[1].replace(client.BASE_URL, shopee.base_url)
    body = {
        "code": given["auth_code"],
        "shop_id": int(given["shop_id"]),
        "partner_id": int(given["partner_id"]),
    }
    client.access_token = requests.post(url, json=body, timeout=5).json()["access_token"]
    image = requests.post(
        shopee.base_url + "/api/v2/media_space/upload_image",
        params={
            "partner_id": given["partner_id"],
            "timestamp": str(int(time.time())),
            "access_token": client.access_token,
            "shop_id": given["shop_id"],
            "sign": signature(given["partner_key"], given["partner_id"], "/api/v2/media_space/upload_image",
                              int(time.time()), client.access_token, given["shop_id"]),
        },
        files={"image": ("a.png", PNG, "image/png")},
        timeout=5,
    ).json()["response"]["image_info"]["image_id"]  # fmt: skip
    added = client.product.add_item(
        original_price=12.5, description="d", item_name="SDK item", seller_stock=[{"stock": 3}],
        category_id=100001, image={"image_id_list": [image]}, weight=0.2, item_sku="SDK-1",
        logistic_info=[{"logistic_id": 30001, "enabled": True}],
    )  # fmt: skip
    assert added["error"] == "", added
    item_id = added["response"]["item_id"]
    assert client.product.update_item(item_id=item_id, item_name="SDK item 2")["error"] == ""
    stock = client.product.update_stock(
        item_id=item_id, stock_list=[{"model_id": 0, "seller_stock": [{"stock": 9}]}]
    )
    assert stock["response"]["success_list"] == [{"model_id": 0, "stock": 9}]
    row = shopee.store.product(str(item_id))
    assert row is not None
    assert (row.values["title"], row.values["stock"]) == ("SDK item 2", 9)
    shopee.advance_orders(3)
    now = int(time.time())
    orders = client.order.get_order_list(
        time_range_field="update_time", time_from=now - 86400, time_to=now + 60, page_size=10
    )
    assert orders["error"] == ""
    assert len(orders["response"]["order_list"]) == shopee.store.order_count()


# -- the dialect's refusals --------------------------------------------------------------


def test_wrong_key_and_skewed_clock_are_said_so(shopee: SandboxHandle, tmp_path: Path) -> None:
    wrong = connect(_settings(shopee, tmp_path / "a", partner_key="not-the-key"))
    with wrong, pytest.raises(AuthError, match=r"token endpoint|signature"):
        wrong.check_auth()
    skewed = connect(_settings(shopee, tmp_path / "b"), wall_clock=lambda: time.time() - 900)
    with skewed, pytest.raises(AuthError, match="clock"):
        skewed.check_auth()


def test_image_urls_are_refused(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    token = platform.auth.current().access_token
    path = "/api/v2/media_space/upload_image"
    now = int(time.time())
    given = shopee.client_settings()
    answer = requests.post(
        shopee.base_url + path,
        params={"partner_id": given["partner_id"], "timestamp": str(now), "access_token": token,
                "shop_id": given["shop_id"],
                "sign": signature(given["partner_key"], given["partner_id"], path, now, token, given["shop_id"])},
        files={"url": (None, "https://img.example/a.png")},
        timeout=5,
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.json()["error"] == "error_param"
    assert "URL" in answer.json()["message"]


# -- the adapter -------------------------------------------------------------------------


def test_create_update_lookup_stock(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    result = platform.write_products([_product("TP-1")])
    (created,) = result.created
    assert created.ok, created
    row = shopee.store.product(created.product_id or "")
    assert row is not None
    assert row.values["sku"] == "TP-1"
    assert (row.values["price"], row.values["stock"], row.values["weight"]) == ("19.90", 5, "0.4")
    # Only what changed is sent: a price change is one update_price call, nothing else.
    before = shopee.stats()["requests"]
    changed = _product("TP-1", price="21.00")
    (updated,) = platform.write_products([], [ProductUpdate(created.product_id or "", changed, frozenset({"price"}))]).updated  # fmt: skip
    assert updated.ok
    after = shopee.stats()["requests"]
    new = {k: sum(v.values()) - sum(before.get(k, {}).values()) for k, v in after.items()}
    assert {k: n for k, n in new.items() if n} == {"POST /api/v2/product/update_price": 1}
    assert shopee.store.product(created.product_id or "").values["price"] == "21.00"  # type: ignore[union-attr]
    # Lookup right after the write: search_item lags, the recent listing finds it.
    found = platform.lookup_skus(["TP-1", "NOPE"])
    assert set(found) == {"TP-1"}
    assert found["TP-1"].product_id == created.product_id
    (stock,) = platform.update_inventory([StockChange("TP-1", stock=42)])
    assert (stock.ok, stock.stock) == (True, 42)
    assert shopee.store.product(created.product_id or "").values["stock"] == 42  # type: ignore[union-attr]
    (missing,) = platform.update_inventory([StockChange("NOPE", stock=1)])
    assert missing.outcome is ItemCode.NOT_FOUND


def test_unchanged_image_is_uploaded_once(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    platform.write_products(
        [_product("IMG-1", images=["https://img.example/a.png", "https://img.example/b.jpg"])]
    )
    platform.write_products([_product("IMG-2", images=["https://img.example/b.jpg"])])
    assert _calls(shopee, "media_space/upload_image") == 2


def test_refused_item_is_an_item_error(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    (no_weight,) = platform.write_products([_product("W-1", weight_kg=None)]).created
    assert (no_weight.ok, no_weight.outcome, no_weight.field) == (
        False,
        ItemCode.INVALID,
        "weight_kg",
    )
    (needs_attr,) = platform.write_products([_product("C-1", category="100017")]).created
    assert needs_attr.outcome is ItemCode.INVALID
    assert "100134" in (needs_attr.message or "")
    assert _calls(shopee, "product/add_item") == 1


def test_lost_add_item_answer_is_ambiguous(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    platform.image_id_for("https://img.example/a.png")  # tokens, channels, image: before the fault
    platform._logistics()
    shopee.configure_faults(drop_after_commit_rate=1.0)
    with pytest.raises(AmbiguousWriteError):
        platform._create(_product("AMB-1"))
    shopee.configure_faults(drop_after_commit_rate=0.0)
    assert _calls(shopee, "product/add_item") == 1
    # It was committed: the reconciling lookup finds exactly that one item.
    found = platform.lookup_skus(["AMB-1"])
    assert list(found) == ["AMB-1"]
    assert len(shopee.store.products_with_skus(["AMB-1"])["AMB-1"]) == 1


def test_orders_in_windows(shopee: SandboxHandle, platform: ShopeePlatform) -> None:
    shopee.advance_orders(30)
    orders = list(platform.iter_orders(page_size=7))
    assert len(orders) == shopee.store.order_count()
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    first = orders[0]
    assert platform.get_order(first.order_id) == first


def test_expired_access_token_is_refreshed_and_rotated(
    shopee: SandboxHandle, platform: ShopeePlatform
) -> None:
    first = platform.auth.current()
    # The sandbox holds the token as expired; the adapter still thinks it good.
    shopee.store.save_token("stale", TokenInfo("access:14701711", frozenset(), 0.0))
    stale = type(first)("stale", first.refresh_token, time.time() + 3600)
    platform.auth.token_file.save(stale)
    platform.auth._tokens = stale
    platform.write_products([_product("R-1")])
    second = platform.auth.token_file.load()
    assert second is not None
    assert second.refresh_token != first.refresh_token
    assert platform.auth.refreshes == 2  # the code's pair, then the refresh after the refusal


# -- a crash between a refresh and its use -----------------------------------------------

_CHILD = """
import os, signal, sys
from pathlib import Path
import requests
from shopsync.platforms.shopee.signing import common_parameters
from shopsync.platforms.shopee.tokens import ShopeeAuth, TokenFile
base, key, partner, shop, directory = sys.argv[1:6]

def call(path, body):
    import time
    params = common_parameters(key, int(partner), path, int(time.time()))
    return requests.post(base + path, params=params, json=dict(body), timeout=5).json()

def die(_tokens):
    os.kill(os.getpid(), signal.SIGKILL)  # right after the save, before any use

auth = ShopeeAuth(partner_id=int(partner), partner_key=key, shop_id=int(shop),
                  token_file=TokenFile(Path(directory), int(partner), int(shop)), call=call,
                  on_saved=die)
saved = auth.token_file.load()
auth.refresh(rejected=saved.access_token)
"""


def test_sigkill_after_a_refresh_never_loses_the_refresh_token(
    shopee: SandboxHandle, platform: ShopeePlatform, tmp_path: Path
) -> None:
    platform.auth.current()  # the first pair, from the authorisation code
    token_file = platform.auth.token_file
    before = token_file.load()
    assert before is not None
    given = shopee.client_settings()
    child = subprocess.run(
        [sys.executable, "-c", _CHILD, shopee.base_url, given["partner_key"], given["partner_id"],
         given["shop_id"], str(token_file.directory)],
        check=False, timeout=60,
    )  # fmt: skip
    assert child.returncode == -signal.SIGKILL
    saved = token_file.load()
    assert saved is not None
    assert saved.refresh_token != before.refresh_token  # the child's rotation was kept
    assert oct(token_file.path.stat().st_mode & 0o777) == "0o600"
    # And it works: the old refresh token would now be refused, the saved one is not.
    fresh = ShopeeAuth(partner_id=int(given["partner_id"]), partner_key=given["partner_key"],
                       shop_id=int(given["shop_id"]), token_file=token_file, call=platform.public_call)  # fmt: skip
    assert fresh.refresh(rejected=saved.access_token).refresh_token != saved.refresh_token
