"""The Amazon adapter against the Amazon sandbox dialect, both held to Amazon's own models.

``../shared/specs/amazon`` (Amazon's Swagger models, Apache-2.0) is read from the workspace,
never copied here; the tests that need it skip with the reason where it is absent. The
official SDK ``amzn-sp-api`` (test extra) drives the dialect.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests

from shopsync.config import SHARED_SETTINGS, Settings
from shopsync.domain.models import Product
from shopsync.platforms import connect
from shopsync.platforms.amazon import SETTINGS, AmazonPlatform
from shopsync.platforms.base import ItemCode, ProductUpdate, StockChange
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox

ROOT = Path(__file__).resolve().parents[1]
# ../shared beside the repository, or beside the worktrees' folder (/work/wt/NAME).
SPECS = next(
    (
        p / "shared" / "specs" / "amazon"
        for p in (ROOT.parent, ROOT.parent.parent)
        if (p / "shared" / "specs" / "amazon").is_dir()
    ),
    ROOT.parent / "shared" / "specs" / "amazon",
)
needs_specs = pytest.mark.skipif(
    not SPECS.is_dir(), reason=f"Amazon's models are not at {SPECS} (outside this workspace)"
)


@pytest.fixture
def amazon() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="amazon")) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        yield handle


def _settings(handle: SandboxHandle, data_dir: Path, **extra: Any) -> Settings:
    given = handle.client_settings()
    fields = ("base_url", "token_url", "client_id", "client_secret")
    values: dict[str, Any] = {k: v for k, v in given.items() if k not in fields}
    values.update(product_type="HOME", **extra)
    return Settings(
        profile="t",
        platform="amazon",
        base_url=given["base_url"],
        token_url=given["token_url"],
        client_id=given["client_id"],
        client_secret=given["client_secret"],
        data_dir=data_dir,
        max_attempts=3,
        extra=values,
        specs=SHARED_SETTINGS + SETTINGS,
    )


class Recorder:
    """Every request the adapter sends and every answer it gets, for the model checks."""

    def __init__(self, platform: AmazonPlatform) -> None:
        self.exchanges: list[tuple[requests.PreparedRequest, requests.Response]] = []
        transport = platform.client.transport
        original = transport.send

        def send(*args: Any, **kwargs: Any) -> requests.Response:
            response = original(*args, **kwargs)
            self.exchanges.append((response.request, response))
            return response

        transport.send = send  # type: ignore[method-assign]


@pytest.fixture
def platform(amazon: SandboxHandle, tmp_path: Path) -> Iterator[AmazonPlatform]:
    adapter = connect(_settings(amazon, tmp_path), sleep=lambda _s: None, disk_cache=False)
    assert isinstance(adapter, AmazonPlatform)
    with adapter:
        yield adapter


def _product(sku: str, **fields: Any) -> Product:
    base: dict[str, Any] = {
        "sku": sku,
        "title": f"Teapot {sku}",
        "price": "19.90",
        "currency": "USD",
        "stock": 5,
        "brand": "Yixing",
        "barcode": "4006381333931",
        "images": ["https://img.example/a.jpg", "https://img.example/b.jpg"],
    }
    return Product.model_validate({**base, **fields})


def _calls(handle: SandboxHandle, operation: str) -> int:
    counts = handle.stats()["requests"]
    return sum(sum(v.values()) for k, v in counts.items() if k.endswith(" " + operation))


# -- listings ---------------------------------------------------------------------------


def test_create_is_one_put_with_the_mapped_attributes(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    result = platform.write_products([_product("TP-1")])
    assert [(r.sku, r.ok, r.product_id) for r in result.created] == [("TP-1", True, "TP-1")]
    assert _calls(amazon, "putListingsItem") == 1
    row = amazon.store.product("TP-1")
    assert row is not None
    attributes = row.values["attributes"]
    assert attributes["item_name"] == [
        {"value": "Teapot TP-1", "marketplace_id": "ATVPDKIKX0DER", "language_tag": "en_US"}
    ]
    assert attributes["purchasable_offer"][0]["our_price"] == [
        {"schedule": [{"value_with_tax": 19.9}]}
    ]
    assert attributes["fulfillment_availability"] == [
        {"fulfillment_channel_code": "DEFAULT", "quantity": 5}
    ]
    assert attributes["externally_assigned_product_identifier"][0]["type"] == "ean"
    assert (
        attributes["other_product_image_locator_1"][0]["media_location"]
        == "https://img.example/b.jpg"
    )
    assert attributes["condition_type"][0]["value"] == "new_new"
    remote = platform.lookup_skus(["TP-1", "NOPE"])
    assert list(remote) == ["TP-1"]
    assert dict(remote["TP-1"].fields) == {
        "title": "Teapot TP-1", "price": "19.90", "stock": 5, "description": None,
        "brand": "Yixing", "barcode": "4006381333931",
    }  # fmt: skip


def test_update_patches_only_the_changed_attributes(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    platform.write_products([_product("TP-2")])
    recorder = Recorder(platform)
    changed = _product("TP-2", price="24.50", title="Teapot, larger")
    result = platform.write_products(
        [], [ProductUpdate("TP-2", changed, frozenset({"price", "title"}))]
    )
    assert [r.ok for r in result.updated] == [True]
    assert _calls(amazon, "patchListingsItem") == 1
    ((request, _response),) = recorder.exchanges
    body = json.loads(request.body or b"{}")
    assert sorted(p["path"] for p in body["patches"]) == [
        "/attributes/item_name",
        "/attributes/purchasable_offer",
    ]
    assert {p["op"] for p in body["patches"]} == {"replace"}
    remote = platform.get_listing("TP-2")
    assert remote is not None
    assert (remote.fields["title"], remote.fields["price"], remote.fields["stock"]) == (
        "Teapot, larger",
        "24.50",
        5,
    )


def test_a_patch_of_a_listing_amazon_lacks_is_not_found(platform: AmazonPlatform) -> None:
    update = ProductUpdate("GHOST", _product("GHOST"), frozenset({"price"}))
    (result,) = platform.write_products([], [update]).updated
    assert (result.ok, result.item_code, result.code) == (False, ItemCode.NOT_FOUND, "NOT_FOUND")


def test_invalid_answer_names_the_issue_and_attribute(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    product = _product("TP-3")
    platform.attributes = lambda _p, _f=None: {"item_name": [{"value": "x"}]}  # type: ignore[method-assign]
    (result,) = platform.write_products([product]).created
    assert (result.ok, result.item_code, result.code, result.field) == (
        False,
        ItemCode.INVALID,
        "90220",
        "condition_type",
    )
    assert "'condition_type' is required" in (result.message or "")
    assert amazon.store.product("TP-3") is None


def test_plan_time_checks(platform: AmazonPlatform) -> None:
    platform.product_type = None
    product = _product("TP-4", title="x" * 201, barcode="12345")
    assert [field for field, _ in platform.check_product(product)] == [
        "amazon:product_type",
        "title",
        "barcode",
    ]
    typed = _product("TP-5", platform_fields={"amazon": {"product_type": "KITCHEN"}})
    assert platform.check_product(typed) == []


def test_stock_is_a_patch_of_fulfillment_availability(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    platform.write_products([_product("TP-6")])
    results = platform.update_inventory(
        [StockChange("TP-6", stock=42), StockChange("TP-6", delta=1), StockChange("NOPE", stock=1)]
    )
    assert [(r.ok, r.item_code, r.stock) for r in results] == [
        (True, ItemCode.ACCEPTED, 42), (False, ItemCode.INVALID, None),
        (False, ItemCode.NOT_FOUND, None),
    ]  # fmt: skip
    remote = platform.get_listing("TP-6")
    assert remote is not None and remote.fields["stock"] == 42


# -- accepted, not live -----------------------------------------------------------------


def test_accepted_listings_that_never_appear_are_found_by_verify(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    amazon.app.lose_skus = {"LOST-1"}  # type: ignore[attr-defined]
    products = [_product("LIVE-1"), _product("LOST-1")]
    results = platform.write_products(products).created
    assert [r.ok for r in results] == [True, True]  # Amazon said ACCEPTED to both
    unverified = platform.verify(products)
    assert [(u.sku, u.reason) for u in unverified] == [
        ("LOST-1", "accepted, not live: Amazon has no listing")
    ]
    assert amazon.stats()["lost_submissions"] == 1


def test_a_delayed_listing_is_not_live_until_amazon_applies_it(tmp_path: Path) -> None:
    now = [1_800_000_000.0]
    config = SandboxConfig(dialect="amazon", clock=lambda: now[0])
    with running_sandbox(config) as handle:
        handle.app.visibility_delay = 60.0  # type: ignore[attr-defined]
        adapter = connect(
            _settings(handle, tmp_path),
            sleep=lambda _s: None,
            disk_cache=False,
            wall_clock=lambda: now[0],
        )
        assert isinstance(adapter, AmazonPlatform)
        with adapter:
            adapter.write_products([_product("SLOW-1")])
            assert adapter.get_listing("SLOW-1") is None
            assert [u.sku for u in adapter.verify([_product("SLOW-1")])] == ["SLOW-1"]
            now[0] += 61
            assert adapter.verify([_product("SLOW-1")]) == []


# -- throttling, auth, orders -------------------------------------------------------------


def test_a_lower_usage_plan_in_the_rate_header_paces_the_operation_without_429s(
    tmp_path: Path,
) -> None:
    # One clock for the sandbox's buckets and the client's pacing; sleeping moves it.
    now = [1_800_000_000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    with running_sandbox(SandboxConfig(dialect="amazon", clock=lambda: now[0])) as handle:
        # The seller's plan is half the default: the first answer's x-amzn-RateLimit-Limit
        # says so, and the put bucket paces at it from then on (the contract suite's
        # test_429_is_waited_out covers a 429 itself).
        handle.app.usage_scale = 0.5  # type: ignore[attr-defined]
        adapter = connect(
            _settings(handle, tmp_path),
            clock=lambda: now[0],
            wall_clock=lambda: now[0],
            sleep=sleep,
            jitter=lambda s: s,
            disk_cache=False,
        )
        assert isinstance(adapter, AmazonPlatform)
        with adapter:
            results = [adapter.write_products([_product(f"Q-{n}")]).created[0] for n in range(14)]
        assert all(r.ok for r in results)
        assert handle.stats()["rate_limited"] == 0
        assert _calls(handle, "putListingsItem") == 14
        assert handle.store.product_counts() == (14, 0)
        assert sum(slept) >= 12 / 2.5  # after the first answer, one put per 0.4 s


def test_auth_check_and_an_expired_token_is_refreshed_once(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    status = platform.check_auth()
    assert status.client_id == "demo-client" and status.expires_in > 3000
    amazon.store.purge_tokens(float("inf"))  # every token the sandbox issued is gone
    assert platform.write_products([_product("TK-1")]).created[0].ok
    assert platform.stats()["token_refreshes"] == 1


def test_orders_list_with_lines(amazon: SandboxHandle, platform: AmazonPlatform) -> None:
    platform.write_products([_product("OR-1")])
    amazon.app.orders.ensure(3)
    orders = list(platform.iter_orders(page_size=2))
    assert len(orders) == 3
    assert all(o.order_id.startswith("111-") and o.lines for o in orders)
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    one = platform.get_order(orders[0].order_id)
    assert one == orders[0]
    assert platform.get_order("111-0000000-99999999") is None
    assert _calls(amazon, "getOrders") == 2


# -- Amazon's own artifacts ---------------------------------------------------------------


def _validator(model: str, definition: str) -> Any:
    spec = json.loads((SPECS / model).read_text(encoding="utf-8"))
    schema = {"$ref": f"#/definitions/{definition}", "definitions": spec["definitions"]}
    return jsonschema_rs.Draft4Validator(schema)


OPERATION_SCHEMAS = {
    ("PUT", "putListingsItem"): ("ListingsItemPutRequest", "ListingsItemSubmissionResponse"),
    ("PATCH", "patchListingsItem"): ("ListingsItemPatchRequest", "ListingsItemSubmissionResponse"),
    ("GET", "getListingsItem"): (None, "Item"),
    ("GET", "searchListingsItems"): (None, "ItemSearchResults"),
}


@needs_specs
def test_every_listings_request_and_answer_validates_against_amazons_model(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    from shopsync.platforms.amazon.wire import operation_of  # noqa: PLC0415

    recorder = Recorder(platform)
    platform.write_products([_product("M-1"), _product("M-2", description="Glazed")])
    platform.write_products(
        [], [ProductUpdate("M-1", _product("M-1", price="9.00"), frozenset({"price"}))]
    )
    platform.update_inventory([StockChange("M-2", stock=3)])
    platform.lookup_skus(["M-1", "M-2", "M-3"])
    platform.get_listing("M-1")
    platform.get_listing("M-9")
    list(platform.iter_products())
    seen = set()
    for request, response in recorder.exchanges:
        if "/auth/o2/token" in str(request.url):
            continue
        operation = operation_of(
            str(request.method), requests.utils.urlparse(str(request.url)).path
        )
        request_schema, response_schema = OPERATION_SCHEMAS[(str(request.method), str(operation))]
        seen.add(operation)
        if request_schema is not None:
            _validator("listingsItems_2021-08-01.json", request_schema).validate(
                json.loads(request.body or b"{}")
            )
        definition = response_schema if response.status_code < 300 else "ErrorList"
        _validator("listingsItems_2021-08-01.json", definition).validate(response.json())
        assert response.headers["x-amzn-RateLimit-Limit"]
    assert seen == {
        "putListingsItem",
        "patchListingsItem",
        "getListingsItem",
        "searchListingsItems",
    }


@needs_specs
def test_orders_answers_validate_against_the_orders_v0_model(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    amazon.app.orders.ensure(2)
    recorder = Recorder(platform)
    list(platform.iter_orders())
    answers = {
        requests.utils.urlparse(str(q.url)).path.rsplit("/", 1)[-1]: r.json()
        for q, r in recorder.exchanges
        if "/orders/" in str(q.url)
    }
    _validator("ordersV0.json", "GetOrdersResponse").validate(answers["orders"])
    _validator("ordersV0.json", "GetOrderItemsResponse").validate(answers["orderItems"])


@needs_specs
def test_the_listings_models_static_examples_through_the_adapter(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    spec = json.loads((SPECS / "listingsItems_2021-08-01.json").read_text(encoding="utf-8"))
    put = spec["paths"]["/listings/2021-08-01/items/{sellerId}/{sku}"]["put"]
    (accepted, _valid, invalid) = put["responses"]["200"]["x-amzn-api-sandbox"]["static"]
    # The documented ACCEPTED answer: a listing with everything Amazon requires.
    (result,) = platform.write_products([_product(accepted["response"]["sku"])]).created
    # ACCEPTED is queued, not live: the write is held until confirm_writes sees it.
    assert (result.ok, result.item_code) == (True, ItemCode.ACCEPTED)
    # The documented INVALID answer: condition_type missing.
    platform.attributes = lambda p, _f=None: {"item_name": [{"value": p.title}]}  # type: ignore[method-assign]
    (refused,) = platform.write_products([_product(invalid["response"]["sku"])]).created
    expected = invalid["response"]["issues"][0]
    assert (refused.code, refused.field, refused.item_code) == (
        expected["code"],
        expected["attributeNames"][0],
        ItemCode.INVALID,
    )
    assert expected["message"] in (refused.message or "")


def test_amazons_sdk_drives_the_dialect(amazon: SandboxHandle) -> None:
    import spapi  # noqa: PLC0415 - amzn-sp-api, the test extra's

    given = amazon.client_settings()
    config = spapi.SPAPIConfig(
        client_id=given["client_id"],
        client_secret=given["client_secret"],
        refresh_token=given["refresh_token"],
        region="NA",
    )
    client = spapi.SPAPIClient(config, oauth_endpoint=given["token_url"], endpoint=amazon.base_url)
    listings = spapi.ListingsApi(client.api_client)
    body = {
        "productType": "HOME",
        "requirements": "LISTING",
        "attributes": {
            "item_name": [{"value": "SDK pot"}],
            "condition_type": [{"value": "new_new"}],
            "purchasable_offer": [
                {"currency": "USD", "our_price": [{"schedule": [{"value_with_tax": 12.5}]}]}
            ],
            "fulfillment_availability": [{"fulfillment_channel_code": "DEFAULT", "quantity": 7}],
        },
    }
    answer = listings.put_listings_item(
        given["seller_id"], "SDK-1", [given["marketplace_id"]], body
    )
    assert answer.status == "ACCEPTED"
    patch = {
        "productType": "HOME",
        "patches": [
            {
                "op": "replace",
                "path": "/attributes/fulfillment_availability",
                "value": [{"fulfillment_channel_code": "DEFAULT", "quantity": 9}],
            }
        ],
    }
    assert (
        listings.patch_listings_item(
            given["seller_id"], "SDK-1", [given["marketplace_id"]], patch
        ).status
        == "ACCEPTED"
    )
    item = listings.get_listings_item(
        given["seller_id"],
        "SDK-1",
        [given["marketplace_id"]],
        included_data=["summaries", "fulfillmentAvailability"],
    )
    assert item.sku == "SDK-1" and item.fulfillment_availability[0].quantity == 9
    amazon.app.orders.ensure(1)
    orders = spapi.OrdersV0Api(client.api_client).get_orders(
        [given["marketplace_id"]], last_updated_after="2000-01-01T00:00:00Z"
    )
    assert len(orders.payload.orders) == 1


# -- through the engine, with faults ------------------------------------------------------


def _engine_upload(
    platform: AmazonPlatform, ledger_dir: Path, products: list[Product]
) -> list[tuple[str, str]]:
    from shopsync.catalog.records import SourceRow, ValidRow  # noqa: PLC0415
    from shopsync.state.ledger import Ledger  # noqa: PLC0415
    from shopsync.sync.engine import Engine, EngineOptions  # noqa: PLC0415
    from shopsync.sync.planner import Planner  # noqa: PLC0415
    from shopsync.sync.report import ItemOutcome  # noqa: PLC0415

    outcomes: list[ItemOutcome] = []
    with Ledger(ledger_dir) as ledger:
        engine = Engine(
            platform,
            ledger,
            namespace="t",
            run_id="run",
            profile="t",
            options=EngineOptions(workers=2),
            on_outcome=outcomes.append,
        )
        rows = [ValidRow(SourceRow("catalog.csv", n + 2, {}), p) for n, p in enumerate(products)]
        engine.apply(Planner(ledger).plan(rows))
    return sorted((o.sku, o.action) for o in outcomes)


def test_faults_and_lost_answers_leave_each_listing_once_with_what_was_sent(
    amazon: SandboxHandle, platform: AmazonPlatform, tmp_path: Path
) -> None:
    amazon.configure_faults(drop_after_commit_rate=0.1, fault_rate=0.05, reset_rate=0.05)
    platform.client.retry.max_attempts = 10  # type: ignore[attr-defined]
    products = [_product(f"F-{n:02d}", price=f"{10 + n}.00", stock=n) for n in range(30)]
    outcomes = _engine_upload(platform, tmp_path / "ledger", products)
    assert outcomes == [(f"F-{n:02d}", "created") for n in range(30)]
    assert amazon.stats()["faults"]  # the faults did happen
    amazon.configure_faults(drop_after_commit_rate=0.0, fault_rate=0.0, reset_rate=0.0)
    assert amazon.store.product_counts() == (30, 0)
    assert platform.verify(products) == []
    # A second run of the same file sends nothing.
    before = sum(sum(v.values()) for v in amazon.stats()["requests"].values())
    assert _engine_upload(platform, tmp_path / "ledger", products) == []
    assert sum(sum(v.values()) for v in amazon.stats()["requests"].values()) == before
