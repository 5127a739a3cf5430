"""Shopify: the bulk path against productSet, by the size of the change.

    python benchmarks/shopify_bulk.py --sizes 10,30,100,300,1000 --bulk-sizes 5000,50000

For each size N, a fresh Shopify sandbox dialect (its own process: ``shopsync sandbox
serve --dialect shopify --rate RESTORE --latency-ms 20``) gets a catalog of N new products
uploaded by the installed ``shopsync`` entry point, once with ``SHOPSYNC_BULK=always``
(staged upload, one bulk operation per 10,000 products, polled) and once with
``SHOPSYNC_BULK=never`` (aliased productSet, 10 a request, paced by the cost bucket).
Reported: wall time, the upload process's peak RSS (``wait4``), points spent, and the
ratio productSet / bulk (above 1: bulk is faster). ``--bulk-sizes`` run the bulk path
only; their productSet time is the cost ceiling's least time (``(N x points per product
- bucket) / RESTORE``, with the points per product of the largest productSet run), which
the productSet path reaches to 0.97 (docs/benchmarks.md).

What the sandbox cannot show: how fast Shopify itself works through a bulk operation.
The dialect runs the lines as fast as this machine executes them, so the bulk figures are
the client's cost (upload, polling, reading results) plus the sandbox's; the crossover is
where the bulk path's fixed cost (a staged upload, a submission, polls from 0.5 s) falls
under what productSet costs, which does not depend on Shopify's bulk speed for small N.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sandbox_process import sandbox_stats, serving

BUCKET_SECONDS = 20


def write_catalog(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock"])
        for n in range(rows):
            writer.writerow([f"BM-{n:06d}", f"Benchmark item {n}", "19.90", 5])


def one_run(shopsync: str, products: int, mode: str, args: argparse.Namespace) -> dict[str, Any]:
    """Upload ``products`` new products with ``SHOPSYNC_BULK=mode`` to a fresh sandbox."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        catalog = work / "catalog.csv"
        write_catalog(catalog, products)
        with serving(
            shopsync, "shopify", "--rate", str(args.restore), "--latency-ms", str(args.latency_ms)
        ) as base_url:
            env = {
                **os.environ,
                "SHOPSYNC_PLATFORM": "shopify",
                "SHOPSYNC_SHOP": "sandbox",
                "SHOPSYNC_BASE_URL": base_url,
                "SHOPSYNC_CLIENT_ID": "demo-client",
                "SHOPSYNC_CLIENT_SECRET": "demo-secret",
                "SHOPSYNC_DATA_DIR": str(work / "data"),
                "SHOPSYNC_WORKERS": str(args.workers),
                "SHOPSYNC_BULK": mode,
            }
            started = time.monotonic()
            run = subprocess.Popen(
                [shopsync, "--quiet", "upload", str(catalog)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(run.pid, 0)
            wall = time.monotonic() - started
            stats = sandbox_stats(base_url)
    return {
        "products": products,
        "mode": mode,
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "cost_spent": stats.get("cost_spent"),
        "products_stored": stats.get("products_stored"),
        "bulk_operations": stats.get("bulk_operations"),
        "throttled": stats.get("rate_limited"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,30,100,300,1000")
    parser.add_argument("--bulk-sizes", default="", help="sizes run through the bulk path only")
    parser.add_argument("--restore", type=float, default=100.0, help="points per second")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shopsync = str(Path(sys.executable).with_name("shopsync"))
    rows: list[dict[str, Any]] = []
    per_product = None
    for size in [int(s) for s in args.sizes.split(",") if s]:
        bulk = one_run(shopsync, size, "always", args)
        single = one_run(shopsync, size, "never", args)
        per_product = (single["cost_spent"] or 0) / size
        rows.append(
            {
                "products": size,
                "bulk": bulk,
                "productset": single,
                "ratio_productset_over_bulk": round(single["wall_s"] / bulk["wall_s"], 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    for size in [int(s) for s in args.bulk_sizes.split(",") if s]:
        bulk = one_run(shopsync, size, "always", args)
        least = None
        if per_product:
            least = max(0.0, size * per_product - BUCKET_SECONDS * args.restore) / args.restore
        rows.append(
            {
                "products": size,
                "bulk": bulk,
                "productset_least_time_s": None if least is None else round(least, 1),
                "ratio_productset_over_bulk": None
                if least is None
                else round(least / bulk["wall_s"], 2),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0 if all(r["bulk"]["exit_code"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
