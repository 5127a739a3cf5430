"""The readers against real seller files: encodings, delimiters, line numbers, bad files."""

from __future__ import annotations

import csv
import json
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest

from shopsync.catalog.records import Catalog
from shopsync.domain.models import RowError, ValidRow
from shopsync.domain.prices import read_amount
from shopsync.errors import InputError
from shopsync.io.readers import ReadOptions
from shopsync.platforms.generic import GenericPlatform

DATA = Path(__file__).parent / "data"

THREE_PRODUCTS = [
    ("SM-2023-Pro", "智能手机 Pro", Decimal("3999.00"), 100, 2),
    ("TB-0001", "平板电脑 11英寸", Decimal("2599.50"), 35, 1),
    ("EP-0002", "无线耳机（降噪）", Decimal("499.00"), 0, 0),
]


def read(path: Path, **options: object) -> tuple[list[ValidRow], list[RowError], Catalog]:
    # The generic API's rules, as validate and upload hold a file to them by default.
    catalog = Catalog(
        [path],
        ReadOptions(**options),  # type: ignore[arg-type]
        constraints=GenericPlatform.product_constraints,
    )
    outcomes = list(catalog)
    valid = [o for o in outcomes if isinstance(o, ValidRow)]
    invalid = [o for o in outcomes if isinstance(o, RowError)]
    return valid, invalid, catalog


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter"),
    [
        ("excel-gbk.csv", "gb18030", ","),
        ("excel-utf8-bom.csv", "utf-8-sig", ","),
        ("excel-unicode-text.txt", "utf-16", "\t"),
    ],
)
def test_excel_exports_give_the_same_three_products(
    name: str, encoding: str, delimiter: str
) -> None:
    valid, invalid, catalog = read(DATA / name)
    assert invalid == []
    assert catalog.files[0].detected.encoding == encoding
    assert catalog.files[0].delimiter == delimiter
    got = [
        (r.product.sku, r.product.title, r.product.price, r.product.stock, len(r.product.images))
        for r in valid
    ]
    assert got == THREE_PRODUCTS
    assert [r.row.line for r in valid] == [2, 3, 4]


def test_semicolon_file_reads_decimal_commas_and_cp1252() -> None:
    valid, invalid, catalog = read(DATA / "semicolon-decimal-comma.csv")
    assert invalid == []
    assert catalog.files[0].decimal_comma is True
    assert [(r.product.sku, r.product.title, r.product.price) for r in valid] == [
        ("DE-1", "Kaffeemühle", Decimal("49.90")),
        ("DE-2", 'Wasserkocher "Eco"', Decimal("1299.00")),
    ]


def test_broken_csv_rejects_eight_rows_on_their_physical_lines() -> None:
    valid, invalid, _ = read(DATA / "broken.csv")
    assert [r.product.sku for r in valid] == ["OK-1", "FORMULA-1", "MULTI-1"]
    assert [(r.row.line, r.product.sku) for r in valid][2] == (10, "MULTI-1")
    assert valid[2].product.description == "line one\nline two"
    assert [(e.row.line, e.errors[0].column, e.errors[0].message) for e in invalid] == [
        (3, "sku", "is required"),
        (4, "price", "must be greater than 0"),
        (5, "stock", "is not a whole number"),
        (
            6,
            "sku",
            f"duplicate SKU: already at {DATA / 'broken.csv'}:2; this later row is not used",
        ),
        (7, "title", "is longer than 255 characters"),
        (8, "images", "image 'http://cdn.example.com/a.jpg' is not an absolute https:// URL"),
        (12, "price", "has more than 2 decimal places"),
        (
            13,
            "sku",
            "may hold only letters, digits, '.', '_' and '-' (1 to 64 characters, no spaces)",
        ),
    ]


def test_wrapped_json_reads_prices_as_decimals_with_line_numbers() -> None:
    valid, invalid, _ = read(DATA / "wrapped.json")
    assert invalid == []
    assert [(r.row.line, r.product.sku, r.product.price) for r in valid] == [
        (3, "J-1", Decimal("3999.00")),
        (13, "J-2", Decimal("19.90")),
    ]
    assert valid[0].product.images == ["https://cdn.com/img1.jpg", "https://cdn.com/img2.jpg"]


def test_jsonl_bad_line_is_one_rejected_row_between_good_ones() -> None:
    valid, invalid, _ = read(DATA / "with-bad-line.jsonl")
    assert [(r.row.line, r.product.sku) for r in valid] == [(1, "J-1"), (3, "J-2")]
    assert len(invalid) == 1
    assert invalid[0].row.line == 2
    assert invalid[0].errors[0].message == "not valid JSON: Expecting ',' delimiter"


def test_json_array_is_streamed_in_small_chunks(tmp_path: Path) -> None:
    # Many items with long text cross the scanner's chunk boundaries at every offset.
    items = [
        {"sku": f"S-{i}", "title": "x" * (i % 200 + 1), "price": f"{i + 1}.5", "stock": i}
        for i in range(2000)
    ]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"meta": {"n": [1, 2]}, "products": items}, indent=1))
    valid, invalid, _ = read(path)
    assert invalid == []
    assert [r.product.sku for r in valid] == [f"S-{i}" for i in range(2000)]
    text_lines = path.read_text().splitlines()
    for row in (valid[0], valid[1234], valid[-1]):
        assert text_lines[row.row.line - 1].strip() == "{"
        assert f'"{row.product.sku}"' in text_lines[row.row.line]


def test_json_syntax_error_midway_ends_the_file_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "cut.json"
    path.write_text('[\n{"sku": "A", "title": "a", "price": 1},\n{"sku": "B", "title": \n]')
    valid, invalid, _ = read(path)
    assert [r.product.sku for r in valid] == ["A"]
    assert invalid[0].row.line == 4
    assert "invalid JSON at line 4" in invalid[0].message
    assert "The rest of the file was not read." in invalid[0].message


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"", "empty.csv", "the file is empty"),
        (b"\r\n\r\n", "blank.csv", "the file is empty"),
        (b"42", "scalar.json", "the JSON document is a number, not a list of products"),
        (b'{"count": 2}', "object.json", "holds no list of products (keys: count)"),
        (b"\x00\x01\x02\x03binary", "blob.csv", "binary file"),
        (b"%PDF-1.7 ...", "doc.csv", "PDF document"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1", "old.csv", "old Excel workbook (.xls)"),
        (b"sku,title\r\nA,a\r\n", "noprice.csv", "no column for price"),
        (b"a,b\r\n1,2\r\n", "data.xml", "cannot tell the format from the extension '.xml'"),
    ],
)
def test_files_that_are_not_catalogs_get_one_clear_message(
    tmp_path: Path, content: bytes, name: str, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as caught:
        Catalog([path])
    assert message in caught.value.message
    assert str(path) in caught.value.message


def test_xlsx_named_csv_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "products.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    with pytest.raises(InputError) as caught:
        Catalog([path])
    assert "Excel workbook (.xlsx)" in caught.value.message
    assert caught.value.hint is not None
    assert "CSV UTF-8" in caught.value.hint


def test_bytes_that_fit_no_encoding_name_the_offset_at_open(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(b"sku,title,price\nA,ok,1\nB,\x81,2\n")  # 0x81 is undefined in cp1252
    with pytest.raises(InputError) as caught:
        Catalog([path])
    assert "the bytes at byte offset 25 (line 3) are not valid cp1252" in caught.value.message
    assert caught.value.hint is not None
    assert "--encoding" in caught.value.hint


def test_bad_bytes_deep_in_a_file_end_it_after_the_good_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    good = b"".join(b"S-%d,Caf\xe9 %d,1\n" % (i, i) for i in range(5000))
    path.write_bytes(b"sku,title,price\n" + good + b"B,\x81,2\n")
    catalog = Catalog([path])
    outcomes = list(catalog)
    assert catalog.files[0].detected.encoding == "cp1252"
    assert all(isinstance(o, ValidRow) for o in outcomes[:-1])
    assert len(outcomes) >= 4000  # rows decoded before the bad chunk still come through
    failure = outcomes[-1]
    assert isinstance(failure, RowError)
    offset = path.read_bytes().index(b"\x81")
    assert f"byte offset {offset} (line 5002)" in failure.message
    assert "The rest of the file was not read." in failure.message


def test_user_mapping_and_attribute_columns(tmp_path: Path) -> None:
    path = tmp_path / "own.csv"
    path.write_text(
        'Artikel,Product Name,Preis,attr:colour,Lieferant\nA-1,Kaffee,"4,50",red,ACME\n',
        encoding="utf-8",
    )
    catalog = Catalog([path], ReadOptions(decimal_comma=True), {"sku": "Artikel"})
    (row,) = list(catalog)
    assert isinstance(row, ValidRow)
    assert (row.product.sku, row.product.title, row.product.price) == (
        "A-1",
        "Kaffee",
        Decimal("4.50"),
    )
    assert row.product.attributes == {"colour": "red"}
    assert [w.message.split(";")[0] for w in catalog.warnings] == [
        "column 'Lieferant' is not a product field and is ignored"
    ]


def test_two_columns_for_one_field_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("sku,商品编码,title,price\nA,B,t,1\n", encoding="utf-8")
    with pytest.raises(InputError, match="columns 'sku' and '商品编码' both mean 'sku'"):
        Catalog([path])


def test_too_many_cells_is_a_row_error(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    path.write_text("sku,title,price\nA,a,1,extra\nB,b,2\n", encoding="utf-8")
    outcomes = list(Catalog([path]))
    assert isinstance(outcomes[0], RowError)
    assert "the row has 4 cells but the header names 3 columns" in outcomes[0].message
    assert isinstance(outcomes[1], ValidRow)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.299,00", "1299.00"),
        ("49,90", "49.90"),
        ("1.234.567,5", "1234567.5"),
        ("49.90", "49.90"),
        ("12", "12"),
        ("1.299", "1299"),
        ("abc", None),
    ],
)
def test_decimal_comma_rule(text: str, expected: str | None) -> None:
    amount = read_amount(text, decimal_comma=True)
    assert (amount.number if amount else None) == expected


def test_duplicates_across_files_name_both_places(tmp_path: Path) -> None:
    first = tmp_path / "a.csv"
    second = tmp_path / "b.jsonl"
    first.write_text("sku,title,price\nX-1,one,1\n", encoding="utf-8")
    second.write_text('{"sku": "X-1", "title": "two", "price": "2"}\n', encoding="utf-8")
    outcomes = list(Catalog([first, second]))
    assert isinstance(outcomes[0], ValidRow)
    assert isinstance(outcomes[1], RowError)
    assert (
        outcomes[1].message
        == f"sku: duplicate SKU: already at {first}:2; this later row is not used"
    )


@pytest.mark.parametrize("title", ["=SUM(A1)", "'quoted", "'=x", "''", "-3 dB", "@home", "plain"])
def test_guarded_cells_read_back_as_written(tmp_path: Path, title: str) -> None:
    from shopsync.io.writers import safe_cell  # noqa: PLC0415

    path = tmp_path / "guarded.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([["sku", "title", "price"], ["G-1", safe_cell(title), "1"]])
    (row,) = list(Catalog([path]))
    assert isinstance(row, ValidRow)
    assert row.product.title == title
