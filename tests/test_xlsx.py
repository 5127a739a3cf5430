"""Excel workbooks: cells as the seller means them, sheets, messages, hostile files.

Every workbook is made here, with openpyxl (as Excel stores the cells: numbers as
numbers) or, for the hostile ones, by writing the zip by hand.
"""

from __future__ import annotations

import csv
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from shopsync.catalog.records import Catalog, validate
from shopsync.cli import cli
from shopsync.domain.models import RowError, ValidRow
from shopsync.errors import InputError
from shopsync.io.readers import ReadOptions, open_file
from shopsync.io.xlsx import cell_text

EXAMPLES = Path(__file__).parent.parent / "examples"
HEADER = ["sku", "title", "price", "stock", "barcode"]


def workbook(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def products(path: Path, **options: Any) -> list[ValidRow[Any] | RowError]:
    return list(Catalog([path], ReadOptions(**options)))


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_BASE_URL", "SHOPSYNC_CLIENT_ID", "SHOPSYNC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_cells_excel_mangles_read_as_the_seller_meant(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "catalog.xlsx",
        {
            "Sheet1": [
                HEADER,
                ["00123", "Mug", 12.5, 5, 4006381333931],  # the EAN stored as a number
                [4711, "Cup", 3, 2.0, 4.006381333932e12],  # a numeric SKU, float stock
            ]
        },
    )
    rows = products(path)
    assert all(isinstance(row, ValidRow) for row in rows), rows
    got = [(r.product.sku, str(r.product.price), r.product.stock, r.product.barcode) for r in rows]  # type: ignore[union-attr]
    assert got == [("00123", "12.50", 5, "4006381333931"), ("4711", "3.00", 2, "4006381333932")]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (4006381333931.0, "4006381333931"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.3"),
        (1e20, "100000000000000000000"),
        (True, "TRUE"),
        (date(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1), "2024-03-01"),
        (datetime(2024, 3, 1, 10, 30), "2024-03-01 10:30:00"),
        (None, ""),
        ("00123", "00123"),
    ],
)
def test_cell_text(value: Any, text: str) -> None:
    assert cell_text(value) == text


def test_a_price_typed_as_text_reads_as_the_same_text_in_a_csv(tmp_path: Path) -> None:
    """'¥12.50' stored as text: the workbook's row is exactly the CSV's row."""
    rows = [HEADER, ["A-1", "Mug", "¥12.50", "5", ""], ["A-2", "Cup", "12,50", "1", ""]]
    book = products(workbook(tmp_path / "c.xlsx", {"S": rows}))
    text = tmp_path / "c.csv"
    with text.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    plain = products(text)

    def shape(outcomes: list[Any]) -> list[Any]:
        return [
            o.product.model_dump() if isinstance(o, ValidRow) else [e.message for e in o.errors]
            for o in outcomes
        ]

    assert shape(book) == shape(plain)


def test_messages_name_the_sheet_and_its_row_numbers(tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "catalog.xlsx",
        {"Intro": [["read me"]], "Products": [[], [], HEADER, ["A-1", "Mug", -1, 5, None]]},
    )
    report = validate(Catalog([path], ReadOptions(sheet="Products")), rejects=tmp_path / "r.csv")
    [error] = report.errors
    assert (error.row.file, error.row.line) == (f"{path}[Products]", 4)
    assert [e.message for e in error.errors] == ["must be greater than 0"]
    # UTF-8 with a byte-order mark, so that the Excel that wrote the workbook reads it.
    with (tmp_path / "r.csv").open(encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.reader(handle))
    assert rejected[0] == [*HEADER, "error"]
    assert rejected[1][:2] == ["A-1", "Mug"]
    assert rejected[1][-1] == f"{path}[Products]:4: price: must be greater than 0"


def test_sheet_by_name_or_number_and_an_unknown_one(runner: CliRunner, tmp_path: Path) -> None:
    path = workbook(
        tmp_path / "c.xlsx",
        {"One": [HEADER, ["A-1", "Mug", 1, 1, None]], "Two": [HEADER, ["B-1", "Cup", 0, 1, None]]},
    )
    first = runner.invoke(cli, ["validate", str(path)])
    assert first.exit_code == 0, first.output
    assert first.stdout == "1 row: 1 valid, 0 invalid in 1 file.\n"
    for sheet in ("Two", "2"):
        second = runner.invoke(cli, ["validate", str(path), "--sheet", sheet, "--rejects", "r.csv"])
        assert second.exit_code == 3
        assert second.stdout.splitlines() == [
            f"{path}[Two]:2: price: must be greater than 0 (value: '0')",
            "1 row: 0 valid, 1 invalid in 1 file.",
            "Rejected rows written to r.csv (1), as CSV (rows from a workbook too).",
        ]
    missing = runner.invoke(cli, ["validate", str(path), "--sheet", "Three"])
    assert missing.exit_code == 3
    assert missing.stderr == (
        f"Error: {path}: no sheet 'Three' (the sheets are: One, Two).\n"
        "Hint: Pass --sheet with a sheet's name or its number, 1 for the first.\n"
    )


def test_formulas_without_a_result_and_merged_cells_are_reported(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "S"
    sheet.append(HEADER)
    sheet.append(["A-1", "Mug", 2, "=1+1", None])  # openpyxl saves no cached result
    sheet.append(["A-2", "Cup", 3, 1, None])
    sheet.merge_cells("B2:B3")
    path = tmp_path / "f.xlsx"
    book.save(path)
    catalog = Catalog([path])
    assert [w.message for w in catalog.warnings] == [
        "1 formula without a saved result, read as empty (D2); open the workbook in Excel "
        "and save it to compute them.",
        "1 merged range (B2:B3): only the first cell of each holds the value, the others "
        "are read as empty.",
    ]
    assert {w.file for w in catalog.warnings} == {f"{path}[S]"}


def test_the_example_catalog_as_a_workbook_uploads_the_same_products(
    runner: CliRunner, tmp_path: Path
) -> None:
    """Typed as Excel types it (prices, stock, EANs as numbers), then planned from the CSV."""
    with (EXAMPLES / "products.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle))
    numeric = {"price", "stock", "barcode", "weight_kg"}
    columns = rows[0]
    typed: list[list[Any]] = [columns]
    for row in rows[1:]:
        typed.append(
            [
                (float(v) if "." in v else int(v)) if c in numeric and v else (v or None)
                for c, v in zip(columns, row, strict=True)
            ]
        )
    path = workbook(tmp_path / "products.xlsx", {"Products": typed})
    upload = runner.invoke(cli, ["upload", str(path), "--sandbox"])
    assert upload.exit_code == 0, upload.output
    assert "200 created, 0 updated, 0 unchanged, 0 failed, 0 rejected" in upload.stdout
    plan = runner.invoke(cli, ["plan", str(EXAMPLES / "products.csv"), "--sandbox"])
    assert plan.exit_code == 0, plan.output
    assert plan.stdout == "Plan: 0 to create, 0 to update, 200 unchanged, 0 rejected.\n"


# -- files that are not what they claim, or hostile --------------------------------------


def _refused(path: Path) -> str:
    with pytest.raises(InputError) as caught:
        open_file(path, ReadOptions())
    return caught.value.message


def _minimal_xlsx(path: Path, sheet_xml: bytes, *, shared: bytes | None = None) -> Path:
    """An .xlsx written by hand, around ``sheet_xml``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/'
            '2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
            'relationships+xml"/><Override PartName="/xl/workbook.xml" ContentType="'
            'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
            '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
            'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            "openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            '" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
            'spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
            'officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" '
            'r:id="rId1"/></sheets></workbook>',
        )
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.'
            'openxmlformats.org/officeDocument/2006/relationships/worksheet" '
            'Target="worksheets/sheet1.xml"/></Relationships>',
        )
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        if shared is not None:
            archive.writestr("xl/sharedStrings.xml", shared)
    return path


_SHEET_OPEN = (
    b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
    b'spreadsheetml/2006/main"><sheetData>'
)
_TWO_ROWS = (
    b'<row r="1"><c r="A1" t="inlineStr"><is><t>sku</t></is></c><c r="B1" t="inlineStr">'
    b'<is><t>title</t></is></c><c r="C1" t="inlineStr"><is><t>price</t></is></c></row>'
    b'<row r="2"><c r="A2" t="inlineStr"><is><t>A-1</t></is></c><c r="B2" t="inlineStr">'
    b'<is><t>Mug</t></is></c><c r="C2"><v>9.5</v></c></row>'
)


def test_a_renamed_csv_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.xlsx"
    path.write_text("sku,title,price\nA-1,Mug,1\n", encoding="utf-8")
    assert _refused(path) == f"{path}: this is not an Excel workbook: the file is text (CSV?)."


def test_a_password_protected_workbook_is_refused(tmp_path: Path) -> None:
    # What Excel writes when a password is set: an OLE compound file whose directory
    # names an EncryptedPackage stream (and an EncryptionInfo one).
    path = tmp_path / "secret.xlsx"
    directory = "EncryptionInfo".encode("utf-16-le").ljust(64, b"\0")
    directory += "EncryptedPackage".encode("utf-16-le").ljust(64, b"\0")
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504 + directory)
    assert _refused(path) == f"{path}: the workbook is password-protected (encrypted)."


def test_a_zip_bomb_is_refused_without_expanding_it(tmp_path: Path) -> None:
    row = b'<row r="3"><c r="A3"><v>1</v></c></row>'
    sheet = _SHEET_OPEN + _TWO_ROWS + b" " * (64 << 20) + row + b"</sheetData></worksheet>"
    path = _minimal_xlsx(tmp_path / "bomb.xlsx", sheet)
    assert path.stat().st_size < 1 << 20
    message = _refused(path)
    assert message.startswith(f"{path}: xl/worksheets/sheet1.xml expands 67,109,")
    assert message.endswith("far beyond any real workbook; it is not read (a zip bomb?).")


def test_xml_with_entity_declarations_is_refused(tmp_path: Path) -> None:
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        b"<si><t>&lol2;</t></si></sst>"
    )
    sheet = _SHEET_OPEN + _TWO_ROWS + b"</sheetData></worksheet>"
    path = _minimal_xlsx(tmp_path / "lol.xlsx", sheet, shared=laughs)
    assert _refused(path) == (
        f"{path}: xl/sharedStrings.xml declares a document type (possible entity "
        "expansion); it is not read."
    )


def test_a_declared_dimension_of_billions_of_cells_is_refused(tmp_path: Path) -> None:
    sheet = (
        _SHEET_OPEN.replace(b"<sheetData>", b'<dimension ref="A1:XFD1048576"/><sheetData>')
        + _TWO_ROWS
        + b"</sheetData></worksheet>"
    )
    path = _minimal_xlsx(tmp_path / "wide.xlsx", sheet)
    assert _refused(path) == (
        f"{path}[Sheet1]: the sheet spans 1,048,576 rows by 16,384 columns, more cells "
        "than shopsync reads from one sheet."
    )


def test_a_million_empty_styled_rows_read_as_the_rows_with_values(tmp_path: Path) -> None:
    empty = b"".join(b'<row r="%d"><c r="A%d" s="1"/></row>' % (n, n) for n in range(3, 1_000_003))
    sheet = _SHEET_OPEN + _TWO_ROWS + empty + b"</sheetData></worksheet>"
    path = _minimal_xlsx(tmp_path / "styled.xlsx", sheet)
    rows = products(path)
    assert [(r.row.file, r.row.line, r.product.sku) for r in rows] == [  # type: ignore[union-attr]
        (f"{path}[Sheet1]", 2, "A-1")
    ]
