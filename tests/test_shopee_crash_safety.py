"""Issue 17: 500 Shopee items, 100 of them with 2×3 models, local images, exactly once
across SIGKILLs.

``add_item`` and ``init_tier_variation`` take no idempotency key and ``search_item`` lags
behind writes, so only the ledger's pending batches, the lookup that allows for the lag,
and the adapter's journal of handles keep a killed run's item from being made twice or
left without its models. The sandbox runs as its own process, speaking the Shopee
dialect, with the faults of :mod:`crash_support`.
"""

from __future__ import annotations

import csv
import json
import os
import random
import sqlite3
from pathlib import Path

import pytest
import requests

from crash_support import SHOPSYNC, faulty_sandbox, run_killing
from shopsync.catalog.records import Catalog
from shopsync.config import load_settings
from shopsync.domain.models import Product, ValidRow
from shopsync.platforms import connect, platform_settings
from shopsync.sandbox.dialects.shopee import DEMO_CODE, DEMO_PARTNER_ID, DEMO_SHOP_ID
from shopsync.state.ledger import Ledger
from test_taobao_crash_safety import _png

ITEMS = 500
WITH_MODELS = 100
IMAGES = 10


def _write_catalog(path: Path) -> None:
    """400 single items and 100 with 2 colours × 3 sizes, sharing ten local images."""
    images = path.parent / "images"
    images.mkdir()
    for n in range(IMAGES):
        (images / f"item-{n}.png").write_bytes(_png(n * 20))
    chance = random.Random(17)  # noqa: S311 - a reproducible catalog
    columns = ["handle", "sku", "title", "price", "stock", "weight_kg", "images"]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*columns, "option:颜色", "option:尺码", "attr:shopee:category_id"])
        for n in range(ITEMS):
            image = f"images/item-{n % IMAGES}.png"
            weight = f"0.{chance.randint(1, 9)}"
            if n % (ITEMS // WITH_MODELS):
                title = f"陶瓷茶杯 Ceramic cup {n:03d}"
                price = f"{chance.randint(2, 90)}.90"
                row = ["", f"SP-{n:04d}", title, price, chance.randint(0, 99), weight, image]
                writer.writerow([*row, "", "", 100001])
                continue
            for colour, code in (("白色", "WH"), ("黑色", "BK")):
                for size in ("S", "M", "L"):
                    price = f"{chance.randint(10, 30)}.90"
                    writer.writerow(
                        [
                            f"tee-{n:04d}",
                            f"TEE-{n:04d}-{code}-{size}",
                            f"纯棉T恤 Cotton tee {n:03d}",
                            price,
                            chance.randint(0, 99),
                            weight,
                            image,
                            colour,
                            size,
                            100001,
                        ]
                    )


def _stored_items(db: Path) -> list[dict[str, object]]:
    """Every live item in the sandbox's file: its store key, and its models if any."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT sku, data FROM products WHERE archived = 0").fetchall()
    return [{"key": key, **json.loads(data)} for key, data in rows]


@pytest.mark.slow
def test_500_items_are_each_made_once_across_sigkills(tmp_path: Path) -> None:
    catalog = tmp_path / "items.csv"
    _write_catalog(catalog)
    db = tmp_path / "shop.db"
    with faulty_sandbox(db, 17, dialect="shopee") as base_url:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
            "SHOPSYNC_PLATFORM": "shopee",
            "SHOPSYNC_BASE_URL": base_url,
            "SHOPSYNC_PARTNER_ID": str(DEMO_PARTNER_ID),
            "SHOPSYNC_PARTNER_KEY": "demo-secret",
            "SHOPSYNC_SHOP_ID": str(DEMO_SHOP_ID),
            "SHOPSYNC_AUTH_CODE": DEMO_CODE,
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            # 600 writes (an item with models is two) and their reads at 120 a second, 5 s
            # and more: the first kills land mid-run whatever the machine's speed.
            "SHOPSYNC_RATE": "120",
            "SHOPSYNC_BURST": "5",
            "SHOPSYNC_WORKERS": "4",
            "HOME": str(tmp_path),
        }
        chance = random.Random(17)  # noqa: S311 - reproducible kill times
        command = [*SHOPSYNC, "-q", "upload", str(catalog)]
        kills = run_killing(command, env, tmp_path, chance, window=(0.5, 2.5), attempts=30)
        assert kills >= 1, "the test must kill at least one run to prove anything"
        stats = requests.get(f"{base_url}/_sandbox/stats", timeout=5).json()
        assert stats["faults"]["drop_after_commit"] >= 1

        expected: dict[str, Product] = {
            outcome.product.key: outcome.product
            for outcome in Catalog([catalog])
            if isinstance(outcome, ValidRow)
        }
        assert len(expected) == ITEMS
        # Not one item twice, and every item with models has all six, once each.
        stored = _stored_items(db)
        keys = [str(item.get("handle") or item["key"]) for item in stored]
        assert sorted(keys) == sorted(expected)
        for item in stored:
            product = expected[str(item.get("handle") or item["key"])]
            models = item.get("variants") or []
            assert sorted(m["sku"] for m in models) == sorted(  # type: ignore[union-attr]
                v.sku for v in product.variants
            )
        # Ten images, each stored once, but for an upload whose answer a fault lost.
        assert IMAGES <= stats["images_stored"] <= IMAGES + 5

        settings = load_settings(
            config_dir=tmp_path / "config", environ=env, platform_settings=platform_settings
        )
        with connect(settings) as platform:
            remote = list(platform.iter_products(page_size=100))
        for found in remote:
            key = str(found.fields.get("handle") or found.sku)
            wanted = expected[key]
            assert found.fields["title"] == wanted.title
            if wanted.variants:
                got = {v["sku"]: (v["price"], v["stock"]) for v in found.fields["variants"]}
                assert got == {v.sku: (str(v.price), v.stock) for v in wanted.variants}
            else:
                assert (found.fields["price"], found.fields["stock"]) == (
                    str(wanted.price),
                    wanted.stock,
                )
        with Ledger(settings.ledger_dir()) as ledger:
            assert ledger.pending_batches() == []
            recorded = {key: ledger.get(key) for key in ledger.skus()}
        assert {key: entry.product_id for key, entry in recorded.items() if entry} == {
            str(found.fields.get("handle") or found.sku): found.product_id for found in remote
        }
