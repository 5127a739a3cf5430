"""The Product model holds what any catalog means and normalises what sellers type; the
generic API's own limits (docs/platform-api.md §2) are its adapter's rules."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from shopsync.catalog.cells import describe
from shopsync.domain.models import Product
from shopsync.platforms.generic import GenericPlatform
from shopsync.platforms.generic.rules import product_problems

BASE: dict[str, Any] = {"sku": "A-1", "title": "Lamp", "price": "10"}


def make(**changes: Any) -> Product:
    return Product.model_validate({**BASE, **changes})


def first_error(**changes: Any) -> tuple[str, str]:
    with pytest.raises(ValidationError) as caught:
        make(**changes)
    error = caught.value.errors(include_url=False)[0]
    return str(error["loc"][0]), describe(error)


def test_defaults_and_normalisation() -> None:
    product = make(title="  Lamp  ", currency="eur", price="10.5")
    assert product.title == "Lamp"
    assert product.currency == "EUR"
    assert product.price == Decimal("10.50")
    assert str(product.price) == "10.50"
    assert (product.stock, product.status, product.images, product.attributes) == (
        0,
        "active",
        [],
        {},
    )


def test_images_from_one_cell_with_any_separator() -> None:
    product = make(
        images="https://a.example/1.jpg | https://a.example/2.jpg;https://a.example/3.jpg\nhttps://a.example/4.jpg"
    )
    assert product.images == [f"https://a.example/{n}.jpg" for n in range(1, 5)]


def test_to_api_sends_decimals_as_strings_and_leaves_out_unset_fields() -> None:
    product = make(weight_kg="1.500", attributes={"colour": "red"}, brand="ACME")
    assert product.to_api() == {
        "sku": "A-1",
        "title": "Lamp",
        "price": "10.00",
        "currency": "CNY",
        "stock": 0,
        "images": [],
        "status": "active",
        "brand": "ACME",
        "weight_kg": "1.5",
        "attributes": {"colour": "red"},
    }


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": "   "}, "title", "must not be empty"),
        ({"price": "0"}, "price", "must be greater than 0"),
        ({"price": "abc"}, "price", "is not a number"),
        ({"price": "NaN"}, "price", "is not a finite number"),
        ({"stock": "-1"}, "stock", "must be 0 or more"),
        ({"stock": "1.5"}, "stock", "is not a whole number"),
        (
            {"currency": "EURO"},
            "currency",
            "must be a three-letter ISO 4217 code such as CNY or EUR",
        ),
        ({"status": "live"}, "status", "must be one of 'active' or 'draft'"),
        ({"weight_kg": "-0.1"}, "weight_kg", "must be 0 or more"),
    ],
)
def test_rules_with_plain_messages(changes: dict[str, Any], field: str, message: str) -> None:
    assert first_error(**changes) == (field, message)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"sku": "x" * 65},
            "sku",
            "may hold only letters, digits, '.', '_' and '-' (1 to 64 characters, no spaces)",
        ),
        (
            {"sku": "ä-1"},
            "sku",
            "may hold only letters, digits, '.', '_' and '-' (1 to 64 characters, no spaces)",
        ),
        ({"title": "t" * 256}, "title", "is longer than 255 characters"),
        ({"price": "1.005"}, "price", "has more than 2 decimal places"),
        ({"images": ["https://x.example/a.jpg"] * 21}, "images", "has more than 20 images"),
        (
            {"images": "ftp://x.example/a.jpg"},
            "images",
            "image 'ftp://x.example/a.jpg' is not an absolute https:// URL",
        ),
        ({"description": "d" * 20_001}, "description", "is longer than 20000 characters"),
        ({"brand": "b" * 256}, "brand", "is longer than 255 characters"),
        (
            {"attributes": {f"k{i}": "v" for i in range(51)}},
            "attributes",
            "has more than 50 entries",
        ),
    ],
)
def test_generic_api_rules_are_the_generic_adapters(
    changes: dict[str, Any], field: str, message: str
) -> None:
    # Valid by the model (any platform's rules); refused by the generic API's own, with the
    # messages the model gave when they were its constraints.
    product = make(**changes)
    assert product_problems(product) == [(field, message)]
    assert GenericPlatform.product_constraints(product) == [(field, message)]


def test_unknown_fields_are_refused() -> None:
    with pytest.raises(ValidationError):
        make(colour="red")


def test_price_is_never_a_float() -> None:
    assert isinstance(make(price=Decimal("19.9")).price, Decimal)
    assert make(price="19.9").to_api()["price"] == "19.90"


def test_a_copy_with_changes_does_not_keep_the_originals_cached_body() -> None:
    product = Product.model_validate({"sku": "A-1", "title": "Mug", "price": "10"})
    assert '"price":"10.00"' in product.api_json and product.to_api()["price"] == "10.00"
    copy = product.model_copy(update={"price": Decimal("12.50")})
    assert '"price":"12.50"' in copy.api_json
    assert copy.to_api()["price"] == "12.50"
    assert '"price":"10.00"' in product.api_json
