"""What the SIGKILL tests share: a sandbox in its own process, and uploads killed at
random moments then re-run until one finishes.

The sandbox injects 5% 5xx answers, 2% commit-then-drop and 1% connection resets; the
kill times come from a seeded :class:`random.Random`, so a failure can be replayed.
"""

from __future__ import annotations

import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import requests

SHOPSYNC = [sys.executable, "-m", "shopsync"]


def free_port() -> int:
    """A loopback port nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def faulty_sandbox(
    db: Path, seed: int, *, dialect: str = "generic", extra: Sequence[str] = ()
) -> Iterator[str]:
    """``shopsync sandbox serve`` of ``dialect`` on a free port, storing in ``db``, with
    the faults above and a rate limit no test run reaches; yields its base URL once it
    answers, and stops it after."""
    port = free_port()
    process = subprocess.Popen(
        [
            *SHOPSYNC,
            "sandbox",
            "serve",
            "--dialect",
            dialect,
            "--port",
            str(port),
            "--db",
            str(db),
            "--seed",
            str(seed),
            "--fault-rate",
            "0.05",
            "--drop-after-commit-rate",
            "0.02",
            "--reset-rate",
            "0.01",
            "--rate",
            "1000",
            "--burst",
            "1000",
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                requests.get(f"{base_url}/_sandbox/stats", timeout=1)
                break
            except requests.RequestException:  # not listening yet, or too busy to answer
                if time.monotonic() > deadline:
                    raise AssertionError("the sandbox did not start") from None
                time.sleep(0.05)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_killing(
    command: Sequence[str],
    env: Mapping[str, str],
    cwd: Path,
    chance: random.Random,
    *,
    kills: int = 4,
    window: tuple[float, float] = (0.3, 2.0),
    attempts: int = 40,
) -> int:
    """Run ``command`` until it exits 0: the first ``kills`` runs get a SIGKILL after a
    random time in ``window`` (if still running), the rest run to the end. A run that gave
    up on the flaky platform (exit 5) is run again. Returns how many runs were killed."""
    killed = 0
    for attempt in range(attempts):
        process = subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            _, stderr = process.communicate(
                timeout=chance.uniform(*window) if attempt < kills else 120
            )
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            killed += 1
            continue
        if process.returncode == 0:
            return killed
        assert process.returncode == 5, stderr.decode()
    raise AssertionError("the upload never completed")
