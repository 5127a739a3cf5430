"""Kill uploads with SIGKILL at random moments under injected faults; re-run until done.

Whatever the moment of death, the platform must end up holding every SKU exactly once
with the file's content, and the ledger must agree with it. The sandbox runs as its own
process, with 5% 5xx answers, 2% commit-then-drop and 1% connection resets.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from crash_support import SHOPSYNC, faulty_sandbox, free_port, run_killing
from shopsync.catalog.records import Catalog
from shopsync.config import load_settings
from shopsync.domain.models import ValidRow
from shopsync.state.ledger import Ledger

ROOT = Path(__file__).parent.parent
ROWS = 5000


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "generate_catalog", ROOT / "benchmarks" / "generate_catalog.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def catalog_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("catalog") / "products.csv"
    generator = _generator()
    with path.open("w", encoding="utf-8", newline="") as handle:
        generator.write_catalog(generator.iter_products(ROWS, seed=99), handle, "csv")
    return path


@pytest.fixture
def server(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    with faulty_sandbox(tmp_path / "shop.db", request.param) as base_url:
        yield base_url


def _remote_products(base_url: str) -> list[dict[str, Any]]:
    session = requests.Session()
    token: str | None = None
    for _ in range(20):  # the sandbox injects faults into these reads too
        try:
            answer = session.post(
                f"{base_url}/auth/token",
                data={"grant_type": "client_credentials"},
                auth=("demo-client", "demo-secret"),
                timeout=5,
            )
        except requests.ConnectionError:  # a reset, as for the pages below
            continue
        if answer.status_code == 200:
            token = answer.json()["access_token"]
            break
    assert token is not None, "no token in 20 tries"
    session.headers["Authorization"] = f"Bearer {token}"
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        try:
            page = session.get(f"{base_url}/products", params=params, timeout=5)
        except requests.ConnectionError:
            continue
        if page.status_code != 200:
            continue
        body = page.json()
        items.extend(body["items"])
        cursor = body["next_cursor"]
        if not cursor:
            return items


@pytest.mark.slow
@pytest.mark.parametrize("server", [11, 23, 37], indirect=True)
def test_killed_uploads_converge_to_exactly_the_file(
    server: str, catalog_file: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    env = {
        **os.environ,
        "SHOPSYNC_BASE_URL": server,
        "SHOPSYNC_CLIENT_ID": "demo-client",
        "SHOPSYNC_CLIENT_SECRET": "demo-secret",
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        # Slow enough (100 batches at 40 requests/s: 2.5 s and more) that the first
        # kills always land mid-run, whatever the machine's speed.
        "SHOPSYNC_RATE": "40",
        "SHOPSYNC_BURST": "5",
        "SHOPSYNC_WORKERS": "4",
        "SHOPSYNC_BATCH_SIZE": "50",
        "HOME": str(tmp_path),
    }
    chance = random.Random(request.node.callspec.id)  # noqa: S311 - reproducible kill times
    command = [*SHOPSYNC, "-q", "upload", str(catalog_file), "--report", str(tmp_path / "r.json")]
    kills = run_killing(command, env, tmp_path, chance)
    assert kills >= 1, "the test must kill at least one run to prove anything"

    expected = {
        outcome.product.sku: outcome.product.to_api()
        for outcome in Catalog([catalog_file])
        if isinstance(outcome, ValidRow)
    }
    remote = _remote_products(server)
    skus = [item["sku"] for item in remote]
    assert len(skus) == len(set(skus)) == ROWS
    assert set(skus) == set(expected)
    for item in remote:
        wanted = expected[item["sku"]]
        assert {name: item.get(name) for name in wanted} == wanted, item["sku"]

    settings = load_settings(config_dir=tmp_path / "config", environ=env)
    with Ledger(settings.ledger_dir()) as ledger:
        assert ledger.pending_batches() == []
        recorded = {sku: ledger.get(sku) for sku in ledger.skus()}
    assert {sku: entry.product_id for sku, entry in recorded.items() if entry} == {
        item["sku"]: item["product_id"] for item in remote
    }


def _wait_for_stored_products(base_url: str, count: int, run: subprocess.Popen[bytes]) -> None:
    """Poll the sandbox's stats until it stores ``count`` products (30 s deadline)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert run.poll() is None, "the upload ended before it could be signalled"
        stats = requests.get(f"{base_url}/_sandbox/stats", timeout=5).json()
        if stats["products_stored"] >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the sandbox never stored {count} products")


@pytest.mark.slow
def test_sigterm_stops_cleanly_and_a_rerun_resumes(tmp_path: Path, catalog_file: Path) -> None:
    port = free_port()
    sandbox = subprocess.Popen(
        [
            *SHOPSYNC,
            "sandbox",
            "serve",
            "--port",
            str(port),
            "--db",
            str(tmp_path / "shop.db"),
            "--latency-ms",
            "100",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                requests.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.05)
        env = {
            **os.environ,
            "SHOPSYNC_BASE_URL": f"http://127.0.0.1:{port}",
            "SHOPSYNC_CLIENT_ID": "demo-client",
            "SHOPSYNC_CLIENT_SECRET": "demo-secret",
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            "SHOPSYNC_WORKERS": "2",
            "SHOPSYNC_BATCH_SIZE": "50",
            "HOME": str(tmp_path),
        }
        report = tmp_path / "report.json"
        command = [*SHOPSYNC, "upload", str(catalog_file), "--report", str(report)]
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # Signal mid-run: once the sandbox holds two batches' worth of products (of 100
        # batches, 100 ms each on 2 workers), not after a guessed delay.
        _wait_for_stored_products(f"http://127.0.0.1:{port}", 100, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 130, stderr.decode()
        assert b"Stopping: waiting for the batches in flight" in stderr
        assert b"run the same command again to resume" in stderr
        first = json.loads(report.read_text())
        assert first["exit_code"] == 130
        assert 0 < first["counts"]["created"] < ROWS

        second = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, timeout=300, check=False
        )
        assert second.returncode == 0, second.stderr.decode()
        resumed = json.loads(report.read_text())
        assert resumed["counts"]["created"] + first["counts"]["created"] == ROWS
        assert resumed["counts"]["unchanged"] == first["counts"]["created"]
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
