"""Inventory (docs/platform-api.md §3) and orders (§4) against a live sandbox."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.orders import ORDER_STATUSES


def seed_products(api: Any, **stocks: int) -> dict[str, str]:
    created = api.post(
        "/products/batch",
        json={
            "create": [{"sku": s, "title": s, "price": "5", "stock": n} for s, n in stocks.items()]
        },
    ).json()["create"]
    return {r["sku"]: r["product_id"] for r in created}


def test_set_delta_and_compare_and_set(api: Any) -> None:
    ids = seed_products(api, A=10, B=0)
    response = api.post(
        "/inventory/batch",
        json={
            "updates": [
                {"sku": "A", "stock": 12},
                {"sku": "A", "delta": -3},
                {"sku": "A", "stock": 5, "expected": 9},
                {"sku": "A", "stock": 1, "expected": 7},
                {"sku": "B", "delta": -1},
                {"sku": "NOPE", "stock": 1},
                {"sku": "B", "stock": 4, "delta": 1},
                {"sku": "B", "delta": 2, "expected": 0},
            ]
        },
    )
    assert response.status_code == 200
    results = response.json()["results"]
    assert [(r["sku"], r["status"], r.get("stock")) for r in results] == [
        ("A", "ok", 12),
        ("A", "ok", 9),
        ("A", "ok", 5),
        ("A", "error", 5),
        ("B", "error", 0),
        ("NOPE", "error", None),
        ("B", "error", None),
        ("B", "ok", 2),
    ]
    assert results[3]["error"]["code"] == "STOCK_CONFLICT"
    assert results[3]["error"]["current_stock"] == 5
    assert results[4]["error"]["code"] == "STOCK_NEGATIVE"
    assert results[4]["error"]["current_stock"] == 0
    assert results[5]["error"]["code"] == "SKU_NOT_FOUND"
    assert results[6]["error"]["code"] == "VALIDATION_ERROR"
    a = api.get(f"/products/{ids['A']}").json()
    assert (a["stock"], a["version"]) == (5, 4)  # three items changed it: three versions
    assert api.get(f"/products/{ids['B']}").json()["stock"] == 2


def test_inventory_never_creates_products(api: Any) -> None:
    response = api.post("/inventory/batch", json={"updates": [{"sku": "GHOST", "stock": 3}]})
    assert response.json()["results"][0]["error"]["code"] == "SKU_NOT_FOUND"
    assert api.handle.stats()["products_stored"] == 0


def test_unchanged_stock_makes_no_new_version(api: Any) -> None:
    ids = seed_products(api, A=4)
    api.post(
        "/inventory/batch", json={"updates": [{"sku": "A", "stock": 4}, {"sku": "A", "delta": 0}]}
    )
    assert api.get(f"/products/{ids['A']}").json()["version"] == 1


def test_inventory_structure_errors(api: Any) -> None:
    missing = api.post("/inventory/batch", json={})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"field": "updates", "message": "is required and must be an array"}
    ]
    unknown = api.post("/inventory/batch", json={"updates": [{"sku": "A", "stock": 1, "qty": 2}]})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "updates[0].qty"
    too_many = api.post("/inventory/batch", json={"updates": [{"sku": "A", "stock": 1}] * 101})
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "BATCH_TOO_LARGE"


# -- orders ----------------------------------------------------------------------------------


def all_orders(client: Any, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        page = client.get("/orders", params=query)
        assert page.status_code == 200, page.text
        items.extend(page.json()["items"])
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return items


def test_orders_at_start_are_listed_by_updated_at_then_id(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(orders=57, seed=5)
    client = api_for(sandbox, scopes=("orders",))
    orders = all_orders(client, limit=20)
    assert len(orders) == 57
    keys = [(o["updated_at"], o["order_id"]) for o in orders]
    assert keys == sorted(keys)
    assert len({o["order_id"] for o in orders}) == 57
    for order in orders:
        assert order["status"] in ORDER_STATUSES
        assert order["created_at"] <= order["updated_at"]
        assert order["currency"] == "CNY"
        assert order["lines"]
        total = sum(line["quantity"] * float(line["unit_price"]) for line in order["lines"])
        assert float(order["total"]) == pytest.approx(total)
        assert set(order["buyer"]) == {"name", "country"}
    one = client.get(f"/orders/{orders[3]['order_id']}")
    assert one.status_code == 200
    assert one.json() == orders[3]
    missing = client.get("/orders/ord_nope")
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


def test_order_filters(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(orders=40, seed=9)
    client = api_for(sandbox, scopes=("orders",))
    everything = all_orders(client)
    middle = everything[20]["updated_at"]
    since = all_orders(client, updated_since=middle)
    assert since == [o for o in everything if o["updated_at"] >= middle]
    # The same instant in another zone is the same filter.
    shifted = middle[:19] + middle[19:26] + "Z"
    assert all_orders(client, updated_since=shifted) == since
    for status in ORDER_STATUSES:
        assert all_orders(client, status=status) == [o for o in everything if o["status"] == status]
    bad = client.get("/orders", params={"updated_since": "yesterday", "status": "lost"})
    assert bad.status_code == 422
    assert [e["field"] for e in bad.json()["errors"]] == ["updated_since", "status"]


def test_order_generator_is_deterministic_and_follows_the_lifecycle(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    def history(seed: int) -> list[tuple[str, str, int]]:
        sandbox = make_sandbox(orders=10, seed=seed)
        sandbox.advance_orders(60)
        rows = sandbox.store.orders_page(updated_since=None, status=None, after=None, limit=1000)
        return sorted((o["order_id"], o["status"], len(o["lines"])) for o in rows)

    first, second, other = history(3), history(3), history(4)
    assert first == second
    assert first != other
    allowed = {
        "pending": {"paid", "cancelled"},
        "paid": {"shipped", "refunded"},
        "shipped": {"delivered", "refunded"},
    }
    sandbox = make_sandbox(orders=5, seed=11)
    before = {
        o["order_id"]: o["status"]
        for o in sandbox.store.orders_page(updated_since=None, status=None, after=None, limit=100)
    }
    for _ in range(40):
        sandbox.advance_orders(1)
        now = {
            o["order_id"]: o["status"]
            for o in sandbox.store.orders_page(
                updated_since=None, status=None, after=None, limit=100
            )
        }
        for order_id, status in now.items():
            old = before.get(order_id)
            if old is None:
                assert status == "pending"
            elif old != status:
                assert status in allowed[old]
        before = now


def test_orders_arrive_over_time(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(order_rate=50, seed=2)
    client = api_for(sandbox, scopes=("orders",))
    deadline = time.monotonic() + 10
    while sandbox.stats()["orders_stored"] < 3 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert sandbox.stats()["orders_stored"] >= 3
    assert all_orders(client)


def test_orders_name_products_of_the_shop(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(seed=1)
    client = api_for(sandbox)
    seed_products(client, SHOP1=1, SHOP2=2)
    sandbox.advance_orders(5)
    skus = {line["sku"] for o in all_orders(client) for line in o["lines"]}
    assert skus <= {"SHOP1", "SHOP2"}
