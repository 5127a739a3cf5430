"""shopsync's products in Medusa's shape, and Medusa's batch errors back to items.

A shopsync product is a Medusa product with variants. Until variants come (issue 13)
every product is one product with one variant under a single ``Default`` option; the
bodies are built per variant already, so a product with several maps the same way.
The product's id as shopsync keeps it is ``prod_…:variant_…``: an update of a price
changes the variant, one of a title the product, and neither needs a lookup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopsync.domain.models import Product, Variant

DEFAULT_OPTION = "Default"
MAX_BODY_BYTES = 2 * 1024 * 1024
"""Medusa's request body limit (its JSON parser's default)."""
BODY_BUDGET = 1_800_000
"""What a batch body may take, leaving room for the envelope and a margin."""
_SLUG_BREAKS = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class StoreDefaults:
    """Where products go: the sales channel, stock location, shipping profile, currency."""

    sales_channel: str
    location: str
    shipping_profile: str
    currency: str


def handle_for_sku(sku: str) -> str:
    """A product handle derived from a single-variant product's SKU, the same every run.

    A SKU that is already a handle (lowercase letters, digits, single hyphens) is used
    as it is; any other gets its slug plus 8 hex digits of its SHA-256, so ``AB-1`` and
    ``ab-1`` (distinct SKUs) never claim the same handle.
    """
    slug = _SLUG_BREAKS.sub("-", sku.lower()).strip("-")
    if slug == sku:
        return slug
    digest = hashlib.sha256(sku.encode("utf-8")).hexdigest()[:8]
    return f"{slug}-{digest}" if slug else f"sku-{digest}"


def join_id(product_id: str, variant_id: str) -> str:
    """The id shopsync keeps for a single-variant product."""
    return f"{product_id}:{variant_id}"


def split_id(joined: str) -> tuple[str, str | None]:
    """``(product id, variant id or None)`` of an id :func:`join_id` made."""
    product, _, variant = joined.partition(":")
    return product, variant or None


def _amount(price: Decimal) -> float:
    # Medusa wants a JSON number. Prices are quantized to cents, well within the 15
    # significant digits a float carries exactly through repr(), so nothing is lost.
    return float(price)


def _currency(product: Product, defaults: StoreDefaults) -> str:
    # The model's currency has a default (CNY); a file that says none sells in the
    # store's currency, which is what a Medusa seller means.
    if "currency" in product.model_fields_set:
        return product.currency.lower()
    return defaults.currency


def has_options(product: Product) -> bool:
    """Whether the product has options of its own (else one ``Default`` option)."""
    return bool(product.options) and bool(product.variants)


def _handle(product: Product) -> str:
    return product.handle if product.handle is not None else handle_for_sku(product.sku)


def variant_body(
    product: Product, defaults: StoreDefaults, variant: Variant | None = None
) -> dict[str, Any]:
    """One variant's create body: SKU, options, price, barcode, weight, inventory.

    Without ``variant``: the single-variant product's own fields, under ``Default``.
    """
    source: Product | Variant = variant if variant is not None else product
    if variant is not None and has_options(product):
        values = variant.option_key(product.options)
        options = dict(zip(product.options, values, strict=True))
        title = " / ".join(values)
    else:
        options, title = {DEFAULT_OPTION: DEFAULT_OPTION}, DEFAULT_OPTION
    body: dict[str, Any] = {
        "title": title,
        "sku": source.sku,
        "options": options,
        "prices": [
            {"currency_code": _currency(product, defaults), "amount": _amount(source.price)}
        ],
        "manage_inventory": True,
    }
    if source.barcode is not None:
        body["barcode"] = source.barcode
    if source.weight_kg is not None:
        body["weight"] = _amount(source.weight_kg * 1000)  # Medusa's weights are grams
    return body


def _options(product: Product) -> list[dict[str, Any]]:
    if not has_options(product):
        return [{"title": DEFAULT_OPTION, "values": [DEFAULT_OPTION]}]
    return [
        {
            "title": name,
            "values": list(dict.fromkeys(v.option_values[name] for v in product.variants)),
        }
        for name in product.options
    ]


def _variant_bodies(product: Product, defaults: StoreDefaults) -> list[dict[str, Any]]:
    if has_options(product):
        return [variant_body(product, defaults, variant) for variant in product.variants]
    return [variant_body(product, defaults)]


def _metadata(product: Product) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if product.brand is not None:
        meta["brand"] = product.brand
    if product.category is not None:
        meta["category"] = product.category
    if product.attributes:
        meta["attributes"] = dict(product.attributes)
    return meta


def create_body(product: Product, defaults: StoreDefaults) -> dict[str, Any]:
    """The ``create`` item of ``POST /admin/products/batch``: the product and its variants."""
    body: dict[str, Any] = {
        "title": product.title,
        "handle": _handle(product),
        "status": "published" if product.status == "active" else "draft",
        "shipping_profile_id": defaults.shipping_profile,
        "sales_channels": [{"id": defaults.sales_channel}],
        "options": _options(product),
        "variants": _variant_bodies(product, defaults),
    }
    if product.description is not None:
        body["description"] = product.description
    if product.images:
        body["images"] = [{"url": str(url)} for url in product.images]
        body["thumbnail"] = str(product.images[0])
    if meta := _metadata(product):
        body["metadata"] = meta
    return body


_PRODUCT_FIELDS = frozenset({"title", "description", "status", "images"})
_VARIANT_FIELDS = frozenset({"price", "currency", "barcode", "weight_kg"})
_METADATA_FIELDS = frozenset({"brand", "category", "attributes"})


def update_body(
    product: Product, joined_id: str, fields: frozenset[str] | None, defaults: StoreDefaults
) -> dict[str, Any] | None:
    """The ``update`` item for the changed ``fields`` (None: all), or None if only stock
    (which goes to the location level, not the product) or nothing Medusa keeps changed."""
    product_id, variant_id = split_id(joined_id)
    wanted = fields if fields is not None else _PRODUCT_FIELDS | _VARIANT_FIELDS | _METADATA_FIELDS
    full = create_body(product, defaults)
    body: dict[str, Any] = {"id": product_id}
    if "title" in wanted:
        body["title"] = full["title"]
    if "description" in wanted:
        body["description"] = product.description or ""
    if "status" in wanted:
        body["status"] = full["status"]
    if "images" in wanted:
        body["images"] = full.get("images", [])
        body["thumbnail"] = full.get("thumbnail")
    if wanted & _METADATA_FIELDS:
        body["metadata"] = _metadata(product)
    if wanted & _VARIANT_FIELDS and variant_id is not None and not has_options(product):
        variant = variant_body(product, defaults)
        changed: dict[str, Any] = {"id": variant_id}
        if wanted & {"price", "currency"}:
            changed["prices"] = variant["prices"]
        for name, key in (("barcode", "barcode"), ("weight_kg", "weight")):
            if name in wanted and key in variant:
                changed[key] = variant[key]
        # A single-variant product's one variant; with options, changed variants go
        # through the product's variants batch instead (see variant_changes).
        body["variants"] = [changed]
    return body if len(body) > 1 else None


def variant_changes(
    product: Product,
    fields: frozenset[str] | None,
    known: Mapping[str, str],
    defaults: StoreDefaults,
) -> dict[str, list[dict[str, Any]]]:
    """``POST /admin/products/{id}/variants/batch`` for a product with options: its sent
    variants (the engine sends the new and changed ones only), each an ``update`` where
    ``known`` (SKU → variant id) has it, else a ``create``. Empty if none changed."""
    if not has_options(product) or (fields is not None and "variants" not in fields):
        return {}
    create: list[dict[str, Any]] = []
    update: list[dict[str, Any]] = []
    for variant in product.variants:
        body = variant_body(product, defaults, variant)
        if variant.sku in known:
            body.pop("manage_inventory")
            update.append({"id": known[variant.sku], **body})
        else:
            create.append(body)
    return {"create": create, "update": update}


def chunks_by_size(bodies: Sequence[str], budget: int = BODY_BUDGET) -> list[list[int]]:
    """Positions of ``bodies`` (encoded items) in groups whose total stays under ``budget``."""
    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for position, text in enumerate(bodies):
        size = len(text.encode("utf-8")) + 1
        if current and used + size > budget:
            groups.append(current)
            current, used = [], 0
        current.append(position)
        used += size
    if current:
        groups.append(current)
    return groups


# -- Medusa's batch errors, back to the item that caused them --------------------------

_SKU_EXISTS = re.compile(r"variant with sku: (?P<sku>.+?), already exists", re.IGNORECASE)
_HANDLE_EXISTS = re.compile(r"Product with handle: (?P<handle>.+?), already exists", re.IGNORECASE)
_FIELD = re.compile(r"Field '(?P<path>[^']+)'")
_NOT_UPDATED = re.compile(r"Unable to update the products with ids: (?P<ids>.+)$")
_FIELD_NAMES = {
    "amount": "price",
    "currency_code": "currency",
    "prices": "price",
    "sku": "sku",
    "title": "title",
    "handle": "sku",
    "description": "description",
    "barcode": "barcode",
    "weight": "weight_kg",
    "images": "images",
    "url": "images",
    "status": "status",
}


@dataclass(frozen=True)
class BlamedItem:
    """Which item of a refused batch Medusa's message blames, and how to report it."""

    operation: str
    """``create`` or ``update``."""
    position: int | None
    sku: str | None
    handle: str | None
    product_ids: tuple[str, ...]
    kind: str
    """``sku_exists``, ``handle_exists``, ``invalid``, ``not_found``."""
    field: str | None


def blame(message: str) -> list[BlamedItem]:
    """The items Medusa's batch error ``message`` names (empty: it names none)."""
    if match := _SKU_EXISTS.search(message):
        return [BlamedItem("create", None, match["sku"], None, (), "sku_exists", "sku")]
    if match := _HANDLE_EXISTS.search(message):
        return [BlamedItem("create", None, None, match["handle"], (), "handle_exists", "sku")]
    if match := _NOT_UPDATED.search(message):
        ids = tuple(part.strip().rstrip(".") for part in match["ids"].split(","))
        return [BlamedItem("update", None, None, None, ids, "not_found", None)]
    found = []
    for field_match in _FIELD.finditer(message):
        parts = [part.strip() for part in field_match["path"].split(",")]
        if len(parts) >= 2 and parts[0] in ("create", "update") and parts[1].isdigit():
            leaf = next((p for p in reversed(parts) if not p.isdigit()), "")
            found.append(
                BlamedItem(
                    parts[0], int(parts[1]), None, None, (), "invalid", _FIELD_NAMES.get(leaf, leaf)
                )
            )
    return found


def remote_fields(
    variant: Mapping[str, Any], currency: str, location: str | None = None
) -> dict[str, Any]:
    """A variant as the lookup answers it, in shopsync's field names (prices as text),
    its stock the stocked quantity at ``location`` when it has a level there."""
    product = variant.get("product") if isinstance(variant.get("product"), dict) else {}
    assert isinstance(product, dict)
    fields: dict[str, Any] = {"sku": variant.get("sku")}
    if product.get("title") is not None:
        fields["title"] = product["title"]
    if product.get("status") is not None:
        fields["status"] = "active" if product["status"] == "published" else "draft"
    if product.get("description"):
        fields["description"] = product["description"]
    for price in variant.get("prices") or []:
        if isinstance(price, dict) and price.get("currency_code") == currency:
            fields["price"] = str(Decimal(str(price.get("amount"))).quantize(Decimal("0.01")))
            fields["currency"] = currency.upper()
    if variant.get("barcode"):
        fields["barcode"] = variant["barcode"]
    for link in variant.get("inventory_items") or []:
        inventory = link.get("inventory") if isinstance(link, dict) else None
        for level in (inventory or {}).get("location_levels") or []:
            if isinstance(level, dict) and level.get("location_id") == location:
                fields["stock"] = int(level.get("stocked_quantity") or 0)
    return fields
