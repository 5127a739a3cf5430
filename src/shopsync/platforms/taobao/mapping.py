"""A product as a Taobao item: the parameters of ``taobao.item.add`` / ``taobao.item.update``,
and the rules Taobao sets for them, checked at plan time.

The item's ``outer_id`` (商家编码) is the product's SKU: the seller's own code, by which
``taobao.items.custom.get`` finds the item again after an answer was lost. What Taobao
needs and the neutral model has no field for comes from the product's attributes named
``taobao:NAME`` (``attr:taobao:cid`` in a file): ``taobao:cid`` (the leaf category,
required), ``taobao:props`` (``pid:vid;pid:vid``), ``taobao:stuff_status`` (default
``new``), ``taobao:location.state`` and ``taobao:location.city``.

A product with options and variants is an item with SKUs (``sku_properties``,
``sku_quantities``, ``sku_prices``, ``sku_outer_ids``): its ``outer_id`` is the handle,
each SKU's the variant's SKU, each SKU's properties its option values, which must be
Taobao's ``pid:vid`` ids (checked at plan time). A single-variant product is an item
without SKUs, its quantity and price the item's own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shopsync.domain.models import Product, Variant
from shopsync.i18n import N_

MAX_TITLE = 60
"""Taobao's limit on a title, counted as :func:`taobao_length` counts."""
MAX_OUTER_ID = 64
MIN_DESC = 5
MAX_DESC = 25_000
PREFIX = "taobao:"
CID = PREFIX + "cid"
PROPS = PREFIX + "props"
_PASSED_THROUGH = {
    PREFIX + "stuff_status": "stuff_status",
    PREFIX + "location.state": "location.state",
    PREFIX + "location.city": "location.city",
}

# Product fields (as the ledger names them) and the item parameters they become.
_FIELD_PARAMS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "price": ("price",),
    "stock": ("num",),
    "description": ("desc",),
    "barcode": ("barcode",),
    "weight_kg": ("item_weight",),
    "status": ("approve_status",),
    "attributes": ("cid", "props", "stuff_status", "location.state", "location.city"),
}
UNMAPPED_FIELDS = frozenset({"currency", "category", "brand"})
"""Product fields no item parameter takes (yet): an update of only these sends nothing.
(``images``: the first becomes ``pic_path`` once the adapter has put it in the picture
space; the others are not sent yet.)"""


def taobao_length(text: str) -> int:
    """A title's length as Taobao counts it: a character outside ASCII (a Chinese
    character, a full-width sign) counts two, as in GBK bytes."""
    return sum(1 if ord(char) < 128 else 2 for char in text)


def product_constraints(product: Product) -> list[tuple[str, str, str]]:
    """What Taobao would refuse in ``product``, as ``(field, value, message)``; empty if none.

    ``field`` is the product field, or ``attr:KEY`` for an attribute; the catalog turns it
    into the file's column for the row error.
    """
    problems: list[tuple[str, str, str]] = []
    length = taobao_length(product.title)
    if length > MAX_TITLE:
        problems.append(
            (
                "title",
                product.title,
                N_(
                    "is {length} characters as Taobao counts them (a Chinese character counts "
                    "two); Taobao allows at most {limit}"
                ).format(length=length, limit=MAX_TITLE),
            )
        )
    cid = _taobao_field(product, "cid")
    if not cid:
        problems.append(
            (f"attr:{CID}", "", N_("Taobao needs the item's leaf category id (taobao:cid)"))
        )
    elif not cid.isdigit():
        problems.append((f"attr:{CID}", cid, N_("must be a Taobao category id (digits)")))
    if len(product.sku) > MAX_OUTER_ID:
        problems.append(
            (
                "sku",
                product.sku,
                N_("Taobao's outer_id holds at most {limit} characters").format(limit=MAX_OUTER_ID),
            )
        )
    if product.description is not None and len(product.description) > MAX_DESC:
        problems.append(
            (
                "description",
                "",
                N_("Taobao's desc holds at most {limit} characters").format(limit=MAX_DESC),
            )
        )
    if product.stock > 999_999:
        problems.append(("stock", str(product.stock), N_("Taobao's quantity is at most 999999")))
    if has_skus(product):
        for variant in product.variants:
            for name in product.options:
                value = variant.option_values.get(name, "")
                # pid:vid as Taobao names it, or a value's name (黑色), which the connected
                # adapter looks up in the category's properties (taobao.itemprops.get).
                if not value.strip() or (":" in value and not PROPERTY_ID.match(value)):
                    problems.append(
                        (
                            f"option:{name}",
                            value,
                            N_(
                                "Taobao names a SKU's option values by the category's property "
                                "ids, pid:vid (taobao.itemprops.get), e.g. 1627207:28341, or by "
                                "the value's name in the category (黑色)"
                            ),
                        )
                    )
    return problems


PROPERTY_ID = re.compile(r"^\d+:\d+$")
"""A SKU's option value as Taobao names it: ``pid:vid`` of the category's sale property."""


def has_skus(product: Product) -> bool:
    """Whether ``product`` is an item with SKUs: it has options (颜色, 尺码...). A handle
    alone, without options, is one item without SKUs, as a single-variant product is."""
    return bool(product.variants) and bool(product.options)


def item_outer_id(product: Product) -> str:
    """The item's 商家编码: the handle of a product with SKUs, else the (one) SKU."""
    return product.handle if has_skus(product) and product.handle else product.sku


@dataclass(frozen=True)
class SaleProperty:
    """One of a category's sale properties (颜色分类, 尺码): its id, name and values."""

    pid: str
    name: str
    values: Mapping[str, str]
    """value name → vid"""

    @classmethod
    def of(cls, prop: Mapping[str, Any]) -> SaleProperty:
        """From an ``item_prop`` of ``taobao.itemprops.get``'s answer."""
        listed = prop.get("prop_values")
        values = listed.get("prop_value") if isinstance(listed, Mapping) else None
        return cls(
            pid=str(prop.get("pid", "")),
            name=str(prop.get("name", "")),
            values={
                str(v.get("name")): str(v.get("vid"))
                for v in values or []
                if isinstance(v, Mapping) and v.get("name") and v.get("vid") is not None
            },
        )


PropertyResolver = Callable[[Product, str, str], str]
"""``(product, option name, value name) → "pid:vid"`` in the product's category."""


def sku_properties(
    product: Product, variant: Variant, resolve: PropertyResolver | None = None
) -> str:
    """A variant's ``properties``: its option values as ``pid:vid`` in option order (a
    value given by name, such as 颜色=黑色, through ``resolve``)."""
    values = []
    for name in product.options:
        value = variant.option_values.get(name, "")
        if resolve is not None and not PROPERTY_ID.match(value):
            value = resolve(product, name, value)
        values.append(value)
    return ";".join(values)


def variant_skus(
    product: Product,
    variants: Sequence[Variant] | None = None,
    resolve: PropertyResolver | None = None,
) -> dict[str, str]:
    """The ``sku_*`` parameters of ``variants`` (default: all of ``product``'s)."""
    chosen = product.variants if variants is None else variants
    return sku_params(
        [(sku_properties(product, v, resolve), v.stock, v.price, v.sku) for v in chosen]
    )


def _price(value: Decimal) -> str:
    return f"{value:.2f}"


def _description(product: Product) -> str:
    # desc is required, 5 to 25,000 characters: the title stands in for a missing one.
    text = product.description or product.title
    return text if len(text) >= MIN_DESC else text.ljust(MIN_DESC, "\u3000")


def category_of(product: Product) -> str | None:
    """The product's Taobao leaf category id (``taobao:cid``), if it names one."""
    return _taobao_field(product, "cid")


def taobao_field(product: Product, name: str) -> str | None:
    """The product's ``taobao:NAME`` (or ``attr:taobao:NAME``) cell, if not empty."""
    return _taobao_field(product, name)


def _taobao_field(product: Product, name: str) -> str | None:
    """A Taobao field: a ``taobao:NAME`` column, or an ``attr:taobao:NAME`` one."""
    value = product.fields_for("taobao").get(name)
    if value is None or value == "":
        value = product.attributes.get(PREFIX + name)
    return None if value is None or value == "" else str(value)


def _attribute_params(product: Product) -> dict[str, str]:
    params: dict[str, str] = {}
    for name in ("cid", "props"):
        value = _taobao_field(product, name)
        if value:
            params[name] = value
    for key, name in _PASSED_THROUGH.items():
        value = _taobao_field(product, key.removeprefix(PREFIX))
        if value:
            params[name] = value
    return params


def _field_params(product: Product, field: str) -> dict[str, str]:  # noqa: PLR0911 - one return per field
    if field == "title":
        return {"title": product.title}
    if field == "price":
        return {"price": _price(product.price)}
    if field == "stock":
        return {"num": str(product.stock)}
    if field == "description":
        return {"desc": _description(product)}
    if field == "barcode" and product.barcode:
        return {"barcode": product.barcode}
    if field == "weight_kg" and product.weight_kg is not None:
        return {"item_weight": str(product.weight_kg)}
    if field == "status":
        return {"approve_status": "onsale" if product.status == "active" else "instock"}
    if field == "attributes":
        return _attribute_params(product)
    return {}


def add_params(product: Product, resolve: PropertyResolver | None = None) -> dict[str, str]:
    """The business parameters of ``taobao.item.add`` for ``product`` (``resolve``: option
    values given by name, see :func:`sku_properties`)."""
    params = {"type": "fixed", "stuff_status": "new", "outer_id": item_outer_id(product)}
    for field in ("title", "price", "stock", "description", "barcode", "weight_kg", "status"):
        params.update(_field_params(product, field))
    params.update(_attribute_params(product))
    if has_skus(product):
        # The item's quantity is its SKUs' added up; its price, their lowest.
        params.update(variant_skus(product, resolve=resolve))
        params["num"] = str(sum(v.stock for v in product.variants))
        params["price"] = _price(min(v.price for v in product.variants))
        params.pop("barcode", None)
    return params


def update_params(product: Product, fields: Iterable[str] | None) -> dict[str, str]:
    """The parameters of ``taobao.item.update`` that change ``fields`` (None: every field).

    Empty when none of ``fields`` has an item parameter: then nothing is sent.
    """
    names = _FIELD_PARAMS if fields is None else [f for f in fields if f in _FIELD_PARAMS]
    if has_skus(product):
        # An item with SKUs has its price, quantity and codes per SKU (see the adapter).
        names = [f for f in names if f not in ("price", "stock", "barcode", "weight_kg")]
    params: dict[str, str] = {}
    for field in names:
        params.update(_field_params(product, field))
    return params


def sku_params(variants: Sequence[tuple[str, int, Decimal, str]]) -> dict[str, str]:
    """``sku_*`` parameters for variants given as ``(properties, quantity, price, outer_id)``.

    ``properties`` is ``pid:vid;pid:vid`` (颜色 and 尺码 as the category's property ids).
    """
    return {
        "sku_properties": ",".join(v[0] for v in variants),
        "sku_quantities": ",".join(str(v[1]) for v in variants),
        "sku_prices": ",".join(_price(v[2]) for v in variants),
        "sku_outer_ids": ",".join(v[3] for v in variants),
    }


def product_fields(item: Mapping[str, Any]) -> dict[str, Any]:
    """An item as the planner compares products: the fields the item carries back."""
    fields: dict[str, Any] = {}
    if item.get("title") is not None:
        fields["title"] = item["title"]
    if item.get("price") is not None:
        fields["price"] = _price(Decimal(str(item["price"])))
    if item.get("num") is not None:
        fields["stock"] = int(item["num"])
    desc = item.get("desc")
    # A desc that is the title padded (what add_params sends for a product without a
    # description) stands for no description: comparing it would resend every item.
    if desc and desc.rstrip("\u3000") != item.get("title"):
        fields["description"] = desc
    attributes = {
        PREFIX + name: str(item[name])
        for name in ("cid", "props")
        if item.get(name) not in (None, "")
    }
    if attributes:
        fields["attributes"] = attributes
    if item.get("barcode"):
        fields["barcode"] = item["barcode"]
    if item.get("approve_status"):
        fields["status"] = "active" if item["approve_status"] == "onsale" else "draft"
    return fields
