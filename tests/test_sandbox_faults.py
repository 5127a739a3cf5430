"""Injected faults, latency and persistence, seen by a real ``requests`` client."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox


def product(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": "10.00", **fields}


def outcomes(client: Any, count: int) -> list[str]:
    seen = []
    for _ in range(count):
        try:
            seen.append(str(client.get("/products").status_code))
        except requests.ConnectionError:
            seen.append("cut")
    return seen


def test_same_seed_gives_the_same_faults(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    settings = {"fault_rate": 0.3, "reset_rate": 0.1, "drop_after_commit_rate": 0.1}
    first = outcomes(api_for(make_sandbox(seed=7, **settings)), 40)
    second = outcomes(api_for(make_sandbox(seed=7, **settings)), 40)
    other = outcomes(api_for(make_sandbox(seed=8, **settings)), 40)
    assert first == second
    assert first != other
    assert {"200", "cut"} <= set(first)
    assert set(first) & {"500", "502", "503"}


def test_error_faults_are_answered_without_processing(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(fault_rate=1.0, seed=1)
    client = api_for(sandbox)
    responses = [client.post("/products", json=product(f"S{i}")) for i in range(12)]
    assert {r.status_code for r in responses} == {500, 502, 503}
    for response in responses:
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.headers["X-Request-Id"]
        if response.status_code == 503:
            assert response.headers["Retry-After"] == "1"
    stats = sandbox.stats()
    assert stats["products_stored"] == 0
    assert stats["faults_total"] == 12
    assert stats["write_requests"] == 12


def test_reset_cuts_the_connection_before_anything_is_done(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(reset_rate=1.0)
    client = api_for(sandbox)
    with pytest.raises(requests.ConnectionError):
        client.post("/products", json=product("A"))
    stats = sandbox.stats()
    assert stats["products_stored"] == 0
    assert stats["faults"]["reset"] == 1
    assert stats["requests"]["POST /products"] == {"reset": 1}


def test_commit_then_drop_stores_the_change_and_sends_nothing(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(drop_after_commit_rate=1.0)
    client = api_for(sandbox)
    key = {"Idempotency-Key": "upload-1"}
    with pytest.raises(requests.ConnectionError):
        client.post("/products/batch", json={"create": [product("A"), product("B")]}, headers=key)
    assert sandbox.store.product_by_sku("A") is not None
    stats = sandbox.stats()
    assert stats["products_stored"] == 2
    assert stats["faults"]["drop_after_commit"] == 1
    assert stats["requests"]["POST /products/batch"] == {"dropped": 1}

    # The retry with the same key is answered with what the first request did.
    sandbox.configure_faults(drop_after_commit_rate=0.0)
    retry = client.post(
        "/products/batch", json={"create": [product("A"), product("B")]}, headers=key
    )
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert [r["status"] for r in retry.json()["create"]] == ["ok", "ok"]
    # Without the key, the naive retry meets the products it already made.
    naive = client.post("/products/batch", json={"create": [product("A")]})
    assert naive.json()["create"][0]["error"]["code"] == "SKU_EXISTS"
    assert sandbox.stats()["products_stored"] == 2


def test_slow_faults_and_latency_delay_the_answer(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    slow = api_for(make_sandbox(slow_rate=1.0, slow_ms=300))
    started = time.monotonic()
    assert slow.get("/products").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert slow.handle.stats()["faults"]["slow"] == 1

    laggy = api_for(make_sandbox(latency_ms=100, jitter_ms=50))
    started = time.monotonic()
    assert laggy.get("/products").status_code == 200
    assert time.monotonic() - started >= 0.1


def test_internal_routes_never_fault(make_sandbox: Callable[..., SandboxHandle]) -> None:
    sandbox = make_sandbox(reset_rate=1.0)
    assert requests.get(f"{sandbox.base_url}/_sandbox/stats", timeout=10).status_code == 200
    assert requests.get(f"{sandbox.base_url}/openapi.json", timeout=10).status_code == 200


def test_a_restarted_sandbox_still_holds_its_shop(tmp_path: Path) -> None:
    config = SandboxConfig(db=tmp_path / "shop.db")
    with running_sandbox(config) as first:
        token = first.issue_token()
        headers = {"Authorization": f"Bearer {token}"}
        created = requests.post(
            f"{first.base_url}/products", json=product("KEEP"), headers=headers, timeout=10
        ).json()
        requests.post(
            f"{first.base_url}/products",
            json=product("KEY"),
            headers={**headers, "Idempotency-Key": "k1"},
            timeout=10,
        )
    with running_sandbox(config) as second:
        fetched = requests.get(
            f"{second.base_url}/products/{created['product_id']}", headers=headers, timeout=10
        )
        assert fetched.status_code == 200
        assert fetched.json() == created
        again = requests.post(
            f"{second.base_url}/products", json=product("KEEP"), headers=headers, timeout=10
        )
        assert again.status_code == 409
        replay = requests.post(
            f"{second.base_url}/products",
            json=product("KEY"),
            headers={**headers, "Idempotency-Key": "k1"},
            timeout=10,
        )
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert second.stats()["products_stored"] == 2


def test_orders_are_not_regenerated_on_restart(tmp_path: Path) -> None:
    config = SandboxConfig(db=tmp_path / "shop.db", orders=12, seed=3)
    with running_sandbox(config) as first:
        assert first.stats()["orders_stored"] == 12
    with running_sandbox(config) as second:
        assert second.stats()["orders_stored"] == 12
