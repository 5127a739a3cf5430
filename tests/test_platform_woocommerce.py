# ruff: noqa: E501 - client calls and stats assertions read best on one line each
"""The WooCommerce adapter against the WooCommerce sandbox dialect, and both against
artifacts nobody here wrote: WooCommerce's own Python client ``woocommerce`` 3.0.0 (which
signs OAuth 1.0a for ``http://`` URLs, so the dialect's signature check is held to it) and
the REST API v3 reference in ``../shared/specs/woocommerce/`` (property tables).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from woocommerce import API
from woocommerce.oauth import OAuth

from shopsync.catalog.records import Catalog
from shopsync.config import SHARED_SETTINGS, Settings, load_settings
from shopsync.domain.models import Product
from shopsync.errors import AmbiguousWriteError, AuthError, PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect, platform_settings
from shopsync.platforms.base import ItemCode, ProductUpdate, StockChange
from shopsync.platforms.woocommerce import SETTINGS, WooCommercePlatform
from shopsync.platforms.woocommerce.adapter import product_body
from shopsync.platforms.woocommerce.auth import oauth_signature
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.dialects.woocommerce import app as dialect
from shopsync.sandbox.faults import FaultInjector
from shopsync.sync.report import RunReport


def _specs() -> Path:
    # ../shared beside the repository; a worktree (/work/wt/NAME) finds it further up.
    for parent in Path(__file__).resolve().parents[1:]:
        if (parent / "shared" / "specs" / "woocommerce").is_dir():
            return parent / "shared" / "specs" / "woocommerce"
    return Path(__file__).resolve().parents[2] / "shared" / "specs" / "woocommerce"


SPECS = _specs()


@pytest.fixture
def woo() -> Iterator[SandboxHandle]:
    with running_sandbox(
        SandboxConfig(dialect="woocommerce", orders=12, rate=1000, burst=1000)
    ) as handle:
        yield handle


def _settings(handle: SandboxHandle, data_dir: Path, **extra: Any) -> Settings:
    given = handle.client_settings()
    values = {
        "consumer_key": given["consumer_key"],
        "consumer_secret": given["consumer_secret"],
        **extra,
    }
    return Settings(
        profile="t",
        platform="woocommerce",
        base_url=given["base_url"],
        data_dir=data_dir,
        max_attempts=4,
        rate=1000.0,
        burst=200,
        extra=values,
        specs=SHARED_SETTINGS + SETTINGS,
    )


@pytest.fixture
def platform(woo: SandboxHandle, tmp_path: Path) -> Iterator[WooCommercePlatform]:
    adapter = connect(_settings(woo, tmp_path), sleep=lambda _s: None)
    assert isinstance(adapter, WooCommercePlatform)
    with adapter:
        yield adapter


def _client(handle: SandboxHandle, secret: str | None = None) -> API:
    given = handle.client_settings()
    return API(url=given["base_url"], consumer_key=given["consumer_key"],
               consumer_secret=secret or given["consumer_secret"], version="wc/v3", timeout=10)  # fmt: skip


def _product(sku: str, **fields: Any) -> Product:
    return Product.model_validate(
        {"sku": sku, "title": f"Mug {sku}", "price": "9.90", "stock": 5, **fields}
    )


def _requests(handle: SandboxHandle, label: str) -> int:
    return sum(handle.stats()["requests"].get(label, {}).values())


BATCH = "POST /wp-json/wc/v3/products/batch"
LOOKUP = "GET /wp-json/wc/v3/products"


# -- the official client, and the signature ------------------------------------------------


def test_official_client_drives_products_variations_and_orders(woo: SandboxHandle) -> None:
    api = _client(woo)
    created = api.post("products/batch", {"create": [
        {"name": "Mug", "sku": "M1", "regular_price": "9.90", "manage_stock": True, "stock_quantity": 4},
        {"name": "Shirt", "type": "variable", "sku": "SH", "attributes": [{"name": "Size", "options": ["S", "M"], "variation": True}]},
    ]})  # fmt: skip
    assert created.status_code == 200
    mug, shirt = created.json()["create"]
    assert (mug["sku"], mug["stock_quantity"], mug["price"]) == ("M1", 4, "9.90")
    variations = api.post(f"products/{shirt['id']}/variations/batch", {"create": [
        {"sku": "SH-S", "regular_price": "5.00", "attributes": [{"name": "Size", "option": "S"}]},
        {"sku": "SH-M", "regular_price": "6.00", "attributes": [{"name": "Size", "option": "M"}]},
    ]})  # fmt: skip
    assert [v["sku"] for v in variations.json()["create"]] == ["SH-S", "SH-M"]
    assert api.get(f"products/{shirt['id']}").json()["variations"] == [
        v["id"] for v in variations.json()["create"]
    ]
    listed = api.get(f"products/{shirt['id']}/variations", params={"order": "asc"}).json()
    assert [v["sku"] for v in listed] == ["SH-S", "SH-M"]
    # A SKU is unique across products and variations, as in WooCommerce.
    again = api.post("products/batch", {"create": [{"name": "Dup", "sku": "SH-S"}]}).json()[
        "create"
    ][0]
    assert again["id"] == 0
    assert again["error"] == {
        "code": "product_invalid_sku",
        "message": "Invalid or duplicated SKU.",
        "data": {"status": 400},
    }
    found = api.get("products", params={"sku": "M1"})
    assert [p["id"] for p in found.json()] == [mug["id"]]
    page = api.get("orders", params={"per_page": 5, "page": 2, "orderby": "id", "order": "asc"})
    assert page.status_code == 200
    assert [o["id"] for o in page.json()] == [6, 7, 8, 9, 10]
    assert (page.headers["X-WP-Total"], page.headers["X-WP-TotalPages"]) == ("12", "3")
    assert 'page=3>; rel="next"' in page.headers["Link"]
    assert 'page=1>; rel="prev"' in page.headers["Link"]
    assert woo.stats()["auth_schemes"] == {
        "oauth": 7
    }  # every call signed, every signature verified
    refused = _client(woo, secret="cs_wrong").get("products")
    assert refused.status_code == 401
    assert refused.json()["message"] == "Invalid signature - provided signature does not match."


def test_replayed_nonce_and_stale_timestamp_are_refused(woo: SandboxHandle) -> None:
    given = woo.client_settings()
    url = given["base_url"] + "/wp-json/wc/v3/products"
    signed = OAuth(url=url, consumer_key=given["consumer_key"], consumer_secret=given["consumer_secret"],
                   version="wc/v3", method="GET").get_oauth_url()  # fmt: skip
    assert requests.get(signed, timeout=5).status_code == 200
    replay = requests.get(signed, timeout=5)
    assert (replay.status_code, replay.json()["message"]) == (
        401,
        "Invalid nonce - nonce has already been used.",
    )
    stale = OAuth(url=url, consumer_key=given["consumer_key"], consumer_secret=given["consumer_secret"],
                  version="wc/v3", method="GET", oauth_timestamp=1_000_000).get_oauth_url()  # fmt: skip
    assert requests.get(stale, timeout=5).json()["message"] == "Invalid timestamp."
    basic = requests.get(url, auth=(given["consumer_key"], given["consumer_secret"]), timeout=5)
    assert basic.status_code == 200
    assert requests.get(url, timeout=5).json()["code"] == "woocommerce_rest_cannot_view"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_signatures_equal_the_official_clients(method: str) -> None:
    params = {"sku": "A-1 b/c", "oauth_consumer_key": "ck_x", "oauth_nonce": "n1",
              "oauth_signature_method": "HMAC-SHA256", "oauth_timestamp": "1700000000"}  # fmt: skip
    url = "http://127.0.0.1:8080/wp-json/wc/v3/products"
    theirs = OAuth(
        url=url, consumer_key="ck_x", consumer_secret="cs_y", version="wc/v3", method=method
    )
    expected = theirs.generate_oauth_signature(dict(params), url)
    assert oauth_signature(method, url, {**params, "sku": "A-1 bc"}, "cs_y") == OAuth(
        url=url, consumer_key="ck_x", consumer_secret="cs_y", version="wc/v3", method=method
    ).generate_oauth_signature({**params, "sku": "A-1 bc"}, url)
    # The client leaves "/" unencoded in values (urllib's default); RFC 5849 encodes it.
    # Neither side here sends one, and for every other character the two agree.
    assert dialect.oauth_signature(
        method, url, {**params, "sku": "A-1 bc"}, "cs_y", "HMAC-SHA256"
    ) == oauth_signature(method, url, {**params, "sku": "A-1 bc"}, "cs_y")
    assert expected  # computed without error for the "/" case too


# -- the reference's property tables -------------------------------------------------------


def _properties(name: str, section: str) -> tuple[set[str], set[str]]:
    """Documented properties of a section's table: (all, writable)."""
    if not SPECS.is_dir():
        pytest.skip(f"the WooCommerce reference is not at {SPECS} (../shared is absent)")
    text = (SPECS / name).read_text(encoding="utf-8")
    start = text.index(f"## {section} ##")
    table = text[start : text.index("\n#", start + 5)]
    rows = re.findall(r"^\| `([a-z_]+)`\s*\|[^|]*\|(.*)\|$", table, flags=re.MULTILINE)
    return {n for n, _ in rows}, {n for n, d in rows if "read-only" not in d}


def test_dialect_answers_only_documented_properties(woo: SandboxHandle) -> None:
    products, _ = _properties("products.md", "Product properties")
    variations, _ = _properties("product-variations.md", "Product variation properties")
    orders, _ = _properties("orders.md", "Order properties")
    lines, _ = _properties("orders.md", "Order - Line items properties")
    api = _client(woo)
    shirt = api.post("products", {"name": "Shirt", "type": "variable", "sku": "SH"}).json()
    variation = api.post(
        f"products/{shirt['id']}/variations/batch", {"create": [{"sku": "SH-S"}]}
    ).json()["create"][0]
    order = api.get("orders/1").json()
    # A SKU search finds variations too (WooCommerce queries both post types by SKU).
    [found] = api.get("products", params={"sku": "SH-S"}).json()
    assert (found["id"], found["parent_id"], found["type"]) == (
        variation["id"],
        shirt["id"],
        "variation",
    )
    assert set(found) <= products, set(found) - products
    assert set(shirt) <= products, set(shirt) - products
    assert set(variation) <= variations, set(variation) - variations
    assert set(order) <= orders, set(order) - orders
    assert set(order["line_items"][0]) <= lines


def test_adapter_writes_only_documented_writable_properties() -> None:
    _, writable = _properties("products.md", "Product properties")
    full = _product("S1", description="d", weight_kg="0.4", images=["https://img.example/a.jpg"],
                    category="15", brand="Acme", barcode="690123", status="draft", attributes={"color": "red"})  # fmt: skip
    assert set(product_body(full, None)) <= writable, set(product_body(full, None)) - writable


# -- the adapter against the dialect -------------------------------------------------------


def test_create_update_only_changed_fields_lookup_stock(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    result = platform.write_products([_product("A1"), _product("A2", weight_kg="0.5")])
    assert [(i.ok, i.item_code) for i in result.created] == [(True, ItemCode.OK)] * 2
    first = result.created[0].product_id
    assert first is not None
    before = woo.store.product(first)
    assert before is not None
    update = ProductUpdate(
        first, _product("A1", title="Mug, blue", price="11.00"), frozenset({"title"})
    )
    assert platform.write_products([], [update]).updated[0].ok
    after = woo.store.product(first)
    assert after is not None
    assert (after.values["name"], after.values["regular_price"]) == (
        "Mug, blue",
        "9.90",
    )  # price not sent
    assert platform.write_products([], []).items == []
    assert _requests(woo, BATCH) == 2  # the empty write sent nothing
    lookups = _requests(woo, LOOKUP)
    found = platform.lookup_skus(["A1", "A2", "NOPE"])
    assert sorted(found) == ["A1", "A2"]
    assert _requests(woo, LOOKUP) - lookups == 1  # one GET: ?sku=A1,A2,NOPE
    assert found["A1"].fields["title"] == "Mug, blue"
    stock = platform.update_inventory(
        [StockChange("A2", stock=17), StockChange("NOPE", stock=1), StockChange("A1", delta=1)]
    )
    assert [(s.ok, s.item_code, s.stock) for s in stock] == [
        (True, ItemCode.OK, 17),
        (False, ItemCode.NOT_FOUND, None),
        (False, ItemCode.INVALID, None),
    ]
    assert found["A2"].product_id in {p.product_id for p in platform.iter_products(page_size=1)}


def test_taken_sku_is_answered_exists_with_the_product(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    made = _client(woo).post("products", {"name": "Made elsewhere", "sku": "E1"}).json()
    item = platform.write_products([_product("E1")]).created[0]
    assert (item.item_code, item.product_id, item.code) == (
        ItemCode.EXISTS,
        str(made["id"]),
        "product_invalid_sku",
    )


def test_created_but_reported_as_error_is_found_not_refused(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    woo.app.created_error_rate = 1.0
    item = platform.write_products([_product("C1", images=["https://img.example/c.jpg"])]).created[
        0
    ]
    assert item.code == "woocommerce_product_image_upload_error"
    assert item.item_code is ItemCode.EXISTS and item.reconciled
    assert item.product_id == woo.store.product_by_sku("C1").product_id  # type: ignore[union-attr]


def test_lost_answer_to_creates_is_ambiguous(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    woo.configure_faults(drop_after_commit_rate=1.0)
    with pytest.raises(AmbiguousWriteError):
        platform.write_products([_product("L1")])
    assert _requests(woo, BATCH) == 1  # never resent blind
    woo.configure_faults(drop_after_commit_rate=0.0)
    assert "L1" in platform.lookup_skus(["L1"])


def test_waf_429_is_waited_out(tmp_path: Path) -> None:
    slept: list[float] = []
    with running_sandbox(SandboxConfig(dialect="woocommerce", rate=0.001, burst=2)) as woo:
        adapter = connect(_settings(woo, tmp_path), sleep=slept.append)
        assert isinstance(adapter, WooCommercePlatform)
        with adapter, pytest.raises(PlatformError):
            for n in range(3):
                adapter.lookup_skus([f"T{n}"])
        assert woo.stats()["rate_limited"] >= 1
        assert adapter.stats()["throttled"] >= 1
        assert 1.0 in slept  # the WAF's Retry-After


def test_wrong_secret_is_an_auth_error(woo: SandboxHandle, tmp_path: Path) -> None:
    adapter = connect(_settings(woo, tmp_path, consumer_secret="cs_wrong"), sleep=lambda _s: None)
    with adapter, pytest.raises(AuthError) as caught:
        adapter.check_auth()
    assert "cs_wrong" not in str(caught.value)
    assert "consumer_secret" in (caught.value.hint or "")


def test_check_auth_reports_a_read_write_key(platform: WooCommercePlatform) -> None:
    status = platform.check_auth()
    assert status.granted_scopes == frozenset({"products", "inventory", "orders"})


def test_orders_since_oldest_update_first(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    orders = list(platform.iter_orders(page_size=5))
    assert len(orders) == 12
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    assert _requests(woo, "GET /wp-json/wc/v3/orders") == 3
    one = platform.get_order(orders[0].order_id)
    assert one == orders[0]
    assert platform.get_order("999999") is None


# -- the engine, exactly once --------------------------------------------------------------


def _catalog(path: Path, rows: int) -> list[str]:
    skus = [f"WC-{n:05d}" for n in range(rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock"])
        writer.writerows([sku, f"Item {sku}", "9.90", 3] for sku in skus)
    return skus


def _upload(
    platform: WooCommercePlatform, handle: SandboxHandle, path: Path, tmp_path: Path
) -> list[RunReport]:
    target = Target(
        platform=platform,
        ledger_dir=tmp_path / "ledger",
        namespace=f"t|{handle.base_url}",
        profile="t",
    )
    reports = []
    for _ in range(6):
        job = UploadJob(
            Catalog([path]),
            target,
            JobOptions(batch_size=100, workers=2),
            Outputs(default_dir=tmp_path),
        )
        try:
            reports.append(job.run())
            return reports
        except PlatformError:
            reports.append(job.report)
    raise AssertionError("six runs did not finish the upload")


def test_exactly_once_with_lost_answers_and_created_but_error(
    woo: SandboxHandle, platform: WooCommercePlatform, tmp_path: Path
) -> None:
    skus = _catalog(tmp_path / "c.csv", 400)
    woo.app.faults = FaultInjector(
        SandboxConfig(dialect="woocommerce", drop_after_commit_rate=0.15, seed=3)
    )
    woo.app.created_error_rate = 0.1
    reports = _upload(platform, woo, tmp_path / "c.csv", tmp_path)
    stats = woo.stats()
    assert stats["products_stored"] == 400
    assert set(woo.store.product_ids_by_skus(skus)) == set(skus)
    # Each product was created by exactly one create: ids come from one sequence, and a
    # second create of a SKU is refused before it takes one.
    assert woo.store.next_sequence("woocommerce_post") - 1 == 400
    assert stats["faults"]["drop_after_commit"] >= 2
    assert stats["created_errors"] >= 10
    final = reports[-1]
    assert final.exit_code == 0
    assert final.counts["failed"] == final.counts["rejected"] == 0
    again = _upload(platform, woo, tmp_path / "c.csv", tmp_path)[-1]
    assert again.counts["unchanged"] == 400


def test_a_variable_product_created_but_reported_as_error_is_found_by_its_handle(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    # Every create is saved and answered as an error: the parent is found under its
    # handle (EXISTS, for the engine to update), and the update's variation creates,
    # answered as errors too, are found by their SKUs: each post made once.
    woo.app.created_error_rate = 1.0
    shirt = Product.model_validate({"handle": "tee", "title": "Tee", "options": ["Size"], "variants": [
        {"sku": "TEE-S", "price": "5.00", "option_values": {"Size": "S"}},
        {"sku": "TEE-M", "price": "6.00", "option_values": {"Size": "M"}}]})  # fmt: skip
    item = platform.write_products([shirt]).created[0]
    parent = woo.store.product_by_sku("tee")
    assert parent is not None
    assert (item.item_code, item.product_id, item.reconciled) == (
        ItemCode.EXISTS,
        parent.product_id,
        True,
    )
    update = platform.write_products([], [ProductUpdate(parent.product_id, shirt)]).updated[0]
    assert (update.ok, update.product_id) == (True, parent.product_id)
    assert woo.stats()["variations_stored"] == 2
    assert woo.store.next_sequence("woocommerce_post") - 1 == 3
    assert sorted(platform.lookup_skus(["TEE-S", "TEE-M"])) == ["TEE-M", "TEE-S"]
    assert {r.product_id for r in platform.lookup_skus(["TEE-S", "tee"]).values()} == {
        parent.product_id
    }


def test_batch_size_defaults_to_the_shops_100(tmp_path: Path) -> None:
    environ = {"SHOPSYNC_PLATFORM": "woocommerce", "SHOPSYNC_BASE_URL": "https://shop.example"}
    default = load_settings(
        config_dir=tmp_path, environ=environ, platform_settings=platform_settings
    )
    assert default.batch_size == 100
    chosen = load_settings(config_dir=tmp_path, environ={**environ, "SHOPSYNC_BATCH_SIZE": "30"},
                           platform_settings=platform_settings)  # fmt: skip
    assert chosen.batch_size == 30
    generic = load_settings(config_dir=tmp_path, environ={"SHOPSYNC_BASE_URL": "https://a.example"},
                            platform_settings=platform_settings)  # fmt: skip
    assert generic.batch_size == 50  # the shared default, for platforms that keep it
