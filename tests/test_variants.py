"""Products with variants from CSV, XLSX and JSON: one plan, and exactly the changes made."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import openpyxl

from shopsync.catalog.records import Catalog
from shopsync.catalog.variants import GroupBuffer, VariantRow
from shopsync.domain.models import Product, RowError, SourceRow, ValidRow
from shopsync.state.ledger import Ledger, LedgerEntry
from shopsync.sync.planner import Change, Planner

HEADER = ["handle", "sku", "title", "price", "stock", "option:Size", "option:Colour"]
PRODUCTS = ("tee", "hoodie", "cap")


def rows(price: dict[str, str] | None = None) -> list[list[str]]:
    """3 products of 4 variants (2 sizes by 2 colours), title only on each first row."""
    out: list[list[str]] = []
    for number, handle in enumerate(PRODUCTS):
        first = True
        for size in ("S", "M"):
            for colour in ("Red", "Blue"):
                sku = f"{handle}-{size}-{colour}".upper()
                title = handle.title() if first else ""
                cost = (price or {}).get(sku, f"{10 + number}.00")
                out.append([handle, sku, title, cost, "5", size, colour])
                first = False
    return out


def write_csv(path: Path, body: list[list[str]]) -> Path:
    path.write_text("\n".join(",".join(row) for row in [HEADER, *body]) + "\n", encoding="utf-8")
    return path


def write_xlsx(path: Path, body: list[list[str]]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(HEADER)
    for row in body:
        # Prices and stock as numbers, as a seller's workbook holds them.
        sheet.append([float(cell) if i in (3, 4) else (cell or None) for i, cell in enumerate(row)])
    workbook.save(path)
    return path


def write_json(path: Path, body: list[list[str]]) -> Path:
    products: dict[str, dict[str, Any]] = {}
    for handle, sku, title, price, stock, size, colour in body:
        product = products.setdefault(
            handle, {"handle": handle, "options": ["Size", "Colour"], "variants": []}
        )
        if title:
            product["title"] = title
        product["variants"].append(
            {
                "sku": sku,
                "options": {"Size": size, "Colour": colour},
                "price": price,
                "stock": int(stock),
            }
        )
    path.write_text(json.dumps(list(products.values())), encoding="utf-8")
    return path


def plan(ledger: Ledger, path: Path) -> list[Change]:
    valid = [outcome for outcome in Catalog([path]) if isinstance(outcome, ValidRow)]
    return list(Planner(ledger).plan(valid))


def uploaded(ledger: Ledger, changes: list[Change]) -> None:
    """What the engine records after the platform created every product."""
    ledger.record({c.sku: LedgerEntry.of(f"p-{c.sku}", c.body, "created") for c in changes})


def test_csv_xlsx_and_json_give_one_plan(tmp_path: Path) -> None:
    plans = []
    for writer, name in ((write_csv, "c.csv"), (write_xlsx, "c.xlsx"), (write_json, "c.json")):
        with Ledger(tmp_path / f"ledger-{name}") as ledger:
            changes = plan(ledger, writer(tmp_path / name, rows()))
        plans.append([(c.kind, c.sku, c.body_json) for c in changes])
    assert plans[0] == plans[1] == plans[2]
    assert [(kind, key) for kind, key, _ in plans[0]] == [("create", h) for h in PRODUCTS]
    tee = json.loads(plans[0][0][2])
    assert [v["sku"] for v in tee["variants"]] == [
        "TEE-S-RED",
        "TEE-S-BLUE",
        "TEE-M-RED",
        "TEE-M-BLUE",
    ]


def test_a_price_a_size_and_a_colour_change_exactly_those(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger") as ledger:
        uploaded(ledger, plan(ledger, write_csv(tmp_path / "a.csv", rows())))
        assert {c.kind for c in plan(ledger, tmp_path / "a.csv")} == {"unchanged"}

        body = rows(price={"TEE-M-RED": "19.00"})
        body.append(["hoodie", "HOODIE-L-RED", "", "11.00", "5", "L", "Red"])  # a size
        body = [row for row in body if not (row[0] == "cap" and row[6] == "Blue")]  # a colour
        changes = plan(ledger, write_csv(tmp_path / "b.csv", body))

    by_key = {c.sku: c for c in changes}
    assert {key: c.kind for key, c in by_key.items()} == {
        "tee": "update",
        "hoodie": "update",
        "cap": "unchanged",
    }
    assert by_key["tee"].diff() == [("variant TEE-M-RED price", "10.00", "19.00")]
    assert [v["sku"] for v in by_key["tee"].changed_variants()] == ["TEE-M-RED"]
    assert by_key["hoodie"].diff() == [("variant HOODIE-L-RED", None, "added (L / Red)")]
    # Removing rows keeps those variants on the platform, and says so.
    assert by_key["cap"].kept_variants == ("CAP-S-BLUE", "CAP-M-BLUE")


def test_removing_variants_is_asked_for(tmp_path: Path) -> None:
    with Ledger(tmp_path / "ledger") as ledger:
        uploaded(ledger, plan(ledger, write_csv(tmp_path / "a.csv", rows())))
        body = [row for row in rows() if not (row[0] == "cap" and row[6] == "Blue")]
        valid = [
            o for o in Catalog([write_csv(tmp_path / "b.csv", body)]) if isinstance(o, ValidRow)
        ]
        changes = list(Planner(ledger, remove_missing_variants=True).plan(valid))
    cap = next(c for c in changes if c.sku == "cap")
    assert cap.kind == "update"
    assert cap.removed_variants == ("CAP-S-BLUE", "CAP-M-BLUE")
    assert cap.diff() == [
        ("variant CAP-S-BLUE", "present", "removed"),
        ("variant CAP-M-BLUE", "present", "removed"),
    ]


def test_rows_that_disagree_are_refused_naming_every_place(tmp_path: Path) -> None:
    body = rows()
    body[1][2] = "Another title"  # contradicts the first row of tee
    body[2][6] = "Red"  # TEE-M-RED's option values again
    body[2][5] = "S"
    body[3][6] = ""  # no colour
    body.append(["mug", "TEE-S-RED", "Mug", "5", "1", "", ""])  # a SKU of another product
    outcomes = list(Catalog([write_csv(tmp_path / "bad.csv", body)]))
    errors = {o.row.line: o.message for o in outcomes if isinstance(o, RowError)}
    assert errors == {
        3: "title: differs from line 2 ('Tee'), this product's first row, where product-level "
        "values come from",
        4: "option:Size: the same option values as line 2 of product tee",
        5: "option:Colour: has no value, but the product's options (line 2) include 'Colour'",
        14: f"sku: duplicate SKU: already at {tmp_path / 'bad.csv'}:2; this later row is not used",
    }


def test_scattered_groups_wait_on_disk_past_the_cap() -> None:
    counts = {f"h{i}": 3 for i in range(10)}
    done: list[list[VariantRow]] = []
    with GroupBuffer(counts, memory_rows=4) as buffer:
        for round_ in range(3):
            for i in range(10):
                row = VariantRow(SourceRow("f", round_ * 10 + i, ["x"], ("a",)), {}, {"sku": i})
                complete = buffer.add(f"h{i}", row)
                if complete:
                    done.append(complete)
        assert buffer.spilled_rows > 0
    assert len(done) == 10
    assert [[r.row.line for r in group] for group in done][:2] == [[0, 10, 20], [1, 11, 21]]


def test_a_file_without_handles_reads_as_it_always_did(tmp_path: Path) -> None:
    path = tmp_path / "single.csv"
    path.write_text("sku,title,price,option:Size\nA-1,Lamp,10,M\n", encoding="utf-8")
    catalog = Catalog([path])
    (outcome,) = list(catalog)
    assert isinstance(outcome, ValidRow)
    product: Product = outcome.product
    assert product.api_json == (
        '{"sku":"A-1","title":"Lamp","price":"10.00","currency":"CNY","stock":0,"images":[],'
        '"status":"active"}'
    )
    assert "belongs to variants and is ignored" in catalog.warnings[0].message
