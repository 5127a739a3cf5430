"""``shopsync stock``: only changed counts, never creating products, CAS, deltas once, locks."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from shopsync.cli import cli
from shopsync.errors import UsageError
from shopsync.sandbox import SandboxHandle
from shopsync.state.lock import ProfileLock

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture
def env(sandbox: SandboxHandle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {
        "SHOPSYNC_BASE_URL": sandbox.base_url,
        "SHOPSYNC_CLIENT_ID": sandbox.client_id,
        "SHOPSYNC_CLIENT_SECRET": sandbox.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)
    return values


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def stock_of(sandbox: SandboxHandle, sku: str) -> int:
    product = sandbox.store.product_by_sku(sku)
    assert product is not None
    return int(product.values["stock"])


def test_only_changed_counts_are_sent_and_unknown_skus_are_not_created(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    stored = sandbox.stats()["products_stored"]
    counts = write(
        tmp_path / "stock.csv",
        "sku,stock\nBKS-0000001,11\nYGM-0000002,12\nBTL-0000003-GRY,13\nNO-SUCH-SKU,4\n",
    )
    first = run("stock", str(counts), "--failed", "failed.csv")
    assert first.exit_code == 1
    assert "3 counts changed, 0 unchanged, 1 failed" in first.stdout
    assert (tmp_path / "failed.csv").read_text(encoding="utf-8").splitlines() == [
        "sku,stock,error_code,error_message",
        "NO-SUCH-SKU,4,SKU_NOT_FOUND,no product with this SKU on the platform; "
        "stock updates never create products",
    ]
    assert sandbox.stats()["products_stored"] == stored
    assert sandbox.store.product_by_sku("NO-SUCH-SKU") is None
    assert [stock_of(sandbox, s) for s in ("BKS-0000001", "YGM-0000002")] == [11, 12]

    writes = sandbox.stats()["write_requests"]
    known_only = write(
        tmp_path / "known.csv", "sku,stock\nBKS-0000001,11\nYGM-0000002,12\nBTL-0000003-GRY,13\n"
    )
    again = run("stock", str(known_only))
    assert again.exit_code == 0
    assert "0 counts changed, 3 unchanged" in again.stdout
    assert sandbox.stats()["write_requests"] == writes

    two = write(
        tmp_path / "two.csv", "sku,stock\nBKS-0000001,21\nYGM-0000002,12\nBTL-0000003-GRY,23\n"
    )
    changed = run("stock", str(two))
    assert changed.exit_code == 0
    assert "2 counts changed, 1 unchanged" in changed.stdout
    assert sandbox.stats()["write_requests"] == writes + 1
    assert [stock_of(sandbox, s) for s in ("BKS-0000001", "BTL-0000003-GRY")] == [21, 23]


def test_an_unchanged_product_file_does_not_undo_a_stock_sync(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    assert run("stock", str(write(tmp_path / "s.csv", "sku,stock\nBKS-0000001,3\n"))).exit_code == 0
    again = run("upload", str(EXAMPLES / "products.csv"))
    assert "0 created, 0 updated, 200 unchanged" in again.stdout
    assert stock_of(sandbox, "BKS-0000001") == 3


def test_delta_file_applies_once_unless_forced(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    before = stock_of(sandbox, "BKS-0000001")
    deltas = write(tmp_path / "sold.csv", "sku,delta\nBKS-0000001,-1\n")
    assert run("stock", str(deltas)).exit_code == 0
    assert run("stock", str(deltas)).exit_code == 0
    assert stock_of(sandbox, "BKS-0000001") == before - 1
    assert run("stock", str(deltas), "--force").exit_code == 0
    assert stock_of(sandbox, "BKS-0000001") == before - 2


def test_cas_reports_stock_that_moved_instead_of_overwriting_it(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path, api_for: Callable[..., Any]
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    assert (
        run("stock", str(write(tmp_path / "a.csv", "sku,stock\nBKS-0000001,10\n"))).exit_code == 0
    )
    sold = api_for(sandbox).post(
        "/inventory/batch", json={"updates": [{"sku": "BKS-0000001", "delta": -2}]}
    )
    assert sold.json()["results"][0]["stock"] == 8
    result = run(
        "stock",
        str(write(tmp_path / "b.csv", "sku,stock\nBKS-0000001,15\n")),
        "--cas",
        "--failed",
        "conflicts.csv",
    )
    assert result.exit_code == 1
    assert stock_of(sandbox, "BKS-0000001") == 8
    with (tmp_path / "conflicts.csv").open(encoding="utf-8", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert (row["sku"], row["stock"], row["error_code"]) == ("BKS-0000001", "15", "STOCK_CONFLICT")
    assert row["error_message"].startswith("the count on the platform is 8, not 10 as shopsync")
    assert "run again to set your count over it" in row["error_message"]
    # The conflict clears: shopsync now knows 8, so the same run again sets 15 over it.
    again = run("stock", str(tmp_path / "b.csv"), "--cas")
    assert again.exit_code == 0, again.output
    assert stock_of(sandbox, "BKS-0000001") == 15


def test_an_unknown_sku_costs_no_inventory_request(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    counts = write(
        tmp_path / "stock.csv", "sku,stock\nNO-SUCH-SKU,4\nBKS-0000001,11\nNO-SUCH-SKU-2,5\n"
    )
    for expected_writes in (1, 0):  # the second run: BKS-0000001 unchanged, nothing sent
        before = sandbox.stats()
        result = run("stock", str(counts), "--failed", "failed.csv")
        assert result.exit_code == 1
        after = sandbox.stats()
        assert after["write_requests"] - before["write_requests"] == expected_writes
        with (tmp_path / "failed.csv").open(encoding="utf-8", newline="") as handle:
            failed = [(r["sku"], r["stock"], r["error_code"]) for r in csv.DictReader(handle)]
        assert failed == [
            ("NO-SUCH-SKU", "4", "SKU_NOT_FOUND"),
            ("NO-SUCH-SKU-2", "5", "SKU_NOT_FOUND"),
        ]
    inventory = after["requests"].get("POST /inventory/batch", {})
    assert sum(inventory.values()) == 1  # only the first run's count for BKS-0000001
    lookups = after["requests"]["GET /products"]
    # One lookup per run for both unknown SKUs (a run knows nothing of the last one's).
    assert sum(lookups.values()) - sum(before["requests"]["GET /products"].values()) == 1


def test_flags_the_platform_cannot_honour_are_usage_errors(tmp_path: Path) -> None:
    from shopsync.jobs.base import Outputs, Target  # noqa: PLC0415
    from shopsync.jobs.stock import StockFile, StockJob, StockOptions  # noqa: PLC0415
    from shopsync.platforms.base import Capabilities  # noqa: PLC0415

    class SetOnly:
        name = "setonly"
        max_batch_size = 1
        capabilities = Capabilities(max_batch_size=1, stock_cas=False, stock_delta=False)

    target = Target(SetOnly(), tmp_path, "ns", "test")  # type: ignore[arg-type]
    counts = StockFile([write(tmp_path / "s.csv", "sku,stock\nA,1\n")])
    deltas = StockFile([write(tmp_path / "d.csv", "sku,delta\nA,-1\n")])
    with pytest.raises(UsageError, match="The setonly platform has no compare-and-set"):
        StockJob(counts, target, StockOptions(cas=True), Outputs())
    with pytest.raises(UsageError, match="The setonly platform cannot change stock by a delta"):
        StockJob(deltas, target, StockOptions(), Outputs())
    StockJob(counts, target, StockOptions(), Outputs())  # what it can do, it may


def test_both_columns_need_a_mode(env: dict[str, str], tmp_path: Path) -> None:
    result = run("stock", str(write(tmp_path / "both.csv", "sku,stock,delta\nA,1,2\n")))
    assert result.exit_code == 3
    assert "has both a stock and a delta column" in result.stderr
    assert "--mode set or --mode delta" in result.stderr


def test_metrics_file_parses_as_prometheus_text(
    sandbox: SandboxHandle, env: dict[str, str], tmp_path: Path
) -> None:
    assert run("upload", str(EXAMPLES / "products.csv")).exit_code == 0
    metrics = tmp_path / "shopsync.prom"
    result = run(
        "stock",
        str(write(tmp_path / "s.csv", "sku,stock\nBKS-0000001,9\nNOPE,1\n")),
        "--metrics-file",
        str(metrics),
    )
    assert result.exit_code == 1
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert "shopsync_last_success_timestamp_seconds" not in families  # never succeeded yet
    items = {s.labels["outcome"]: s.value for s in families["shopsync_last_run_items"].samples}
    assert (items["updated"], items["failed"]) == (1.0, 1.0)
    assert families["shopsync_last_run_exit_code"].samples[0].value == 1.0
    assert oct(metrics.stat().st_mode & 0o777) == "0o644"

    ok = run(
        "stock",
        str(write(tmp_path / "t.csv", "sku,stock\nBKS-0000001,10\n")),
        "--metrics-file",
        str(metrics),
    )
    assert ok.exit_code == 0
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    success = families["shopsync_last_success_timestamp_seconds"].samples[0].value
    assert abs(success - time.time()) < 60

    failing = run(
        "stock",
        str(write(tmp_path / "u.csv", "sku,stock\nNOPE,1\n")),
        "--metrics-file",
        str(metrics),
    )
    assert failing.exit_code == 1
    families = {f.name: f for f in text_string_to_metric_families(metrics.read_text())}
    assert families["shopsync_last_success_timestamp_seconds"].samples[0].value == success


def test_a_held_lock_refuses_a_second_run_at_once(env: dict[str, str], tmp_path: Path) -> None:
    path = tmp_path / "data" / "locks" / "default.lock"
    with ProfileLock(path, profile="default", command="stock"):
        result = run("stock", str(write(tmp_path / "s.csv", "sku,stock\nA-1,1\n")))
    assert result.exit_code == 6
    assert "another shopsync run holds the lock for profile 'default'" in result.stderr
    assert f"(pid {os.getpid()}, `shopsync stock`" in result.stderr


def test_two_processes_one_runs_and_a_killed_holder_blocks_nothing(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    # Slow enough that the first run still holds the lock when the second has started,
    # however loaded the machine (a 1.5 s latency was not: the second's start-up can
    # take longer); the latency is lifted as soon as the second has finished.
    slow = make_sandbox(latency_ms=5_000)
    env = {
        **os.environ,
        "SHOPSYNC_BASE_URL": slow.base_url,
        "SHOPSYNC_CLIENT_ID": slow.client_id,
        "SHOPSYNC_CLIENT_SECRET": slow.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "HOME": str(tmp_path),
    }
    counts = write(tmp_path / "s.csv", "sku,stock\nA-1,1\n")
    command = [sys.executable, "-m", "shopsync", "stock", str(counts)]
    first = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    lock_file = tmp_path / "data" / "locks" / "default.lock"
    deadline = time.monotonic() + 30
    while f'"pid": {first.pid}' not in (lock_file.read_text() if lock_file.exists() else ""):
        assert time.monotonic() < deadline, "the first run never took the lock"
        time.sleep(0.02)
    # The first now holds the lock, and waits seconds on the slow platform.
    second = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    slow.configure_faults(latency_ms=0)
    first.communicate(timeout=60)
    assert second.returncode == 6, second.stderr.decode()
    assert b"holds the lock" in second.stderr
    assert first.returncode == 1  # A-1 is unknown to this empty shop: reported, not created

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from pathlib import Path\n"
            "from shopsync.state.lock import ProfileLock\n"
            "lock = ProfileLock(Path(sys.argv[1]), profile='default', command='stock')\n"
            "lock.acquire()\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n",
            str(tmp_path / "data" / "locks" / "default.lock"),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline() == b"locked\n"
    blocked = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert blocked.returncode == 6
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=10)
    after = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, timeout=60, check=False
    )
    assert after.returncode == 1, after.stderr.decode()  # it ran: the unknown SKU is reported
