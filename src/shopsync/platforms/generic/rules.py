"""The generic API's own rules for a product (docs/platform-api.md §2), checked at plan time.

The catalog model (:class:`~shopsync.domain.models.Product`) holds what any catalog
means: types, a SKU, a title, a positive price, counts that are not negative. What the
generic API adds is here: SKUs of 1 to 64 letters, digits, ``.``, ``_`` and ``-``;
titles, categories, brands and barcodes of at most 255 characters; descriptions of at
most 20,000; at most 20 images, each an absolute ``https://`` URL naming a host (or a
local file, which this adapter uploads); at most 50 attributes; prices in cents.

:func:`product_problems` is a plain module function, so ``validate --jobs`` can hand it
to its worker processes; the messages are those the model's pydantic constraints gave
when these rules lived there, so rejects files read as they always did.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from shopsync.domain.images import parse_local_ref
from shopsync.domain.models import Product, Variant
from shopsync.i18n import N_

SKU = re.compile(r"[A-Za-z0-9._-]{1,64}")
"""1 to 64 characters of ``A-Z a-z 0-9 . _ -``."""
SKU_MESSAGE = N_("may hold only letters, digits, '.', '_' and '-' (1 to 64 characters, no spaces)")
MAX_TEXT = 255
MAX_DESCRIPTION = 20_000
MAX_IMAGES = 20
MAX_ATTRIBUTES = 50
PRICE_PLACES = 2

_PLAIN_HTTPS_URL = re.compile(r"https://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?:[/?#]\S*)?")
"""The common shape, a host name then a path: recognised without urlsplit(), which costs
five times more (checked per image of every row at plan time)."""

Problem = tuple[str, str] | tuple[str, str, str]


def product_problems(product: Product) -> list[Problem]:
    """The generic API's rules that ``product`` breaks, as ``(field[, value], message)``.

    Pure and fast (a few length checks and one match per SKU and image): it runs for
    every row of every file.
    """
    problems: list[Problem] = []
    if not product.variants:  # with variants, the product's own SKU and price are its first's
        if not SKU.fullmatch(product.sku):
            problems.append(("sku", SKU_MESSAGE))
        if _places(product.price) > PRICE_PLACES:
            problems.append(("price", _more_places()))
    if len(product.title) > MAX_TEXT:
        problems.append(("title", _longer(MAX_TEXT)))
    problems.extend(_image_problems(product.images))
    if product.description is not None and len(product.description) > MAX_DESCRIPTION:
        problems.append(("description", _longer(MAX_DESCRIPTION)))
    for name in ("category", "brand", "barcode"):
        value = getattr(product, name)
        if value is not None and len(value) > MAX_TEXT:
            problems.append((name, _longer(MAX_TEXT)))
    if len(product.attributes) > MAX_ATTRIBUTES:
        problems.append(
            ("attributes", N_("has more than {limit} entries").format(limit=MAX_ATTRIBUTES))
        )
    for variant in product.variants:
        problems.extend(_variant_problems(variant))
    return problems


def _longer(limit: int) -> str:
    # The wording pydantic's max_length gave when these rules lived in the model.
    return N_("is longer than {max_length} characters").format(max_length=limit)


def _more_places() -> str:
    return N_("has more than {decimal_places} decimal places").format(decimal_places=PRICE_PLACES)


def _variant_problems(variant: Variant) -> list[Problem]:
    problems: list[Problem] = []
    if not SKU.fullmatch(variant.sku):
        problems.append(("sku", variant.sku, SKU_MESSAGE))
    for name in ("price", "compare_at_price"):
        price = getattr(variant, name)
        if price is not None and _places(price) > PRICE_PLACES:
            problems.append(
                (
                    name,
                    str(price),
                    N_("{problem} ({sku})").format(problem=_more_places(), sku=variant.sku),
                )
            )
    if variant.barcode is not None and len(variant.barcode) > MAX_TEXT:
        problems.append(
            (
                "barcode",
                variant.barcode,
                N_("{problem} ({sku})").format(problem=_longer(MAX_TEXT), sku=variant.sku),
            )
        )
    return problems


def _image_problems(images: list[str]) -> list[Problem]:
    if not images:
        return []
    if len(images) > MAX_IMAGES:
        return [("images", N_("has more than {limit} images").format(limit=MAX_IMAGES))]
    for url in images:
        if parse_local_ref(url) is not None:
            continue  # a checked local file: uploaded by this adapter, not a URL
        if not url.startswith("https://"):
            return [
                ("images", N_("image {url} is not an absolute https:// URL").format(url=repr(url)))
            ]
        if not _names_a_host(url):
            return [
                (
                    "images",
                    N_("{url} is not an absolute https:// URL with a host name").format(url=url),
                )
            ]

    return []


def _places(amount: Decimal) -> int:
    """Decimal places of a normalised amount (the model strips trailing zeros past cents)."""
    exponent = amount.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _names_a_host(url: str) -> bool:
    """Whether an ``https://`` URL names a host and, if it has one, a port in range, as
    the API requires of every image."""
    if _PLAIN_HTTPS_URL.fullmatch(url):
        return True
    try:
        parts = urlsplit(url)
        _ = parts.port  # reading it checks that a port is a number in range
    except ValueError:
        return False
    return bool(parts.hostname)


def json_schema(document: dict[str, Any]) -> dict[str, Any]:
    """The catalog model's JSON Schema (``Product.model_json_schema()``) with these rules
    added, for ``shopsync schema``: the shape a row needs to reach the generic API."""
    properties = document.get("properties", {})
    limits: dict[str, dict[str, Any]] = {
        "sku": {"pattern": f"^{SKU.pattern}$"},
        "title": {"maxLength": MAX_TEXT},
        "price": {"multipleOf": "0.01"},
        "images": {"maxItems": MAX_IMAGES},
        "description": {"maxLength": MAX_DESCRIPTION},
        "category": {"maxLength": MAX_TEXT},
        "brand": {"maxLength": MAX_TEXT},
        "barcode": {"maxLength": MAX_TEXT},
        "attributes": {"maxProperties": MAX_ATTRIBUTES},
    }
    for name, limit in limits.items():
        field = properties.get(name)
        if not isinstance(field, dict):
            continue
        # An optional field is anyOf [its type, null]: the limit belongs to its type.
        branches = [branch for branch in field.get("anyOf", []) if branch.get("type") != "null"]
        (branches[0] if branches else field).update(limit)
    return document
