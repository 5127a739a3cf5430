"""Validation of request bodies against docs/platform-api.md §2, §2a (variants) and §3.

Two kinds of problem are told apart, because the contract treats them differently:

* a *structural* problem (an unknown field, a batch that is not an array, an item that is not
  an object) means the client speaks another version of the API; the whole request is
  refused with 422 and nothing is stored;
* a *value* problem in one batch item (a price with three decimals) is that item's error:
  items are independent, so the other items are still processed.

For the single-product endpoints both kinds are a 422 naming every field path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

SKU_RE = re.compile(r"[A-Za-z0-9._-]{1,64}")
CURRENCY_RE = re.compile(r"[A-Z]{3}")
_DECIMAL_RE = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

MAX_TITLE = 255
MAX_SHORT_TEXT = 255
MAX_DESCRIPTION = 20_000
MAX_IMAGES = 20
MAX_ATTRIBUTES = 50
MAX_INTEGER = 2**53 - 1
"""Largest stock or delta: the largest integer every JSON parser holds exactly (RFC 7493)."""
MAX_WHOLE_DIGITS = 18
"""Decimals (price, weight) are below 10**18: the contract sets no bound; this keeps answers
small whatever exponent a client sends (``1e999999`` is valid JSON)."""
MAX_WEIGHT_PLACES = 20

PRODUCT_FIELDS: tuple[str, ...] = (
    "sku",
    "title",
    "price",
    "currency",
    "stock",
    "images",
    "description",
    "category",
    "brand",
    "barcode",
    "weight_kg",
    "status",
    "attributes",
)
PRODUCT_FIELD_SET = frozenset(PRODUCT_FIELDS)
VARIANT_PRODUCT_FIELDS: tuple[str, ...] = ("handle", "options", "variants")
"""What API v2 adds to a product (§2a); a v1 product has none of them."""
VARIANT_FIELDS: tuple[str, ...] = (
    "sku",
    "option_values",
    "price",
    "compare_at_price",
    "stock",
    "barcode",
    "weight_kg",
    "image",
)
VARIANT_FIELD_SET = frozenset(VARIANT_FIELDS)
PER_VARIANT_FIELDS = frozenset({"sku", "price", "stock", "barcode", "weight_kg"})
"""A v1 product's fields that a product with variants has per variant instead."""
CREATE_FIELD_SET = PRODUCT_FIELD_SET | set(VARIANT_PRODUCT_FIELDS)
UPDATE_FIELD_SET = CREATE_FIELD_SET | {"product_id", "remove_variants"}
PATCH_FIELD_SET = CREATE_FIELD_SET | {"remove_variants"}
MAX_VARIANTS = 100
MAX_OPTIONS = 10
MAX_OPTION_NAME = 64
MAX_IMAGE_REF = 2048
INVENTORY_FIELD_SET = frozenset({"sku", "stock", "delta", "expected"})
NULLABLE_FIELDS = frozenset({"description", "category", "brand", "barcode", "weight_kg"})
"""Optional fields without a default: ``null`` means "not set" (and clears them in a PATCH)."""

DEFAULTS: dict[str, Any] = {
    "currency": "CNY",
    "stock": 0,
    "images": [],
    "description": None,
    "category": None,
    "brand": None,
    "barcode": None,
    "weight_kg": None,
    "status": "active",
    "attributes": {},
}


@dataclass(frozen=True)
class FieldError:
    """One problem with one field: ``field`` is a path such as ``create[3].price``."""

    field: str
    message: str

    def prefixed(self, prefix: str) -> FieldError:
        """The same error with its path under ``prefix`` (``create[3]``)."""
        if not prefix:
            return self
        joiner = "" if self.field.startswith("[") else "."
        return FieldError(f"{prefix}{joiner}{self.field}", self.message)

    def as_dict(self) -> dict[str, str]:
        """The ``{"field", "message"}`` member of a problem's ``errors``."""
        return {"field": self.field, "message": self.message}


def type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


class _Invalid(Exception):
    """A value problem found by a field checker: ``(sub-path or None, message)`` pairs."""

    def __init__(self, message: str, *, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or [("", message)]


def _decimal_parts(value: object, *, positive: bool, max_places: int) -> tuple[str, str]:
    """The whole and fractional digits of a decimal, without redundant zeros."""
    if isinstance(value, float):
        # The server parses JSON numbers as Decimal; a float comes from Python callers, and
        # its repr is the shortest text that reads back as the same float.
        value = Decimal(repr(value))
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise _Invalid(f"must be a decimal number or a string holding one, not {type_name(value)}")
    if isinstance(value, str):
        match = _DECIMAL_RE.fullmatch(value)
        if match is None:
            if value.startswith("-") and _DECIMAL_RE.fullmatch(value[1:]):
                raise _Invalid(_sign_message(positive))
            raise _Invalid('must be a plain decimal such as "12.50"')
        return match.group(1).lstrip("0"), (match.group(2) or "").rstrip("0")
    number = Decimal(value)
    if not number.is_finite():
        raise _Invalid("must be a finite number")
    if number < 0:
        raise _Invalid(_sign_message(positive))
    if number == 0:
        return "", ""
    # Checked before formatting: 1e999999 is valid JSON and would format to a million digits.
    if number.adjusted() >= MAX_WHOLE_DIGITS:
        raise _Invalid(f"must be less than 10^{MAX_WHOLE_DIGITS}")
    if -int(number.normalize().as_tuple().exponent) > max_places:
        raise _Invalid(_places_message(max_places))
    whole, _, frac = format(number.normalize(), "f").partition(".")
    return whole.lstrip("0"), frac.rstrip("0")


def parse_decimal(
    value: object, *, max_places: int, positive: bool
) -> tuple[str | None, str | None]:
    """A JSON number or decimal string as canonical text, or the reason it is not one.

    Returns ``(text, None)`` or ``(None, message)``. The text has no exponent, no leading
    zeros and no trailing fractional zeros; callers pad it as they answer it.
    """
    try:
        return _canonical_decimal(value, max_places=max_places, positive=positive), None
    except _Invalid as exc:
        return None, str(exc)


def _canonical_decimal(value: object, *, max_places: int, positive: bool) -> str:
    whole, frac = _decimal_parts(value, positive=positive, max_places=max_places)
    if len(whole) > MAX_WHOLE_DIGITS:
        raise _Invalid(f"must be less than 10^{MAX_WHOLE_DIGITS}")
    if len(frac) > max_places:
        raise _Invalid(_places_message(max_places))
    if positive and not whole and not frac:
        raise _Invalid("must be greater than 0")
    return (whole or "0") + ("." + frac if frac else "")


def _sign_message(positive: bool) -> str:
    return "must be greater than 0" if positive else "must not be negative"


def _places_message(places: int) -> str:
    return f"must have at most {places} decimal places"


def money(text: str) -> str:
    """Canonical decimal text padded to two places, as prices are answered: ``"3999.00"``."""
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def parse_integer(value: object, *, minimum: int | None) -> tuple[int | None, str | None]:
    """A JSON integer within the bounds, or the reason it is not one."""
    if isinstance(value, bool) or not isinstance(value, int):
        return None, f"must be an integer, not {type_name(value)}"
    if minimum is not None and value < minimum:
        return None, f"must be at least {minimum}"
    if abs(value) > MAX_INTEGER:
        return None, f"must be at most {MAX_INTEGER} in size"
    return value, None


def _text(value: object, *, limit: int, trim: bool = False) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, not {type_name(value)}")
    text = value.strip() if trim else value
    if len(text) > limit:
        raise _Invalid(f"must be at most {limit} characters long")
    return text


_PLAIN_HTTPS_URL = re.compile(r"https://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?:[/?#][^\s]*)?")
"""A common shape that the full check below accepts, recognised without urlsplit()."""


def _is_https_url(value: str) -> bool:
    if _PLAIN_HTTPS_URL.fullmatch(value):
        return True
    if any(ch.isspace() for ch in value):
        return False
    try:
        parts = urlsplit(value)
        # Reading .port checks that a port, if any, is a number in range.
        _ = parts.port
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


_SKU_MESSAGE = "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'"


def _check_sku(value: object) -> str:
    if not isinstance(value, str):
        raise _Invalid(f"must be a string, not {type_name(value)}")
    if not SKU_RE.fullmatch(value):
        raise _Invalid(_SKU_MESSAGE)
    return value


def _check_title(value: object) -> str:
    text = _text(value, limit=MAX_TITLE, trim=True)
    if not text:
        raise _Invalid("must not be empty")
    return text


def _check_price(value: object) -> str:
    return money(_canonical_decimal(value, max_places=2, positive=True))


def _check_weight(value: object) -> str:
    return _canonical_decimal(value, max_places=MAX_WEIGHT_PLACES, positive=False)


def _check_currency(value: object) -> str:
    if not isinstance(value, str) or not CURRENCY_RE.fullmatch(value):
        raise _Invalid("must be an ISO 4217 code of three capital letters, such as CNY")
    return value


def _check_stock(value: object) -> int:
    number, problem = parse_integer(value, minimum=0)
    if number is None:
        raise _Invalid(problem or "is invalid")
    return number


def _check_status(value: object) -> str:
    if value not in ("active", "draft"):
        raise _Invalid('must be "active" or "draft"')
    return str(value)


def _check_images(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"must be an array, not {type_name(value)}")
    if len(value) > MAX_IMAGES:
        raise _Invalid(f"must hold at most {MAX_IMAGES} URLs")
    problems = [
        (f"[{index}]", "must be an absolute https:// URL")
        for index, url in enumerate(value)
        if not isinstance(url, str) or not _is_https_url(url)
    ]
    if problems:
        raise _Invalid(problems[0][1], problems=problems)
    return list(value)


def _check_attributes(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"must be an object, not {type_name(value)}")
    if len(value) > MAX_ATTRIBUTES:
        raise _Invalid(f"must hold at most {MAX_ATTRIBUTES} entries")
    problems = [
        (f".{key}", f"must be a string, not {type_name(item)}")
        for key, item in value.items()
        if not isinstance(item, str)
    ]
    if problems:
        raise _Invalid(problems[0][1], problems=problems)
    return dict(value)


def _check_short_text(value: object) -> str:
    return _text(value, limit=MAX_SHORT_TEXT)


def _check_description(value: object) -> str:
    return _text(value, limit=MAX_DESCRIPTION)


_CHECKERS: dict[str, Callable[[object], Any]] = {
    "sku": _check_sku,
    "title": _check_title,
    "price": _check_price,
    "currency": _check_currency,
    "stock": _check_stock,
    "images": _check_images,
    "description": _check_description,
    "category": _check_short_text,
    "brand": _check_short_text,
    "barcode": _check_short_text,
    "weight_kg": _check_weight,
    "status": _check_status,
    "attributes": _check_attributes,
}


def validate_product_values(
    data: Mapping[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check and normalize the product fields present in ``data`` (unknown keys are skipped).

    With ``partial=False`` (a create) the required fields must be there and defaults fill
    the rest; with ``partial=True`` (an update) only the given fields are returned, and
    ``null`` on a nullable field means "clear it".
    """
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    # A product with variants has its SKUs and prices per variant (§2a).
    required = ("title",) if "variants" in data else ("sku", "title", "price")
    for name in PRODUCT_FIELDS:
        if name not in data:
            if not partial and name in required:
                errors.append(FieldError(name, "is required"))
            continue
        value = data[name]
        if value is None:
            if name in NULLABLE_FIELDS:
                out[name] = None
            else:
                errors.append(FieldError(name, "must not be null"))
            continue
        try:
            out[name] = _CHECKERS[name](value)
        except _Invalid as exc:
            errors.extend(FieldError(name + sub, message) for sub, message in exc.problems)
    if not partial:
        for name, default in DEFAULTS.items():
            if name not in out and data.get(name) is None:
                out[name] = default.copy() if isinstance(default, (list, dict)) else default
    return out, errors


def _check_handle(value: object) -> str:
    text = _text(value, limit=MAX_SHORT_TEXT, trim=True)
    if not text or any(ch.isspace() for ch in text):
        raise _Invalid("must be 1 to 255 characters without white space")
    return text


def _check_options(value: object) -> list[str]:
    if not isinstance(value, list):
        raise _Invalid(f"must be an array, not {type_name(value)}")
    if len(value) > MAX_OPTIONS:
        raise _Invalid(f"must name at most {MAX_OPTIONS} options")
    names: list[str] = []
    problems: list[tuple[str, str]] = []
    for index, name in enumerate(value):
        if not isinstance(name, str) or not 1 <= len(name.strip()) <= MAX_OPTION_NAME:
            problems.append((f"[{index}]", f"must be a name of 1 to {MAX_OPTION_NAME} characters"))
        elif name.strip() in names:
            problems.append((f"[{index}]", f"names the option {name.strip()!r} twice"))
        else:
            names.append(name.strip())
    if problems:
        raise _Invalid(problems[0][1], problems=problems)
    return names


def _check_option_values(value: object) -> dict[str, str]:
    if not isinstance(value, dict):
        raise _Invalid(f"must be an object, not {type_name(value)}")
    out: dict[str, str] = {}
    problems: list[tuple[str, str]] = []
    for name, item in value.items():
        if not isinstance(item, str) or not 1 <= len(item.strip()) <= MAX_SHORT_TEXT:
            problems.append((f".{name}", "must be a string of 1 to 255 characters"))
        else:
            out[name.strip()] = item.strip()
    if problems:
        raise _Invalid(problems[0][1], problems=problems)
    return out


def _check_image_ref(value: object) -> str:
    return _text(value, limit=MAX_IMAGE_REF, trim=True)


_VARIANT_CHECKERS: dict[str, Callable[[object], Any]] = {
    "sku": _check_sku,
    "option_values": _check_option_values,
    "price": _check_price,
    "compare_at_price": _check_price,
    "stock": _check_stock,
    "barcode": _check_short_text,
    "weight_kg": _check_weight,
    "image": _check_image_ref,
}
_VARIANT_DEFAULTS: dict[str, Any] = {
    "option_values": {},
    "compare_at_price": None,
    "stock": 0,
    "barcode": None,
    "weight_kg": None,
    "image": None,
}


NULLABLE_VARIANT_FIELDS = frozenset({"compare_at_price", "barcode", "weight_kg", "image"})


def variant_defaults() -> dict[str, Any]:
    """What a new variant has for the fields it is not given."""
    return {k: v.copy() if isinstance(v, dict) else v for k, v in _VARIANT_DEFAULTS.items()}


def validate_variant(
    data: Mapping[str, Any], *, partial: bool = False
) -> tuple[dict[str, Any], list[FieldError]]:
    """One variant (§2a), its given fields checked and normalized.

    In a create (``partial=False``) the variant is whole: ``sku`` and ``price`` are
    required and defaults fill the rest. In an update only ``sku`` is required and only
    the given fields are returned, ``null`` clearing a nullable one; whether a new
    variant has its price is for the app to tell, which knows the stored ones.
    """
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in VARIANT_FIELDS:
        value = data.get(name)
        if value is None:
            if name == "sku" or (name == "price" and not partial):
                errors.append(FieldError(name, "is required"))
            elif not partial:
                out[name] = variant_defaults()[name]
            elif name in data:
                if name in NULLABLE_VARIANT_FIELDS:
                    out[name] = None
                else:
                    errors.append(FieldError(name, "must not be null"))
            continue
        try:
            out[name] = _VARIANT_CHECKERS[name](value)
        except _Invalid as exc:
            errors.extend(FieldError(name + sub, message) for sub, message in exc.problems)
    return out, errors


def validate_variant_values(
    data: Mapping[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[FieldError]]:
    """Check the v2 fields of a product (``handle``, ``options``, ``variants`` and, in an
    update, ``remove_variants``); unknown keys were refused before.

    With ``partial=False`` (a create) a product with ``variants`` needs a ``handle`` and
    no product-level ``sku``, ``price``, ``stock``, ``barcode`` or ``weight_kg``; each
    variant has one value for each option. In an update the options and variants are
    checked against the stored product when it is applied (see the app).
    """
    out: dict[str, Any] = {}
    errors: list[FieldError] = []
    has_variants = "variants" in data
    if not partial and not has_variants:
        errors.extend(
            FieldError(name, "is only taken with variants")
            for name in ("handle", "options")
            if name in data
        )
        return out, errors
    if has_variants:
        errors.extend(per_variant_errors(data))
        variants, problems = _check_variants(data["variants"], partial=partial)
        errors.extend(problems)
        if variants is not None:
            out["variants"] = variants
    if "handle" not in data and not partial:
        errors.append(FieldError("handle", "is required with variants"))
    for name, check in (("handle", _check_handle), ("options", _check_options)):
        try:
            if name in data:
                out[name] = check(data[name])
        except _Invalid as exc:
            errors.extend(FieldError(name + sub, message) for sub, message in exc.problems)
    if not partial:
        out.setdefault("options", [])
    if "remove_variants" in data:
        removals = _check_removals(data["remove_variants"])
        if removals is None:
            errors.append(FieldError("remove_variants", "must be an array of SKUs"))
        else:
            out["remove_variants"] = removals
    if not errors and not partial and "variants" in out:
        # An update's variants are checked once merged with the stored ones (the app).
        errors.extend(variant_agreement(out["options"], out["variants"]))
    return out, errors


def per_variant_errors(data: Mapping[str, Any]) -> list[FieldError]:
    """A product with variants has no ``sku``, ``price``, ``stock``... of its own."""
    return [
        FieldError(name, "is given per variant in a product with variants")
        for name in PER_VARIANT_FIELDS
        if name in data
    ]


def _check_removals(value: object) -> list[str] | None:
    if not isinstance(value, list) or not all(
        isinstance(sku, str) and SKU_RE.fullmatch(sku) for sku in value
    ):
        return None
    return list(dict.fromkeys(value))


def _check_variants(
    value: object, *, partial: bool
) -> tuple[list[dict[str, Any]] | None, list[FieldError]]:
    if not isinstance(value, list):
        return None, [FieldError("variants", f"must be an array, not {type_name(value)}")]
    if not value and not partial:
        return None, [FieldError("variants", "must hold at least one variant")]
    if len(value) > MAX_VARIANTS:
        return None, [FieldError("variants", f"must hold at most {MAX_VARIANTS} variants")]
    variants: list[dict[str, Any]] = []
    errors: list[FieldError] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            continue  # refused as a structural problem (unknown_fields)
        variant, problems = validate_variant(item, partial=partial)
        errors.extend(p.prefixed(f"variants[{index}]") for p in problems)
        variants.append(variant)
    return (None if errors else variants), errors


def variant_agreement(options: list[str], variants: list[dict[str, Any]]) -> list[FieldError]:
    """Each variant has one value per option and no other; SKUs and option values differ."""
    errors: list[FieldError] = []
    skus: dict[str, int] = {}
    combos: dict[tuple[str, ...], int] = {}
    wanted = set(options)
    for index, variant in enumerate(variants):
        path = f"variants[{index}]"
        values = variant["option_values"]
        missing = [name for name in options if name not in values]
        extra = [name for name in values if name not in wanted]
        if missing:
            errors.append(
                FieldError(f"{path}.option_values", "has no value for " + ", ".join(missing))
            )
        if extra:
            errors.append(
                FieldError(f"{path}.option_values", "names unknown options " + ", ".join(extra))
            )
        if variant["sku"] in skus:
            errors.append(
                FieldError(f"{path}.sku", f"is also the SKU of variants[{skus[variant['sku']]}]")
            )
        skus.setdefault(variant["sku"], index)
        combo = tuple(values.get(name, "") for name in options)
        if not missing and not extra and combo in combos:
            errors.append(
                FieldError(
                    f"{path}.option_values",
                    f"are the option values of variants[{combos[combo]}]",
                )
            )
        combos.setdefault(combo, index)
    return errors


def unknown_fields(data: Mapping[str, Any], allowed: frozenset[str]) -> list[FieldError]:
    """One error per key of ``data`` that is not in ``allowed``, in the client's order.

    The variants of a product (§2a) are checked too: each must be an object of known
    fields (a client that sends others speaks another version of the API).
    """
    errors = [FieldError(key, "is not a known field") for key in data if key not in allowed]
    variants = data.get("variants") if "variants" in allowed else None
    if isinstance(variants, list):
        for index, variant in enumerate(variants):
            path = f"variants[{index}]"
            if not isinstance(variant, dict):
                errors.append(FieldError(path, "must be an object"))
                continue
            errors.extend(
                FieldError(f"{path}.{key}", "is not a known field")
                for key in variant
                if key not in VARIANT_FIELD_SET
            )
    return errors


@dataclass(frozen=True)
class StockChange:
    """One valid item of ``POST /inventory/batch``: exactly one of ``stock`` and ``delta``."""

    sku: str
    stock: int | None
    delta: int | None
    expected: int | None


def validate_stock_update(data: Mapping[str, Any]) -> tuple[StockChange | None, list[FieldError]]:
    """Check one inventory item's values (its keys were checked by :func:`unknown_fields`)."""
    errors: list[FieldError] = []
    sku = data.get("sku")
    if sku is None:
        errors.append(FieldError("sku", "is required"))
    elif not isinstance(sku, str) or not SKU_RE.fullmatch(sku):
        errors.append(
            FieldError("sku", "must be 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")
        )
    values: dict[str, int | None] = {}
    for name, minimum in (("stock", 0), ("delta", None), ("expected", 0)):
        raw = data.get(name)
        if raw is None:
            values[name] = None
            continue
        number, problem = parse_integer(raw, minimum=minimum)
        if problem is not None:
            errors.append(FieldError(name, problem))
        values[name] = number
    if data.get("stock") is None and data.get("delta") is None:
        errors.append(FieldError("stock", 'one of "stock" and "delta" is required'))
    elif data.get("stock") is not None and data.get("delta") is not None:
        errors.append(FieldError("delta", 'give "stock" or "delta", not both'))
    if errors:
        return None, errors
    assert isinstance(sku, str)
    return StockChange(sku, values["stock"], values["delta"], values["expected"]), []
