"""``shopsync upload`` into the real Medusa: exactly once, re-runs that send nothing, SIGKILL."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from click.testing import CliRunner
from faultproxy import FaultProxy
from harness import MedusaServer
from medusa_marks import MEDUSA_TESTS

from servers import wait_until
from shopsync.cli import cli
from shopsync.platforms.medusa.mapping import handle_for_sku

pytestmark = MEDUSA_TESTS
BATCH = "POST /admin/products/batch"


def _write_catalog(path: Path, prefix: str, count: int, price: str = "10.00") -> list[str]:
    skus = [f"{prefix}-{n:04d}" for n in range(count)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock"])
        for n, sku in enumerate(skus):
            writer.writerow([sku, f"Catalog item {n}", price, n % 7])
    return skus


def _environment(proxy: FaultProxy, server: MedusaServer, tmp_path: Path) -> dict[str, str]:
    return {
        "SHOPSYNC_PLATFORM": "medusa",
        "SHOPSYNC_BASE_URL": proxy.base_url,
        "SHOPSYNC_API_KEY": server.api_key,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_BATCH_SIZE": "5",
        "SHOPSYNC_WORKERS": "2",
        "HOME": str(tmp_path),
    }


def _count_by_sku(server: MedusaServer, prefix: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    offset = 0
    while True:
        answer = requests.get(
            server.base_url + "/admin/product-variants",
            params={"q": prefix, "fields": "id,sku", "limit": "100", "offset": str(offset)},
            headers=server.admin_headers(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        for variant in body["variants"]:
            if str(variant["sku"]).startswith(prefix):
                counts[variant["sku"]] = counts.get(variant["sku"], 0) + 1
        offset += len(body["variants"])
        if not body["variants"] or offset >= body["count"]:
            return counts


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_upload_then_rerun_sends_nothing_then_one_price_updates_one_variant(
    runner: CliRunner, fault_proxy: FaultProxy, medusa_server: MedusaServer, tmp_path: Path
) -> None:
    prefix = "CLI" + uuid.uuid4().hex[:6].upper()
    catalog = tmp_path / "catalog.csv"
    skus = _write_catalog(catalog, prefix, 12)
    env = _environment(fault_proxy, medusa_server, tmp_path)
    first = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert first.exit_code == 0, first.output
    assert "12 created, 0 updated, 0 unchanged, 0 failed, 0 rejected" in first.stdout
    assert _count_by_sku(medusa_server, prefix) == dict.fromkeys(skus, 1)

    fault_proxy.clear()
    again = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 12 unchanged" in again.stdout
    assert sum(fault_proxy.forwarded.values()) == 0

    rows = list(csv.reader(catalog.open(encoding="utf-8", newline="")))
    rows[3][2] = "11.50"
    with catalog.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    changed = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert changed.exit_code == 0, changed.output
    assert "0 created, 1 updated, 11 unchanged" in changed.stdout
    assert fault_proxy.writes() == 1
    assert fault_proxy.forwarded[BATCH] == 1


def test_sigkill_during_an_upload_then_a_rerun_leaves_every_sku_once(
    fault_proxy: FaultProxy, medusa_server: MedusaServer, tmp_path: Path
) -> None:
    prefix = "KILL" + uuid.uuid4().hex[:6].upper()
    catalog = tmp_path / "catalog.csv"
    skus = _write_catalog(catalog, prefix, 30)
    env = {**os.environ, **_environment(fault_proxy, medusa_server, tmp_path)}
    # Every batch is applied by Medusa and its answer held back, so the kill lands while
    # batches are committed on the server and not yet recorded in the ledger.
    fault_proxy.inject("slow", method="POST", path="/admin/products/batch", times=1000, delay=5)
    shopsync = [sys.executable, "-m", "shopsync", "--quiet", "upload", str(catalog)]
    process = subprocess.Popen(shopsync, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL)
    try:
        wait_until(
            lambda: process.poll() is not None or fault_proxy.forwarded[BATCH] >= 2,
            timeout=120,
            what="two batches applied",
        )
        assert process.poll() is None, "the upload ended before it could be killed"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    fault_proxy.clear()
    rerun = subprocess.run(
        shopsync, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    # The batches applied before the kill are found by lookup (resumed, not resent) and
    # count as created once: the counts add up to the rows.
    assert "30 created, 0 updated, 0 unchanged, 0 failed, 0 rejected" in rerun.stdout
    assert _count_by_sku(medusa_server, prefix) == dict.fromkeys(skus, 1)
    final = subprocess.run(
        shopsync, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    assert final.returncode == 0
    assert "0 created, 0 updated, 30 unchanged" in final.stdout


def test_local_image_files_go_to_the_file_module_once_per_content(
    runner: CliRunner, fault_proxy: FaultProxy, medusa_server: MedusaServer, tmp_path: Path
) -> None:
    from test_local_images import png  # noqa: PLC0415 - the suite's own PNG maker

    prefix = "IMG" + uuid.uuid4().hex[:6].upper()
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "mug.png").write_bytes(png(40, 30, seed=1))
    (tmp_path / "photos" / "cup.png").write_bytes(png(30, 40, seed=2))
    catalog = tmp_path / "catalog.csv"
    rows = [["sku", "title", "price", "stock", "images"]]
    # Three products share one photo; a fourth has its own and the shared one.
    rows += [[f"{prefix}-{n}", f"Mug {n}", "10.00", "3", "photos/mug.png"] for n in range(3)]
    rows.append([f"{prefix}-3", "Cup", "12.00", "2", "photos/cup.png|photos/mug.png"])
    with catalog.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    env = _environment(fault_proxy, medusa_server, tmp_path)
    first = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert first.exit_code == 0, first.output
    assert "4 created" in first.stdout
    assert fault_proxy.forwarded["POST /admin/uploads"] == 2  # one per content
    images = {}
    for n in range(4):
        answer = requests.get(
            medusa_server.base_url + "/admin/products",
            params={"handle": handle_for_sku(f"{prefix}-{n}"), "fields": "id,handle,*images"},
            headers=medusa_server.admin_headers(),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        (product,) = answer.json()["products"]
        images[n] = [image["url"] for image in product["images"]]
    assert images[0] == images[1] == images[2] and len(images[0]) == 1
    assert images[0][0].endswith(".png") and images[3][1] == images[0][0]
    assert len(set(images[3])) == 2
    # The local file module names its default host in the URL; the file is served by
    # this server at the same path.
    served = requests.get(medusa_server.base_url + urlsplit(images[0][0]).path, timeout=30)
    assert served.status_code == 200
    assert served.content == (tmp_path / "photos" / "mug.png").read_bytes()

    fault_proxy.clear()
    again = runner.invoke(cli, ["upload", str(catalog)], env=env)
    assert again.exit_code == 0, again.output
    assert "4 unchanged" in again.stdout
    assert sum(fault_proxy.forwarded.values()) == 0
