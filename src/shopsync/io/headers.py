"""Mapping a file's column names (or JSON keys) to model fields.

Matching is case-, space- and punctuation-insensitive: ``Product Name``, ``product_name``
and ``PRODUCT-NAME`` are one name. Each field has aliases, Chinese ones included, and the
user can add their own (``--map title="Artikelbezeichnung"``). A column named
``attr:NAME`` becomes the attribute ``NAME``. The ``error``, ``error_code`` and
``error_message`` columns that shopsync itself writes into rejects and failed files are
ignored, so those files can be fed back in as they are. Any other column is reported
once per file and otherwise ignored.

Platform templates qualify a column's name with a note: ``商品编码(必填)``,
``价格（元）``, ``库存*``, ``【必填】商品名称``, ``SKU (required)``. A name that matches no
alias as it stands is read again without its notes (bracketed text and ``*`` marks),
and matches a field only if every note is one that cannot change what the column
holds: required/optional, the field's own unit (``元`` for a price, ``kg`` for a
weight), or another alias of the same field. ``重量(克)`` (grams, not kilograms) and
``价格(美元)`` (dollars, not the row's currency) stay unknown, and are reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from shopsync.errors import InputError, UsageError
from shopsync.i18n import N_

ATTRIBUTE_PREFIX = "attr:"
OPTION_PREFIX = "option:"
OPTION_ALIASES: dict[str, str] = {"颜色": "颜色", "尺码": "尺码", "规格": "规格"}
"""Columns that are option columns without the ``option:`` prefix (the option is named so)."""
_PLATFORM_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_]*):(\S.*)$")
HANDLE_WHEN_SKU_ELSEWHERE = frozenset({"货号"})
"""Columns that mean the SKU, unless another column does: then they group variants."""
VARIANT_ONLY_FIELDS = ("compare_at_price", "variant_image")
"""Fields only a variant has: in a row without a handle they are not used."""
OUTPUT_COLUMNS = frozenset({"error", "errorcode", "errormessage"})
"""Columns shopsync writes into rejects/failed files; ignored on the way back in."""

_PUNCTUATION = re.compile(r"[\s_\-()（）\[\]【】.:：/]+")
_NOTE = re.compile(r"[(（\[【〔]([^)）\]】〕]*)[)）\]】〕]")
_MARKS = re.compile(r"[*＊]+")
_REQUIREMENT_NOTES = frozenset(
    {"必填", "选填", "可选", "非必填", "必须", "必选", "必填项", "选填项"}
    | {"required", "optional", "mandatory"}
)
"""Notes that say whether a column must be filled, not what it holds."""
_UNIT_NOTES: dict[str, frozenset[str]] = {
    "price": frozenset({"元", "人民币", "rmb", "cny", "¥", "￥", "元人民币"}),
    "weight_kg": frozenset({"kg", "千克", "公斤"}),
    "stock": frozenset({"件", "个", "pcs", "个数", "件数"}),
}
"""Units that a field's values are in already: a note naming one changes nothing."""


def normalize(name: str) -> str:
    """The form in which column names are compared: case-folded, without spaces or punctuation."""
    return _PUNCTUATION.sub("", name.strip().lstrip("\ufeff")).casefold()


PRODUCT_ALIASES: dict[str, tuple[str, ...]] = {
    "sku": (
        "sku",
        "商品编码",
        "编码",
        "货号",
        "商家编码",
        "sellersku",
        "itemcode",
        "productcode",
        "artikelnummer",
        "référence",
    ),
    "title": (
        "title",
        "name",
        "productname",
        "商品名称",
        "标题",
        "名称",
        "品名",
        "商品标题",
        "bezeichnung",
        "titel",
        "nom",
    ),
    "price": ("price", "价格", "售价", "单价", "销售价", "saleprice", "preis", "prix"),
    "currency": ("currency", "币种", "货币", "währung", "devise"),
    "stock": ("stock", "库存", "数量", "库存数量", "quantity", "qty", "inventory", "bestand"),
    "images": (
        "images",
        "image",
        "imageurl",
        "imageurls",
        "图片",
        "主图",
        "图片链接",
        "pictures",
        "photos",
        "bilder",
    ),
    "description": ("description", "描述", "商品描述", "详情", "desc", "beschreibung"),
    "category": ("category", "类目", "分类", "商品分类", "kategorie", "catégorie"),
    "brand": ("brand", "品牌", "marke", "marque"),
    "barcode": ("barcode", "条码", "条形码", "ean", "ean13", "gtin", "upc"),
    "weight_kg": ("weightkg", "weight", "重量", "重量kg", "gewicht", "gewichtkg", "poids"),
    "status": ("status", "状态"),
    "attributes": ("attributes", "属性"),
    "handle": ("handle", "parentsku", "group", "款号", "商品款号"),
    "compare_at_price": (
        "compareatprice",
        "variantcompareatprice",
        "原价",
        "划线价",
        "市场价",
    ),
    "variant_image": ("variantimage", "规格图片", "sku图片", "optionimage"),
}


@dataclass(frozen=True, slots=True)
class RecordSchema:
    """What a kind of record (a product, a stock line) expects of its columns."""

    aliases: Mapping[str, tuple[str, ...]]
    required: tuple[tuple[str, ...], ...]
    """Each entry is a set of alternatives, one of which must have a column."""
    allow_attributes: bool = False
    allow_variants: bool = False
    """``option:NAME`` columns, per-platform ``NAME:field`` columns, 货号 as a handle."""


PRODUCT_SCHEMA = RecordSchema(
    aliases=PRODUCT_ALIASES,
    required=(("sku",), ("title",), ("price",)),
    allow_attributes=True,
    allow_variants=True,
)

STOCK_SCHEMA = RecordSchema(
    aliases={
        "sku": PRODUCT_ALIASES["sku"],
        "stock": PRODUCT_ALIASES["stock"],
        "delta": (
            "delta",
            "change",
            "adjustment",
            "adjust",
            "增减",
            "变化",
            "库存变化",
            "änderung",
        ),
    },
    required=(("sku",), ("stock", "delta")),
)

ColumnKind = Literal["field", "attribute", "option", "platform", "ignored", "unknown"]


@dataclass(frozen=True, slots=True)
class Column:
    """What one column of a file means."""

    name: str
    kind: ColumnKind
    target: str = ""
    """The field name (kind "field"), attribute key (kind "attribute"), option name (kind
    "option") or platform name (kind "platform")."""
    key: str = ""
    """The platform's field (kind "platform")."""


def parse_user_mapping(pairs: Iterable[str], fields: Iterable[str]) -> dict[str, str]:
    """Parse ``--map FIELD=COLUMN`` options into {field: column}; unknown fields are refused.

    ``--map attr:NAME=COLUMN`` makes a column the attribute ``NAME``, where the record
    has attributes (``fields`` holds ``attributes``); its key stays ``attr:NAME``.
    """
    known = set(fields)
    mapping: dict[str, str] = {}
    for pair in pairs:
        target, sep, column = pair.partition("=")
        target = target.strip()
        column = column.strip().strip("\"'")
        if not sep or not target or not column:
            raise UsageError(
                N_('--map {pair!r} is not FIELD=COLUMN, e.g. --map title="Product Name".').format(
                    pair=pair
                )
            )
        if target.casefold().startswith(ATTRIBUTE_PREFIX) and "attributes" in known:
            attribute = target[len(ATTRIBUTE_PREFIX) :].strip()
            if not attribute:
                raise UsageError(
                    N_("--map {pair!r}: name the attribute, e.g. --map attr:颜色=颜色.").format(
                        pair=pair
                    )
                )
            mapping[ATTRIBUTE_PREFIX + attribute] = column
            continue
        if target not in known:
            raise UsageError(
                (
                    N_(
                        "--map {pair!r}: {target!r} is not a field; fields are: {names}, "
                        "or attr:NAME for an attribute."
                    )
                    if "attributes" in known
                    else N_("--map {pair!r}: {target!r} is not a field; fields are: {names}.")
                ).format(pair=pair, target=target, names=", ".join(sorted(known)))
            )
        mapping[target] = column
    return mapping


@dataclass(slots=True)
class HeaderMap:
    """Resolves column names to :class:`Column` for one schema and user mapping, with a cache."""

    schema: RecordSchema
    user_mapping: Mapping[str, str] = field(default_factory=dict)
    platforms: frozenset[str] | None = None
    """Platform names whose ``NAME:field`` columns are per-platform fields (None: any name)."""
    _lookup: dict[str, str] = field(init=False, default_factory=dict)
    _attribute_of: dict[str, str] = field(init=False, default_factory=dict)
    """Normalised column name → attribute key, from ``--map attr:KEY=COLUMN``."""
    _cache: dict[str, Column] = field(init=False, default_factory=dict)
    _user_columns: frozenset[str] = field(init=False, default=frozenset())
    """Normalised names of the columns ``--map`` names: they mean what it says."""

    def __post_init__(self) -> None:
        for target, aliases in self.schema.aliases.items():
            for alias in (target, *aliases):
                self._lookup.setdefault(normalize(alias), target)
        # User mappings win over built-in aliases: a file whose "name" column is the
        # brand and whose "Artikel" column is the title must be expressible.
        for target, column in self.user_mapping.items():
            if target.startswith(ATTRIBUTE_PREFIX):
                self._attribute_of[normalize(column)] = target[len(ATTRIBUTE_PREFIX) :]
            else:
                self._lookup[normalize(column)] = target
        self._user_columns = frozenset(normalize(column) for column in self.user_mapping.values())

    def resolve(self, name: str) -> Column:
        """What the column ``name`` means."""
        column = self._cache.get(name)
        if column is None:
            column = self._resolve(name)
            self._cache[name] = column
        return column

    def _resolve(self, name: str) -> Column:
        stripped = name.strip().lstrip("\ufeff")
        if self.schema.allow_attributes and stripped.casefold().startswith(ATTRIBUTE_PREFIX):
            key = stripped[len(ATTRIBUTE_PREFIX) :].strip()
            if key:
                return Column(name, "attribute", key)
        key = normalize(stripped)
        attribute = self._attribute_of.get(key) if self.schema.allow_attributes else None
        if attribute is not None:
            return Column(name, "attribute", attribute)
        if self.schema.allow_variants and key not in self._user_columns:
            variant_column = self._resolve_variant_column(name, stripped)
            if variant_column is not None:
                return variant_column
        target = self._lookup.get(key)
        if target is None:
            target = self._resolve_noted(stripped)
        if target is not None:
            return Column(name, "field", target)
        if key in OUTPUT_COLUMNS or not key:
            return Column(name, "ignored")
        return Column(name, "unknown")

    def _resolve_noted(self, name: str) -> str | None:
        """The field of a name qualified by notes (``价格（元）``), if the notes allow it."""
        base = _MARKS.sub("", _NOTE.sub(" ", name))
        if base == name:
            return None
        target = self._lookup.get(normalize(base))
        if target is None:
            return None
        units = _UNIT_NOTES.get(target, frozenset())
        for note in (normalize(text) for text in _NOTE.findall(name)):
            harmless = (
                not note
                or note in _REQUIREMENT_NOTES
                or note in units
                or self._lookup.get(note) == target
            )
            if not harmless:
                return None
        return target

    def _resolve_variant_column(self, name: str, stripped: str) -> Column | None:
        if stripped.casefold().startswith(OPTION_PREFIX):
            option = stripped[len(OPTION_PREFIX) :].strip()
            return Column(name, "option", option) if option else None
        if stripped in OPTION_ALIASES:
            return Column(name, "option", OPTION_ALIASES[stripped])
        match = _PLATFORM_PREFIX.match(stripped)
        if match is None or match.group(1).casefold() in ("attr", "option"):
            return None
        platform = match.group(1).casefold()
        if self.platforms is not None and platform not in self.platforms:
            return None
        return Column(name, "platform", platform, match.group(2).strip())

    def resolve_header(self, names: list[str]) -> list[Column]:
        """Resolve a whole header row; two columns for one field is an error (which to take?)."""
        columns = [self.resolve(name) for name in names]
        if self.schema.allow_variants:
            columns = _handle_when_sku_elsewhere(columns)
        seen: dict[str, str] = {}
        for column in columns:
            if column.kind != "field":
                continue
            if column.target in seen:
                raise InputError(
                    N_(
                        "columns {first!r} and {name!r} both mean {target!r}; rename "
                        "one, or choose with --map {target}=COLUMN."
                    ).format(first=seen[column.target], name=column.name, target=column.target)
                )
            seen[column.target] = column.name
        return columns

    def missing_required(self, columns: list[Column]) -> list[str]:
        """Required fields that no column provides, each shown as 'a' or 'a/b'."""
        present = {column.target for column in columns if column.kind == "field"}
        return [
            "/".join(alternatives)
            for alternatives in self.schema.required
            if not present.intersection(alternatives)
        ]


def _handle_when_sku_elsewhere(columns: list[Column]) -> list[Column]:
    """货号 is the SKU in a file of single products, the handle beside another SKU column."""
    skus = [column for column in columns if column.kind == "field" and column.target == "sku"]
    if len(skus) < 2 or any(column.target == "handle" for column in columns):
        return columns
    return [
        Column(column.name, "field", "handle")
        if column in skus and normalize(column.name) in HANDLE_WHEN_SKU_ELSEWHERE
        else column
        for column in columns
    ]
