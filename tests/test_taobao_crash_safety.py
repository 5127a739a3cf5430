"""Issue 18: 500 Taobao items with SKUs and local images exactly once across SIGKILLs.

TOP has no idempotency keys, so nothing but the ledger's pending batches and the lookup by
``outer_id`` keeps a killed run's item from being made twice. The sandbox runs as its own
process, speaking the Taobao dialect, with 5% failures (gateway 502/503 and ``isp``
errors), 2% commit-then-drop and 1% connection resets.
"""

from __future__ import annotations

import csv
import os
import random
import struct
import zlib
from pathlib import Path

import pytest
import requests

from crash_support import SHOPSYNC, faulty_sandbox, run_killing
from shopsync.catalog.records import Catalog
from shopsync.config import load_settings
from shopsync.domain.models import ValidRow
from shopsync.platforms import connect, platform_settings
from shopsync.state.ledger import Ledger

ROWS = 500
IMAGES = 10


def _png(shade: int) -> bytes:
    """A real 1×1 PNG of one colour (the catalog reads its size)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, shade, 0, 0]))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _write_catalog(path: Path) -> None:
    """500 products with two SKUs each (black and white), sharing ten local images."""
    images = path.parent / "images"
    images.mkdir()
    for n in range(IMAGES):
        (images / f"tee-{n}.png").write_bytes(_png(n * 20))
    chance = random.Random(18)  # noqa: S311 - a reproducible catalog
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["handle", "sku", "title", "price", "stock", "images", "option:颜色", "taobao:cid"]
        )
        for n in range(ROWS):
            title = f"纯棉T恤 {chance.choice(['男款', '女款', '童装'])} {n:03d}"
            image = f"images/tee-{n % IMAGES}.png"
            for colour, code in (("BK", "1627207:28341"), ("WH", "1627207:28320")):
                price = f"{chance.randint(10, 500)}.90"
                writer.writerow(
                    [
                        f"TB-{n:04d}",
                        f"TB-{n:04d}-{colour}",
                        title,
                        price,
                        chance.randint(0, 99),
                        image,
                        code,
                        50000436,
                    ]
                )


def handle_items(db: Path) -> dict[str, tuple[list[str], str]]:
    """``outer_id → (its SKUs' outer_ids, pic_path)`` of every item in the sandbox's file."""
    import json  # noqa: PLC0415
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sku, data FROM products WHERE archived = 0").fetchall()
    out: dict[str, tuple[list[str], str]] = {}
    for sku, data in rows:
        values = json.loads(data)
        out[sku] = ([s["outer_id"] for s in values.get("skus", [])], values.get("pic_path", ""))
    return out


@pytest.mark.slow
def test_500_items_are_each_made_once_across_sigkills(tmp_path: Path) -> None:
    catalog = tmp_path / "items.csv"
    _write_catalog(catalog)
    with faulty_sandbox(tmp_path / "shop.db", 18, dialect="taobao") as base_url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
            "SHOPSYNC_PLATFORM": "taobao",
            "SHOPSYNC_BASE_URL": base_url,
            "SHOPSYNC_APP_KEY": "demo-client",
            "SHOPSYNC_APP_SECRET": "demo-secret",
            "SHOPSYNC_SESSION": "demo-session",
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            "SHOPSYNC_LOCATION_STATE": "浙江",
            "SHOPSYNC_LOCATION_CITY": "杭州",
            # One call per item: 500 calls at 60 a second (8 s and more), so the first
            # kills land mid-run whatever the machine's speed.
            "SHOPSYNC_RATE": "60",
            "SHOPSYNC_BURST": "5",
            "SHOPSYNC_WORKERS": "4",
            "HOME": str(tmp_path),
        }
        chance = random.Random(5)  # noqa: S311 - reproducible kill times
        command = [*SHOPSYNC, "-q", "upload", str(catalog)]
        kills = run_killing(command, env, tmp_path, chance, window=(0.5, 2.0), attempts=30)
        assert kills >= 1, "the test must kill at least one run to prove anything"
        stats = requests.get(f"{base_url}/_sandbox/stats", timeout=5).json()
        assert stats["faults"]["drop_after_commit"] >= 1
        assert stats["items"] == ROWS  # not one item twice

        settings = load_settings(
            config_dir=tmp_path / "config", environ=env, platform_settings=platform_settings
        )
        with connect(settings) as platform:
            remote = list(platform.iter_products(page_size=200))
        expected = {
            outcome.product.key: outcome.product
            for outcome in Catalog([catalog])
            if isinstance(outcome, ValidRow)
        }
        assert sorted(item.sku for item in remote) == sorted(expected)
        for item in remote:
            wanted = expected[item.sku]
            assert item.fields["title"] == wanted.title
            assert item.fields["price"] == f"{min(v.price for v in wanted.variants):.2f}"
            assert item.fields["stock"] == sum(v.stock for v in wanted.variants)
        items = handle_items(tmp_path / "shop.db")
        assert all(len(skus) == 2 for skus, _ in items.values())  # both SKUs, once each
        assert len({picture for _, picture in items.values()}) == IMAGES
        # Ten images, each uploaded once, but for an upload whose answer a fault lost.
        uploads = sum(stats["requests"].get("taobao.picture.upload", {}).values())
        assert IMAGES <= uploads <= IMAGES + 5
        with Ledger(settings.ledger_dir()) as ledger:
            assert ledger.pending_batches() == []
            recorded = {sku: ledger.get(sku) for sku in ledger.skus()}
        assert {sku: entry.product_id for sku, entry in recorded.items() if entry} == {
            item.sku: item.product_id for item in remote
        }
