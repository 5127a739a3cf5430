"""The data shapes shopsync works with: products as the platform contract defines them.

Field names and rules follow ``docs/platform-api.md`` §2 exactly, so a :class:`Product` that
validates here is one the platform accepts. Two things are added on the way in, because
spreadsheets need them: strings are trimmed, and ``images`` may be one cell holding
several URLs separated by ``|``, ``;`` or line breaks. An image may also name a local
file (``images/a.jpg``): the catalog checks it and the engine uploads it
(:mod:`shopsync.domain.images`).

Prices and weights are :class:`~decimal.Decimal` from the reader to the wire: a float
never touches them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, Generic, Literal, TypeVar, overload

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from shopsync.domain.digest import compact_json, hash_text
from shopsync.domain.images import is_url

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self

SKU_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
"""1 to 64 characters of ``A-Z a-z 0-9 . _ -`` (docs/platform-api.md §2)."""

SCIENTIFIC = re.compile(r"^[0-9](?:\.[0-9]+)?[eE]\+?[0-9]+$")
"""``6.92019E+12``: how Excel shows a long number (a 13-digit EAN) in a General cell."""
SCIENTIFIC_MESSAGE = (
    "is in scientific notation, as Excel shows a long number, and its last digits are "
    "lost; format the column as text in Excel (设置单元格格式为文本), type the codes "
    "again, and export once more"
)

MAX_IMAGES = 20
MAX_ATTRIBUTES = 50
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
    return price.quantize(_CENT)


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


def _refuse_scientific(value: str) -> str:
    # A barcode like 6.92019E+12 passes as text, but names no product: the digits past
    # the sixth are gone, and only the seller's sheet still has them.
    if SCIENTIFIC.match(value):
        raise ValueError(SCIENTIFIC_MESSAGE)
    return value


Sku = Annotated[str, StringConstraints(strip_whitespace=True, pattern=SKU_PATTERN)]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]
Price = Annotated[
    Decimal, Field(gt=0, decimal_places=2, allow_inf_nan=False), AfterValidator(_quantize_price)
]
Weight = Annotated[Decimal, Field(ge=0, allow_inf_nan=False), AfterValidator(_normalize_decimal)]
Currency = Annotated[
    str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=r"^[A-Za-z]{3}$")
]
HTTPS_URL_PATTERN = r"^https://\S+$"
"""An absolute https:// URL with no white space."""
_HTTPS_URL = re.compile(HTTPS_URL_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _check_image(value: str) -> str:
    """An https:// URL, or a local file's name (checked against the disk by the catalog)."""
    if value.startswith("https://") and _HTTPS_URL.match(value):
        return value
    if value and not is_url(value) and not _CONTROL.search(value):
        return value
    # The type pydantic's own pattern check used, so messages keep their wording.
    raise PydanticCustomError("string_pattern_mismatch", "not an https:// URL or a file name")


ImageValue = Annotated[str, StringConstraints(strip_whitespace=True), AfterValidator(_check_image)]
"""One image: an https:// URL, a local file as the seller wrote it, or once checked, a
local reference (:func:`shopsync.domain.images.local_ref`)."""

Images = Annotated[
    list[ImageValue],
    BeforeValidator(_split_images),
    Field(max_length=MAX_IMAGES),
]
Attributes = Annotated[
    dict[
        Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)],
        Annotated[str, StringConstraints(strip_whitespace=True)],
    ],
    Field(max_length=MAX_ATTRIBUTES),
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


class SkuRecord(BaseModel):
    """What every input record has: a SKU by the platform's rules, which identifies it."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_strip_whitespace=True,
        ignored_types=(_computed_once,),
    )

    sku: Sku


class Product(SkuRecord):
    """One catalog entry, valid by the platform's rules (docs/platform-api.md §2).

    Construct it with :meth:`pydantic.BaseModel.model_validate`; lax mode lets the
    readers hand over spreadsheet strings ("12" for stock, "3999.00" for price).
    """

    title: Title
    price: Price
    currency: Currency = "CNY"
    stock: Annotated[int, Field(ge=0)] = 0
    images: Images = Field(default_factory=list)
    description: Annotated[str, StringConstraints(max_length=20_000)] | None = None
    category: ShortText | None = None
    brand: ShortText | None = None
    barcode: Annotated[ShortText, AfterValidator(_refuse_scientific)] | None = None
    weight_kg: Weight | None = None
    status: Literal["active", "draft"] = "active"
    attributes: Attributes = Field(default_factory=dict)
    # Set by the catalog's image check: local reference -> the file's absolute path, for
    # the upload. Not a field: neither in the body nor in its hash (paths move).
    _image_files: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def image_files(self) -> dict[str, str]:
        """Local image references of this product → the files they were read from."""
        return self._image_files

    def with_images(self, images: list[str], files: Mapping[str, str]) -> Self:
        """A copy holding ``images`` (checked local references, URLs), with their files.

        The fields the row filled stay as they were, so an update still sends only them.
        """
        copy = self.model_copy(update={"images": images})
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
        body = self.model_dump(mode="json", exclude_none=True)
        if not body["attributes"]:
            del body["attributes"]
        return body

    @_computed_once
    def api_json(self) -> str:
        """:meth:`to_api` as JSON text, exactly as :func:`product_json` writes it.

        Encoded once, by pydantic-core (four times faster than the json module): its
        digest is the content hash the ledger keeps, and an adapter whose wire format
        is this body sends the text as it is.
        """
        text: bytes = self.__pydantic_serializer__.to_json(
            self, exclude_none=True, exclude=None if self.attributes else {"attributes"}
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
    return compact_json(ordered)


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
            raise ValueError("give either a stock count or a delta, not both or neither")
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
        return "; ".join(
            f"{error.column}: {error.message}" if error.column else error.message
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
