"""Chinese sellers' Excel exports read as they mean them (issue 11, "Seller files").

Prices with currency signs and thousands separators, template headers with notes,
empty and totals rows, rejects files that open in the Excel that wrote the input,
``--map attr:``, and codes that Excel turned into scientific notation.
"""

from __future__ import annotations

import codecs
import csv
import json
import unicodedata
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from shopsync.catalog.records import Catalog, validate
from shopsync.cli import cli
from shopsync.domain.models import RowError, ValidRow
from shopsync.domain.prices import AmountError, read_amount
from shopsync.io.headers import PRODUCT_SCHEMA, HeaderMap, parse_user_mapping
from shopsync.io.readers import ReadOptions

DATA = Path(__file__).parent / "data"
TEMPLATE = DATA / "template-gb18030.csv"


def outcomes(path: Path, **options: object) -> list[ValidRow | RowError]:
    return list(Catalog([path], ReadOptions(**options)))  # type: ignore[arg-type]


def one_price_file(tmp_path: Path, price: str, *, semicolons: bool = False) -> Path:
    path = tmp_path / "prices.csv"
    delimiter = ";" if semicolons else ","
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerows([["sku", "title", "price"], ["P-1", "Phone", price]])
    return path


# -- prices -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "price", "currency"),
    [
        ("￥3,999.00", "3999.00", "CNY"),
        ("¥1,299", "1299.00", "CNY"),
        ("3999元", "3999.00", "CNY"),
        ("18,000.00", "18000.00", "CNY"),
        ("RMB 59", "59.00", "CNY"),
        ("CNY 59", "59.00", "CNY"),
        ("59 CNY", "59.00", "CNY"),
        ("US$12.50", "12.50", "USD"),
        ("€ 9,90", "9.90", "EUR"),
        ("３，９９９．００元", "3999.00", "CNY"),
        ("１２９９", "1299.00", "CNY"),
        (" 1 299.00 ", "1299.00", "CNY"),
        ("1,234,567", "1234567.00", "CNY"),
    ],
)
def test_prices_as_sellers_write_them(
    tmp_path: Path, written: str, price: str, currency: str
) -> None:
    (row,) = outcomes(one_price_file(tmp_path, written))
    assert isinstance(row, ValidRow), row
    assert (row.product.price, row.product.currency) == (Decimal(price), currency)
    # A sign names the currency only where the row gives none: it is then set, and sent.
    marked = not any(c in written for c in ("18,000", "１２９９", "1 299", "1,234,567"))
    assert ("currency" in row.product.model_fields_set) == marked


@pytest.mark.parametrize(
    ("written", "price"),
    [("1.299,00", "1299.00"), ("49,90", "49.90"), ("1.299", "1299.00"), ("18,000.00", "18000.00")],
)
def test_decimal_comma_file_reads_what_is_plain(tmp_path: Path, written: str, price: str) -> None:
    (row,) = outcomes(one_price_file(tmp_path, written, semicolons=True))
    assert isinstance(row, ValidRow), row
    assert row.product.price == Decimal(price)


def test_ambiguous_price_in_a_decimal_comma_file_is_reported(tmp_path: Path) -> None:
    path = one_price_file(tmp_path, "¥1,299", semicolons=True)
    (row,) = outcomes(path)
    assert isinstance(row, RowError)
    assert (row.row.file, row.row.line) == (str(path), 2)
    ((column, value, message),) = [(e.column, e.value, e.message) for e in row.errors]
    assert (column, value) == ("price", "¥1,299")
    assert message == (
        "is ambiguous: with this file's decimal comma it is 1.299, which has more than 2 "
        "decimal places, and 1299 only if the comma groups thousands; write 1299 or 1.299,00"
    )


def test_a_weight_follows_the_decimal_comma_rule(tmp_path: Path) -> None:
    path = tmp_path / "weights.csv"
    path.write_text("sku;title;price;weight_kg\nW-1;Kettle;10;1,299\n", encoding="utf-8")
    (row,) = outcomes(path)
    assert isinstance(row, ValidRow)
    assert row.product.weight_kg == Decimal("1.299")


def test_a_sign_that_contradicts_the_currency_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "usd.csv"
    path.write_text("sku,title,price,currency\nU-1,Cable,US$12.50,CNY\n", encoding="utf-8")
    (row,) = outcomes(path)
    assert isinstance(row, RowError)
    assert row.message == (
        "price: is written in USD, but the row's currency is CNY; make them agree, or "
        "write the price without a sign"
    )


def test_json_prices_are_read_the_same_way(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text('{"sku": "J-1", "title": "t", "price": "￥3,999.00"}\n', encoding="utf-8")
    (row,) = outcomes(path)
    assert isinstance(row, ValidRow)
    assert (row.product.price, row.product.currency) == (Decimal("3999.00"), "CNY")


def test_text_that_is_no_number_keeps_its_message(tmp_path: Path) -> None:
    (row,) = outcomes(one_price_file(tmp_path, "ask us"))
    assert isinstance(row, RowError)
    assert row.message == "price: is not a number"


_AMOUNTS = st.decimals(min_value=0, max_value=10**9, places=2, allow_nan=False)
_MARKS = st.sampled_from(
    [
        ("", ""),
        ("¥", ""),
        ("￥", "元"),
        ("RMB ", ""),
        ("", " CNY"),
        ("", "人民币"),
        ("US$", ""),
        ("$", " USD"),
    ]
)


@given(amount=_AMOUNTS, marks=_MARKS, full_width=st.booleans())
def test_grouped_prices_read_back_as_their_number(
    amount: Decimal, marks: tuple[str, str], full_width: bool
) -> None:
    sign, word = marks
    text = f"{sign}{amount:,.2f}{word}"
    if full_width:
        text = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() or c in ",." else c for c in text)
    for decimal_comma in (False, True):
        read = read_amount(text, decimal_comma=decimal_comma)
        assert read is not None
        assert Decimal(read.number) == amount
        assert read.other_reading is None  # two decimals: never ambiguous


@given(amount=_AMOUNTS)
def test_decimal_comma_style_reads_back_in_a_decimal_comma_file(amount: Decimal) -> None:
    european = f"{amount:,.2f}".translate(str.maketrans(",.", ".,"))
    read = read_amount(european, decimal_comma=True)
    assert read is not None
    assert Decimal(read.number) == amount


@given(amount=st.decimals(min_value=-(10**9), max_value=10**9, places=4, allow_nan=False))
def test_plain_numbers_are_left_as_they_are(amount: Decimal) -> None:
    read = read_amount(str(amount), decimal_comma=False)
    assert read is not None
    assert Decimal(read.number) == amount
    assert read.currency is None


@given(text=st.text(max_size=20))
def test_any_text_is_an_amount_or_none_never_a_crash(text: str) -> None:
    for decimal_comma in (False, True):
        try:
            read = read_amount(text, decimal_comma=decimal_comma)
        except AmountError:
            continue
        if read is not None:
            Decimal(read.number)  # always plain decimal text
            assert unicodedata.normalize("NFKC", read.number).isascii()


# -- headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("商品编码(必填)", "sku"),
        ("商品编码（必填）", "sku"),
        ("价格（元）", "price"),
        ("价格(人民币)", "price"),
        ("库存*", "stock"),
        ("*库存", "stock"),
        ("库存（件）", "stock"),
        ("【必填】商品名称", "title"),
        ("SKU (required)", "sku"),
        ("Price*", "price"),
        ("商品编码(SKU)", "sku"),
        ("重量(kg)", "weight_kg"),
        ("重量（千克）", "weight_kg"),
        ("图片(选填)", "images"),
        # Notes that change what a column holds leave it unknown, never a wrong field.
        ("价格(美元)", None),
        ("price (USD)", None),
        ("重量(克)", None),
        ("重量(g)", None),
        ("原价(元)", None),
        ("库存(预警值)", None),
        ("商品编码(条码)", None),
        ("价格说明", None),
        ("(必填)", None),
    ],
)
def test_headers_with_notes_match_the_field_they_qualify(header: str, field: str | None) -> None:
    column = HeaderMap(PRODUCT_SCHEMA).resolve(header)
    assert (column.target if column.kind == "field" else None) == field


# -- rows that are no products -------------------------------------------------------


def test_chinese_template_export_reads_as_the_seller_means_it() -> None:
    catalog = Catalog([TEMPLATE], mapping=parse_user_mapping(["attr:颜色=颜色"], ["attributes"]))
    found = list(catalog)
    valid = [
        (o.row.line, o.product.sku, o.product.price, o.product.stock)
        for o in found
        if isinstance(o, ValidRow)
    ]
    assert valid == [
        (2, "SM-2023-Pro", Decimal("3999.00"), 100),
        (5, "EP-0002", Decimal("499.00"), 0),
    ]
    assert [o.product.attributes for o in found if isinstance(o, ValidRow)] == [
        {"颜色": "黑色"},
        {"颜色": "白色"},
    ]
    errors = [
        (o.row.line, [(e.column, e.value, e.message) for e in o.errors])
        for o in found
        if isinstance(o, RowError)
    ]
    assert errors == [
        (
            3,
            [
                (
                    "条形码",
                    "6.92019E+12",
                    "is in scientific notation, as Excel shows a long number, and its last "
                    "digits are lost; format the column as text in Excel (设置单元格格式为文本), "
                    "type the codes again, and export once more",
                )
            ],
        ),
        (
            6,
            [
                (
                    "商品编码(必填)",
                    "合计",
                    "this is a totals row (合计), not a product; delete it from the sheet, or "
                    "end the data above it",
                )
            ],
        ),
    ]
    stats = catalog.stats
    assert (stats.rows, stats.valid, stats.invalid, stats.skipped) == (5, 2, 2, 1)
    assert catalog.warnings == []


@pytest.mark.parametrize("jobs", [1, 2])
def test_empty_rows_are_counted_as_skipped_in_validate(tmp_path: Path, jobs: int) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("sku,title,price\nA-1,a,1\n,,\n , ,\nB-1,b,2\n,,\n", encoding="utf-8")
    report = validate(Catalog([path]), jobs=jobs)
    assert (report.stats.rows, report.stats.valid, report.stats.invalid) == (5, 2, 0)
    assert report.stats.skipped == 3
    assert report.to_json()["skipped"] == 3


def test_validate_summary_names_skipped_rows(tmp_path: Path) -> None:
    path = tmp_path / "gaps.csv"
    path.write_text("sku,title,price\nA-1,a,1\n,,\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    assert result.stdout == "2 rows: 1 valid, 0 invalid, 1 empty (skipped) in 1 file.\n"


@pytest.mark.parametrize("word", ["Total", "总计", "合计：", "Grand Total"])
def test_a_totals_row_gets_one_message(tmp_path: Path, word: str) -> None:
    path = tmp_path / "sum.csv"
    path.write_text(f"sku,title,price,stock\nA-1,a,1,5\n{word},,,5\n", encoding="utf-8")
    *_, last = outcomes(path)
    assert isinstance(last, RowError)
    assert len(last.errors) == 1
    assert last.errors[0].message.startswith(f"this is a totals row ({word}), not a product")


def test_a_product_named_total_is_still_a_product(tmp_path: Path) -> None:
    path = tmp_path / "total.csv"
    path.write_text("sku,title,price\nTotal,Total cleaner,5\n", encoding="utf-8")
    (row,) = outcomes(path)
    assert isinstance(row, ValidRow)


# -- codes in scientific notation -----------------------------------------------------


def test_a_sku_in_scientific_notation_is_refused_with_the_text_hint(tmp_path: Path) -> None:
    path = tmp_path / "sku.csv"
    path.write_text("sku,title,price\n6.92019E+12,Soap,5\n", encoding="utf-8")
    (row,) = outcomes(path)
    assert isinstance(row, RowError)
    assert row.message.startswith("sku: is in scientific notation")
    assert "设置单元格格式为文本" in row.message


# -- --map attr: ----------------------------------------------------------------------


def test_map_attr_makes_a_column_an_attribute(tmp_path: Path) -> None:
    path = tmp_path / "colour.csv"
    path.write_text("sku,title,price,颜色\nC-1,Cup,5,红色\n", encoding="utf-8")
    plain = CliRunner().invoke(cli, ["validate", str(path)])
    assert "--map attr:颜色=颜色" in plain.stderr
    mapped = CliRunner().invoke(cli, ["validate", "--map", "attr:颜色=颜色", str(path), "--json"])
    assert mapped.exit_code == 0, mapped.output
    assert json.loads(mapped.stdout)["warnings"] == []
    (row,) = Catalog([path], mapping=parse_user_mapping(["attr:颜色=颜色"], ["attributes"]))
    assert isinstance(row, ValidRow)
    assert row.product.attributes == {"颜色": "红色"}


def test_map_attr_needs_a_name_and_a_record_with_attributes() -> None:
    from shopsync.errors import UsageError  # noqa: PLC0415

    with pytest.raises(UsageError, match="name the attribute"):
        parse_user_mapping(["attr:=颜色"], ["attributes"])
    with pytest.raises(UsageError, match=r"'colour' is not a field; .*, or attr:NAME for an"):
        parse_user_mapping(["colour=颜色"], ["sku", "attributes"])
    with pytest.raises(UsageError, match=r"'attr:颜色' is not a field; fields are: sku, stock\.$"):
        parse_user_mapping(["attr:颜色=颜色"], ["sku", "stock"])  # a stock file has none


# -- the rejects file, in the Excel that wrote the input ---------------------------------


def _rejects_of(source: Path, tmp_path: Path) -> Path:
    rejects = tmp_path / "rejects.csv"
    validate(Catalog([source]), rejects=rejects)
    return rejects


def test_gb18030_in_gb18030_out_and_reads_back_identically(tmp_path: Path) -> None:
    rejects = _rejects_of(TEMPLATE, tmp_path)
    text = rejects.read_bytes().decode("gb18030")  # no BOM: as Chinese Excel writes "CSV"
    lines = text.split("\r\n")
    assert lines[0] == "商品编码(必填),【必填】商品名称,价格（元）,库存*,条形码,颜色,error"
    assert lines[1].startswith("TB-0001,平板电脑 11英寸,2599.50元,35,6.92019E+12,银色,")
    again = Catalog([rejects])
    assert again.files[0].detected.encoding == "gb18030"
    first = [o.row.cells for o in Catalog([TEMPLATE]) if isinstance(o, RowError)]
    second = [o.row.cells for o in again]
    assert [{k: v for k, v in row.items() if k != "error"} for row in second] == first


def test_utf16_in_unicode_text_out(tmp_path: Path) -> None:
    source = tmp_path / "unicode.txt"
    source.write_bytes(
        codecs.BOM_UTF16_LE + "商品编码\t商品名称\t价格\r\nA-1\t手机\t-5\r\n".encode("utf-16-le")
    )
    rejects = _rejects_of(source, tmp_path)
    data = rejects.read_bytes()
    assert data.startswith(codecs.BOM_UTF16_LE)
    assert data[2:].decode("utf-16-le") == (
        "商品编码\t商品名称\t价格\terror\r\n"
        f"A-1\t手机\t'-5\t{source}:2: 价格: must be greater than 0\r\n"
    )
    (row,) = Catalog([rejects])
    assert isinstance(row, RowError)
    assert row.row.raw[:3] == ["A-1", "手机", "'-5"] and row.row.header is not None
    assert row.errors[0].value == "-5"  # the guard comes off on the way back in


def test_utf8_and_windows_1252_in_give_utf8_with_bom_and_the_same_delimiter(tmp_path: Path) -> None:
    source = tmp_path / "de.csv"
    source.write_bytes("sku;title;price\nDE-1;Kaffeemühle;-1\n".encode("cp1252"))
    rejects = _rejects_of(source, tmp_path)
    assert (
        rejects.read_bytes()
        == (
            "\ufeffsku;title;price;error\r\n"
            f"DE-1;Kaffeemühle;'-1;{source}:2: price: must be greater than 0\r\n"
        ).encode()
    )
    (row,) = Catalog([rejects])
    assert isinstance(row, RowError) and row.row.raw[1] == "Kaffeemühle"


def test_upload_counts_empty_rows_as_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_BASE_URL", "SHOPSYNC_CLIENT_ID", "SHOPSYNC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "gaps.csv"
    path.write_text("sku,title,price\nA-1,a,1\n,,\n,,\nB-1,b,2\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["upload", str(path), "--sandbox", "--report", "r.json"])
    assert result.exit_code == 0, result.output
    assert "2 created, 0 updated, 0 unchanged, 0 failed, 0 rejected, 2 empty rows skipped" in (
        result.stdout
    )
    counts = json.loads((tmp_path / "r.json").read_text())["counts"]
    assert (counts["created"], counts["rejected"], counts["skipped"]) == (2, 0, 2)


def test_sample_exports_still_read_the_same(tmp_path: Path) -> None:
    # The seller samples (GBK, UTF-8 BOM, UTF-16 text) keep reading as before.
    for name in ("excel-gbk.csv", "excel-utf8-bom.csv", "excel-unicode-text.txt"):
        found = outcomes(DATA / name)
        assert [o.product.price for o in found if isinstance(o, ValidRow)] == [
            Decimal("3999.00"),
            Decimal("2599.50"),
            Decimal("499.00"),
        ]
