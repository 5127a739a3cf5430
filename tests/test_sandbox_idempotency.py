"""Idempotency keys (docs/platform-api.md §5) against a live sandbox."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from shopsync.sandbox import SandboxHandle


def product(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": "10.00", **fields}


def test_same_key_same_body_replays_and_changes_nothing(api: Any) -> None:
    headers = {"Idempotency-Key": "batch-0001"}
    body = {"create": [product("A"), product("B")]}
    first = api.post("/products/batch", json=body, headers=headers)
    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    # Same JSON value written differently (key order, whitespace): the same body.
    again = api.post(
        "/products/batch",
        data='{ "create": [{"price": "10.00", "title": "Product A", "sku": "A"},\n'
        '{"sku": "B", "title": "Product B", "price": "10.00"}] }',
        headers={**headers, "Content-Type": "application/json"},
    )
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert again.headers["X-Request-Id"] != first.headers["X-Request-Id"]
    stats = api.handle.stats()
    assert stats["products_stored"] == 2
    assert stats["idempotent_replays"] == 1


def test_a_refusal_is_replayed_too(api: Any) -> None:
    api.post("/products", json=product("A"))
    first = api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    assert first.status_code == 409
    replay = api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    assert replay.status_code == 409
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Content-Type"] == "application/problem+json"
    assert replay.json() == first.json()


def test_a_201_is_replayed_with_its_headers(api: Any) -> None:
    first = api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    replay = api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    assert replay.status_code == 201
    assert replay.headers["Location"] == first.headers["Location"]
    assert replay.json() == first.json()
    assert "RateLimit-Remaining" in replay.headers


def test_same_key_other_body_is_422(api: Any) -> None:
    api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    other = api.post("/products", json=product("B"), headers={"Idempotency-Key": "k"})
    assert other.status_code == 422
    assert other.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    number = api.post("/products", json=product("A", price=10), headers={"Idempotency-Key": "k"})
    assert number.json()["code"] == "IDEMPOTENCY_KEY_REUSED"  # 10 is not "10.00"
    other_path = api.post(
        "/inventory/batch", json={"updates": []}, headers={"Idempotency-Key": "k"}
    )
    assert other_path.json()["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert api.handle.stats()["products_stored"] == 1


def test_rejected_request_is_not_kept(api: Any) -> None:
    # Like Stripe: a request refused before the endpoint ran (validation) keeps no answer,
    # so the corrected request may reuse the key.
    bad = api.post("/products", json=product("A", price="-1"), headers={"Idempotency-Key": "k"})
    assert bad.status_code == 422
    good = api.post("/products", json=product("A"), headers={"Idempotency-Key": "k"})
    assert good.status_code == 201


def test_keys_must_be_printable_ascii(api: Any) -> None:
    for key in ("", "x" * 256, "tab\there"):
        response = api.post("/products", json=product("A"), headers={"Idempotency-Key": key})
        assert response.status_code == 400, repr(key)
        assert response.json()["code"] == "INVALID_IDEMPOTENCY_KEY"
    ok = api.post("/products", json=product("A"), headers={"Idempotency-Key": "x" * 255})
    assert ok.status_code == 201


def test_same_key_while_in_flight_is_409(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(latency_ms=600)
    client = api_for(sandbox)
    headers = {"Idempotency-Key": "slow-1", "Authorization": f"Bearer {client.token}"}
    first: list[requests.Response] = []
    worker = threading.Thread(
        target=lambda: first.append(
            requests.post(
                f"{sandbox.base_url}/products", json=product("A"), headers=headers, timeout=10
            )
        )
    )
    worker.start()
    deadline = time.monotonic() + 5
    while sandbox.stats()["in_flight"] == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    assert sandbox.stats()["in_flight"] == 1
    second = requests.post(
        f"{sandbox.base_url}/products", json=product("A"), headers=headers, timeout=10
    )
    assert second.status_code == 409
    assert second.json()["code"] == "IDEMPOTENCY_IN_FLIGHT"
    assert second.headers["Retry-After"] == "1"
    mismatch = requests.post(
        f"{sandbox.base_url}/products", json=product("B"), headers=headers, timeout=10
    )
    assert mismatch.status_code == 422
    worker.join(10)
    assert first[0].status_code == 201
    third = requests.post(
        f"{sandbox.base_url}/products", json=product("A"), headers=headers, timeout=10
    )
    assert third.status_code == 201
    assert third.headers["Idempotent-Replayed"] == "true"
    assert sandbox.stats()["products_stored"] == 1


def test_concurrent_requests_with_one_key_create_one_product(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    sandbox = make_sandbox(latency_ms=50)
    client = api_for(sandbox)
    headers = {"Idempotency-Key": "race", "Authorization": f"Bearer {client.token}"}
    statuses: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(12)

    def send() -> None:
        start.wait()
        response = requests.post(
            f"{sandbox.base_url}/products", json=product("RACE"), headers=headers, timeout=10
        )
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=send) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(statuses) == 12
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    assert sandbox.stats()["products_stored"] == 1


def test_keys_are_kept_at_least_24_hours(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    class Clock:
        now = 1_700_000_000.0

        def __call__(self) -> float:
            return self.now

    clock = Clock()
    sandbox = make_sandbox(clock=clock, token_ttl=10 * 86400)
    client = api_for(sandbox)
    client.post("/products", json=product("A"), headers={"Idempotency-Key": "day"})
    clock.now += 24 * 3600 - 1
    replay = client.post("/products", json=product("A"), headers={"Idempotency-Key": "day"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    clock.now += 2
    fresh = client.post("/products", json=product("A"), headers={"Idempotency-Key": "day"})
    assert "Idempotent-Replayed" not in fresh.headers
    assert fresh.status_code == 409  # the key expired; the SKU has not
