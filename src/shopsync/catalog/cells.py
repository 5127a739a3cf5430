"""From a record's cells to the data a model validates, and from a model's errors back to
messages naming the seller's column: the part of validation worker processes share.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from shopsync.domain.models import SCIENTIFIC, SCIENTIFIC_MESSAGE, FieldError, SourceRow
from shopsync.domain.prices import AmountError, read_amount
from shopsync.i18n import N_, Message
from shopsync.io.writers import GUARDED_STARTS

_MESSAGES: dict[str, str] = {
    "missing": N_("is required"),
    "string_too_short": N_("must not be empty"),
    "string_too_long": N_("is longer than {max_length} characters"),
    "greater_than": N_("must be greater than {gt}"),
    "greater_than_equal": N_("must be {ge} or more"),
    "decimal_max_places": N_("has more than {decimal_places} decimal places"),
    "decimal_parsing": N_("is not a number"),
    "decimal_type": N_("is not a number"),
    "int_parsing": N_("is not a whole number"),
    "int_from_float": N_("is not a whole number"),
    "int_type": N_("is not a whole number"),
    "finite_number": N_("is not a finite number"),
    "literal_error": N_("must be one of {expected}"),
    "too_long": N_("has more than {max_length} entries"),
    "string_type": N_("must be text"),
    "list_type": N_("must be a list (or one cell separated by |)"),
    "dict_type": N_("must be an object of names to values"),
}


_FIELD_MESSAGES: dict[tuple[str, str], str] = {
    ("currency", "string_pattern_mismatch"): N_(
        "must be a three-letter ISO 4217 code such as CNY or EUR"
    ),
    ("images", "image_value"): N_("image {input!r} is not a URL or a file name"),
    ("images", "too_long"): N_("has more than {max_length} images"),
}


_AMOUNT_FIELDS = ("price", "weight_kg", "compare_at_price")
_PRICE_FIELDS = frozenset({"price", "compare_at_price"})
"""Amounts that are prices: two decimals at most, and a currency sign must agree."""
_PRICE_DECIMALS = 2
_PLAIN_POINT = re.compile(r"[0-9]+(?:\.[0-9]+)?").fullmatch
"""A number that reads the same under any rule with a decimal point: most cells."""
_PLAIN_COMMA = re.compile(r"[0-9]+").fullmatch
_TOTALS_WORDS = frozenset(
    {"合计", "总计", "小计", "汇总", "总和", "total", "totals", "grandtotal", "subtotal", "sum"}
)
_LABEL_NOISE = re.compile(r"[\s:：]+")


class Unreadable:
    """A cell value that is refused before the model sees it, with the reason.

    Not a ``str``, so the model's own check of the field fails too and the row is
    rejected; :func:`row_errors` shows this message instead of the model's.
    """

    __slots__ = ("message", "text")

    def __init__(self, text: str, message: str) -> None:
        """``text`` is the cell as written; ``message`` says why it cannot be read."""
        self.text = text
        self.message = message

    def __str__(self) -> str:
        return self.text


def read_amounts(data: dict[str, Any], *, decimal_comma: bool) -> None:
    """Prices and weights written as sellers write them, made plain numbers, in place.

    ``￥3,999.00`` becomes ``3999.00`` and, if the row names no currency, sets it to
    CNY; a sign that contradicts the row's currency, or a price the file's decimal rule
    cannot decide (``1,299`` with decimal commas), becomes :class:`Unreadable`. Text
    that is no number in any written form is left for the model to refuse.
    """
    plain = _PLAIN_COMMA if decimal_comma else _PLAIN_POINT
    for name in _AMOUNT_FIELDS:
        value = data.get(name)
        if value.__class__ is not str or plain(value):
            continue
        try:
            amount = read_amount(value, decimal_comma=decimal_comma)
        except AmountError as error:
            data[name] = Unreadable(value, str(error))
            continue
        if amount is None:
            continue
        if (
            name in _PRICE_FIELDS
            and amount.other_reading is not None
            and _decimals(amount.number) > _PRICE_DECIMALS
        ):
            data[name] = Unreadable(
                value,
                N_(
                    "is ambiguous: with this file's decimal comma it is {number}, which "
                    "has more than {decimals} decimal places, and {other} "
                    "only if the comma groups thousands; write {other} or {written}"
                ).format(
                    number=amount.number,
                    decimals=_PRICE_DECIMALS,
                    other=amount.other_reading,
                    written=f"{amount.other_reading.lstrip('+-')[:-3]}."
                    f"{amount.other_reading[-3:]},00",
                ),
            )
            continue
        if amount.currency is not None and name in _PRICE_FIELDS:
            given = data.get("currency")
            if given is None:
                data["currency"] = amount.currency
            elif given.__class__ is str and given.strip().upper() != amount.currency:
                data[name] = Unreadable(
                    value,
                    N_(
                        "is written in {currency}, but the row's currency is "
                        "{given}; make them agree, or write the price without a sign"
                    ).format(currency=amount.currency, given=given.strip()),
                )
                continue
        data[name] = amount.number


def _decimals(number: str) -> int:
    _, point, fraction = number.partition(".")
    return len(fraction) if point else 0


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
        read_amounts(data, decimal_comma=True)
        return data
    # The common case inline (plain numbers, or none): str methods take half the time of
    # the regular expression, and read_amounts a call and a loop more, per row.
    price = data.get("price")
    weight = data.get("weight_kg")
    was = data.get("compare_at_price")
    if not (
        (price is None or (price.isascii() and price.replace(".", "", 1).isdigit()))
        and (weight is None or (weight.isascii() and weight.replace(".", "", 1).isdigit()))
        and (was is None or (was.isascii() and was.replace(".", "", 1).isdigit()))
    ):
        read_amounts(data, decimal_comma=False)
    return data


def describe(error: ErrorDetails) -> str:
    """A plain sentence for one pydantic error, without pydantic's jargon."""
    kind = error["type"]
    field_name = str(error["loc"][0]) if error["loc"] else ""
    context = error.get("ctx", {})
    if kind == "value_error" and "error" in context:
        reason = context["error"]
        given = reason.args[0] if getattr(reason, "args", None) else None
        return given if isinstance(given, Message) else str(reason)
    if field_name == "sku" and SCIENTIFIC.match(str(error.get("input", ""))):
        return SCIENTIFIC_MESSAGE
    template = _FIELD_MESSAGES.get((field_name, kind)) or _MESSAGES.get(kind)
    if template is None:
        return error["msg"]
    try:
        return template.format(**context, input=error.get("input"))
    except (KeyError, IndexError):
        return error["msg"]


def row_errors(
    error: ValidationError, sources: Mapping[str, str], data: Mapping[str, Any], row: SourceRow
) -> tuple[FieldError, ...]:
    """Why ``row`` (whose cells became ``data``) was refused, in the seller's terms.

    A spreadsheet's totals row ("合计", "Total") gets one message saying what it is,
    rather than one per field it lacks.
    """
    totals = _totals_label(row)
    if totals is not None:
        column, label = totals
        return (
            FieldError(
                column,
                label,
                N_(
                    "this is a totals row ({label}), not a product; delete it from the sheet, "
                    "or end the data above it"
                ).format(label=label),
            ),
        )
    return tuple(_field_errors(error, sources, data))


def _totals_label(row: SourceRow) -> tuple[str, str] | None:
    """``(column, label)`` if the row's first filled cell is a word like 合计 or Total."""
    if row.header is None:
        return None
    for index, value in enumerate(row.raw):
        if value and not value.isspace():
            if _LABEL_NOISE.sub("", value).casefold() not in _TOTALS_WORDS:
                return None
            column = row.header[index] if index < len(row.header) else ""
            return column, value.strip()
    return None


def _field_errors(
    error: ValidationError, sources: Mapping[str, str], data: Mapping[str, Any]
) -> Iterator[FieldError]:
    for detail in error.errors(include_url=False):
        location = detail["loc"]
        name = str(location[0]) if location else ""
        value = data.get(name, "") if detail["type"] != "missing" else ""
        if name == "attributes" and len(location) > 1:
            column = f"attr:{location[1]}"
        elif name == "variants" and len(location) > 2:
            column = f"{sources.get(name, name)}[{location[1]}].{location[2]}"
            value = detail.get("input", "") if detail["type"] != "missing" else ""
        else:
            column = sources.get(name, name)
        if isinstance(value, Unreadable) and len(location) == 1:
            yield FieldError(column, _shorten(value.text), value.message)
            continue
        yield FieldError(column, _shorten(value), describe(detail))


def constraint_errors(
    problems: Sequence[tuple[str, str] | tuple[str, str, str]],
    sources: Mapping[str, str],
    record: object,
) -> tuple[FieldError, ...]:
    """A platform's ``(field, message)`` problems with ``record`` as field errors, each by
    the column the file names its field with (``attr:NAME`` stays as it is) and the
    record's value there; a ``(field, value, message)`` problem names its value itself."""
    errors = []
    for problem in problems:
        if len(problem) == 3:
            name, given, message = problem
            errors.append(FieldError(sources.get(name, name), _shorten(given), message))
            continue
        name, message = problem
        if name.startswith("attr:"):
            attributes = getattr(record, "attributes", None)
            value = attributes.get(name[5:], "") if isinstance(attributes, Mapping) else ""
            errors.append(FieldError(name, _shorten(value), message))
            continue
        value = getattr(record, name, "")
        if isinstance(value, list):
            value = "|".join(str(item) for item in value)
        errors.append(FieldError(sources.get(name, name), _shorten(value), message))
    return tuple(errors)


def _shorten(value: object, limit: int = 40) -> str:
    text = value if isinstance(value, str) else ("" if value is None else str(value))
    text = text.replace("\r", "\\r").replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"
