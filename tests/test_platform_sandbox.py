"""The generic adapter end to end against the project's sandbox (real server, real faults)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.config import load_settings
from shopsync.domain.models import Product
from shopsync.platforms import GenericPlatform, ProductUpdate, StockChange, connect
from shopsync.sandbox import SandboxConfig, SandboxHandle
from shopsync.sandbox.faults import Fault, FaultInjector
from test_http_support import FakeTime
from test_platform_generic import engine_upload


def product(sku: str, price: str = "9.90", stock: int = 0) -> Product:
    return Product.model_validate(
        {"sku": sku, "title": f"Item {sku}", "price": price, "stock": stock}
    )


def environ_for(sandbox: SandboxHandle, tmp_path: Path) -> dict[str, str]:
    return {
        "SHOPSYNC_BASE_URL": sandbox.base_url,
        "SHOPSYNC_CLIENT_ID": sandbox.client_id,
        "SHOPSYNC_CLIENT_SECRET": sandbox.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_RATE": "1000",
        "SHOPSYNC_BURST": "100",
    }


def platform_for(
    sandbox: SandboxHandle, tmp_path: Path, *, trust: bool | None = True
) -> GenericPlatform:
    settings = load_settings(config_dir=tmp_path, environ=environ_for(sandbox, tmp_path))
    fake = FakeTime()
    return connect(settings, trust_idempotency_keys=trust, clock=fake.clock, sleep=fake.sleep)


def seed_for(fault: str, pattern: list[Fault | None]) -> int:
    """A seed whose first fault draws are ``pattern`` (one draw per request, token included)."""
    for seed in range(5000):
        injector = FaultInjector(SandboxConfig(seed=seed, **{fault: 0.3}))
        if [injector.draw() for _ in pattern] == pattern:
            return seed
    raise AssertionError("no seed gives that pattern")


def test_products_create_update_lookup_and_list(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    with platform_for(sandbox, tmp_path) as platform:
        first = platform.write_products([product(f"S{n:03}") for n in range(100)])
        assert all(r.ok for r in first.created)
        more = platform.write_products([product(f"S{n:03}") for n in range(100, 150)])
        assert all(r.ok for r in more.created)
        again = platform.write_products([product("S000", "1.00")])
        assert again.created[0].code == "SKU_EXISTS"
        assert again.created[0].product_id == first.created[0].product_id
        pid = first.created[1].product_id
        assert pid is not None
        update = ProductUpdate(pid, product("S001", "19.99"))
        changed = platform.write_products([], [update])
        assert changed.updated[0].ok
        found = platform.lookup_skus(["S001", "S149", "NOPE"])
        assert sorted(found) == ["S001", "S149"]
        assert found["S001"].fields["price"] == "19.99"
        assert found["S001"].version == 2
        listed = list(platform.iter_products(page_size=40))
        assert len(listed) == 150
        assert len({p.product_id for p in listed}) == 150
        stats = platform.stats()
    assert stats["token_fetches"] == 1
    assert stats["retries"] == 0


def test_inventory_set_delta_and_conflict(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    with platform_for(sandbox, tmp_path) as platform:
        platform.write_products([product("A", stock=10), product("B", stock=4)])
        results = platform.update_inventory(
            [
                StockChange("A", delta=-3),
                StockChange("B", stock=5, expected=7),
                StockChange("C", stock=1),
            ]
        )
    assert [(r.sku, r.ok, r.stock, r.code) for r in results] == [
        ("A", True, 7, None),
        ("B", False, 4, "STOCK_CONFLICT"),
        ("C", False, None, "SKU_NOT_FOUND"),
    ]


def test_orders_paginate(make_sandbox: Callable[..., SandboxHandle], tmp_path: Path) -> None:
    sandbox = make_sandbox(orders=25, seed=3)
    with platform_for(sandbox, tmp_path) as platform:
        orders = list(platform.iter_orders(page_size=10))
        assert len(orders) == 25
        assert len({o.order_id for o in orders}) == 25
        keys = [(o.updated_at, o.order_id) for o in orders]
        assert keys == sorted(keys)
        one = platform.get_order(orders[0].order_id)
        assert one == orders[0]
        assert platform.get_order("no-such-order") is None


@pytest.mark.parametrize("trust", [True, None], ids=["replay-by-key", "reconcile-by-lookup"])
def test_commit_then_drop_leaves_exactly_one_product(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path, trust: bool | None
) -> None:
    # Draws: the token request behaves, the batch is committed then cut, the rest behave.
    seed = seed_for("drop_after_commit_rate", [None, Fault.DROP_AFTER_COMMIT, None, None, None])
    sandbox = make_sandbox(drop_after_commit_rate=0.3, seed=seed)
    with platform_for(sandbox, tmp_path, trust=trust) as platform:
        if trust:  # the HTTP client resends with the same key; the platform replays
            result = platform.write_products([product("ONE")])
            assert (result.created[0].ok, result.created[0].replayed) == (True, True)
            product_id = result.created[0].product_id
        else:  # keys unknown (the default): the engine looks the SKU up, resends nothing
            outcomes = engine_upload(platform, tmp_path, [product("ONE")])
            assert [(sku, action) for sku, action, _ in outcomes] == [("ONE", "created")]
            product_id = outcomes[0][2]
        found = platform.lookup_skus(["ONE"])
    assert product_id == found["ONE"].product_id
    stats = sandbox.stats()
    assert stats["faults"]["drop_after_commit"] == 1
    assert stats["requests"]["POST /products/batch"] == (
        {"dropped": 1, "200": 1} if trust else {"dropped": 1}
    )
    assert stats["idempotent_replays"] == (1 if trust else 0)


def test_a_reset_connection_is_retried(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    seed = seed_for("reset_rate", [None, Fault.RESET, None, None])
    sandbox = make_sandbox(reset_rate=0.3, seed=seed)
    with platform_for(sandbox, tmp_path) as platform:
        assert platform.lookup_skus(["X"]) == {}
        assert platform.stats()["transport_errors"] == 1
        assert platform.stats()["retries"] == 1


def test_cli_auth_check_against_the_sandbox(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    env: dict[str, Any] = {**environ_for(sandbox, tmp_path), "XDG_CONFIG_HOME": str(tmp_path)}
    result = CliRunner().invoke(cli, ["auth", "check"], env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        f"Credentials OK: client 'demo-client' got a token from {sandbox.base_url}/auth/token"
    )
    assert lines[2] == "Scopes: inventory orders products"
    tokens_before = sandbox.stats()["tokens_issued"]
    again = CliRunner().invoke(cli, ["auth", "check"], env=env)
    assert again.exit_code == 0
    assert sandbox.stats()["tokens_issued"] == tokens_before + 1  # a check always asks
    wrong = CliRunner().invoke(
        cli, ["auth", "check"], env={**env, "SHOPSYNC_CLIENT_SECRET": "wrong-secret"}
    )
    assert wrong.exit_code == 4
    assert "check the client id and secret" in wrong.output
