"""From a record's cells to the data a model validates, and from a model's errors back to
messages naming the seller's column: the part of validation worker processes share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shopsync.domain.models import (
    FieldError,
)
from shopsync.io.writers import GUARDED_STARTS

_MESSAGES: dict[str, str] = {
    "missing": "is required",
    "string_too_short": "must not be empty",
    "string_too_long": "is longer than {max_length} characters",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "decimal_max_places": "has more than {decimal_places} decimal places",
    "decimal_parsing": "is not a number",
    "decimal_type": "is not a number",
    "int_parsing": "is not a whole number",
    "int_from_float": "is not a whole number",
    "int_type": "is not a whole number",
    "finite_number": "is not a finite number",
    "literal_error": "must be one of {expected}",
    "too_long": "has more than {max_length} entries",
    "string_type": "must be text",
    "list_type": "must be a list (or one cell separated by |)",
    "dict_type": "must be an object of names to values",
}


_FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("sku", "string_pattern_mismatch"): "may hold only letters, digits, '.', '_' and '-' "
    "(1 to 64 characters, no spaces)",
    ("currency", "string_pattern_mismatch"): "must be a three-letter ISO 4217 code such as "
    "CNY or EUR",
    ("images", "string_pattern_mismatch"): "image {input!r} is not an absolute https:// URL",
    ("images", "too_long"): "has more than {max_length} images",
}


_DECIMAL_COMMA_FIELDS = ("price", "weight_kg")


_DECIMAL_COMMA = re.compile(r"^[+-]?(?:\d{1,3}(?:\.\d{3})+|\d+)(?:,\d+)?$")


def from_decimal_comma(value: str) -> str:
    """``1.299,00`` → ``1299.00``; values not written that way are returned unchanged.

    Only numbers that are unambiguous in the decimal-comma convention are converted:
    digits with ``.`` between groups of three, and at most one ``,`` before the decimals.
    ``49.90`` is left alone (not a thousands group), so a file that mixes styles still
    reads as the seller meant.
    """
    stripped = value.strip()
    if _DECIMAL_COMMA.match(stripped) and ("," in stripped or stripped.count(".") >= 1):
        return stripped.replace(".", "").replace(",", ".")
    return value


def unescape_formula(value: str) -> str:
    """Undo the ``'`` that shopsync's writers put before formula-like cells (and before ``'``)."""
    if len(value) > 1 and value[0] == "'" and value[1] in GUARDED_STARTS:
        return value[1:]
    return value


def cells_to_data(
    fields: Sequence[tuple[int, str]],
    attributes: Sequence[tuple[int, str]],
    decimal_comma: bool,
    cells: list[str],
) -> dict[str, Any]:
    """A CSV row's cells as the record's field values, ready for the model.

    ``fields`` and ``attributes`` are ``(cell index, name)`` pairs worked out once per
    file from its header. The hot loop of every command: comprehensions over those
    indexes, no per-row dict of the whole row. Empty and blank cells are left out, so
    that defaults apply and a missing required value reads "is required".
    """
    width = len(cells)
    data: dict[str, Any] = {
        target: value if value[0] != "'" else unescape_formula(value)
        for index, target in fields
        if index < width and (value := cells[index]) and not value.isspace()
    }
    if attributes:
        found = {
            key: value if value[0] != "'" else unescape_formula(value)
            for index, key in attributes
            if index < width and (value := cells[index]) and not value.isspace()
        }
        if found:
            data["attributes"] = found
    if decimal_comma:
        for name in _DECIMAL_COMMA_FIELDS:
            if name in data:
                data[name] = from_decimal_comma(data[name])
    return data


def describe(error: ErrorDetails) -> str:
    """A plain sentence for one pydantic error, without pydantic's jargon."""
    kind = error["type"]
    field_name = str(error["loc"][0]) if error["loc"] else ""
    context = error.get("ctx", {})
    if kind == "value_error" and "error" in context:
        return str(context["error"])
    template = _FIELD_MESSAGES.get((field_name, kind)) or _MESSAGES.get(kind)
    if template is None:
        return error["msg"]
    try:
        return template.format(**context, input=error.get("input"))
    except (KeyError, IndexError):
        return error["msg"]


def _field_errors(
    error: ValidationError, sources: Mapping[str, str], data: Mapping[str, Any]
) -> Iterator[FieldError]:
    for detail in error.errors(include_url=False):
        location = detail["loc"]
        name = str(location[0]) if location else ""
        if name == "attributes" and len(location) > 1:
            column = f"attr:{location[1]}"
        else:
            column = sources.get(name, name)
        value = data.get(name, "") if detail["type"] != "missing" else ""
        yield FieldError(column, _shorten(value), describe(detail))


def _shorten(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
