"""Products (docs/platform-api.md §2) against a live sandbox: every endpoint and its error codes."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from shopsync.sandbox import SandboxHandle

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def product(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": "10.00", **fields}


def test_create_answers_201_with_the_stored_product(api: Any) -> None:
    response = api.post(
        "/products",
        json={
            "sku": "TS-RED-M",
            "title": "  Red T-shirt  ",
            "price": 3999,
            "stock": 7,
            "images": ["https://cdn.example.com/a.jpg"],
            "weight_kg": "0.250",
            "attributes": {"color": "red"},
            "status": "draft",
        },
    )
    assert response.status_code == 201
    body = response.json()
    assert body["product_id"]
    assert response.headers["Location"] == f"/products/{body['product_id']}"
    assert {k: body[k] for k in body if k not in ("product_id", "created_at", "updated_at")} == {
        "sku": "TS-RED-M",
        "title": "Red T-shirt",
        "price": "3999.00",
        "currency": "CNY",
        "stock": 7,
        "images": ["https://cdn.example.com/a.jpg"],
        "description": None,
        "category": None,
        "brand": None,
        "barcode": None,
        "weight_kg": "0.25",
        "status": "draft",
        "attributes": {"color": "red"},
        "version": 1,
    }
    assert TIMESTAMP.fullmatch(body["created_at"])
    assert body["updated_at"] == body["created_at"]
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    fetched = api.get(f"/products/{body['product_id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body


def test_existing_sku_is_409_with_the_existing_product_id(api: Any) -> None:
    first = api.post("/products", json=product("A1")).json()
    again = api.post("/products", json=product("A1", title="Another"))
    assert again.status_code == 409
    assert again.headers["Content-Type"] == "application/problem+json"
    problem = again.json()
    assert problem["code"] == "SKU_EXISTS"
    assert problem["product_id"] == first["product_id"]
    assert problem["status"] == 409
    assert problem["title"] == "Conflict"
    assert problem["errors"] == [{"field": "sku", "message": "is taken by another product"}]


def test_create_validation_names_every_field(api: Any) -> None:
    response = api.post(
        "/products",
        json={"sku": "bad sku", "price": "1.234", "images": ["ftp://x"], "colour": "red"},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "VALIDATION_ERROR"
    assert [e["field"] for e in problem["errors"]] == [
        "colour",
        "sku",
        "title",
        "price",
        "images[0]",
    ]
    assert problem["errors"][0]["message"] == "is not a known field"
    assert api.handle.stats()["products_stored"] == 0


def test_server_fields_cannot_be_sent(api: Any) -> None:
    response = api.post("/products", json=product("A", product_id="mine", version=3))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["product_id", "version"]


def test_batch_creates_and_updates_in_input_order(api: Any) -> None:
    existing = api.post("/products", json=product("OLD", stock=1)).json()
    response = api.post(
        "/products/batch",
        json={
            "create": [
                product("N1"),
                product("OLD"),
                product("N2", price="0"),
                product("N1"),
                product("N3", price=12.5),
            ],
            "update": [
                {"product_id": existing["product_id"], "price": "11.10", "title": "Renamed"},
                {"product_id": "prod_missing", "price": "1"},
                {"product_id": existing["product_id"], "sku": "N3"},
                {"price": "2"},
            ],
        },
    )
    assert response.status_code == 200
    result = response.json()
    create = result["create"]
    assert [(r["sku"], r["status"]) for r in create] == [
        ("N1", "ok"),
        ("OLD", "error"),
        ("N2", "error"),
        ("N1", "error"),
        ("N3", "ok"),
    ]
    assert create[1]["error"]["code"] == "SKU_EXISTS"
    assert create[1]["product_id"] == existing["product_id"]
    assert create[1]["error"]["product_id"] == existing["product_id"]
    assert create[2]["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "price must be greater than 0",
        "field": "price",
        "errors": [{"field": "price", "message": "must be greater than 0"}],
    }
    # A SKU twice in one batch: the second sees the first, created just before it.
    assert create[3]["error"]["code"] == "SKU_EXISTS"
    assert create[3]["product_id"] == create[0]["product_id"]

    update = result["update"]
    assert [(r["status"], r.get("error", {}).get("code")) for r in update] == [
        ("ok", None),
        ("error", "NOT_FOUND"),
        ("error", "SKU_EXISTS"),
        ("error", "VALIDATION_ERROR"),
    ]
    assert update[0] == {
        "sku": "OLD",
        "product_id": existing["product_id"],
        "status": "ok",
        "version": 2,
    }
    assert update[1]["error"]["field"] == "product_id"
    assert update[2]["error"]["product_id"] == create[4]["product_id"]
    assert update[3]["error"]["field"] == "product_id"

    stored = api.get(f"/products/{existing['product_id']}").json()
    assert (stored["title"], stored["price"], stored["version"]) == ("Renamed", "11.10", 2)
    assert stored["updated_at"] > existing["updated_at"]
    assert api.handle.stats()["products_stored"] == 3


def test_batch_structure_errors_are_422_with_item_paths(api: Any) -> None:
    response = api.post(
        "/products/batch",
        json={
            "create": [product("A"), product("B"), product("C"), product("D", colour="red")],
            "update": ["not an object"],
            "delete": [],
        },
    )
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == [
        "delete",
        "create[3].colour",
        "update[0]",
    ]
    assert api.handle.stats()["products_stored"] == 0  # nothing of the batch was stored
    not_array = api.post("/products/batch", json={"create": {"sku": "A"}})
    assert not_array.status_code == 422
    assert not_array.json()["errors"][0]["field"] == "create"


def test_batch_over_the_maximum_is_413(api: Any) -> None:
    items = [product(f"S{i}") for i in range(60)]
    response = api.post("/products/batch", json={"create": items, "update": [{}] * 41})
    assert response.status_code == 413
    assert response.json()["code"] == "BATCH_TOO_LARGE"
    exact = api.post(
        "/products/batch", json={"create": items[:50] + [product(f"T{i}") for i in range(50)]}
    )
    assert exact.status_code == 200
    assert api.handle.stats()["products_stored"] == 100


def test_max_batch_is_configurable(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    client = api_for(make_sandbox(max_batch=2))
    response = client.post(
        "/products/batch", json={"create": [product("A"), product("B"), product("C")]}
    )
    assert response.status_code == 413
    response = client.post("/inventory/batch", json={"updates": [{"sku": "A", "stock": 1}] * 3})
    assert response.status_code == 413


def test_lookup_by_sku_list(api: Any) -> None:
    api.post("/products/batch", json={"create": [product(s) for s in ("A", "B", "C")]})
    response = api.get("/products", params={"sku": "C,A,MISSING,A"})
    assert response.status_code == 200
    body = response.json()
    assert [p["sku"] for p in body["items"]] == ["C", "A"]
    assert body["next_cursor"] is None
    too_many = api.get("/products", params={"sku": ",".join(f"S{i}" for i in range(101))})
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["field"] == "sku"
    mixed = api.get("/products", params={"sku": "A", "limit": 5})
    assert mixed.status_code == 422
    assert mixed.json()["errors"][0]["field"] == "limit"


def test_cursor_listing_visits_every_live_product_once(api: Any) -> None:
    skus = [f"P{i:03d}" for i in range(45)]
    for start in range(0, 45, 15):
        api.post("/products/batch", json={"create": [product(s) for s in skus[start : start + 15]]})
    archived = api.get("/products", params={"sku": "P010"}).json()["items"][0]["product_id"]
    assert api.delete(f"/products/{archived}").status_code == 204
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 10}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/products", params=params).json()
        pages += 1
        seen.extend(p["sku"] for p in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [s for s in skus if s != "P010"]
    assert pages == 5
    default = api.get("/products").json()
    assert len(default["items"]) == 44  # the default page is 50
    assert default["next_cursor"] is None


def test_bad_listing_parameters_are_422(api: Any) -> None:
    for params, field in (
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "eyJrIjoib3JkZXJzIn0"}, "cursor"),  # an orders cursor
    ):
        response = api.get("/products", params=params)
        assert response.status_code == 422, params
        assert response.json()["errors"][0]["field"] == field


def test_patch_changes_only_what_it_names(api: Any) -> None:
    created = api.post("/products", json=product("A", brand="Acme", stock=3)).json()
    path = f"/products/{created['product_id']}"
    patched = api.patch(path, json={"price": "12.5", "brand": None})
    assert patched.status_code == 200
    body = patched.json()
    assert (body["price"], body["brand"], body["stock"], body["version"]) == ("12.50", None, 3, 2)
    same = api.patch(path, json={"price": "12.50"}).json()
    assert same["version"] == 2  # nothing changed, no new version
    assert api.patch(path, json={"title": None}).status_code == 422
    assert api.patch(path, json={"colour": "red"}).json()["errors"][0]["field"] == "colour"
    other = api.post("/products", json=product("B")).json()
    clash = api.patch(path, json={"sku": "B"})
    assert clash.status_code == 409
    assert clash.json()["product_id"] == other["product_id"]
    missing = api.patch("/products/prod_nope", json={"price": "1"})
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"


def test_delete_archives_and_frees_the_sku(api: Any) -> None:
    created = api.post("/products", json=product("A")).json()
    path = f"/products/{created['product_id']}"
    deleted = api.delete(path)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert api.get(path).status_code == 404
    assert api.delete(path).status_code == 404
    assert api.get("/products", params={"sku": "A"}).json()["items"] == []
    stats = api.handle.stats()
    assert (stats["products_stored"], stats["products_archived"]) == (0, 1)
    assert api.post("/products", json=product("A")).status_code == 201


def test_get_unknown_product_is_404_problem(api: Any) -> None:
    response = api.get("/products/prod_nope")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "NOT_FOUND"
