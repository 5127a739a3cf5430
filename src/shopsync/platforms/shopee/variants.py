"""A product's variants as Shopee's tier variations and models (Variant-management.md).

A product with options becomes one item whose ``tier_variation`` lists each option (at
most :data:`MAX_TIERS`) with its values in the order the file first names them, and one
model per variant, placed by ``tier_index`` (the position of each of its values). Only the
first tier's options take images, and then every one of them needs one, so a variant's
``image`` is its first option value's image. Pure functions: no request, no state.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shopsync.domain.models import Product, Variant
from shopsync.i18n import N_

MAX_TIERS = 2
"""Variation levels an item may have ("up to two levels of specifications")."""
MAX_MODELS = 50
"""Models an item may have ("the total number of variants cannot exceed 50")."""


def has_models(product: Product) -> bool:
    """Whether ``product`` is an item with models: it has options. A handle alone, without
    options, is one item without models, as a single-variant product is."""
    return bool(product.variants) and bool(product.options)


def item_sku(product: Product) -> str:
    """The item's ``item_sku``: the handle of an item with models, else the (one) SKU."""
    return product.handle if has_models(product) and product.handle else product.sku


def variant_problems(product: Product) -> list[tuple[str, str, str]]:
    """Shopee's variation rules ``product`` breaks, as ``(field, value, message)``."""
    if not has_models(product):
        return []
    problems: list[tuple[str, str, str]] = []
    if len(product.options) > MAX_TIERS:
        problems.append(
            (
                "options",
                "|".join(product.options),
                N_("Shopee takes at most {limit} variation tiers (options)").format(
                    limit=MAX_TIERS
                ),
            )
        )
    if len(product.variants) > MAX_MODELS:
        problems.append(
            (
                "variants",
                str(len(product.variants)),
                N_("Shopee takes at most {limit} variants").format(limit=MAX_MODELS),
            )
        )
    images = [variant.image for variant in product.variants]
    if any(images) and not all(images):
        missing = next(v.sku for v in product.variants if not v.image)
        problems.append(
            (
                "variant_image",
                missing,
                N_("Shopee needs an image for every option of the first tier once one has one"),
            )
        )
    first = product.options[0]
    by_value: dict[str, str | None] = {}
    for variant in product.variants:
        value = variant.option_values.get(first, "")
        if value in by_value and by_value[value] != variant.image:
            problems.append(
                (
                    "variant_image",
                    variant.image or "",
                    N_(
                        "Shopee keeps one image per {option} ({value}): its variants must agree"
                    ).format(option=first, value=value),
                )
            )
            break
        by_value.setdefault(value, variant.image)
    return problems


@dataclass(frozen=True)
class RemoteModel:
    """A model as ``get_model_list`` answers it."""

    model_id: int
    sku: str
    tier_index: tuple[int, ...]
    price: str
    stock: int


def option_lists(
    options: Sequence[str],
    variants: Sequence[Variant],
    before: Sequence[Sequence[str]] = (),
) -> list[list[str]]:
    """Each tier's values: those of ``before`` still used, in their order, then new ones
    in the order ``variants`` first name them (an unchanged item keeps its order)."""
    lists: list[list[str]] = []
    for level, name in enumerate(options):
        used = list(dict.fromkeys(v.option_values.get(name, "") for v in variants))
        kept = [value for value in (before[level] if level < len(before) else ()) if value in used]
        lists.append([*kept, *(value for value in used if value not in kept)])
    return lists


def tier_variation(
    options: Sequence[str],
    values: Sequence[Sequence[str]],
    images: Mapping[str, str],
) -> list[dict[str, Any]]:
    """``tier_variation``: ``images`` by first-tier value (image ids) where there are."""
    tiers: list[dict[str, Any]] = []
    for level, (name, level_values) in enumerate(zip(options, values, strict=True)):
        option_list = []
        for value in level_values:
            option: dict[str, Any] = {"option": value}
            if level == 0 and value in images:
                option["image"] = {"image_id": images[value]}
            option_list.append(option)
        tiers.append({"name": name, "option_list": option_list})
    return tiers


def tier_index(
    options: Sequence[str], values: Sequence[Sequence[str]], variant: Variant
) -> list[int]:
    """The variant's position in each tier."""
    return [
        list(level_values).index(variant.option_values.get(name, ""))
        for name, level_values in zip(options, values, strict=True)
    ]


def first_tier_images(product: Product, image_id: Callable[[str], str]) -> dict[str, str]:
    """First-tier value → image id, from the variants' images (uploaded by ``image_id``)."""
    first = product.options[0]
    images: dict[str, str] = {}
    for variant in product.variants:
        value = variant.option_values.get(first, "")
        if variant.image and value not in images:
            images[value] = image_id(variant.image)
    return images


def remote_models(
    answer: Mapping[str, Any],
) -> tuple[list[str], list[list[str]], list[RemoteModel]]:
    """``get_model_list``'s answer as (tier names, each tier's values, models)."""
    tiers = [t for t in answer.get("tier_variation") or [] if isinstance(t, dict)]
    names = [str(t.get("name", "")) for t in tiers]
    values = [
        [str(o.get("option", "")) for o in t.get("option_list") or [] if isinstance(o, dict)]
        for t in tiers
    ]
    models = []
    for raw in answer.get("model") or []:
        if not isinstance(raw, dict):
            continue
        prices = raw.get("price_info") or [{}]
        stock = ((raw.get("stock_info_v2") or {}).get("summary_info") or {}).get(
            "total_available_stock", 0
        )
        models.append(
            RemoteModel(
                model_id=int(raw.get("model_id", 0)),
                sku=str(raw.get("model_sku") or ""),
                tier_index=tuple(int(i) for i in raw.get("tier_index") or []),
                price=str(prices[0].get("original_price", 0)),
                stock=int(stock or 0),
            )
        )
    return names, values, models


def tier_images(answer: Mapping[str, Any]) -> dict[str, str]:
    """First-tier value → image id, as ``get_model_list`` answers them."""
    tiers = answer.get("tier_variation") or []
    if not tiers or not isinstance(tiers[0], dict):
        return {}
    out: dict[str, str] = {}
    for option in tiers[0].get("option_list") or []:
        if isinstance(option, dict):
            image = (option.get("image") or {}).get("image_id")
            if image:
                out[str(option.get("option", ""))] = str(image)
    return out
