"""Issue 15's scale run: 1,000 products (300 with 3 variants) into the real Medusa, from CSV
and from XLSX, through ``shopsync upload`` and ``shopsync stock``.

Each format: every SKU once on the server with the file's price and stock; a re-run sends
nothing; one changed variant price is one write; a stock file of every SKU with five
counts changed sends only those five. About 2-4 minutes a format on this machine (2 cores,
shared): most of it is Medusa creating 1,600 variants and their inventory items.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import requests
from click.testing import CliRunner
from faultproxy import FaultProxy
from harness import MedusaServer
from medusa_marks import MEDUSA_TESTS

from shopsync.cli import cli

pytestmark = [*MEDUSA_TESTS, pytest.mark.slow]
HEADER = ["handle", "sku", "title", "price", "stock", "option:Size"]
PRODUCTS = 1000
WITH_VARIANTS = 300
SIZES = ("S", "M", "L")
_CHUNK = 100


def catalog_rows(prefix: str) -> list[list[str]]:
    """1,000 products: the first 300 of 3 sizes each (a handle, a title on the first row),
    the other 700 of one SKU; prices and stock vary by row."""
    rows: list[list[str]] = []
    for n in range(PRODUCTS):
        if n < WITH_VARIANTS:
            for k, size in enumerate(SIZES):
                title = f"Tee {n}" if k == 0 else ""
                price = f"{10 + n % 17}.{k}0"
                rows.append(
                    [
                        f"{prefix.lower()}-tee-{n}",
                        f"{prefix}-{n:04d}-{size}",
                        title,
                        price,
                        str((n + k) % 9),
                        size,
                    ]
                )
        else:
            rows.append(["", f"{prefix}-{n:04d}", f"Mug {n}", f"{5 + n % 13}.95", str(n % 7), ""])
    return rows


def write_catalog(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """``rows`` as a CSV, or (``.xlsx``) a workbook with prices and stock as numbers."""
    if path.suffix == ".xlsx":
        book = openpyxl.Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.append(HEADER)
        for row in rows:
            sheet.append(
                [float(cell) if i in (3, 4) else (cell or None) for i, cell in enumerate(row)]
            )
        book.save(path)
        return path
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def _get(server: MedusaServer, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    answer = requests.get(
        server.base_url + path, params=query, headers=server.admin_headers(), timeout=120
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def on_server(server: MedusaServer, skus: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """Each SKU's variants on the server, as (EUR price, stock at the location)."""
    found: dict[str, list[tuple[str, int]]] = {sku: [] for sku in skus}
    stock: dict[str, int] = {}
    location = server.setup.stock_location_id
    for start in range(0, len(skus), _CHUNK):
        chunk = [("sku[]", sku) for sku in skus[start : start + _CHUNK]]
        items = _get(
            server,
            "/admin/inventory-items",
            [
                *chunk,
                ("fields", "sku,location_levels.location_id,location_levels.stocked_quantity"),
                ("limit", str(2 * _CHUNK)),
            ],
        )["inventory_items"]
        for item in items:
            for level in item["location_levels"]:
                if level["location_id"] == location:
                    stock[item["sku"]] = int(level["stocked_quantity"])
        variants = _get(
            server,
            "/admin/product-variants",
            [*chunk, ("fields", "sku,*prices"), ("limit", str(2 * _CHUNK))],
        )["variants"]
        for variant in variants:
            [price] = [p["amount"] for p in variant["prices"] if p["currency_code"] == "eur"]
            found[variant["sku"]].append((f"{Decimal(str(price)):.2f}", stock[variant["sku"]]))
    return found


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_thousand_products_once_then_nothing_then_one_price_then_five_counts(
    suffix: str,
    fault_proxy: FaultProxy,
    medusa_server: MedusaServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    prefix = "K" + uuid.uuid4().hex[:6].upper()
    rows = catalog_rows(prefix)
    catalog = write_catalog(tmp_path / f"catalog{suffix}", rows)
    skus = [row[1] for row in rows]
    env = {
        "SHOPSYNC_PLATFORM": "medusa",
        "SHOPSYNC_BASE_URL": fault_proxy.base_url,
        "SHOPSYNC_API_KEY": medusa_server.api_key,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_WORKERS": "2",
        "HOME": str(tmp_path),
    }

    first = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert first.exit_code == 0, first.output
    assert "1000 created, 0 updated, 0 unchanged, 0 failed, 0 rejected" in first.stdout
    wanted = {row[1]: [(f"{Decimal(row[3]):.2f}", int(row[4]))] for row in rows}
    assert on_server(medusa_server, skus) == wanted

    fault_proxy.clear()
    again = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 1000 unchanged" in again.stdout
    assert sum(fault_proxy.forwarded.values()) == 0

    # One size of one tee gets a new price: one request, to that product's variants.
    rows[4][3] = "99.00"  # product 1, size M
    write_catalog(catalog, rows)
    fault_proxy.clear()
    changed = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert changed.exit_code == 0, changed.output
    assert "0 created, 1 updated, 999 unchanged" in changed.stdout
    assert fault_proxy.writes() == 1
    [written] = [key for key in fault_proxy.forwarded if not key.startswith("GET ")]
    assert written.endswith("/variants/batch")
    assert on_server(medusa_server, [rows[4][1]])[rows[4][1]] == [("99.00", int(rows[4][4]))]

    # A stock file of every SKU, five counts changed: only those five are sent.
    counts = {row[1]: int(row[4]) for row in rows}
    moved = [skus[0], skus[500], skus[899], skus[900], skus[-1]]
    for sku in moved:
        counts[sku] += 3
    stock_file = tmp_path / "stock.csv"
    stock_file.write_text(
        "sku,stock\n" + "".join(f"{sku},{n}\n" for sku, n in counts.items()), encoding="utf-8"
    )
    fault_proxy.clear()
    stocked = runner.invoke(cli, ["stock", str(stock_file)], env=env)
    assert stocked.exit_code == 0, stocked.output
    assert f"5 counts changed, {len(skus) - 5} unchanged, 0 failed" in stocked.stdout
    assert fault_proxy.writes() == 1
    assert {sku: stock for sku, [(_, stock)] in on_server(medusa_server, moved).items()} == {
        sku: counts[sku] for sku in moved
    }
