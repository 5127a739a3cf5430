"""The benchmarks' sandbox: ``shopsync sandbox serve`` as a process of its own.

    with serving(shopsync, "shopify", "--rate", "100") as base_url: ...

The server prints its address first; what it writes after (its access log, one line a
request) is read away by a thread, since a pipe nobody reads fills and then stops the
server mid-run. Stopped (SIGTERM, then waited for) when the block ends.
"""

from __future__ import annotations

import json
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serving(shopsync: str, dialect: str, *flags: str) -> Iterator[str]:
    """``shopsync sandbox serve --dialect DIALECT --port 0 FLAGS...``; yields its base URL."""
    server = subprocess.Popen(
        [shopsync, "sandbox", "serve", "--dialect", dialect, "--port", "0", *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().split(" at ")[-1].strip()
        threading.Thread(target=server.stdout.read, daemon=True).start()
        yield base_url
    finally:
        server.terminate()
        server.wait(10)


def sandbox_stats(base_url: str) -> dict[str, Any]:
    """The sandbox's own counters (``GET /_sandbox/stats``)."""
    with urllib.request.urlopen(f"{base_url}/_sandbox/stats") as answer:  # noqa: S310 - loopback
        stats: dict[str, Any] = json.load(answer)
    return stats
