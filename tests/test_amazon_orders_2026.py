"""Orders 2026-01-01 ``searchOrders`` behind the same interface as Orders v0 (issue 16):
the setting ``orders_api`` chooses; both read the same orders the same way."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from shopsync.platforms import connect
from shopsync.platforms.amazon import SETTINGS, AmazonPlatform
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from test_platform_amazon import Recorder, _calls, _settings, _validator, needs_specs


@pytest.fixture
def amazon() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="amazon")) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        handle.app.orders.ensure(5)  # type: ignore[attr-defined]
        yield handle


def _adapter(handle: SandboxHandle, data_dir: Path, api: str) -> AmazonPlatform:
    adapter = connect(
        _settings(handle, data_dir, orders_api=api), sleep=lambda _s: None, disk_cache=False
    )
    assert isinstance(adapter, AmazonPlatform)
    return adapter


def test_search_orders_reads_the_same_orders_as_v0_in_fewer_calls(
    amazon: SandboxHandle, tmp_path: Path
) -> None:
    with _adapter(amazon, tmp_path, "v0") as old:
        by_v0 = list(old.iter_orders(page_size=2))
    v0_calls = (_calls(amazon, "getOrders"), _calls(amazon, "getOrderItems"))
    with _adapter(amazon, tmp_path, "2026-01-01") as new:
        by_2026 = list(new.iter_orders(page_size=2))
        assert new.get_order(by_2026[0].order_id) == by_2026[0]
        assert new.get_order("111-0000000-99999999") is None
    assert len(by_2026) == 5
    # The same orders, lines, totals and buyers; statuses in each API's own words.
    strip = [(o.order_id, o.created_at, o.updated_at, o.currency, o.total, o.lines,
              o.buyer_name, o.buyer_country) for o in by_v0]  # fmt: skip
    assert [(o.order_id, o.created_at, o.updated_at, o.currency, o.total, o.lines,
             o.buyer_name, o.buyer_country) for o in by_2026] == strip  # fmt: skip
    assert {o.status for o in by_2026} <= {"PENDING", "UNSHIPPED", "SHIPPED", "CANCELLED"}
    # Three pages of two, items inline: 3 calls, where v0 needed an item call per order.
    assert _calls(amazon, "searchOrders") == 3
    assert v0_calls == (2, 5)  # v0: the page after a NextToken is the rest (size 100)


def test_search_orders_filters_by_fulfillment_status(amazon: SandboxHandle, tmp_path: Path) -> None:
    with _adapter(amazon, tmp_path, "2026-01-01") as adapter:
        every = list(adapter.iter_orders())
        status = every[0].status
        chosen = list(adapter.iter_orders(status=status))
    assert chosen == [o for o in every if o.status == status]


def test_the_setting_is_checked() -> None:
    (setting,) = [s for s in SETTINGS if s.name == "orders_api"]
    assert (setting.default, setting.parse(" 2026-01-01 ")) == ("v0", "2026-01-01")
    with pytest.raises(ValueError, match="must be v0 or 2026-01-01"):
        setting.parse("2013-09-01")


@needs_specs
def test_search_orders_requests_and_answers_validate_against_the_model(
    amazon: SandboxHandle, tmp_path: Path
) -> None:
    with _adapter(amazon, tmp_path, "2026-01-01") as adapter:
        recorder = Recorder(adapter)
        orders = list(adapter.iter_orders(page_size=2))
        adapter.get_order(orders[0].order_id)
        adapter.get_order("111-0000000-99999999")
    seen = []
    for request, response in recorder.exchanges:
        path = requests.utils.urlparse(str(request.url)).path
        if not path.startswith("/orders/2026-01-01/"):
            continue
        search = path.rstrip("/").endswith("/orders")
        definition = "SearchOrdersResponse" if search else "GetOrderResponse"
        if response.status_code >= 300:
            definition = "ErrorList"
        _validator("orders_2026-01-01.json", definition).validate(json.loads(response.content))
        seen.append(definition)
    assert seen == ["SearchOrdersResponse"] * 3 + ["GetOrderResponse", "ErrorList"]
