"""Medusa's shapes without a server: handles, ids, batch splitting, error blame.

The messages are the ones Medusa 2.21.2 answered here (see test_medusa_adapter.py for
the same cases against the server itself).
"""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from shopsync.domain.models import Product
from shopsync.platforms.medusa.mapping import (
    StoreDefaults,
    blame,
    chunks_by_size,
    create_body,
    handle_for_sku,
    update_body,
)

DEFAULTS = StoreDefaults("sc_1", "sloc_1", "sp_1", "eur")


def test_blame_reads_the_messages_medusa_answers() -> None:
    [sku] = blame("Product variant with sku: AB-1, already exists.")
    assert (sku.kind, sku.sku, sku.field) == ("sku_exists", "AB-1", "sku")
    [handle] = blame("Product with handle: ab-1, already exists.")
    assert (handle.kind, handle.handle) == ("handle_exists", "ab-1")
    fields = blame(
        "Invalid request: Field 'create, 0, variants, 0, prices, 0, amount' is required; "
        "Field 'create, 3, title' is required"
    )
    assert [(b.operation, b.position, b.field) for b in fields] == [
        ("create", 0, "price"),
        ("create", 3, "title"),
    ]
    [gone] = blame("Unable to update the products with ids: prod_1, prod_2")
    assert (gone.kind, gone.product_ids) == ("not_found", ("prod_1", "prod_2"))
    assert blame("Product options are not provided for: [].") == []


@given(st.text(min_size=1, max_size=40))
def test_handles_are_stable_and_distinct_skus_get_distinct_handles(sku: str) -> None:
    handle = handle_for_sku(sku)
    assert handle == handle_for_sku(sku)
    assert handle and all(c.isascii() and (c.isalnum() or c == "-") for c in handle)
    assert handle == sku or handle != handle_for_sku(sku + "x")


def test_chunks_keep_each_body_under_the_budget() -> None:
    bodies = ["x" * 400, "y" * 400, "z" * 400, "w" * 10]
    assert chunks_by_size(bodies, budget=1000) == [[0, 1], [2, 3]]
    assert chunks_by_size(["x" * 5000], budget=1000) == [[0]]  # one item always goes


def test_a_product_maps_to_one_variant_with_its_price_in_the_store_currency() -> None:
    product = Product.model_validate(
        {"sku": "AB-1", "title": "Mug", "price": "12.50", "stock": 3, "weight_kg": "0.25"}
    )
    body = create_body(product, DEFAULTS)
    assert body["handle"] == handle_for_sku("AB-1")
    [variant] = body["variants"]
    assert variant["prices"] == [{"currency_code": "eur", "amount": 12.5}]
    assert variant["weight"] == 250.0
    assert body["sales_channels"] == [{"id": "sc_1"}]
    in_yuan = Product.model_validate(
        {"sku": "AB-2", "title": "Mug", "price": "8", "currency": "CNY"}
    )
    assert create_body(in_yuan, DEFAULTS)["variants"][0]["prices"][0]["currency_code"] == "cny"
    assert Decimal(str(variant["prices"][0]["amount"])) == Decimal("12.5")


def test_an_update_carries_only_what_changed() -> None:
    product = Product.model_validate({"sku": "AB-1", "title": "Mug", "price": "13.00"})
    assert update_body(product, "prod_1:variant_1", frozenset({"price"}), DEFAULTS) == {
        "id": "prod_1",
        "variants": [{"id": "variant_1", "prices": [{"currency_code": "eur", "amount": 13.0}]}],
    }
    assert update_body(product, "prod_1:variant_1", frozenset({"title"}), DEFAULTS) == {
        "id": "prod_1",
        "title": "Mug",
    }
    assert update_body(product, "prod_1:variant_1", frozenset({"stock"}), DEFAULTS) is None
