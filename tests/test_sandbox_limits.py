"""Rate limits, bad input, headers and the sandbox's own routes (docs/platform-api.md §6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from shopsync.sandbox import SandboxHandle


def product(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": "10.00", **fields}


def test_burst_over_the_limit_gets_429_with_headers(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    # 0.5 request/s: no token comes back during the test, so the counts are exact.
    sandbox = make_sandbox(rate=0.5, burst=5)
    client = api_for(sandbox)
    responses = [client.get("/products") for _ in range(7)]
    assert [r.status_code for r in responses] == [200] * 5 + [429] * 2
    assert [r.headers["RateLimit-Remaining"] for r in responses[:5]] == ["4", "3", "2", "1", "0"]
    assert {r.headers["RateLimit-Limit"] for r in responses} == {"5"}
    assert responses[0].headers["RateLimit-Reset"] == "2"
    limited = responses[5]
    assert limited.headers["Retry-After"] == "2"
    assert limited.headers["RateLimit-Remaining"] == "0"
    assert int(limited.headers["RateLimit-Reset"]) == 10
    assert limited.headers["Content-Type"] == "application/problem+json"
    assert limited.json()["code"] == "RATE_LIMITED"
    stats = sandbox.stats()
    assert stats["rate_limited"] == 2
    assert stats["requests"]["GET /products"] == {"200": 5, "429": 2}


def test_default_limit_is_100_per_second_burst_100(api: Any) -> None:
    response = api.get("/products")
    assert response.headers["RateLimit-Limit"] == "100"
    assert response.headers["RateLimit-Remaining"] == "99"


def test_every_response_has_a_request_id(sandbox: SandboxHandle, api: Any) -> None:
    responses = [
        api.get("/products"),
        api.get("/nowhere"),
        api.request("PUT", "/products"),
        requests.get(f"{sandbox.base_url}/orders", timeout=10),
        requests.get(f"{sandbox.base_url}/openapi.json", timeout=10),
        requests.post(f"{sandbox.base_url}/auth/token", timeout=10),
    ]
    ids = [r.headers["X-Request-Id"] for r in responses]
    assert len(set(ids)) == len(ids)


def test_unknown_path_and_method_are_problems(api: Any) -> None:
    missing = api.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"] == "application/problem+json"
    assert missing.json()["code"] == "NOT_FOUND"
    wrong = api.request("PUT", "/products")
    assert wrong.status_code == 405
    assert wrong.json()["code"] == "METHOD_NOT_ALLOWED"
    assert "GET" in wrong.headers["Allow"]


def test_malformed_json_is_400(api: Any) -> None:
    for raw in (b"{", b"", b"[1,]", b'{"price": NaN}', b"\xff\xfe", b"[" * 100_000):
        response = api.post("/products", data=raw, headers={"Content-Type": "application/json"})
        assert response.status_code == 400, raw[:10]
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "MALFORMED_JSON"


def test_json_that_is_not_an_object_is_422(api: Any) -> None:
    response = api.post("/products/batch", json=[1, 2])
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "body", "message": "must be a JSON object"}]


def test_wrong_content_type_is_415(api: Any) -> None:
    cases = [
        {"data": "sku=A", "headers": {"Content-Type": "application/x-www-form-urlencoded"}},
        {"data": b'{"sku": "A"}', "headers": {"Content-Type": "text/plain"}},
        {"data": b'{"sku": "A"}', "headers": {"Content-Type": "application/json; charset=latin-1"}},
        {"data": b'{"sku": "A"}'},
    ]
    for case in cases:
        response = api.post("/products", **case)
        assert response.status_code == 415, case
        assert response.json()["code"] == "UNSUPPORTED_MEDIA_TYPE"
    ok = api.post(
        "/products",
        data=b'{"sku": "A", "title": "t", "price": "1"}',
        headers={"Content-Type": "application/json; charset=UTF-8"},
    )
    assert ok.status_code == 201


def test_body_over_5_mib_is_413(api: Any) -> None:
    description = "x" * (5 * 1024 * 1024)
    response = api.post("/products", json=product("BIG", description=description))
    assert response.status_code == 413
    assert response.json()["code"] == "BODY_TOO_LARGE"
    # The connection stays usable: the server read the body before answering.
    assert api.get("/products").status_code == 200
    chunked = api.post(
        "/products",
        data=iter([b'{"sku": "A", "description": "', b"y" * (5 * 1024 * 1024), b'"}']),
        headers={"Content-Type": "application/json"},
    )
    assert chunked.status_code == 413


def test_a_body_just_under_the_limit_is_read(api: Any) -> None:
    body = {"create": [product(f"S{i}", description="d" * 20_000) for i in range(100)]}
    response = api.post("/products/batch", json=body)
    assert response.status_code == 200
    assert all(r["status"] == "ok" for r in response.json()["create"])


def test_stats_count_write_requests(api: Any) -> None:
    created = api.post("/products", json=product("A")).json()
    api.get("/products")
    api.patch(f"/products/{created['product_id']}", json={"price": "2"})
    api.delete(f"/products/{created['product_id']}")
    api.post("/inventory/batch", json={"updates": []})
    stats = requests.get(f"{api.handle.base_url}/_sandbox/stats", timeout=10).json()
    assert stats["write_requests"] == 4
    assert stats["requests_total"] == 5
    assert stats["requests"]["PATCH /products/{product_id}"] == {"200": 1}
    assert stats["requests"]["DELETE /products/{product_id}"] == {"204": 1}
    assert stats == {**api.handle.stats(), "since": stats["since"]}


def test_reset_empties_the_shop(api: Any) -> None:
    api.post("/products", json=product("A"))
    reset = requests.post(f"{api.handle.base_url}/_sandbox/reset", timeout=10)
    assert reset.status_code == 204
    stats = api.handle.stats()
    assert (stats["products_stored"], stats["requests_total"]) == (0, 0)
    assert api.get("/products").json()["items"] == []  # the token still works


@pytest.mark.parametrize("path", ["/_sandbox/stats", "/openapi.json"])
def test_internal_routes_are_not_counted(sandbox: SandboxHandle, path: str) -> None:
    requests.get(f"{sandbox.base_url}{path}", timeout=10)
    assert sandbox.stats()["requests_total"] == 0


def test_openapi_document_lists_every_endpoint(sandbox: SandboxHandle) -> None:
    document = requests.get(f"{sandbox.base_url}/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/auth/token",
        "/products",
        "/products/batch",
        "/products/{product_id}",
        "/inventory/batch",
        "/orders",
        "/orders/{order_id}",
    }
    assert document["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"][
        "scopes"
    ].keys() == {"products", "inventory", "orders"}
