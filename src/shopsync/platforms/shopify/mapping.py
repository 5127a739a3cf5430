"""A :class:`~shopsync.domain.models.Product` as Shopify's ``ProductSetInput``, and back.

A product of the catalog is one Shopify product. A single product has one variant
(Shopify's ``Title / Default Title`` option) carrying the SKU, price, barcode, weight and
stock; a product with a handle, options and variants (issue 13) maps each variant, and
its options become ``productOptions`` (at most 3, values in the order they appear).
Because ``productSet`` replaces a list it is given whole, an update sends the variant
list only when a variant changed, and then complete: the adapter adds the variants the
update does not carry (the engine sends only the changed ones) from what Shopify holds.

Field by field (the catalog's name → Shopify's): title → ``title``; description →
``descriptionHtml``; brand → ``vendor``; category → ``productType``; status →
``status`` (ACTIVE/DRAFT); images → ``files`` (a URL as ``originalSource``, an uploaded
file by its id); attributes →
``metafields`` in the ``shopsync`` namespace; sku, price, barcode, weight_kg, stock →
the variant (``sku``, ``price``, ``barcode``, ``inventoryItem.measurement.weight``,
``inventoryQuantities`` at the configured location). ``currency`` is the shop's own on
Shopify: it is not sent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from shopsync.domain.models import Product, Variant
from shopsync.i18n import N_
from shopsync.platforms.base import RemoteProduct

DEFAULT_OPTION = "Title"
DEFAULT_VALUE = "Default Title"
MAX_TITLE = 255
MAX_OPTIONS = 3
MAX_VARIANTS = 2048
IMAGE_TYPES = frozenset({"jpg", "jpeg", "png", "gif", "webp", "heic", "avif"})
"""Image file types Shopify takes for product media (by the URL's extension)."""
METAFIELD_NAMESPACE = "shopsync"

PRODUCT_LEVEL = {
    "title": "title",
    "handle": "handle",
    "description": "descriptionHtml",
    "brand": "vendor",
    "category": "productType",
    "status": "status",
    "images": "files",
    "attributes": "metafields",
}
"""Catalog fields that are the Shopify product's, by their ``ProductSetInput`` name."""
VARIANT_LEVEL = frozenset({"sku", "price", "barcode", "weight_kg", "stock", "variants", "options"})
"""Catalog fields that are the variant's: changing one sends the variant list."""


def _metafield_key(name: str) -> str:
    return re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_")[:64] or "attribute"


def _product_level(product: Product, name: str) -> Any:  # noqa: PLR0911 - one per field
    if name == "title":
        return product.title
    if name == "handle":
        return product.handle
    if name == "description":
        return product.description or ""
    if name == "brand":
        return product.brand or ""
    if name == "category":
        return product.category or ""
    if name == "status":
        return product.status.upper()
    if name == "images":
        urls = list(dict.fromkeys([*product.images, *_variant_images(product)]))
        return [file_input(url) for url in urls]
    return [
        {
            "namespace": METAFIELD_NAMESPACE,
            "key": _metafield_key(key),
            "type": "single_line_text_field",
            "value": value,
        }
        for key, value in product.attributes.items()
    ]


def file_input(reference: str) -> dict[str, str]:
    """A ``FileSetInput``: an uploaded image by its file id (``gid://shopify/MediaImage/N``,
    what :meth:`ShopifyPlatform.upload_image` gives), a URL as the file's source."""
    if reference.startswith("gid://shopify/"):
        return {"id": reference}
    return {"originalSource": reference, "contentType": "IMAGE"}


def _variant_images(product: Product) -> list[str]:
    # A variant's image travels as a product file too (productSet wants it in both); only
    # an https URL can: a local file name needs an upload first (not done yet).
    return [v.image for v in product.variants if v.image and v.image.startswith("https://")]


def _one_variant(
    values: list[dict[str, str]],
    fields: Variant | Product,
    location_id: str | None,
    *,
    with_stock: bool,
) -> dict[str, Any]:
    variant: dict[str, Any] = {
        "optionValues": values,
        "sku": fields.sku,
        "price": str(fields.price),
        "barcode": fields.barcode,
    }
    if isinstance(fields, Variant):
        variant["compareAtPrice"] = (
            None if fields.compare_at_price is None else str(fields.compare_at_price)
        )
        if fields.image and fields.image.startswith("https://"):
            variant["file"] = {"originalSource": fields.image, "contentType": "IMAGE"}
    item: dict[str, Any] = {"tracked": True}
    if fields.weight_kg is not None:
        item["measurement"] = {"weight": {"value": float(fields.weight_kg), "unit": "KILOGRAMS"}}
    variant["inventoryItem"] = item
    if with_stock and location_id is not None:
        variant["inventoryQuantities"] = [
            {"locationId": location_id, "name": "available", "quantity": fields.stock}
        ]
    return variant


def variant_inputs(
    product: Product, location_id: str | None, *, with_stock: bool
) -> list[dict[str, Any]]:
    """The product's variants as ``ProductVariantSetInput``s (one for a single product)."""
    if not product.variants:
        values = [{"optionName": DEFAULT_OPTION, "name": DEFAULT_VALUE}]
        return [_one_variant(values, product, location_id, with_stock=with_stock)]
    return [
        _one_variant(
            [{"optionName": name, "name": variant.option_values[name]} for name in product.options],
            variant,
            location_id,
            with_stock=with_stock,
        )
        for variant in product.variants
    ]


def option_inputs(
    product: Product, current: Iterable[tuple[str, list[str]]] = ()
) -> list[dict[str, Any]]:
    """``productOptions``: the options Shopify holds (``current``) with the product's values
    added, in the order they appear; a single product's ``Title`` option."""
    if not product.variants:
        return [{"name": DEFAULT_OPTION, "values": [{"name": DEFAULT_VALUE}]}]
    merged: dict[str, list[str]] = {name: list(values) for name, values in current}
    for name in product.options:
        values = merged.setdefault(name, [])
        for variant in product.variants:
            value = variant.option_values[name]
            if value not in values:
                values.append(value)
    return [
        {"name": name, "values": [{"name": v} for v in values]} for name, values in merged.items()
    ]


def product_input(
    product: Product, location_id: str | None, fields: Iterable[str] | None = None
) -> dict[str, Any]:
    """``ProductSetInput`` for ``product``: everything (a create, ``fields`` None), or the
    changed ``fields`` (catalog names) of an update, with the whole variant list if any
    variant field changed."""
    creating = fields is None
    wanted = set(PRODUCT_LEVEL) | VARIANT_LEVEL if fields is None else set(fields)
    body: dict[str, Any] = {}
    for name, shopify_name in PRODUCT_LEVEL.items():
        if name in wanted:
            value = _product_level(product, name)
            if value is None or (creating and value in ("", [])):
                continue
            body[shopify_name] = value
    if creating or wanted & VARIANT_LEVEL:
        body["productOptions"] = option_inputs(product)
        with_stock = "stock" in wanted or "variants" in wanted
        body["variants"] = variant_inputs(product, location_id, with_stock=with_stock)
    return body


def remote_product(variant: Mapping[str, Any], product: Mapping[str, Any]) -> RemoteProduct:
    """A variant node (with its product) as the catalog's fields, for diffs and lookups."""
    fields: dict[str, Any] = {
        "sku": variant.get("sku") or "",
        "title": product.get("title"),
        "price": variant.get("price"),
    }
    stock = variant.get("inventoryQuantity")
    if isinstance(stock, int):
        fields["stock"] = stock
    for name, key in (
        ("description", "descriptionHtml"),
        ("brand", "vendor"),
        ("category", "productType"),
    ):
        if product.get(key):
            fields[name] = product[key]
    if variant.get("barcode"):
        fields["barcode"] = variant["barcode"]
    if isinstance(product.get("status"), str):
        fields["status"] = str(product["status"]).lower()
    return RemoteProduct(
        product_id=str(product.get("id") or ""),
        sku=str(variant.get("sku") or ""),
        fields=fields,
        updated_at=product.get("updatedAt"),
    )


def constraint_errors(product: Product) -> list[tuple[str, str]]:
    """Shopify's rules a product breaks, as ``(field, message)``: for plan-time row errors.

    The catalog model already holds titles to 255 characters; what Shopify adds is the
    image types it takes (and, with variants, at most 3 options and 2,048 variants).
    """
    errors: list[tuple[str, str]] = []
    if len(product.options) > MAX_OPTIONS:
        errors.append(
            (
                "options",
                N_("Shopify takes at most {limit} options per product").format(limit=MAX_OPTIONS),
            )
        )
    if len(product.variants) > MAX_VARIANTS:
        errors.append(
            (
                "variants",
                N_("Shopify takes at most {limit} variants per product").format(limit=MAX_VARIANTS),
            )
        )
    if len(product.title) > MAX_TITLE:
        errors.append(
            (
                "title",
                N_("Shopify takes titles of at most {limit} characters").format(limit=MAX_TITLE),
            )
        )
    for url in product.images:
        path = urlsplit(url).path
        extension = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
        if extension and extension not in IMAGE_TYPES:
            errors.append(
                (
                    "images",
                    N_(
                        "Shopify does not take .{extension} images ({url}); use one of {types}"
                    ).format(extension=extension, url=url, types=", ".join(sorted(IMAGE_TYPES))),
                )
            )
    return errors


def money(value: Any) -> Decimal:
    """A Shopify ``Money``/``Decimal`` as a Decimal (0 if unreadable)."""
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return Decimal(0)
