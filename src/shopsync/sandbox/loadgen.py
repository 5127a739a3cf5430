"""Measure a sandbox: ``python -m shopsync.sandbox.loadgen BASE_URL [options]``.

Sends ``POST /products/batch`` requests of new products (each with an ``Idempotency-Key``)
from keep-alive connections in threads, closed-loop (as fast as answers come) or paced to
a target rate, and prints the rate, latency percentiles and, given the server's process
id, the server's CPU use (from ``/proc``, so Linux only). Standard library only, so the
client's own cost stays small; ``TCP_NODELAY`` is set as urllib3 does.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import socket
import threading
import time
import urllib.parse
from pathlib import Path


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _batch(n: int, size: int) -> bytes:
    items = [
        {
            "sku": f"LOAD-{n}-{i}",
            "title": f"Product {n} {i}",
            "price": "129.90",
            "stock": 5,
            "images": ["https://cdn.example.com/a.jpg"],
            "brand": "Acme",
            "attributes": {"color": "red", "size": "M"},
        }
        for i in range(size)
    ]
    return json.dumps({"create": items}).encode()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url")
    parser.add_argument("--pid", type=int, help="server process id, for its CPU use")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=0.0, help="requests/s; 0 = closed loop")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--batch", type=int, default=50, help="products per request")
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    return parser.parse_args()


def _token(host: str, port: int, client_id: str, client_secret: str) -> str:
    conn = http.client.HTTPConnection(host, port, timeout=30)
    basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
    conn.request(
        "POST",
        "/auth/token",
        body="grant_type=client_credentials",
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Authorization": f"Basic {basic}",
        },
    )
    token = str(json.loads(conn.getresponse().read())["access_token"])
    conn.close()
    return token


def main() -> None:
    """Parse the arguments, run the load, print one line of results."""
    args = _arguments()
    url = urllib.parse.urlsplit(args.base_url)
    host, port = url.hostname or "127.0.0.1", url.port or 80

    token = _token(host, port, args.client_id, args.client_secret)

    lock = threading.Lock()
    sent = [0]
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    stop_at = time.monotonic() + args.seconds
    interval = args.connections / args.rate if args.rate else 0.0

    def worker(index: int) -> None:
        client = http.client.HTTPConnection(host, port, timeout=30)
        client.connect()
        assert client.sock is not None
        # Without it, http.client's separate header and body writes meet delayed ACKs.
        client.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        due = time.monotonic() + index * interval / args.connections
        while time.monotonic() < stop_at:
            if interval:
                time.sleep(max(0.0, due - time.monotonic()))
                due += interval
            with lock:
                sent[0] += 1
                n = sent[0]
            body = _batch(n, args.batch)
            started = time.monotonic()
            client.request(
                "POST",
                "/products/batch",
                body=body,
                headers={
                    "Content-Type": "application/json",
                    "Authorization": f"Bearer {token}",
                    "Idempotency-Key": f"load-{n}",
                },
            )
            response = client.getresponse()
            response.read()
            took = time.monotonic() - started
            with lock:
                statuses[response.status] = statuses.get(response.status, 0) + 1
                latencies.append(took)
        client.close()

    cpu_before = _cpu_seconds(args.pid) if args.pid else 0.0
    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started

    cpu = _cpu_seconds(args.pid) - cpu_before if args.pid else None
    extra = f" server_cpu={100 * cpu / elapsed:.1f}%" if cpu is not None else ""
    print(_summary(statuses, sorted(latencies), elapsed, args.batch, extra))


def _summary(
    statuses: dict[int, int], latencies: list[float], elapsed: float, batch: int, extra: str
) -> str:
    done = sum(statuses.values())
    p50 = 1000 * latencies[len(latencies) // 2] if latencies else 0.0
    p99 = 1000 * latencies[int(len(latencies) * 0.99)] if latencies else 0.0
    return (
        f"requests={done} statuses={statuses} rate={done / elapsed:.1f}/s "
        f"products/s={batch * done / elapsed:.0f} p50={p50:.1f}ms p99={p99:.1f}ms{extra}"
    )


if __name__ == "__main__":  # pragma: no cover - a measuring tool, run by hand
    main()
