"""Catalog products as WooCommerce objects (specs/woocommerce/products.md and
product-variations.md): a simple product, a variable product's parent, a variation.

A product with variants is a ``variable`` product whose SKU is the catalog's handle (a
SKU is unique across products and variations, so the parent cannot carry its first
variant's), with one attribute per option (``variation: true``, every value the variants
use) beside the plain attributes; each variant is a variation of it. Prices follow
WooCommerce's pair: with a compare-at price above the price, ``regular_price`` is the
compare-at price and ``sale_price`` the price; otherwise ``regular_price`` is the price
and ``sale_price`` is empty (no sale).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from shopsync.domain.images import is_url
from shopsync.domain.models import VARIANT_FIELDS, Product, Variant

BARCODE_KEY = "_shopsync_barcode"
PRICE_FIELDS = frozenset({"price", "compare_at_price"})
"""Variant fields that map to WooCommerce's price pair: a change to one sends both."""


def identity_sku(product: Product) -> str:
    """The SKU WooCommerce files the product under: its handle for a variable product."""
    return product.handle if product.handle is not None else product.sku


def option_values(
    options: Sequence[str], variants: Iterable[Mapping[str, Any]]
) -> dict[str, list[str]]:
    """Each option's values, in the order the variants first use them."""
    values: dict[str, list[str]] = {name: [] for name in options}
    for variant in variants:
        chosen = variant.get("option_values") or {}
        for name in options:
            value = chosen.get(name)
            if value and value not in values[name]:
                values[name].append(str(value))
    return values


def product_body(
    product: Product,
    fields: frozenset[str] | None,
    options: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The WooCommerce product object for ``product``: every set field, or only ``fields``
    (shopsync's names) for an update. A product with variants is its variable parent:
    no price, stock, weight or barcode of its own (its variations have them); its
    attributes carry ``options`` (each option's values; by default its variants')."""
    variable = product.handle is not None
    wanted = set(product.model_fields_set | {"title", "price"}) if fields is None else set(fields)
    body: dict[str, Any] = {}
    if fields is None:
        body["sku"] = identity_sku(product)
        body["type"] = "variable" if variable else "simple"
    if "title" in wanted:
        body["name"] = product.title
    if "description" in wanted:
        body["description"] = product.description or ""
    if not variable:
        if "price" in wanted:
            body["regular_price"] = str(product.price)
        if "stock" in wanted:
            body["manage_stock"] = True
            body["stock_quantity"] = product.stock
        if "weight_kg" in wanted:
            body["weight"] = "" if product.weight_kg is None else str(product.weight_kg)
        if "barcode" in wanted:
            body["meta_data"] = [{"key": BARCODE_KEY, "value": product.barcode or ""}]
    if "images" in wanted:
        body["images"] = [image_object(image) for image in product.images]
    if "category" in wanted and product.category and product.category.strip().isdigit():
        body["categories"] = [{"id": int(product.category)}]
    if wanted & {"brand", "attributes"} or (variable and (fields is None or options is not None)):
        body["attributes"] = _attributes(product, options)
    if "status" in wanted:
        body["status"] = "publish" if product.status == "active" else "draft"
    return body


def _attributes(product: Product, options: Mapping[str, list[str]] | None) -> list[dict[str, Any]]:
    """The brand and plain attributes (shown, one value each), then a variable product's
    options (used for variations, with every value: ``options``, or its variants')."""
    attributes: list[dict[str, Any]] = []
    if product.brand:
        attributes.append({"name": "Brand", "options": [product.brand], "visible": True})
    attributes += [
        {"name": name, "options": [value], "visible": True}
        for name, value in product.attributes.items()
    ]
    if product.handle is not None:
        chosen = options if options is not None else option_values(
            product.options, (v.model_dump() for v in product.variants)
        )  # fmt: skip
        attributes += [
            {"name": name, "options": chosen.get(name, []), "visible": True, "variation": True}
            for name in product.options
        ]
    return attributes


def variant_changes(variant: Variant, before: Mapping[str, Any] | None) -> frozenset[str] | None:
    """The variant's fields that differ from ``before`` (its body as last confirmed);
    None for a variant with nothing to compare with (sent whole)."""
    if before is None:
        return None
    after = variant.model_dump(mode="json", exclude_none=True)
    return frozenset(
        name for name in VARIANT_FIELDS if name != "sku" and after.get(name) != before.get(name)
    )


def variation_body(
    variant: Variant, options: Sequence[str], fields: frozenset[str] | None
) -> dict[str, Any]:
    """The WooCommerce variation object for ``variant``: whole (``fields`` None, a
    create or an adopted product) or only the WooCommerce properties of ``fields``."""
    # Whole: the fields the file gave (as for a simple product), with price and options.
    given = variant.model_fields_set | {"price", "option_values"}
    wanted = set(given) if fields is None else set(fields)
    body: dict[str, Any] = {}
    if fields is None:
        body["sku"] = variant.sku
    if wanted & PRICE_FIELDS:
        regular, sale = price_pair(variant.price, variant.compare_at_price)
        body["regular_price"] = regular
        body["sale_price"] = sale
    if "stock" in wanted:
        body["manage_stock"] = True
        body["stock_quantity"] = variant.stock
    if "weight_kg" in wanted:
        body["weight"] = "" if variant.weight_kg is None else str(variant.weight_kg)
    if "barcode" in wanted:
        body["meta_data"] = [{"key": BARCODE_KEY, "value": variant.barcode or ""}]
    if "option_values" in wanted:
        body["attributes"] = [
            {"name": name, "option": variant.option_values.get(name, "")} for name in options
        ]
    if "image" in wanted and variant.image and (is_url(variant.image) or variant.image.isdigit()):
        body["image"] = image_object(variant.image)
    return body


def image_object(reference: str) -> dict[str, Any]:
    """An image as WooCommerce takes it: a media-library id (a file shopsync uploaded,
    :meth:`~shopsync.platforms.woocommerce.adapter.WooCommercePlatform.upload_image`)
    as ``{id}``, a URL as ``{src}`` (which WooCommerce downloads into the library)."""
    return {"id": int(reference)} if reference.isdigit() else {"src": reference}


def price_pair(price: Decimal, compare_at: Decimal | None) -> tuple[str, str]:
    """``(regular_price, sale_price)`` for a price and its compare-at ("was") price."""
    if compare_at is not None and compare_at > price:
        return str(compare_at), str(price)
    return str(price), ""


__all__ = [
    "BARCODE_KEY",
    "identity_sku",
    "image_object",
    "option_values",
    "price_pair",
    "product_body",
    "variant_changes",
    "variation_body",
]
