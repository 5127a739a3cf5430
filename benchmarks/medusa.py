"""Medusa: products per second into the real Medusa 2.21.2, against what the server itself sustains.

    python benchmarks/medusa.py --products 1000 [--state FILE] [--json out.json]

The server: the test suite's (``tests/medusa/harness.py``): started here from the warm
cache and snapshot, or with ``--state FILE`` the one ``harness.py serve --state FILE``
runs. Four runs, each of ``--products`` new single-variant products with fresh SKUs:

direct-1
    A minimal client: one ``requests.Session``, ``POST /admin/products/batch`` of
    ``--batch`` products at a time, one request after the other, the bodies shopsync's
    Medusa mapping makes (so both send the same JSON). What one batch request sustains.
direct-N
    The same with ``--workers`` threads, each sending its own batches: what the server
    sustains concurrently on this machine (its ceiling here).
shopsync
    ``shopsync --quiet upload`` of a CSV without a stock column (so it sends what the
    direct client sends: product batches; plus its lookups), ``--workers`` workers.
shopsync+stock
    The same catalog with a stock column: each batch also reads its inventory items and
    sets their levels at the location (two more requests a batch), the whole job.

For each: wall time, products/s, and CPU seconds per 1,000 products of the client
(this process's CPU for the direct client; the shopsync process's from ``wait4``) and of
the server (Medusa's process tree and PostgreSQL's, from /proc, before and after).
Everything runs on 127.0.0.1; everything started here is stopped here.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "medusa"))
sys.path.insert(0, str(ROOT / "tests"))

from harness import MedusaServer, read_state, running_medusa  # noqa: E402

from shopsync.domain.models import Product  # noqa: E402
from shopsync.platforms.medusa.mapping import StoreDefaults, create_body  # noqa: E402

_TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> tuple[int, float] | None:
    """(parent PID, CPU seconds of the process and its reaped children), or None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2 :].split()
    # After the name: state ppid ... utime(12) stime(13) cutime(14) cstime(15), 0-based.
    return int(fields[1]), sum(int(f) for f in fields[11:15]) / _TICK


def tree_cpu(root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (with the ones they reaped)."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            found = _stat(int(entry.name))
            if found is not None:
                parents[int(entry.name)], cpu[int(entry.name)] = found
    total, wanted = 0.0, {root}
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    for pid in wanted:
        total += cpu.get(pid, 0.0)
    return total


def postmaster_of(server: MedusaServer) -> int:
    """The PID of the PostgreSQL cluster beside the server (its data dir's postmaster.pid)."""
    first = (server.log_path.parent / "data" / "postmaster.pid").read_text().splitlines()[0]
    return int(first)


@contextlib.contextmanager
def the_server(state: Path | None) -> Iterator[MedusaServer]:
    if state is not None:
        yield read_state(state)
        return
    with running_medusa() as server:
        yield server


def _products(prefix: str, count: int) -> list[Product]:
    return [
        Product.model_validate(
            {"sku": f"{prefix}-{n:05d}", "title": f"Bench item {n}", "price": f"{10 + n % 50}.90"}
        )
        for n in range(count)
    ]


def direct(server: MedusaServer, count: int, batch: int, workers: int) -> tuple[float, int, float]:
    """The minimal client: (wall s, errors, client CPU s) for ``count`` new products."""
    setup = server.setup
    defaults = StoreDefaults(
        setup.sales_channel_id, setup.stock_location_id, setup.shipping_profile_id, setup.currency
    )
    products = _products("BD" + uuid.uuid4().hex[:6].upper(), count)
    bodies = [
        {"create": [create_body(p, defaults) for p in products[start : start + batch]]}
        for start in range(0, count, batch)
    ]
    queue = list(reversed(bodies))
    lock = threading.Lock()
    errors = [0]

    def send() -> None:
        with requests.Session() as session:
            session.headers.update(server.admin_headers())
            while True:
                with lock:
                    if not queue:
                        return
                    body = queue.pop()
                answer = session.post(
                    server.base_url + "/admin/products/batch", json=body, timeout=600
                )
                if answer.status_code != 200:
                    with lock:
                        errors[0] += 1

    cpu_before = time.process_time()
    started = time.monotonic()
    threads = [threading.Thread(target=send) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - started, errors[0], time.process_time() - cpu_before


def write_catalog(path: Path, prefix: str, count: int, *, stock: bool) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", *(["stock"] if stock else [])])
        for n in range(count):
            row = [f"{prefix}-{n:05d}", f"Bench item {n}", f"{10 + n % 50}.90"]
            writer.writerow([*row, *([str(n % 9)] if stock else [])])


def shopsync(
    server: MedusaServer, work: Path, count: int, workers: int, *, stock: bool
) -> tuple[float, int, float]:
    """``shopsync upload`` as its own process: (wall s, exit status, its CPU s)."""
    name = "stock" if stock else "plain"
    catalog = work / f"{name}.csv"
    write_catalog(catalog, "BS" + uuid.uuid4().hex[:6].upper(), count, stock=stock)
    env = {
        **os.environ,
        "SHOPSYNC_PLATFORM": "medusa",
        "SHOPSYNC_BASE_URL": server.base_url,
        "SHOPSYNC_API_KEY": server.api_key,
        "SHOPSYNC_DATA_DIR": str(work / f"data-{name}"),
        "SHOPSYNC_WORKERS": str(workers),
    }
    program = str(Path(sys.executable).with_name("shopsync"))
    started = time.monotonic()
    process = subprocess.Popen(
        [program, "--quiet", "upload", str(catalog)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.monotonic() - started, process.returncode, usage.ru_utime + usage.ru_stime


def measured(server: MedusaServer, run: Any) -> dict[str, float]:
    """``run()`` → (wall, status, client CPU), with the server's CPU around it."""
    node, postgres = server.pid, postmaster_of(server)
    node_before, pg_before = tree_cpu(node), tree_cpu(postgres)
    wall, status, client_cpu = run()
    return {
        "wall_s": wall,
        "status": status,
        "client_cpu_s": client_cpu,
        "medusa_cpu_s": tree_cpu(node) - node_before,
        "postgres_cpu_s": tree_cpu(postgres) - pg_before,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="direct client's batch size")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--state", type=Path, help="a running server's state file")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    count, workers = args.products, args.workers
    results: dict[str, dict[str, float]] = {}
    with the_server(args.state) as server, tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        # A first small batch warms Medusa's caches (and the JIT) for every run alike.
        direct(server, min(50, count), 50, 1)
        runs = {
            "direct-1": lambda: direct(server, count, args.batch, 1),
            f"direct-{workers}": lambda: direct(server, count, args.batch, workers),
            "shopsync": lambda: shopsync(server, work, count, workers, stock=False),
            "shopsync+stock": lambda: shopsync(server, work, count, workers, stock=True),
        }
        for name, run in runs.items():
            results[name] = measured(server, run)
    report: dict[str, Any] = {"products": count, "batch": args.batch, "workers": workers}
    for name, figures in results.items():
        per_k = 1000 / count
        report[name] = {
            "status": figures["status"],
            "wall_s": round(figures["wall_s"], 2),
            "products_per_s": round(count / figures["wall_s"], 2),
            "client_cpu_s_per_1000": round(figures["client_cpu_s"] * per_k, 2),
            "medusa_cpu_s_per_1000": round(figures["medusa_cpu_s"] * per_k, 2),
            "postgres_cpu_s_per_1000": round(figures["postgres_cpu_s"] * per_k, 2),
        }
    ceiling = report[f"direct-{workers}"]["products_per_s"]
    for name in ("shopsync", "shopsync+stock"):
        report[name]["of_ceiling"] = round(report[name]["products_per_s"] / ceiling, 3)
    report["load_average"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    failed = any(r["status"] for r in results.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
