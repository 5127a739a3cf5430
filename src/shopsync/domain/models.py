"""The data shapes shopsync works with: products as the platform contract defines them.

Field names follow ``docs/platform-api.md`` §2. The rules here are those any catalog
means, whatever the platform: types, a SKU and a title, a positive price, counts that
are not negative, variants that agree with their options. Each platform's own limits (the
generic API's SKU pattern, 255-character titles, 20 https images, prices in cents...)
are its adapter's ``check_product``, applied by the catalog at plan time, so that a
platform with larger limits is not held to the generic API's. Two things are added on
the way in, because spreadsheets need them: strings are trimmed, and ``images`` may be
one cell holding
several URLs separated by ``|``, ``;`` or line breaks. An image may also name a local
file (``images/a.jpg``): the catalog checks it and the engine uploads it
(:mod:`shopsync.domain.images`).

A product is either a single-variant product (no ``handle``: its ``sku``, ``price``,
``stock``, ``barcode`` and ``weight_kg`` are the product's, exactly as before variants
existed, with the same JSON text and digest) or a product with variants (a ``handle``,
ordered ``options`` and one or more :class:`Variant`, each with its own SKU, option
values, price, compare-at price, stock, barcode, weight and image).

Prices and weights are :class:`~decimal.Decimal` from the reader to the wire: a float
never touches them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    JsonValue,
    PrivateAttr,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shopsync.domain.digest import compact_json, hash_text
from shopsync.domain.images import is_url
from shopsync.i18n import N_, join_messages

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""The generic API's SKUs: 1 to 64 characters of ``A-Z a-z 0-9 . _ -`` (docs/platform-api.md
§2), checked by its adapter (:mod:`shopsync.platforms.generic.rules`), not by the model."""

SCIENTIFIC = re.compile(r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$")
"""``6.92019E+12``: how Excel shows a long number (a 13-digit EAN) in a General cell."""
SCIENTIFIC_MESSAGE = N_(
    "is in scientific notation, as Excel shows a long number, and its last digits are "
    "lost; format the column as text in Excel (设置单元格格式为文本), type the codes "
    "again, and export once more"
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IMAGE_SEPARATORS = re.compile(r"[|;\r\n]+")
_CENT = Decimal("0.01")
_T = TypeVar("_T")


def _split_images(value: object) -> object:
    """Accept one spreadsheet cell holding several URLs, as sellers write them."""
    if isinstance(value, str):
        # Most cells use "|" alone; str.split is several times faster than the regex.
        parts = (
            value.split("|")
            if ";" not in value and "\n" not in value and "\r" not in value
            else _IMAGE_SEPARATORS.split(value)
        )
        return [part for part in parts if part and not part.isspace()]
    return value


def _quantize_price(price: Decimal) -> Decimal:
    # "10", "10.0" and "10.00" are one price; the platform answers "10.00". Normalising
    # here keeps content hashes and diffs from seeing a change where there is none.
    cents = price.quantize(_CENT)
    if cents == price:
        return cents
    # More places than cents: kept (never rounded), for the platform's rules to judge.
    return _normalize_decimal(price)


def _normalize_decimal(value: Decimal) -> Decimal:
    # Decimal("1.500") and Decimal("1.5") are equal but hash and print differently.
    _, digits, exponent = value.as_tuple()
    if not isinstance(exponent, int):
        return value
    if exponent > 0:  # 1E+1: back to plain digits
        return value.quantize(Decimal(1))
    if exponent == 0 or digits[-1] != 0:  # no trailing zero: nothing to strip (most values)
        return value
    normalized = value.normalize()
    exponent = normalized.as_tuple().exponent
    return (
        normalized.quantize(Decimal(1))
        if isinstance(exponent, int) and exponent > 0
        else normalized
    )


def _refuse_control(value: str) -> str:
    # A SKU names the product in the ledger, in files and in requests; a tab or a line
    # break in one is a broken cell, not a code any platform takes.
    if _CONTROL.search(value):
        raise ValueError(N_("must not hold control characters (tabs, line breaks)"))
    return value


def _refuse_scientific(value: str) -> str:
    # A barcode like 6.92019E+12 passes as text, but names no product: the digits past
    # the sixth are gone, and only the seller's sheet still has them.
    if SCIENTIFIC.match(value):
        raise ValueError(SCIENTIFIC_MESSAGE)
    return value


Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_refuse_scientific),
    AfterValidator(_refuse_control),
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True)]
Price = Annotated[Decimal, Field(gt=0, allow_inf_nan=False), AfterValidator(_quantize_price)]
Weight = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_normalize_decimal)]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
_URL_WITHOUT_SPACE = re.compile(r"^\S+$")


def _check_image(value: str) -> str:
    """A URL without white space, or a local file's name (checked against the disk by the
    catalog). Which URLs a platform takes (the generic API: https only) is its rule."""
    if is_url(value):
        if _URL_WITHOUT_SPACE.match(value):
            return value
    elif value and not _CONTROL.search(value):
        return value
    raise PydanticCustomError("image_value", "not a URL or a file name")


ImageValue = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_image)]
"""One image: an https:// URL, a local file as the seller wrote it, or once checked, a
local reference (:func:`shopsync.domain.images.local_ref`)."""

Images = Annotated[list[ImageValue], BeforeValidator(_split_images)]
Attributes = dict[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)],
    Annotated[str, StringConstraints(strip_whitespace=True)],
]


class _computed_once(Generic[_T]):
    """``functools.cached_property`` without its lock: on Python < 3.12 every first read
    takes an RLock, which cost more than the value it guarded (2 µs a product, twice).

    A non-data descriptor: the value is stored in the instance's ``__dict__``, which
    shadows the descriptor from then on. Two threads computing it at once both get
    equal values, which is all a pure function of a frozen model needs.
    """

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, instance: None, owner: type | None = None) -> _computed_once[_T]: ...
    @overload
    def __get__(self, instance: object, owner: type | None = None) -> _T: ...
    def __get__(self, instance: object, owner: type | None = None) -> _T | _computed_once[_T]:
        if instance is None:
            return self
        value = self.func(instance)
        instance.__dict__[self.name] = value
        return value


Handle = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255, pattern=r"^\S+$")
]
"""What groups a product's variants: 1 to 255 characters without white space."""
OptionName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
OptionValue = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
PlatformFields = dict[
    Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)],
    dict[Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)], JsonValue],
]
"""Platform name → field → value: columns such as ``shopify:product_type``."""

VARIANT_LEVEL_FIELDS = ("sku", "price", "stock", "barcode", "weight_kg")
"""A single-variant product's fields that a product with variants has per variant."""


class SkuRecord(BaseModel):
    """What every input record has: a SKU by the platform's rules, which identifies it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        ignored_types=(_computed_once,),
    )

    sku: Sku


class Variant(BaseModel):
    """One sellable version of a product with variants (a size and colour of a T-shirt).

    ``option_values`` holds one value per option of its product, in the product's
    option order; ``image`` is the image as the seller wrote it (a URL or a file name).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    sku: Sku
    option_values: dict[OptionName, OptionValue] = Field(default_factory=dict)
    price: Price
    compare_at_price: Price | None = None
    stock: Annotated[int, Field(ge=0)] = 0
    barcode: ShortText | None = None
    weight_kg: Weight | None = None
    image: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=2048),
            AfterValidator(_check_image),
        ]
        | None
    ) = None

    def option_key(self, options: Sequence[str]) -> tuple[str, ...]:
        """The variant's values for ``options``, in that order: what must differ per variant."""
        return tuple(self.option_values.get(name, "") for name in options)


VARIANT_FIELDS: tuple[str, ...] = tuple(Variant.model_fields)
"""The variant's field names in contract order."""


class Product(SkuRecord):
    """One catalog entry, valid by the rules any platform has (docs/platform-api.md §2
    names the fields); each platform's own limits are its adapter's ``check_product``.

    Construct it with :meth:`pydantic.BaseModel.model_validate`; lax mode lets the
    readers hand over spreadsheet strings ("12" for stock, "3999.00" for price).

    With ``variants``, the product's own ``sku``, ``price``, ``stock``, ``barcode`` and
    ``weight_kg`` are its first variant's (filled in when not given, so that code that
    reads one SKU per product keeps working); they are left out of its body, which has
    ``handle``, ``options`` and ``variants`` instead. A ``handle`` without ``variants``
    makes the product's own fields its one variant.
    """

    title: Title
    price: Price
    currency: Currency = "CNY"
    stock: Annotated[int, Field(ge=0)] = 0
    images: Images = Field(default_factory=list)
    description: str | None = None
    category: ShortText | None = None
    brand: ShortText | None = None
    barcode: Annotated[ShortText, AfterValidator(_refuse_scientific)] | None = None
    weight_kg: Weight | None = None
    status: Literal["active", "draft"] = "active"
    attributes: Attributes = Field(default_factory=dict)
    # Fields added for variants come last, and are left out of the body while empty, so
    # that a single-variant product's JSON text and digest are what they always were.
    handle: Handle | None = None
    options: list[OptionName] = Field(default_factory=list)
    variants: list[Variant] = Field(default_factory=list)
    platform_fields: PlatformFields = Field(default_factory=dict)
    """Fields for one platform's adapter only, by platform name; never in the body."""

    @model_validator(mode="before")
    @classmethod
    def _fill_from_variants(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not (data.get("variants") or data.get("handle")):
            return data
        variants = data.get("variants")
        if not variants:
            # A handle alone: the product's own fields are its one variant.
            own = {name: data[name] for name in VARIANT_LEVEL_FIELDS if name in data}
            return {**data, "variants": [own]}
        first = variants[0] if isinstance(variants, list) else None
        if not isinstance(first, Mapping):
            return data
        filled = dict(data)
        for name in VARIANT_LEVEL_FIELDS:
            if name not in filled and first.get(name) is not None:
                filled[name] = first[name]
        options = data.get("options")
        if isinstance(options, list) and all(isinstance(name, str) for name in options):
            # Each variant's values in the product's option order: one text, one digest.
            filled["variants"] = [
                _values_in_order(variant, [name.strip() for name in options])
                for variant in variants
            ]
        return filled

    @model_validator(mode="after")
    def _variants_agree(self) -> Self:
        if not self.variants:
            if self.options:
                raise ValueError(N_("options are given but no variants"))
            return self
        if self.handle is None:
            raise ValueError(N_("a product with variants needs a handle"))
        problems = variant_problems(self.options, self.variants)
        if problems:
            raise ValueError(join_messages(problems))
        return self

    @property
    def key(self) -> str:
        """What identifies the product between runs: its handle, or its SKU without one."""
        return self.handle if self.handle is not None else self.sku

    @property
    def has_variants(self) -> bool:
        """Whether the product is a handle with variants (not a single-variant product)."""
        return bool(self.variants)

    @property
    def skus(self) -> list[str]:
        """Every SKU the product sells: its variants', or its own."""
        return [variant.sku for variant in self.variants] if self.variants else [self.sku]

    def fields_for(self, platform: str) -> dict[str, JsonValue]:
        """The per-platform fields (``shopify:product_type``...) for ``platform`` only."""
        return dict(self.platform_fields.get(platform, {}))

    # Set by the catalog's image check: local reference -> the file's absolute path, for
    # the upload. Not a field: neither in the body nor in its hash (paths move).
    _image_files: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def image_files(self) -> dict[str, str]:
        """Local image references of this product → the files they were read from."""
        return self._image_files

    def with_images(
        self,
        images: list[str],
        files: Mapping[str, str],
        variants: list[Variant] | None = None,
    ) -> Self:
        """A copy holding ``images`` (checked local references, URLs), and ``variants``
        when given (their ``image`` checked likewise), with the files of both.

        The fields the row filled stay as they were, so an update still sends only them.
        """
        update: dict[str, Any] = {"images": images}
        if variants is not None:
            update["variants"] = variants
        copy = self.model_copy(update=update)
        copy._image_files = dict(files)
        return copy

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy (see pydantic), without the body and JSON cached from this product's
        content: with ``update`` they would describe the original."""
        copy = super().model_copy(update=update, deep=deep)
        for name in _CACHED:
            copy.__dict__.pop(name, None)
        return copy

    def to_api(self) -> dict[str, Any]:
        """The JSON body the platform expects: decimals as strings, unset optionals left out.

        A new dict each call (callers may change it); the work is done once per product.
        """
        return dict(self._api_body)

    @_computed_once
    def _api_body(self) -> dict[str, Any]:
        # pydantic-core writes the body in one pass (decimals as their strings, which the
        # validators normalised), about twice as fast as building it field by field; a
        # product's body is needed to plan it, hash it and send it.
        body: dict[str, Any] = self.model_dump(
            mode="json", exclude_none=True, exclude=self._left_out()
        )
        return body

    def _left_out(self) -> set[str]:
        """The fields the body does not have: empty ones, and per-platform fields."""
        if self.variants:
            left_out = {*VARIANT_LEVEL_FIELDS, "platform_fields"}
        else:
            left_out = {"handle", "options", "variants", "platform_fields"}
        if not self.attributes:
            left_out.add("attributes")
        return left_out

    @_computed_once
    def api_json(self) -> str:
        """:meth:`to_api` as JSON text, exactly as :func:`product_json` writes it.

        Encoded once, by pydantic-core (four times faster than the json module): its
        digest is the content hash the ledger keeps, and an adapter whose wire format
        is this body sends the text as it is.
        """
        text: bytes = self.__pydantic_serializer__.to_json(
            self, exclude_none=True, exclude=self._left_out()
        )
        return text.decode("utf-8")


_CACHED = ("_api_body", "api_json")
"""What :class:`Product` computes once and keeps in its ``__dict__``."""

PRODUCT_FIELDS: tuple[str, ...] = tuple(Product.model_fields)
"""The product's field names in contract order."""


def product_json(body: Mapping[str, Any]) -> str:
    """A product body as the JSON text the ledger hashes: fields in contract order.

    For the body of a :class:`Product` this is exactly :attr:`Product.api_json` (the
    same separators, escapes and order as pydantic-core writes), so a body rebuilt from
    the ledger or the platform hashes like the product it came from. Keys that are not
    product fields follow, sorted.
    """
    ordered = {name: body[name] for name in PRODUCT_FIELDS if name in body}
    if len(ordered) != len(body):
        ordered.update(sorted((k, v) for k, v in body.items() if k not in ordered))
    variants = ordered.get("variants")
    if isinstance(variants, list):
        ordered["variants"] = [
            _in_variant_order(variant) if isinstance(variant, Mapping) else variant
            for variant in variants
        ]
    return compact_json(ordered)


def _in_variant_order(variant: Mapping[str, Any]) -> dict[str, Any]:
    ordered = {name: variant[name] for name in VARIANT_FIELDS if name in variant}
    if len(ordered) != len(variant):
        ordered.update(sorted((k, v) for k, v in variant.items() if k not in ordered))
    return ordered


def _values_in_order(variant: Any, options: Sequence[str]) -> Any:
    if not isinstance(variant, Mapping):
        return variant
    values = variant.get("option_values")
    if not isinstance(values, Mapping):
        return variant
    stripped = {str(name).strip(): value for name, value in values.items()}
    ordered = {name: stripped[name] for name in options if name in stripped}
    ordered.update((name, value) for name, value in stripped.items() if name not in ordered)
    return {**variant, "option_values": ordered}


def variant_problems(options: Sequence[str], variants: Sequence[Variant]) -> list[str]:
    """What is wrong with ``variants`` of a product with ``options``, one sentence each.

    Option names must be distinct; every variant has a value for every option and no
    other; no two variants share a SKU or the same option values.
    """
    problems: list[str] = []
    if len(set(options)) != len(options):
        problems.append(N_("options {options} name one option twice").format(options=list(options)))
    wanted = set(options)
    by_values: dict[tuple[str, ...], str] = {}
    skus: set[str] = set()
    for variant in variants:
        missing = [name for name in options if name not in variant.option_values]
        if missing:
            problems.append(
                N_("variant {sku} has no value for {options}").format(
                    sku=variant.sku, options=", ".join(missing)
                )
            )
        extra = [name for name in variant.option_values if name not in wanted]
        if extra:
            problems.append(
                N_("variant {sku} has values for unknown options {options}").format(
                    sku=variant.sku, options=extra
                )
            )
        if variant.sku in skus:
            problems.append(N_("SKU {sku} is used by two variants").format(sku=variant.sku))
        skus.add(variant.sku)
        values = variant.option_key(options)
        if not missing and values in by_values:
            problems.append(
                N_("variants {first} and {second} have the same option values {values}").format(
                    first=by_values[values],
                    second=variant.sku,
                    values=" / ".join(values) or N_("(none)"),
                )
            )
        by_values.setdefault(values, variant.sku)
    return problems


def product_digest(body: Mapping[str, Any]) -> tuple[str, str]:
    """``(product_json(body), its digest)``: both are kept in the ledger."""
    text = product_json(body)
    return text, hash_text(text)


class StockLine(SkuRecord):
    """One line of a stock file: set a SKU's count (``stock``) or change it (``delta``).

    Exactly one of the two is given; which one a file uses is decided per file by its
    columns (or ``--mode``). Inventory updates never create products (docs/platform-api.md §3).
    """

    stock: Annotated[int, Field(ge=0)] | None = None
    delta: int | None = None

    @model_validator(mode="after")
    def _one_of_stock_or_delta(self) -> StockLine:
        if (self.stock is None) == (self.delta is None):
            raise ValueError(N_("give either a stock count or a delta, not both or neither"))
        return self


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class SourceRow:
    """One record as read from a file, before validation.

    ``line`` is the physical line (1-based) the record starts on, counting the lines a
    quoted newline spans; for JSON it is the line of the object's opening brace.
    The original cells are kept for the rejects and failed files. A CSV row keeps its
    list of cells and shares the file's header, rather than building a dict per row.
    """

    file: str
    line: int
    raw: Any
    """A JSON object as read, or a CSV row's list of cells (then ``header`` names them)."""
    header: tuple[str, ...] | None = None

    @property
    def cells(self) -> dict[str, Any]:
        """The record as column name → value (a CSV row's missing trailing cells left out)."""
        if self.header is None:
            return dict(self.raw)
        return dict(zip(self.header, self.raw, strict=False))


@dataclass(frozen=True, slots=True)
class FieldError:
    """One reason a row was refused: the column (as the file names it), its value, why."""

    column: str
    value: str
    message: str


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that did not become a :class:`Product`, with every reason."""

    row: SourceRow
    errors: tuple[FieldError, ...]

    @property
    def message(self) -> str:
        """All reasons in one line, as written to the rejects file's ``error`` column."""
        return join_messages(
            N_("{column}: {message}").format(column=error.column, message=error.message)
            if error.column
            else error.message
            for error in self.errors
        )


RecordT = TypeVar("RecordT", bound=SkuRecord)


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class ValidRow(Generic[RecordT]):
    """A row that became a valid record: a :class:`Product`, or a :class:`StockLine`."""

    row: SourceRow
    product: RecordT


@dataclass(frozen=True, slots=True)
class Warning_:
    """A problem with a file that does not reject any row (an unknown column, say)."""

    file: str
    message: str
