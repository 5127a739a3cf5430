"""Polite from the first request: runs SIGKILLed and resumed against a tight rate limit.

A run that restarts the moment the last one died finds the platform's bucket as the
dead run left it, usually empty. Five uploads killed mid-way and a sixth that finishes
must together see under 5% of their requests answered 429, counted by the sandbox.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from shopsync.http.ratelimit import RateLimiter
from shopsync.http.ratememory import RateMemory
from shopsync.http.wire import RateSignal
from test_http_support import FakeTime

ROOT = Path(__file__).parent.parent
SHOPSYNC = [sys.executable, "-m", "shopsync"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stats(base_url: str) -> dict[str, Any]:
    answer = requests.get(f"{base_url}/_sandbox/stats", timeout=5)
    answer.raise_for_status()
    stats: dict[str, Any] = answer.json()
    return stats


@pytest.fixture
def tight_sandbox(tmp_path: Path) -> Iterator[str]:
    """A sandbox process at 20 requests/s with a burst of 5."""
    port = _free_port()
    process = subprocess.Popen(
        [
            *SHOPSYNC,
            *("sandbox", "serve", "--port", str(port), "--db", str(tmp_path / "shop.db")),
            *("--rate", "20", "--burst", "5"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _stats(base_url)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _catalog(path: Path, rows: int) -> Path:
    lines = ["sku,title,price,stock"]
    lines += [f"POL-{n:05d},Polite product {n},{n % 90 + 10}.00,{n % 7}" for n in range(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_killed_and_resumed_runs_stay_under_five_percent_429s(
    tight_sandbox: str, tmp_path: Path
) -> None:
    catalog = _catalog(tmp_path / "products.csv", 3000)
    environ = {
        **os.environ,
        "SHOPSYNC_BASE_URL": tight_sandbox,
        "SHOPSYNC_CLIENT_ID": "demo-client",
        "SHOPSYNC_CLIENT_SECRET": "demo-secret",
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_BATCH_SIZE": "25",  # 120 batches, six seconds at 20/s
        "HOME": str(tmp_path),
    }
    command = [*SHOPSYNC, "--quiet", "upload", str(catalog)]
    for _kill in range(5):
        writes_before = _stats(tight_sandbox)["write_requests"]
        run = subprocess.Popen(
            command, env=environ, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        # Killed once it is sending: ten more writes answered.
        deadline = time.monotonic() + 60
        while _stats(tight_sandbox)["write_requests"] < writes_before + 10:
            assert run.poll() is None, run.stderr.read() if run.stderr else ""
            assert time.monotonic() < deadline, "the run sent nothing"
            time.sleep(0.02)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    final = subprocess.run(
        command, env=environ, cwd=tmp_path, capture_output=True, timeout=300, check=False
    )
    assert final.returncode == 0, final.stderr.decode()
    stats = _stats(tight_sandbox)
    assert stats["products_stored"] == 3000
    assert stats["rate_limited"] / stats["requests_total"] < 0.05, stats


def test_a_run_without_memory_starts_with_one_request_not_a_burst(tmp_path: Path) -> None:
    fake = FakeTime()
    limiter = RateLimiter(50, 20, clock=fake.clock, sleep=fake.sleep)
    RateMemory(tmp_path / "rate.json", clock=lambda: 5000.0).warm(limiter)
    waits = [limiter.reserve() for _ in range(3)]
    assert waits == [0, pytest.approx(0.02), pytest.approx(0.04)]


def test_a_restart_starts_with_what_the_platforms_bucket_holds_now(tmp_path: Path) -> None:
    wall = [5000.0]
    memory = RateMemory(tmp_path / "rate.json", clock=lambda: wall[0])
    fake = FakeTime()
    dying = RateLimiter(50, 20, clock=fake.clock, sleep=fake.sleep)
    memory.note(RateSignal(limit=5, remaining=0, reset_after=1), dying)
    assert (tmp_path / "rate.json").stat().st_mode & 0o777 == 0o600
    # Restarted at once: the platform's bucket is empty, so nothing goes at once.
    restarted = RateLimiter(50, 20, clock=fake.clock, sleep=fake.sleep)
    RateMemory(tmp_path / "rate.json", clock=lambda: wall[0]).warm(restarted)
    assert restarted.reserve() == pytest.approx(0.02)
