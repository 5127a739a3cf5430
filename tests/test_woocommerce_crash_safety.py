"""Issue 19: 1,000 WooCommerce products (800 simple, 200 variable with 4 variations each)
exactly once across SIGKILLs, with the "error reported, product created" fault on.

WooCommerce has no idempotency keys: only the ledger's pending batches, the lookup by SKU
(which finds variations too) and the adapter's reading back of a parent's variations keep
a killed run's product or variation from being made twice. The sandbox runs in this
process (so the fault that answers a saved create as an error can be set), speaking the
WooCommerce dialect with 3% failures (500, 502, HTML 503s), 2% commit-then-drop, 1% connection
resets and 10% of creates saved and answered ``{"id": 0, "error"}``; each upload is
``shopsync upload`` in its own process, killed at random moments until one finishes.
Products and variations take their ids from one sequence (WordPress posts), and a
refused create takes none: the sequence's count proves that nothing was ever created
twice, even briefly.
"""

from __future__ import annotations

import csv
import os
import random
import signal
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from shopsync.catalog.records import Catalog
from shopsync.config import load_settings
from shopsync.domain.models import Product, ValidRow
from shopsync.platforms import platform_settings
from shopsync.platforms.woocommerce.mapping import price_pair
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.state.ledger import Ledger

SHOPSYNC = [sys.executable, "-m", "shopsync"]
SIMPLE = 800
VARIABLE = 200
SIZES = ("S", "M", "L", "XL")


def write_catalog(path: Path, *, seed: int = 19) -> None:
    """800 simple products and 200 variable ones of four sizes, some on sale."""
    chance = random.Random(seed)  # noqa: S311 - a reproducible catalog
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["handle", "sku", "title", "price", "compare_at_price", "stock", "option:Size"]
        )
        for n in range(SIMPLE):
            price = f"{chance.randint(5, 300)}.90"
            writer.writerow(
                ["", f"WS-{n:04d}", f"Mug {n:04d}", price, "", chance.randint(0, 50), ""]
            )
        for n in range(VARIABLE):
            price = chance.randint(10, 200)
            was = f"{price + 10}.00" if n % 3 == 0 else ""
            for size in SIZES:
                sku = f"WV-{n:04d}-{size}"
                stock = chance.randint(0, 50)
                writer.writerow(
                    [f"tee-{n:04d}", sku, f"Tee {n:04d}", f"{price}.00", was, stock, size]
                )


@pytest.fixture
def woo() -> Iterator[SandboxHandle]:
    config = SandboxConfig(
        dialect="woocommerce",
        seed=19,
        fault_rate=0.03,
        drop_after_commit_rate=0.02,
        reset_rate=0.01,
        rate=1000,
        burst=1000,
    )
    with running_sandbox(config) as handle:
        handle.app.created_error_rate = 0.1  # type: ignore[attr-defined]
        yield handle


def _environment(woo: SandboxHandle, tmp_path: Path) -> dict[str, str]:
    given = woo.client_settings()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
        "SHOPSYNC_PLATFORM": "woocommerce",
        "SHOPSYNC_BASE_URL": given["base_url"],
        "SHOPSYNC_CONSUMER_KEY": given["consumer_key"],
        "SHOPSYNC_CONSUMER_SECRET": given["consumer_secret"],
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        # Slow enough (about 300 requests at 80 a second) that the first kills land
        # mid-run, whatever the machine's speed. The batch size is the adapter's, 100.
        "SHOPSYNC_RATE": "80",
        "SHOPSYNC_BURST": "5",
        "SHOPSYNC_WORKERS": "4",
        "HOME": str(tmp_path),
    }


def _run_until_done(catalog: Path, env: dict[str, str], tmp_path: Path, seed: int) -> int:
    """Upload, killing the first runs at random moments; the number of kills."""
    chance = random.Random(seed)  # noqa: S311 - reproducible kill times
    kills = 0
    for attempt in range(40):
        process = subprocess.Popen(
            [*SHOPSYNC, "-q", "upload", str(catalog), "--report", str(tmp_path / "r.json")],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, stderr = process.communicate(
                timeout=chance.uniform(0.8, 3.0) if attempt < 3 else 120
            )
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            continue
        if process.returncode == 0:
            return kills
        # A run that gave up on the flaky platform (exit 5) is fine: it is re-run.
        assert process.returncode == 5, stderr.decode()
    raise AssertionError("the upload never completed")


@pytest.mark.slow
def test_1000_products_are_each_made_once_across_sigkills(
    woo: SandboxHandle, tmp_path: Path
) -> None:
    catalog = tmp_path / "products.csv"
    write_catalog(catalog)
    env = _environment(woo, tmp_path)
    kills = _run_until_done(catalog, env, tmp_path, seed=19)
    assert kills >= 1, "the test must kill at least one run to prove anything"
    stats = woo.stats()
    assert stats["created_errors"] >= 50  # the fault was on, and often met
    assert stats["faults"]["drop_after_commit"] >= 1

    products = [o.product for o in Catalog([catalog]) if isinstance(o, ValidRow)]
    assert len(products) == SIMPLE + VARIABLE
    expected_skus = {sku for product in products for sku in product.skus}
    assert len(expected_skus) == SIMPLE + VARIABLE * len(SIZES)
    rows = woo.app._rows()  # type: ignore[attr-defined]
    assert (stats["products_stored"], stats["variations_stored"]) == (SIMPLE + VARIABLE, 800)
    # 1,800 posts: each product and each variation created once, never twice.
    assert woo.store.next_sequence("woocommerce_post") - 1 == SIMPLE + VARIABLE + 800
    by_sku = {row.values["woo_sku"]: row for row in rows}
    assert len(by_sku) == len(rows)
    for product in products:
        _assert_holds(product, by_sku)

    settings = load_settings(config_dir=tmp_path / "config", environ=env,
                             platform_settings=platform_settings)  # fmt: skip
    with Ledger(settings.ledger_dir()) as ledger:
        assert ledger.pending_batches() == []
    writes = woo.stats()["write_requests"]
    woo.configure_faults(fault_rate=0.0, drop_after_commit_rate=0.0, reset_rate=0.0)
    again = subprocess.run(
        [*SHOPSYNC, "upload", str(catalog), "--json"], env=env, cwd=tmp_path,
        capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr.decode()
    assert woo.stats()["write_requests"] == writes  # all unchanged: not one write


def _assert_holds(product: Product, by_sku: dict[str, object]) -> None:
    """The shop holds ``product`` as the file says: a simple product, or a variable
    parent under its handle whose variations are exactly its variants."""
    if product.handle is None:
        row = by_sku[product.sku]
        values = row.values  # type: ignore[attr-defined]
        assert (values["kind"], values["name"], values["regular_price"], values["stock"]) == (
            "product", product.title, str(product.price), product.stock
        ), product.sku  # fmt: skip
        return
    parent = by_sku[product.handle]
    parent_values = parent.values  # type: ignore[attr-defined]
    assert (parent_values["type"], parent_values["name"]) == ("variable", product.title)
    held = sorted(parent_values["variation_ids"])
    assert len(held) == len(product.variants), product.handle
    for variant in product.variants:
        values = by_sku[variant.sku].values  # type: ignore[attr-defined]
        regular, sale = price_pair(variant.price, variant.compare_at_price)
        assert values["parent_id"] == int(parent.product_id)  # type: ignore[attr-defined]
        assert (values["regular_price"], values["sale_price"], values["stock"]) == (
            regular, sale, variant.stock
        ), variant.sku  # fmt: skip
        assert values["attributes"] == [{"name": "Size", "option": variant.option_values["Size"]}]
        assert Decimal(values["price"]) == variant.price
