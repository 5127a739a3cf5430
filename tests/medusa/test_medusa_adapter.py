"""The Medusa adapter against the real Medusa 2.21.2, through the fault proxy."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from faultproxy import FaultProxy
from harness import MedusaServer
from medusa_marks import MEDUSA_TESTS

from shopsync.config import load_settings
from shopsync.domain.models import Product
from shopsync.http.redact import redact_text
from shopsync.platforms import connect, platform_settings
from shopsync.platforms.base import ProductUpdate, StockChange
from shopsync.platforms.medusa import MedusaPlatform
from shopsync.platforms.medusa.mapping import handle_for_sku, split_id

pytestmark = MEDUSA_TESTS
BATCH = "POST /admin/products/batch"
LEVELS = "POST /admin/inventory-items/location-levels/batch"


def _settings(base_url: str, api_key: str, tmp_path: Path, **more: str) -> Any:
    environ = {
        "SHOPSYNC_PLATFORM": "medusa",
        "SHOPSYNC_BASE_URL": base_url,
        "SHOPSYNC_API_KEY": api_key,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        **more,
    }
    return load_settings(config_dir=tmp_path, environ=environ, platform_settings=platform_settings)


@pytest.fixture
def medusa(
    fault_proxy: FaultProxy, medusa_server: MedusaServer, tmp_path: Path
) -> Iterator[MedusaPlatform]:
    """The adapter, connected through the proxy, retries without sleeping."""
    settings = _settings(fault_proxy.base_url, medusa_server.api_key, tmp_path)
    platform = connect(settings, sleep=lambda _s: None, jitter=lambda s: 0.0)
    assert isinstance(platform, MedusaPlatform)
    yield platform
    platform.close()


def _sku(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8].upper()}"


def _product(sku: str, **fields: Any) -> Product:
    return Product.model_validate({"sku": sku, "title": f"Item {sku}", "price": "19.90", **fields})


def _variants(server: MedusaServer, sku: str) -> list[dict[str, Any]]:
    answer = requests.get(
        server.base_url + "/admin/product-variants",
        params={"sku": sku, "fields": "id,sku,*prices,product.title,product.handle"},
        headers=server.admin_headers(),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    variants: list[dict[str, Any]] = answer.json()["variants"]
    return variants


def _stocked(server: MedusaServer, sku: str) -> list[int]:
    answer = requests.get(
        server.base_url + "/admin/inventory-items",
        params={"sku": sku, "fields": "id,location_levels.stocked_quantity"},
        headers=server.admin_headers(),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return [
        level["stocked_quantity"]
        for item in answer.json()["inventory_items"]
        for level in item["location_levels"]
    ]


def test_settings_come_from_the_environment_and_the_key_stays_secret(
    medusa_server: MedusaServer, tmp_path: Path
) -> None:
    settings = _settings(
        medusa_server.base_url, medusa_server.api_key, tmp_path, SHOPSYNC_CURRENCY="usd"
    )
    assert settings.platform == "medusa"
    assert settings.get("currency") == "usd"
    shown = {name: value for name, value, _source in settings.describe()}
    assert shown["api_key"] == "*** (set)"
    with connect(settings) as platform:
        assert isinstance(platform, MedusaPlatform)
        assert platform.defaults().currency == "usd"
        assert platform.defaults().location == medusa_server.setup.stock_location_id
        assert platform.defaults().sales_channel == medusa_server.setup.sales_channel_id
    assert medusa_server.api_key not in redact_text(f"key {medusa_server.api_key}")


def test_create_sets_price_handle_and_stock_then_lookup_reads_them_back(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    skus = [_sku("NEW"), _sku("new")]
    result = medusa.write_products([_product(sku, stock=7) for sku in skus])
    assert [item.ok for item in result.created] == [True, True]
    assert fault_proxy.forwarded[BATCH] == 1
    for sku, item in zip(skus, result.created, strict=True):
        [variant] = _variants(medusa_server, sku)
        assert item.product_id == f"{variant['product_id']}:{variant['id']}"
        assert variant["product"]["handle"] == handle_for_sku(sku)
        assert [(p["currency_code"], p["amount"]) for p in variant["prices"]] == [("eur", 19.9)]
        assert _stocked(medusa_server, sku) == [7]
    found = medusa.lookup_skus([*skus, _sku("ABSENT")])
    assert sorted(found) == sorted(skus)
    assert found[skus[0]].fields["price"] == "19.90"
    assert found[skus[0]].fields["title"] == f"Item {skus[0]}"


def test_an_update_sends_only_the_changed_fields(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    sku = _sku("UPD")
    [created] = medusa.write_products([_product(sku, stock=3)]).created
    assert created.product_id is not None
    fault_proxy.clear()
    changed = _product(sku, price="24.50", title="Renamed in the file, not sent")
    update = ProductUpdate(created.product_id, changed, frozenset({"price"}))
    [result] = medusa.write_products([], [update]).updated
    assert result.ok
    assert fault_proxy.forwarded == {BATCH: 1}
    [variant] = _variants(medusa_server, sku)
    assert [p["amount"] for p in variant["prices"]] == [24.5]
    assert variant["product"]["title"] == f"Item {sku}"
    # A stock-only change goes to the location level, not to the product.
    fault_proxy.clear()
    stock_only = ProductUpdate(created.product_id, _product(sku, stock=11), frozenset({"stock"}))
    [result] = medusa.write_products([], [stock_only]).updated
    assert result.ok
    assert fault_proxy.forwarded[BATCH] == 0
    assert fault_proxy.forwarded[LEVELS] == 1
    assert _stocked(medusa_server, sku) == [11]


def test_a_duplicate_sku_is_reported_and_the_rest_of_the_batch_created(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    first, second = _sku("DUP"), _sku("DUP")
    [original] = medusa.write_products([_product(first)]).created
    result = medusa.write_products([_product(first), _product(second)])
    duplicate, fresh = result.created
    assert (duplicate.ok, duplicate.code, duplicate.field) == (False, "SKU_EXISTS", "sku")
    assert duplicate.product_id == original.product_id
    assert fresh.ok
    # Medusa refuses the whole batch; the adapter sends it again without the duplicate.
    assert fault_proxy.forwarded[BATCH] == 3
    assert len(_variants(medusa_server, first)) == 1
    assert len(_variants(medusa_server, second)) == 1


def test_a_lost_answer_after_commit_is_reconciled_and_nothing_is_created_twice(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    skus = [_sku("LOST") for _ in range(3)]
    fault_proxy.inject("commit_then_drop", method="POST", path="/admin/products/batch")
    result = medusa.write_products([_product(sku, stock=4) for sku in skus])
    assert [(item.ok, item.reconciled) for item in result.created] == [(True, True)] * 3
    assert fault_proxy.forwarded[BATCH] == 1
    for sku in skus:
        assert len(_variants(medusa_server, sku)) == 1
        assert _stocked(medusa_server, sku) == [4]


def test_a_reset_before_the_server_saw_it_is_sent_once_more(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    sku = _sku("RST")
    fault_proxy.inject("reset", method="POST", path="/admin/products/batch")
    [item] = medusa.write_products([_product(sku)]).created
    assert (item.ok, item.reconciled) == (True, False)
    assert fault_proxy.injected["reset"] == 1
    assert fault_proxy.forwarded[BATCH] == 1
    assert len(_variants(medusa_server, sku)) == 1


def test_a_503_is_retried_by_the_client(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    sku = _sku("UNAV")
    fault_proxy.inject("status", method="POST", path="/admin/products/batch", status=503)
    [item] = medusa.write_products([_product(sku)]).created
    assert item.ok
    assert (fault_proxy.injected["status"], fault_proxy.forwarded[BATCH]) == (1, 1)
    assert medusa.stats()["retries"] == 1


def test_stock_is_set_at_the_location_and_deltas_are_refused(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    with_level, without_level, absent = _sku("STK"), _sku("STK"), _sku("STK")
    medusa.write_products([_product(with_level, stock=2), _product(without_level)])
    fault_proxy.clear()
    results = medusa.update_inventory(
        [
            StockChange(with_level, stock=9),
            StockChange(without_level, stock=5),
            StockChange(absent, stock=1),
            StockChange(with_level, delta=-1),
        ]
    )
    assert [(r.ok, r.code, r.stock) for r in results] == [
        (True, None, 9),
        (True, None, 5),
        (False, "NOT_FOUND", None),
        (False, "UNSUPPORTED", None),
    ]
    assert fault_proxy.forwarded[LEVELS] == 1
    assert _stocked(medusa_server, with_level) == [9]
    assert _stocked(medusa_server, without_level) == [5]


def _place_order(server: MedusaServer, sku: str, quantity: int) -> str:
    [variant] = _variants(server, sku)
    headers = server.admin_headers()
    draft = requests.post(
        server.base_url + "/admin/draft-orders",
        json={
            "region_id": server.setup.region_id,
            "email": "buyer@shopsync.test",
            "sales_channel_id": server.setup.sales_channel_id,
            "items": [{"variant_id": variant["id"], "quantity": quantity}],
            "shipping_address": {
                "first_name": "Ada",
                "last_name": "Buyer",
                "country_code": "de",
                "address_1": "Hauptstr. 1",
                "city": "Berlin",
                "postal_code": "10115",
            },
        },
        headers=headers,
        timeout=60,
    )
    assert draft.status_code == 200, draft.text
    order_id: str = draft.json()["draft_order"]["id"]
    placed = requests.post(
        server.base_url + f"/admin/draft-orders/{order_id}/convert-to-order",
        headers=headers,
        timeout=60,
    )
    assert placed.status_code == 200, placed.text
    return order_id


def test_orders_are_listed_page_by_page_oldest_update_first(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    sku = _sku("ORD")
    medusa.write_products([_product(sku, price="12.50", stock=10)])
    before = {order.order_id for order in medusa.iter_orders()}
    placed = [_place_order(medusa_server, sku, quantity) for quantity in (1, 2, 3)]
    fault_proxy.clear()
    orders = [order for order in medusa.iter_orders(page_size=2) if order.order_id not in before]
    assert [order.order_id for order in orders] == placed
    pages = -(-(len(before) + 3) // 2)  # the last page is known by the count, not asked for
    assert fault_proxy.forwarded["GET /admin/orders"] == pages
    first = orders[0]
    assert (first.status, first.currency, first.total) == ("pending", "EUR", Decimal("12.5"))
    assert [(line.sku, line.quantity, line.unit_price) for line in first.lines] == [
        (sku, 1, Decimal("12.5"))
    ]
    assert (first.buyer_name, first.buyer_country) == ("Ada Buyer", "DE")
    assert medusa.get_order(placed[1]) is not None
    assert medusa.get_order("order_does_not_exist") is None


def test_ids_join_product_and_variant() -> None:
    assert split_id("prod_1:variant_2") == ("prod_1", "variant_2")
    assert handle_for_sku("abc-1") == "abc-1"
    assert handle_for_sku("ABC-1") != handle_for_sku("abc-1")
    assert handle_for_sku("ABC-1") == handle_for_sku("ABC-1")
    assert handle_for_sku("ABC-1").startswith("abc-1-")


def test_a_batch_over_two_megabytes_is_split_by_body_size(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    # 100 products with 20,000-character descriptions: about 2.1 MB in one body, which
    # Medusa refuses with 413 (seen at 2.5 MB); the adapter sends two bodies instead.
    prefix = _sku("BIG")
    products = [_product(f"{prefix}-{n}", description="d" * 20_000) for n in range(100)]
    result = medusa.write_products(products)
    assert all(item.ok for item in result.created)
    assert fault_proxy.forwarded[BATCH] == 2
    assert len(medusa.lookup_skus([p.sku for p in products])) == 100


def test_a_product_with_variants_is_created_whole_and_one_variant_updated_alone(
    medusa: MedusaPlatform, medusa_server: MedusaServer, fault_proxy: FaultProxy
) -> None:
    base = _sku("TEE")
    handle = base.lower() + "-tee"
    sizes = ["S", "M", "L"]
    variants = [
        {"sku": f"{base}-{size}", "option_values": {"Size": size}, "price": "15.00", "stock": n}
        for n, size in enumerate(sizes, start=1)
    ]
    tee = Product.model_validate(
        {
            "sku": variants[0]["sku"],
            "title": "Tee",
            "price": "15.00",
            "handle": handle,
            "options": ["Size"],
            "variants": variants,
        }
    )
    [created] = medusa.write_products([tee]).created
    assert created.ok and created.product_id is not None
    for size, variant in zip(sizes, variants, strict=True):
        [remote] = _variants(medusa_server, str(variant["sku"]))
        assert remote["product"]["handle"] == handle
        assert [p["amount"] for p in remote["prices"]] == [15.0]
        assert _stocked(medusa_server, str(variant["sku"])) == [sizes.index(size) + 1]
    fault_proxy.clear()
    # As the engine sends it: the product with only its changed variant.
    medium = {**variants[1], "price": "17.00"}
    changed = Product.model_validate(
        {
            "sku": variants[0]["sku"],
            "title": "Tee",
            "price": "15.00",
            "handle": handle,
            "options": ["Size"],
            "variants": [medium],
        }
    )
    [result] = medusa.write_products(
        [], [ProductUpdate(created.product_id, changed, frozenset({"variants"}))]
    ).updated
    assert result.ok
    assert fault_proxy.forwarded[BATCH] == 0
    product_id = split_id(created.product_id)[0]
    assert fault_proxy.forwarded[f"POST /admin/products/{product_id}/variants/batch"] == 1
    prices = {
        size: _variants(medusa_server, f"{base}-{size}")[0]["prices"][0]["amount"] for size in sizes
    }
    assert prices == {"S": 15.0, "M": 17.0, "L": 15.0}
