"""Shopify: uploads killed with SIGKILL mid-run, re-run until done, leave every product on
the shop exactly once (productSet has no idempotency key: a batch whose answer died with
the process is settled by looking its SKUs up)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopify_support import products_per_sku, shopify_sandbox, write_catalog
from shopsync.config import load_settings
from shopsync.platforms import platform_settings
from shopsync.sandbox import SandboxHandle
from shopsync.state.ledger import Ledger

__all__ = ["shopify_sandbox"]

SHOPSYNC = [sys.executable, "-m", "shopsync"]
ROWS = 600
KILL_AT = (60, 250, 420)
"""Products stored on the shop at which a run is killed: early, middle, late."""


def _wait_for(handle: SandboxHandle, count: int, run: subprocess.Popen[bytes]) -> bool:
    """Until the shop stores ``count`` products (True), or the run ends first (False)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if handle.stats()["products_stored"] >= count:
            return True
        if run.poll() is not None:
            return False
        time.sleep(0.005)
    raise AssertionError(f"the shop never stored {count} products")


@pytest.mark.slow
def test_killed_shopify_uploads_leave_every_product_exactly_once(
    shopify_sandbox, tmp_path: Path
) -> None:
    # 20 ms a request and 4 workers: about 100 products a second, so each kill lands
    # mid-run; the bucket (40,000 points) never throttles here.
    handle = shopify_sandbox(rate=2000.0, latency_ms=20.0)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, ROWS)
    env = {
        **os.environ,
        "SHOPSYNC_PLATFORM": "shopify",
        "SHOPSYNC_SHOP": "sandbox",
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": handle.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_WORKERS": "4",
        "SHOPSYNC_BATCH_SIZE": "10",
        "SHOPSYNC_BULK": "never",  # productSet's path (the bulk one: test_shopify_bulk.py)
        "HOME": str(tmp_path),
    }
    kills = 0
    for threshold in (*KILL_AT, None):
        run = subprocess.Popen(
            [*SHOPSYNC, "-q", "upload", str(catalog)],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        if threshold is not None and _wait_for(handle, threshold, run):
            run.send_signal(signal.SIGKILL)
            run.wait()
            kills += 1
            continue
        _, stderr = run.communicate(timeout=120)
        assert run.returncode == 0, stderr.decode()
    assert kills == len(KILL_AT)
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)

    settings = load_settings(
        config_dir=tmp_path / "config", environ=env, platform_settings=platform_settings
    )
    with Ledger(settings.ledger_dir()) as ledger:
        assert ledger.pending_batches() == []
        assert sorted(ledger.skus()) == skus
