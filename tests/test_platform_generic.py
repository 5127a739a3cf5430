"""The generic adapter against scripted loopback servers: keys, reconciliation, warnings."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync.domain.models import Product, SourceRow, ValidRow
from shopsync.errors import AmbiguousWriteError
from shopsync.platforms import (
    GenericPlatform,
    Platform,
    ProductUpdate,
    StockChange,
    connect,
    derive_idempotency_key,
)
from shopsync.state.ledger import Ledger
from shopsync.sync.engine import Engine, EngineOptions
from shopsync.sync.planner import Planner
from shopsync.sync.report import ItemOutcome
from test_http_support import (
    FakeTime,
    TokenEndpoint,
    _loopback_server,
    drop_connection,
    json_response,
    make_settings,
    server,
    shopsync_logs,
)

__all__ = ["_loopback_server", "server", "shopsync_logs"]


def product(sku: str, price: str = "9.90") -> Product:
    return Product.model_validate({"sku": sku, "title": f"Item {sku}", "price": price})


def platform_for(
    srv: HTTPServer, tmp_path: Path, *, trust: bool | None = True, fake: FakeTime | None = None
) -> GenericPlatform:
    fake = fake or FakeTime()
    settings = make_settings(tmp_path, srv.url_for("").rstrip("/"))
    return connect(
        settings,
        trust_idempotency_keys=trust,
        clock=fake.clock,
        sleep=fake.sleep,
        jitter=lambda cap: cap,
    )


class FakeShop:
    """A minimal stateful platform behind pytest-httpserver: batch create and SKU lookup.

    ``drop_first_batch`` commits the first batch, then cuts the connection unanswered.
    ``honour_keys`` makes it replay a stored answer for a repeated Idempotency-Key.
    """

    def __init__(self, *, drop_first_batch: bool = False, honour_keys: bool = True) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.drop_first_batch = drop_first_batch
        self.honour_keys = honour_keys
        self.replies: dict[str, Any] = {}
        self.batches: list[tuple[str | None, dict[str, Any]]] = []
        self.lookups: list[str] = []

    def batch(self, request: Request) -> Response:
        key = request.headers.get("Idempotency-Key")
        body = json.loads(request.data)
        self.batches.append((key, body))
        if self.honour_keys and key in self.replies:
            return json_response(self.replies[key], Idempotent_Replayed="true")
        created = []
        for item in body["create"]:
            if item["sku"] in self.products:
                existing = self.products[item["sku"]]["product_id"]
                error = {"code": "SKU_EXISTS", "message": "exists", "product_id": existing}
                created.append({"sku": item["sku"], "status": "error", "error": error})
                continue
            product_id = f"p{len(self.products) + 1}"
            self.products[item["sku"]] = {**item, "product_id": product_id, "version": 1}
            created.append({"sku": item["sku"], "product_id": product_id, "status": "ok"})
        updated = [
            {"sku": "?", "product_id": item["product_id"], "status": "ok"}
            for item in body["update"]
        ]
        answer = {"create": created, "update": updated}
        if key is not None:
            self.replies[key] = answer
        if self.drop_first_batch and len(self.batches) == 1:
            drop_connection(request)
        return json_response(answer)

    def lookup(self, request: Request) -> Response:
        skus = request.args.get("sku", "").split(",")
        self.lookups.append(request.args.get("sku", ""))
        items = [self.products[s] for s in skus if s in self.products]
        return json_response({"items": items, "next_cursor": None})

    def install(self, srv: HTTPServer) -> FakeShop:
        TokenEndpoint().install(srv)
        srv.expect_request("/products/batch", method="POST").respond_with_handler(self.batch)
        srv.expect_request("/products", method="GET").respond_with_handler(self.lookup)
        return self


def test_the_adapter_satisfies_the_protocol(server: HTTPServer, tmp_path: Path) -> None:
    with platform_for(server, tmp_path) as platform:
        assert isinstance(platform, Platform)
        assert platform.max_batch_size == 100


def test_batch_results_in_input_order_with_request_details(
    server: HTTPServer, tmp_path: Path
) -> None:
    shop = FakeShop().install(server)
    shop.products["B"] = {"sku": "B", "product_id": "p-old"}
    with platform_for(server, tmp_path) as platform:
        update = ProductUpdate("p-old", product("B", "12.00"), fields=frozenset({"price"}))
        result = platform.write_products([product("A"), product("B")], [update])
    first, second = result.created
    assert (first.sku, first.ok, first.product_id) == ("A", True, "p2")
    assert (second.sku, second.ok, second.code, second.product_id) == (
        "B",
        False,
        "SKU_EXISTS",
        "p-old",
    )
    assert first.http_status == 200
    assert first.request_id == "req-200"
    assert first.idempotency_key is not None
    assert first.idempotency_key.startswith("shopsync-")
    assert result.updated[0].sku == "B"
    assert result.updated[0].ok
    _key, body = shop.batches[0]
    assert body["update"] == [{"product_id": "p-old", "price": "12.00"}]
    assert body["create"][0] == {
        "sku": "A",
        "title": "Item A",
        "price": "9.90",
        "currency": "CNY",
        "stock": 0,
        "images": [],
        "status": "active",
    }


def test_idempotency_key_is_derived_from_content_and_target(tmp_path: Path) -> None:
    body = {"create": [{"sku": "A", "price": "1.00"}], "update": []}
    same_order = {"update": [], "create": [{"price": "1.00", "sku": "A"}]}
    key = derive_idempotency_key("p|https://a", "POST /products/batch", body)
    assert key == derive_idempotency_key("p|https://a", "POST /products/batch", same_order)
    assert key != derive_idempotency_key("p|https://b", "POST /products/batch", body)
    assert key != derive_idempotency_key("p|https://a", "POST /inventory/batch", body)
    assert key != derive_idempotency_key("p|https://a", "POST /products/batch", body, salt="x")
    assert len(key) == len("shopsync-") + 64


def test_a_resumed_run_sends_the_same_key_for_the_same_batch(
    server: HTTPServer, tmp_path: Path
) -> None:
    shop = FakeShop().install(server)
    with platform_for(server, tmp_path) as platform:
        first = platform.write_products([product("A"), product("B")])
    with platform_for(server, tmp_path) as platform:  # a new process, same batch
        second = platform.write_products([product("A"), product("B")])
    assert shop.batches[0][0] == shop.batches[1][0]
    assert [r.replayed for r in second.created] == [True, True]
    assert [r.product_id for r in second.created] == [r.product_id for r in first.created]
    assert len(shop.products) == 2


def test_commit_then_drop_is_retried_with_the_same_key_one_product(
    server: HTTPServer, tmp_path: Path
) -> None:
    shop = FakeShop(drop_first_batch=True).install(server)
    with platform_for(server, tmp_path) as platform:
        result = platform.write_products([product("A")])
    assert len(shop.batches) == 2
    assert shop.batches[0][0] == shop.batches[1][0]
    assert result.created[0].ok
    assert result.created[0].replayed
    assert list(shop.products) == ["A"]


def engine_upload(
    platform: GenericPlatform, tmp_path: Path, products: list[Product]
) -> list[tuple[str, str, str | None]]:
    """Send ``products`` through the engine (which owns reconciliation): sku, action, id."""
    outcomes: list[ItemOutcome] = []
    with Ledger(tmp_path / "ledger") as ledger:
        engine = Engine(
            platform,
            ledger,
            namespace="test",
            run_id="run",
            profile="test",
            options=EngineOptions(workers=1),
            on_outcome=outcomes.append,
        )
        rows = [ValidRow(SourceRow("f.csv", n + 2, {}), p) for n, p in enumerate(products)]
        engine.apply(Planner(ledger).plan(rows))
    return [(o.sku, o.action, o.product_id) for o in outcomes]


def test_commit_then_drop_without_keys_is_reconciled_by_lookup(
    server: HTTPServer, tmp_path: Path
) -> None:
    # This platform ignores keys: a blind resend would create "A" twice (here: SKU_EXISTS).
    shop = FakeShop(drop_first_batch=True, honour_keys=False).install(server)
    with platform_for(server, tmp_path, trust=False) as platform:
        outcomes = engine_upload(platform, tmp_path, [product("A"), product("B")])
    assert len(shop.batches) == 1  # nothing was sent again: both were found
    assert shop.lookups == ["A,B"]  # looked up before anything was sent again
    assert outcomes == [("A", "created", "p1"), ("B", "created", "p2")]
    assert len(shop.products) == 2


def test_reconciliation_resends_only_what_is_missing(server: HTTPServer, tmp_path: Path) -> None:
    shop = FakeShop(honour_keys=False)
    calls = []

    def lose_b_then_drop(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:  # "A" was committed, "B" was not, and then the line died
            shop.products["A"] = {"sku": "A", "product_id": "p-a", "version": 1}
            drop_connection(request)
            return Response("", status=500)
        return shop.batch(request)

    TokenEndpoint().install(server)
    server.expect_request("/products/batch", method="POST").respond_with_handler(lose_b_then_drop)
    server.expect_request("/products", method="GET").respond_with_handler(shop.lookup)
    with platform_for(server, tmp_path, trust=None) as platform:
        outcomes = engine_upload(platform, tmp_path, [product("A"), product("B")])
    assert [b["create"][0]["sku"] for _, b in shop.batches] == ["B"]
    assert outcomes == [("A", "created", "p-a"), ("B", "created", "p2")]


def test_inventory_results_carry_stock_and_conflicts(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)
    answer = {
        "results": [
            {"sku": "A", "status": "ok", "stock": 12},
            {
                "sku": "B",
                "status": "error",
                "error": {"code": "STOCK_CONFLICT", "message": "is 4", "current_stock": 4},
            },
        ]
    }
    server.expect_request("/inventory/batch", method="POST").respond_with_json(answer)
    changes = [StockChange("A", stock=12), StockChange("B", stock=5, expected=7)]
    with platform_for(server, tmp_path) as platform:
        results = platform.update_inventory(changes)
    assert [(r.sku, r.ok, r.stock, r.code) for r in results] == [
        ("A", True, 12, None),
        ("B", False, 4, "STOCK_CONFLICT"),
    ]
    sent = json.loads(server.log[-1][0].data)
    assert sent == {"updates": [{"sku": "A", "stock": 12}, {"sku": "B", "stock": 5, "expected": 7}]}
    with pytest.raises(ValueError, match="either stock or delta"):
        StockChange("C", stock=1, delta=1)


def test_ambiguous_inventory_without_keys_is_raised_not_resent(
    server: HTTPServer, tmp_path: Path
) -> None:
    # What is safe to send again is the stock sync's decision (tests/test_stock.py).
    TokenEndpoint().install(server)
    bodies: list[Any] = []

    def handler(request: Request) -> Response:
        bodies.append(json.loads(request.data))
        if len(bodies) == 1:
            drop_connection(request)
            return Response("", status=500)
        return json_response({"results": [{"sku": "A", "status": "ok", "stock": 3}]})

    server.expect_request("/inventory/batch", method="POST").respond_with_handler(handler)
    with platform_for(server, tmp_path, trust=None) as platform, pytest.raises(AmbiguousWriteError):
        platform.update_inventory([StockChange("A", stock=3), StockChange("B", delta=-1)])
    assert len(bodies) == 1


def test_orders_are_paged_until_the_cursor_ends(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)

    def order(n: int) -> dict[str, Any]:
        return {
            "order_id": f"o{n}",
            "status": "paid",
            "created_at": "2030-01-01T00:00:00Z",
            "updated_at": "2030-01-01T00:00:00Z",
            "currency": "CNY",
            "total": "19.80",
            "lines": [{"sku": "A", "quantity": 2, "unit_price": "9.90"}],
            "buyer": {"name": "Li", "country": "CN"},
        }

    def handler(request: Request) -> Response:
        if request.args.get("cursor") is None:
            return json_response({"items": [order(1), order(2)], "next_cursor": "c2"})
        return json_response({"items": [order(3)], "next_cursor": None})

    server.expect_request("/orders").respond_with_handler(handler)
    server.expect_request("/orders/o9").respond_with_json(
        {"code": "NOT_FOUND", "status": 404}, status=404
    )
    from datetime import datetime, timezone  # noqa: PLC0415

    since = datetime(2030, 1, 1, tzinfo=timezone.utc)
    with platform_for(server, tmp_path) as platform:
        orders = list(platform.iter_orders(updated_since=since, status="paid", page_size=2))
        assert platform.get_order("o9") is None
    assert [o.order_id for o in orders] == ["o1", "o2", "o3"]
    assert str(orders[0].total) == "19.80"
    assert orders[0].lines[0].quantity == 2
    # By path, not place in the log: the server is the session's, and a request of an
    # earlier test whose connection it dropped can still be noted after that test.
    pages = [request for request, _ in server.log if request.path == "/orders"]
    assert len(pages) == 2
    assert dict(pages[0].args) == {
        "limit": "2",
        "updated_since": "2030-01-01T00:00:00Z",
        "status": "paid",
    }
    assert pages[1].args["cursor"] == "c2"


def test_deprecation_or_sunset_warns_once_per_client(
    server: HTTPServer, tmp_path: Path, caplog: pytest.LogCaptureFixture, shopsync_logs: None
) -> None:
    TokenEndpoint().install(server)
    server.expect_request("/products").respond_with_response(
        json_response(
            {"items": [], "next_cursor": None},
            Deprecation="@1893456000",
            Sunset="Wed, 01 Jan 2031 00:00:00 GMT",
        )
    )
    caplog.set_level(logging.WARNING, logger="shopsync")
    with platform_for(server, tmp_path) as platform:
        platform.lookup_skus(["A"])
        platform.lookup_skus(["B"])
        assert len(platform.client.deprecations) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "The platform marks GET /products as deprecated (Deprecation: @1893456000) "
        "(Sunset: Wed, 01 Jan 2031 00:00:00 GMT); a future shopsync version may be needed."
    ]


def test_a_result_count_mismatch_is_an_error_not_a_guess(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    server.expect_request("/products/batch", method="POST").respond_with_json(
        {"create": [], "update": []}
    )
    from shopsync.errors import APIError  # noqa: PLC0415

    with platform_for(server, tmp_path) as platform, pytest.raises(APIError, match="0 create"):
        platform.write_products([product("A")])
