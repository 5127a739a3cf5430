"""Validation of request bodies against docs/platform-api.md §2 and §3.

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
UPDATE_FIELD_SET = PRODUCT_FIELD_SET | {"product_id"}
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
    for name in PRODUCT_FIELDS:
        if name not in data:
            if not partial and name in ("sku", "title", "price"):
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


def unknown_fields(data: Mapping[str, Any], allowed: frozenset[str]) -> list[FieldError]:
    """One error per key of ``data`` that is not in ``allowed``, in the client's order."""
    return [FieldError(key, "is not a known field") for key in data if key not in allowed]


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
