"""Reading amounts (prices, weights) as sellers write them in spreadsheets.

``￥3,999.00``, ``¥1,299``, ``3999元``, ``18,000.00``, ``RMB 59``, ``US$12.50``, full-width
``３９９９``: a currency sign or word before or after the number, thousands separators,
full-width digits and punctuation. :func:`read_amount` turns such text into the plain
decimal text ``Decimal`` parses, and names the currency the sign or word stands for.

Which separator is the decimal one follows from the text where only one reading exists
(``18,000.00``, ``1.299,00``, ``49,90``, ``1,234,567``), and from the file's decimal
rule where two do: a single ``,`` or ``.`` followed by exactly three digits.

- Decimal point (the default): ``1,299`` is 1299 (a comma groups thousands in Chinese
  and English writing); ``1.299`` is 1.299 (a lone dot is never a thousands separator
  there).
- Decimal comma (``;``-separated files, ``--decimal-comma``): ``1.299`` is 1299 and
  ``1,299`` is 1.299, by the rule; but a comma grouping thousands is so common that
  :attr:`Amount.other_reading` keeps 1299, so a price (two decimals at most) that the
  rule makes impossible is reported instead of guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from shopsync.i18n import N_

_PREFIXES: dict[str, str] = {
    "US$": "USD",
    "HK$": "HKD",
    "NT$": "TWD",
    "S$": "SGD",
    "A$": "AUD",
    "C$": "CAD",
    "$": "USD",
    "¥": "CNY",
    "€": "EUR",
    "£": "GBP",
}
"""Signs written before the number (after NFKC: ``￥`` is ``¥``). ``¥`` is read as the
yuan (shopsync's default currency is CNY), a bare ``$`` as the US dollar."""

_SUFFIXES: dict[str, str] = {
    "元": "CNY",
    "圆": "CNY",
    "块": "CNY",
    "人民币": "CNY",
    "美元": "USD",
    "美金": "USD",
    "港币": "HKD",
    "港元": "HKD",
    "欧元": "EUR",
    "英镑": "GBP",
}
"""Words written after the number."""

_CODES = frozenset(
    {"RMB", "CNY", "USD", "EUR", "GBP", "HKD", "TWD", "JPY", "SGD", "AUD", "CAD", "CHF"}
)
"""Currency codes written before or after the number; ``RMB`` is the yuan (CNY)."""

_PREFIX = re.compile(
    r"^(?:(?P<code>[A-Za-z]{3})\s*|(?P<sign>US\$|HK\$|NT\$|S\$|A\$|C\$|\$|¥|€|£)\s*)"
)
_SUFFIX = re.compile(
    r"\s*(?:(?P<code>[A-Za-z]{3})|(?P<word>元|圆|块|人民币|美元|美金|港币|港元|欧元|英镑))$"
)
_GROUPED_BY_SPACES = re.compile(r"^[0-9]{1,3}(?:[ '’][0-9]{3})+(?=$|[.,])")
_DIGITS = re.compile(r"[0-9]+")
_ONE_SEPARATOR = re.compile(r"^([0-9]*)([.,])([0-9]+)$")


class AmountError(ValueError):
    """Text that is no amount, or one the file's decimal rule cannot decide."""


# Not frozen, though never changed: a frozen dataclass's __init__ is several times slower,
# and one may be made per row.
@dataclass(slots=True)
class Amount:
    """An amount read from a cell: its plain decimal text, and what else was learned."""

    number: str
    """Digits with at most one ``.`` and an optional leading ``-``/``+``: for ``Decimal``."""
    currency: str | None = None
    """The ISO 4217 code the text's sign or word names (``None``: no currency given)."""
    other_reading: str | None = None
    """The other plain meaning of an ambiguous text (``1,299`` in a decimal-comma file:
    ``1299``), when the file's rule chose ``number`` over it."""


def read_amount(text: str, *, decimal_comma: bool) -> Amount | None:
    """``text`` as an :class:`Amount`, or ``None`` if it is no number written this way.

    ``None`` leaves the text to the model, whose own messages say what is wrong with it
    ("is not a number", "is not a finite number"). :class:`AmountError` is raised for a
    text that is an amount but says two things at once (two currencies).
    ``decimal_comma`` is the file's decimal rule, used only where the text itself does
    not tell which separator is the decimal one (see the module's docstring).
    """
    value = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    value = value.strip()
    sign, value = _take_sign(value)
    currency = None
    # Signs and words are looked for only where a number does not start or end.
    prefix = _PREFIX.match(value) if value and not value[0].isdigit() else None
    if prefix and (prefix["sign"] or _code(prefix["code"])):
        currency = _PREFIXES[prefix["sign"]] if prefix["sign"] else _code(prefix["code"])
        value = value[prefix.end() :]
    suffix = _SUFFIX.search(value) if value and not value[-1].isdigit() else None
    if suffix and (suffix["word"] or _code(suffix["code"])):
        named = _SUFFIXES[suffix["word"]] if suffix["word"] else _code(suffix["code"])
        if currency is not None and named != currency:
            raise AmountError(
                N_("names two currencies ({first} and {second})").format(
                    first=currency, second=named
                )
            )
        currency = named
        value = value[: suffix.start()]
    if not sign:
        sign, value = _take_sign(value.strip())
    read = _read_number(value.strip(), decimal_comma)
    if read is None:
        return None
    number, other = read
    if other is not None:
        other = sign + other
    return Amount(sign + number, currency, other)


def _take_sign(value: str) -> tuple[str, str]:
    if value[:1] in ("-", "+"):
        return value[0], value[1:].lstrip()
    return "", value


def _code(code: str | None) -> str | None:
    if code is None:
        return None
    upper = code.upper()
    if upper == "RMB":
        return "CNY"
    return upper if upper in _CODES else None


def _read_number(  # noqa: PLR0911 - one return per written form, in the order they are tried
    value: str, decimal_comma: bool
) -> tuple[str, str | None] | None:
    """Digits and separators to ``(plain text, other reading or None)``; None: no number."""
    grouped = _GROUPED_BY_SPACES.match(value)
    if grouped:  # "1 299,00", "1'299.50": spaces and apostrophes only ever group
        value = re.sub(r"[ '’]", "", grouped[0]) + value[grouped.end() :]
    if _DIGITS.fullmatch(value):
        return value, None
    commas, dots = value.count(","), value.count(".")
    if commas and dots:
        # Both: the last one is the decimal separator, the other groups thousands.
        decimal, group = (",", ".") if value.rfind(",") > value.rfind(".") else (".", ",")
        whole, _, fraction = value.rpartition(decimal)
        if _is_grouped(whole, group) and _DIGITS.fullmatch(fraction):
            return f"{whole.replace(group, '')}.{fraction}", None
        return None
    separator = "," if commas else "."
    if commas + dots > 1:  # "1,234,567" or "1.234.567": only thousands groups
        if _is_grouped(value, separator):
            return value.replace(separator, ""), None
        return None
    single = _ONE_SEPARATOR.match(value)
    if single is None:
        return None
    whole, _, fraction = single.groups()
    as_decimal = f"{whole or '0'}.{fraction}"
    could_group = len(fraction) == 3 and 1 <= len(whole) <= 3 and whole != "0"
    if not could_group:
        return as_decimal, None
    as_grouped = whole + fraction
    if separator == ",":
        # A comma grouping thousands: the plain reading with a decimal point, and a
        # reading decimal-comma files must weigh against their own rule.
        return (as_decimal, as_grouped) if decimal_comma else (as_grouped, None)
    # A lone dot groups thousands only where the comma is the decimal separator.
    return (as_grouped, None) if decimal_comma else (as_decimal, None)


def _is_grouped(whole: str, group: str) -> bool:
    head, *groups = whole.split(group)
    return (
        1 <= len(head) <= 3
        and head.isdigit()
        and head.isascii()
        and all(len(part) == 3 and part.isdigit() and part.isascii() for part in groups)
    )
