"""Products with variants: the model, and a single-variant product's unchanged JSON and digest."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from shopsync.domain.digest import hash_text
from shopsync.domain.models import Product, product_json

# Written by the model before variants existed (main at 50cce94): an existing ledger holds
# exactly these texts and digests, and must see no change after the upgrade.
FULL = {
    "sku": "TEE-001",
    "title": 'T-Shirt é "x"',
    "price": "19.9",
    "currency": "eur",
    "stock": "12",
    "images": "https://e.com/a.jpg|https://e.com/b.jpg",
    "description": "Soft\ncotton",
    "category": "Apparel",
    "brand": "Acme",
    "barcode": "4006381333931",
    "weight_kg": "0.250",
    "status": "draft",
    "attributes": {"colour": "红"},
}
FULL_JSON = (
    '{"sku":"TEE-001","title":"T-Shirt é \\"x\\"","price":"19.90","currency":"EUR","stock":12,'
    '"images":["https://e.com/a.jpg","https://e.com/b.jpg"],"description":"Soft\\ncotton",'
    '"category":"Apparel","brand":"Acme","barcode":"4006381333931","weight_kg":"0.25",'
    '"status":"draft","attributes":{"colour":"红"}}'
)
MINIMAL_JSON = (
    '{"sku":"A-1","title":"Mug","price":"5.00","currency":"CNY","stock":0,"images":[],'
    '"status":"active"}'
)


def tee(**changes: Any) -> dict[str, Any]:
    return {
        "handle": "tee",
        "title": "Tee",
        "options": ["Size", "Colour"],
        "variants": [
            {"sku": "TEE-S-RED", "option_values": {"Colour": "Red", "Size": "S"}, "price": "10"},
            {
                "sku": "TEE-M-RED",
                "option_values": {"Size": "M", "Colour": "Red"},
                "price": "12",
                "compare_at_price": "15",
                "stock": 4,
                "barcode": "123",
                "weight_kg": "0.2",
                "image": "images/red.jpg",
            },
        ],
        **changes,
    }


@pytest.mark.parametrize(
    ("data", "text", "digest"),
    [
        (FULL, FULL_JSON, "162f6068d38ecad5e40c621a36a031d7"),
        (
            {"sku": "A-1", "title": "Mug", "price": "5"},
            MINIMAL_JSON,
            "70afde0a28152ba0c62317a99031b44f",
        ),
    ],
)
def test_a_single_variant_product_keeps_its_text_and_digest(
    data: dict[str, Any], text: str, digest: str
) -> None:
    product = Product.model_validate(data)
    assert product.api_json == text
    assert hash_text(product.api_json) == digest
    assert product_json(product.to_api()) == text
    assert (product.key, product.skus, product.has_variants) == (product.sku, [product.sku], False)


def test_per_platform_fields_stay_out_of_the_body() -> None:
    product = Product.model_validate(
        {**FULL, "platform_fields": {"shopify": {"product_type": "Shirt"}, "taobao": {"cid": 50}}}
    )
    assert product.api_json == FULL_JSON
    assert product.fields_for("shopify") == {"product_type": "Shirt"}
    assert product.fields_for("taobao") == {"cid": 50}
    assert product.fields_for("shopee") == {}


def test_a_product_with_variants_has_handle_options_and_variants_in_its_body() -> None:
    product = Product.model_validate(tee())
    assert product.api_json == (
        '{"title":"Tee","currency":"CNY","images":[],"status":"active","handle":"tee",'
        '"options":["Size","Colour"],"variants":['
        '{"sku":"TEE-S-RED","option_values":{"Size":"S","Colour":"Red"},"price":"10.00","stock":0},'
        '{"sku":"TEE-M-RED","option_values":{"Size":"M","Colour":"Red"},"price":"12.00",'
        '"compare_at_price":"15.00","stock":4,"barcode":"123","weight_kg":"0.2",'
        '"image":"images/red.jpg"}]}'
    )
    # The product's own SKU and price are its first variant's, for code reading one SKU.
    assert (product.key, product.sku, str(product.price)) == ("tee", "TEE-S-RED", "10.00")
    assert product.skus == ["TEE-S-RED", "TEE-M-RED"]
    # A body read back (from the ledger or a platform), keys in any order, is the same text.
    body = json.loads(product.api_json)
    body["variants"] = [dict(reversed(list(variant.items()))) for variant in body["variants"]]
    assert product_json(dict(reversed(list(body.items())))) == product.api_json


def test_a_handle_without_variants_is_a_product_of_one_variant() -> None:
    product = Product.model_validate({"handle": "mug", "sku": "MUG-1", "title": "Mug", "price": 5})
    assert product.has_variants
    assert [variant.sku for variant in product.variants] == ["MUG-1"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"handle": None}, "a product with variants needs a handle"),
        (
            {
                "variants": [
                    {"sku": "A", "option_values": {"Size": "S", "Colour": "Red"}, "price": 1},
                    {"sku": "B", "option_values": {"Size": "S", "Colour": "Red"}, "price": 1},
                ]
            },
            "variants A and B have the same option values S / Red",
        ),
        (
            {"variants": [{"sku": "A", "option_values": {"Size": "S"}, "price": 1}]},
            "variant A has no value for Colour",
        ),
        (
            {
                "variants": [
                    {"sku": "A", "option_values": {"Size": "S", "Colour": "Red"}, "price": 1},
                    {"sku": "A", "option_values": {"Size": "M", "Colour": "Red"}, "price": 1},
                ]
            },
            "SKU A is used by two variants",
        ),
        ({"options": ["Size", "Size"]}, "name one option twice"),
    ],
)
def test_variants_that_disagree_are_refused(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Product.model_validate(tee(**changes))
    assert message in str(caught.value)
