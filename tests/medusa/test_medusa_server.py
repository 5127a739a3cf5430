"""The harness and the fault proxy, against the real Medusa server they serve."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from faultproxy import FaultProxy
from harness import MEDUSA_VERSION, MedusaServer
from medusa_marks import MEDUSA_TESTS

from servers import wait_until

pytestmark = MEDUSA_TESTS


def _product(sku: str, server: MedusaServer) -> dict[str, Any]:
    setup = server.setup
    return {
        "title": f"Harness {sku}",
        "handle": sku.lower(),
        "status": "published",
        "shipping_profile_id": setup.shipping_profile_id,
        "sales_channels": [{"id": setup.sales_channel_id}],
        "options": [{"title": "Default", "values": ["Default"]}],
        "variants": [
            {
                "title": "Default",
                "sku": sku,
                "options": {"Default": "Default"},
                "prices": [{"currency_code": setup.currency, "amount": 12.5}],
                "manage_inventory": True,
            }
        ],
    }


def _variants_with_sku(server: MedusaServer, sku: str) -> list[dict[str, Any]]:
    answer = requests.get(
        server.base_url + "/admin/product-variants",
        params={"sku": sku},
        headers=server.admin_headers(),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    variants: list[dict[str, Any]] = answer.json()["variants"]
    return variants


def test_medusa_answers_on_loopback_with_the_secret_key(medusa_server: MedusaServer) -> None:
    assert medusa_server.base_url.startswith("http://127.0.0.1:")
    assert medusa_server.api_key.startswith("sk_")
    health = requests.get(medusa_server.base_url + "/health", timeout=10)
    assert (health.status_code, health.text) == (200, "OK")
    refused = requests.get(medusa_server.base_url + "/admin/products", timeout=30)
    assert refused.status_code == 401
    store = requests.get(
        medusa_server.base_url + "/admin/stores", headers=medusa_server.admin_headers(), timeout=30
    )
    assert store.status_code == 200
    assert store.json()["stores"][0]["default_sales_channel_id"] == (
        medusa_server.setup.sales_channel_id
    )


def test_installed_medusa_is_the_pinned_version(medusa_server: MedusaServer) -> None:
    from harness import install_dir  # noqa: PLC0415

    manifest = install_dir() / "node_modules" / "@medusajs" / "medusa" / "package.json"
    assert f'"version": "{MEDUSA_VERSION}"' in manifest.read_text()


def test_proxy_forwards_and_counts(fault_proxy: FaultProxy, medusa_server: MedusaServer) -> None:
    answer = requests.get(
        fault_proxy.base_url + "/admin/stock-locations",
        headers=medusa_server.admin_headers(),
        timeout=30,
    )
    assert answer.status_code == 200
    ids = [location["id"] for location in answer.json()["stock_locations"]]
    assert medusa_server.setup.stock_location_id in ids
    assert fault_proxy.forwarded == {"GET /admin/stock-locations": 1}


def test_proxy_reset_and_503_reach_nothing(
    fault_proxy: FaultProxy, medusa_server: MedusaServer
) -> None:
    sku = f"RESET-{uuid.uuid4().hex[:8]}"
    fault_proxy.inject("reset", method="POST", path="/admin/products")
    fault_proxy.inject("status", method="POST", path="/admin/products", status=503)
    url = fault_proxy.base_url + "/admin/products"
    with pytest.raises(requests.ConnectionError):
        requests.post(
            url,
            json=_product(sku, medusa_server),
            headers=medusa_server.admin_headers(),
            timeout=30,
        )
    unavailable = requests.post(
        url, json=_product(sku, medusa_server), headers=medusa_server.admin_headers(), timeout=30
    )
    assert unavailable.status_code == 503
    assert fault_proxy.writes() == 0
    assert _variants_with_sku(medusa_server, sku) == []


def test_proxy_commit_then_drop_applies_the_write_and_loses_the_answer(
    fault_proxy: FaultProxy, medusa_server: MedusaServer
) -> None:
    sku = f"DROP-{uuid.uuid4().hex[:8]}"
    fault_proxy.inject("commit_then_drop", method="POST", path="/admin/products")
    with pytest.raises(requests.ConnectionError):
        requests.post(
            fault_proxy.base_url + "/admin/products",
            json=_product(sku, medusa_server),
            headers=medusa_server.admin_headers(),
            timeout=30,
        )
    assert fault_proxy.forwarded == {"POST /admin/products": 1}
    assert [variant["sku"] for variant in _variants_with_sku(medusa_server, sku)] == [sku]


def test_proxy_slow_answer_outlasts_a_short_read_timeout(
    fault_proxy: FaultProxy, medusa_server: MedusaServer
) -> None:
    # A margin of 20x: the proxy holds the answer 2 s, the client waits 0.1 s.
    fault_proxy.inject("slow", method="GET", path="/admin/stores", delay=2.0)
    with pytest.raises(requests.ReadTimeout):
        requests.get(
            fault_proxy.base_url + "/admin/stores",
            headers=medusa_server.admin_headers(),
            timeout=(5, 0.1),
        )
    wait_until(
        lambda: fault_proxy.forwarded == {"GET /admin/stores": 1},
        timeout=30,
        what="the slow request reaching Medusa",
    )
