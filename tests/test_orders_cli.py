"""``shopsync orders`` through click's runner, against the sandbox fixture."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shopsync.cli import cli
from shopsync.sandbox import SandboxHandle
from test_http_support import wait_until


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


@pytest.fixture
def shop(
    make_sandbox: Callable[..., SandboxHandle], monkeypatch: pytest.MonkeyPatch
) -> SandboxHandle:
    """A sandbox with 30 orders (seed 8), and the environment pointing at it."""
    sandbox = make_sandbox(orders=30, seed=8)
    monkeypatch.setenv("SHOPSYNC_BASE_URL", sandbox.base_url)
    monkeypatch.setenv("SHOPSYNC_CLIENT_ID", sandbox.client_id)
    monkeypatch.setenv("SHOPSYNC_CLIENT_SECRET", sandbox.client_secret)
    return sandbox


def truth(sandbox: SandboxHandle, status: str | None = None) -> list[dict[str, Any]]:
    return sandbox.store.orders_page(updated_since=None, status=status, after=None, limit=10_000)


def orders_requests(sandbox: SandboxHandle) -> int:
    return sum(sandbox.stats()["requests"].get("GET /orders", {}).values())


def test_json_is_the_api_orders_exactly(runner: CliRunner, shop: SandboxHandle) -> None:
    result = runner.invoke(cli, ["orders", "--format", "json"])
    assert result.exit_code == 0, result.output
    expected = truth(shop)
    assert result.stdout == json.dumps(expected, ensure_ascii=False, indent=2) + "\n"
    assert result.stderr == "30 orders.\n"


def test_csv_is_exact_and_formula_safe(runner: CliRunner, shop: SandboxHandle) -> None:
    shop.store.save_order(
        {
            "order_id": "ord_evil",
            "status": "paid",
            "created_at": "2030-01-01T00:00:00.000000Z",
            "updated_at": "2030-01-01T00:00:00.000000Z",
            "currency": "CNY",
            "total": "-5.00",
            "lines": [
                {"sku": "A-1", "quantity": 2, "unit_price": "1.50"},
                {"sku": "B.2", "quantity": 1, "unit_price": "-8.00"},
            ],
            "buyer": {"name": '=HYPERLINK("http://x","y")', "country": "CN"},
        }
    )
    result = runner.invoke(cli, ["orders", "--format", "csv", "--status", "paid"])
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout, newline="")))
    assert rows[0] == [
        "order_id",
        "status",
        "created_at",
        "updated_at",
        "currency",
        "total",
        "items",
        "lines",
        "buyer_name",
        "buyer_country",
    ]
    expected = [
        [
            o["order_id"],
            o["status"],
            o["created_at"],
            o["updated_at"],
            o["currency"],
            o["total"],
            str(sum(line["quantity"] for line in o["lines"])),
            "|".join(f"{ln['sku']}:{ln['quantity']}:{ln['unit_price']}" for ln in o["lines"]),
            o["buyer"]["name"],
            o["buyer"]["country"],
        ]
        for o in truth(shop, "paid")[:-1]
    ]
    assert rows[1:-1] == expected
    assert rows[-1] == [
        "ord_evil",
        "paid",
        "2030-01-01T00:00:00.000000Z",
        "2030-01-01T00:00:00.000000Z",
        "CNY",
        "'-5.00",
        "3",
        "A-1:2:1.50|B.2:1:-8.00",
        '\'=HYPERLINK("http://x","y")',
        "CN",
    ]
    assert result.stdout_bytes.endswith(b",CN\r\n")  # RFC 4180 line ends


def test_since_and_status_filter_like_the_store(runner: CliRunner, shop: SandboxHandle) -> None:
    orders = truth(shop)
    since = orders[20]["updated_at"]
    result = runner.invoke(cli, ["orders", "--since", since, "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [o["order_id"] for o in json.loads(result.stdout)] == [
        o["order_id"] for o in orders[20:]
    ]
    # Relative: everything of the last 30 days is all of the sandbox's week of history.
    month = runner.invoke(cli, ["orders", "--since", "30d", "--status", "delivered"])
    assert month.exit_code == 0, month.output
    delivered = truth(shop, "delivered")
    assert [line.split()[0] for line in month.stdout.splitlines()] == [
        o["order_id"] for o in delivered
    ]
    assert all(line.split()[1] == "delivered" for line in month.stdout.splitlines())


def test_plain_table_lines_are_aligned(runner: CliRunner, shop: SandboxHandle) -> None:
    result = runner.invoke(cli, ["orders", "--status", "pending"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    first = truth(shop, "pending")[0]
    assert lines[0].split("  ")[0] == first["order_id"]
    total = f"{first['total']} {first['currency']}"
    assert total in lines[0]
    # Right-aligned totals end in the same column on every line.
    ends = {line.index(" CNY") for line in lines}
    assert len(ends) == 1


def test_second_listing_comes_from_the_cache(
    runner: CliRunner, shop: SandboxHandle, tmp_path: Path
) -> None:
    first = runner.invoke(cli, ["orders", "--format", "json"])
    assert orders_requests(shop) == 1
    second = runner.invoke(cli, ["orders", "--format", "json"])
    assert second.exit_code == 0
    assert orders_requests(shop) == 1
    assert second.stdout == first.stdout
    assert "From the cache" in second.stderr
    cache_dir = tmp_path / "data" / "cache" / "orders"
    assert cache_dir.stat().st_mode & 0o777 == 0o700
    shop.advance_orders(2)
    fresh = runner.invoke(cli, ["orders", "--format", "json", "--no-cache"])
    assert orders_requests(shop) == 2
    assert json.loads(fresh.stdout) == truth(shop)
    assert "From the cache" not in fresh.stderr
    off = runner.invoke(cli, ["orders", "--cache-ttl", "0"])
    assert off.exit_code == 0
    assert orders_requests(shop) == 3


def test_bad_time_strings_are_usage_errors(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["orders", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "Error: --since 'last tuesday' is neither a time nor a duration." in result.stderr
    result = runner.invoke(cli, ["orders", "--watch", "--interval", "soon"])
    assert result.exit_code == 2
    assert "Error: --interval 'soon' is not a duration." in result.stderr
    result = runner.invoke(cli, ["orders", "--watch", "--interval", "0"])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["orders", "--status", "lost"])
    assert result.exit_code == 2


def test_watch_prints_json_lines_and_stops_cleanly_on_sigterm(
    runner: CliRunner, shop: SandboxHandle
) -> None:
    before = {o["order_id"]: o["status"] for o in truth(shop)}
    done = threading.Event()

    def polls_after(mark: int, requests: int) -> None:
        # Polls are sequential, and a request is counted when it is answered: the
        # second answer after ``mark`` is to a request sent after it.
        wait_until(lambda: orders_requests(shop) >= mark + requests, timeout=30)

    def drive() -> None:
        polls_after(0, 1)  # the watch is running
        for _ in range(6):
            shop.advance_orders(1)
            polls_after(orders_requests(shop), 2)  # a poll saw this change
        # One more, so the poll that saw the last change has printed what it saw.
        polls_after(orders_requests(shop), 3)
        done.set()
        os.kill(os.getpid(), signal.SIGTERM)

    driver = threading.Thread(target=drive)
    driver.start()
    try:
        result = runner.invoke(cli, ["orders", "--watch", "--interval", "0.1", "--format", "json"])
    finally:
        driver.join()
    assert done.is_set()
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.stdout.splitlines()]
    after = {o["order_id"]: o for o in truth(shop)}
    new = sorted(oid for oid in after if oid not in before)
    changed = sorted(oid for oid in before if before[oid] != after[oid]["status"])
    assert sorted(e["order"]["order_id"] for e in events if e["event"] == "new") == new
    last = {e["order"]["order_id"]: e["order"] for e in events}
    assert sorted(set(last) - set(new)) == changed
    assert all(last[oid] == after[oid] for oid in last)
    assert set(events[0]) == {"event", "previous_status", "order"}
    assert result.stderr.startswith(f"Watching orders at {shop.base_url} every 0.1s")
    assert result.stderr.splitlines()[-1].startswith("Stopped after ")
    assert f"{len(new)} new, {len(events) - len(new)} status changes." in result.stderr


def test_watch_exits_with_the_auth_code_when_credentials_are_refused(
    runner: CliRunner, shop: SandboxHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_CLIENT_SECRET", "wrong")
    result = runner.invoke(cli, ["orders", "--watch", "--interval", "0.1"])
    assert result.exit_code == 4
    assert "invalid_client" in result.stderr


def test_sandbox_flag_lists_generated_orders(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["orders", "--sandbox", "--format", "json", "--no-cache"])
    assert result.exit_code == 0, result.output
    orders = json.loads(result.stdout)
    assert len(orders) == 100
    assert len({o["order_id"] for o in orders}) == 100


def test_orders_has_help(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["orders", "--help"])
    assert result.exit_code == 0
    assert "--watch" in result.stdout and "--since TIME" in result.stdout
