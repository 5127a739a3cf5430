"""Products with variants (docs/platform-api.md §2a) against a live sandbox, route by route."""

from __future__ import annotations

from typing import Any

from shopsync.sandbox import SandboxHandle


def variant(sku: str, size: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "option_values": {"Size": size}, "price": "10.00", **fields}


def tee(**fields: Any) -> dict[str, Any]:
    return {
        "title": "Tee",
        "handle": "tee",
        "options": ["Size"],
        "variants": [variant("TEE-S", "S", stock=3), variant("TEE-M", "M", price="12.5")],
        **fields,
    }


def batch(api: Any, **body: Any) -> dict[str, Any]:
    response = api.post("/products/batch", json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_product_with_variants_is_stored_and_answered_with_its_first_variants_fields(
    api: Any,
) -> None:
    response = api.post("/products", json=tee())
    assert response.status_code == 201, response.text
    body = response.json()
    # What a v1 client reads is the first variant's; v2 adds handle, options, variants.
    assert (body["sku"], body["price"], body["stock"]) == ("TEE-S", "10.00", 3)
    assert (body["handle"], body["options"]) == ("tee", ["Size"])
    assert body["variants"][1] == {
        "sku": "TEE-M",
        "option_values": {"Size": "M"},
        "price": "12.50",
        "compare_at_price": None,
        "stock": 0,
        "barcode": None,
        "weight_kg": None,
        "image": None,
    }
    found = api.get("/products", params={"sku": "TEE-M"}).json()["items"]
    assert [(item["product_id"], item["matched_variant"]) for item in found] == [
        (body["product_id"], "TEE-M")
    ]


def test_a_v1_product_is_answered_as_before(api: Any) -> None:
    body = api.post("/products", json={"sku": "ONE", "title": "One", "price": "1"}).json()
    assert "handle" not in body and "variants" not in body
    found = api.get("/products", params={"sku": "ONE"}).json()["items"]
    assert "matched_variant" not in found[0]


def test_variant_skus_are_unique_across_the_shop_and_handles_too(api: Any) -> None:
    single = api.post("/products", json={"sku": "TEE-M", "title": "Other", "price": "1"}).json()
    answer = batch(
        api, create=[tee(), {**tee(), "handle": "tee2", "variants": [variant("X", "S")]}]
    )
    refused = answer["create"][0]
    assert refused["status"] == "error"
    assert refused["error"]["code"] == "SKU_EXISTS"
    assert (refused["error"]["field"], refused["product_id"]) == (
        "variants[1].sku",
        single["product_id"],
    )
    api.delete(f"/products/{single['product_id']}")
    first = batch(api, create=[tee()])["create"][0]
    again = batch(api, create=[{**tee(), "variants": [variant("OTHER", "S")]}])["create"][0]
    assert again["error"]["code"] == "HANDLE_EXISTS"
    assert again["product_id"] == first["product_id"]
    clash = api.post("/products", json={"sku": "TEE-S", "title": "Again", "price": "1"})
    assert (clash.status_code, clash.json()["code"]) == (409, "SKU_EXISTS")


def test_invalid_variants_name_every_field(api: Any) -> None:
    response = api.post(
        "/products",
        json=tee(
            price="3",
            variants=[
                variant("A", "S", price="1.234"),
                {"sku": "A", "option_values": {"Colour": "Red"}, "price": "2"},
                variant("C", "S"),
            ],
        ),
    )
    assert response.status_code == 422
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        ("price", "is given per variant in a product with variants"),
        ("variants[0].price", "must have at most 2 decimal places"),
    ]
    response = api.post(
        "/products",
        json=tee(variants=[variant("A", "S"), {"sku": "A", "price": "2"}, variant("C", "S")]),
    )
    assert [(e["field"], e["message"]) for e in response.json()["errors"]] == [
        ("variants[1].option_values", "has no value for Size"),
        ("variants[1].sku", "is also the SKU of variants[0]"),
        ("variants[2].option_values", "are the option values of variants[0]"),
    ]
    unknown = api.post("/products", json=tee(variants=[{**variant("A", "S"), "colour": "red"}]))
    assert unknown.json()["errors"] == [
        {"field": "variants[0].colour", "message": "is not a known field"}
    ]


def test_an_update_adds_replaces_and_removes_variants_by_sku(
    api: Any, sandbox: SandboxHandle
) -> None:
    product_id = api.post("/products", json=tee()).json()["product_id"]
    answer = batch(
        api,
        update=[
            {
                "product_id": product_id,
                "variants": [variant("TEE-M", "M", price="13"), variant("TEE-L", "L")],
                "remove_variants": ["TEE-S", "NEVER-THERE"],
            }
        ],
    )
    assert answer["update"] == [
        {"sku": "TEE-M", "product_id": product_id, "status": "ok", "version": 2}
    ]
    stored = sandbox.store.product(product_id)
    assert stored is not None
    assert [(v["sku"], v["price"]) for v in stored.values["variants"]] == [
        ("TEE-M", "13.00"),
        ("TEE-L", "10.00"),
    ]
    assert sandbox.store.products_with_skus(["TEE-S"]) == {}
    # The same update again changes nothing: no new version.
    again = api.patch(
        f"/products/{product_id}",
        json={"variants": [variant("TEE-L", "L")], "remove_variants": ["TEE-S"]},
    )
    assert again.json()["version"] == 2


def test_updates_that_cannot_apply_are_the_items_errors(api: Any) -> None:
    product_id = api.post("/products", json=tee()).json()["product_id"]
    single_id = api.post("/products", json={"sku": "ONE", "title": "One", "price": "1"}).json()[
        "product_id"
    ]
    answer = batch(
        api,
        update=[
            {"product_id": product_id, "remove_variants": ["TEE-S", "TEE-M"]},
            {"product_id": product_id, "variants": [{"sku": "TEE-XL", "price": "1"}]},
            {"product_id": product_id, "stock": 3},
            {"product_id": single_id, "variants": [variant("ONE-S", "S")]},
            {"product_id": product_id, "variants": [variant("ONE", "XL")]},
        ],
    )
    errors = [(r["status"], r["error"]["code"], r["error"]["field"]) for r in answer["update"]]
    assert errors == [
        ("error", "VALIDATION_ERROR", "remove_variants"),
        ("error", "VALIDATION_ERROR", "variants[2].option_values"),
        ("error", "VALIDATION_ERROR", "stock"),
        ("error", "VALIDATION_ERROR", "variants"),
        ("error", "SKU_EXISTS", "sku"),
    ]
    assert api.get(f"/products/{product_id}").json()["version"] == 1


def test_inventory_by_a_variants_sku_changes_that_variant(api: Any) -> None:
    product_id = api.post("/products", json=tee()).json()["product_id"]
    response = api.post(
        "/inventory/batch",
        json={
            "updates": [
                {"sku": "TEE-M", "stock": 8},
                {"sku": "TEE-M", "delta": -2},
                {"sku": "TEE-S", "stock": 1, "expected": 2},
                {"sku": "TEE-S", "delta": -4},
            ]
        },
    )
    assert [(r["status"], r.get("stock")) for r in response.json()["results"]] == [
        ("ok", 8),
        ("ok", 6),
        ("error", 3),
        ("error", 3),
    ]
    assert [r["error"]["code"] for r in response.json()["results"][2:]] == [
        "STOCK_CONFLICT",
        "STOCK_NEGATIVE",
    ]
    body = api.get(f"/products/{product_id}").json()
    assert [(v["sku"], v["stock"]) for v in body["variants"]] == [("TEE-S", 3), ("TEE-M", 6)]
    assert body["version"] == 2  # one batch, one new version


def test_a_known_variant_changes_only_the_fields_sent(api: Any) -> None:
    product_id = api.post(
        "/products", json=tee(variants=[variant("TEE-S", "S", barcode="123", stock=4)])
    ).json()["product_id"]
    changed = api.patch(
        f"/products/{product_id}", json={"variants": [{"sku": "TEE-S", "barcode": None}]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["variants"] == [
        {
            "sku": "TEE-S",
            "option_values": {"Size": "S"},
            "price": "10.00",
            "compare_at_price": None,
            "stock": 4,
            "barcode": None,
            "weight_kg": None,
            "image": None,
        }
    ]
    new = api.patch(
        f"/products/{product_id}",
        json={"variants": [{"sku": "TEE-L", "option_values": {"Size": "L"}}]},
    )
    assert (new.status_code, new.json()["errors"]) == (
        422,
        [{"field": "variants[0].price", "message": "is required for a new variant"}],
    )
