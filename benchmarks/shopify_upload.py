"""Shopify: products per second against the cost ceiling, through productSet.

    python benchmarks/shopify_upload.py --products 2000 --restore 100

Starts the Shopify sandbox dialect as its own process (``shopsync sandbox serve
--dialect shopify --rate RESTORE``: a bucket of 20 x RESTORE points refilled at RESTORE
points/s, as Shopify's plans have them) with 20 ms latency, uploads a generated catalog
with the installed ``shopsync`` entry point, and reads the sandbox's counters.

The ceiling: a product costs what the run spent in all (the sandbox's ``cost_spent``:
productSet, 12 points, plus its share of the lookup that checks a create's SKU is not
taken, plus the location query) divided by N, so no client can sustain more than
RESTORE / cost products per second; with the bucket full at the start, the least time
any client needs is ``(cost_spent - bucket) / RESTORE``. Efficiency is that least time
over the time measured (1.0 = at the ceiling).
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

from sandbox_process import sandbox_stats, serving

BUCKET_SECONDS = 20


def write_catalog(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock"])
        for n in range(rows):
            writer.writerow([f"BM-{n:06d}", f"Benchmark item {n}", "19.90", 5])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--restore", type=float, default=100.0, help="points per second")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shopsync = str(Path(sys.executable).with_name("shopsync"))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        catalog = work / "catalog.csv"
        write_catalog(catalog, args.products)
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
            }
            started = time.monotonic()
            done = subprocess.run(
                [shopsync, "--quiet", "upload", str(catalog)],
                env=env,
                check=False,
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - started
            stats = sandbox_stats(base_url)
    bucket = BUCKET_SECONDS * args.restore
    spent = float(stats.get("cost_spent") or 0)
    per_product = spent / args.products
    least = max(0.0, (spent - bucket) / args.restore)
    result = {
        "products": args.products,
        "restore_rate": args.restore,
        "exit_code": done.returncode,
        "wall_s": round(wall, 2),
        "products_per_s": round(args.products / wall, 2),
        "cost_per_product": round(per_product, 2),
        "ceiling_products_per_s": round(args.restore / per_product, 2) if per_product else None,
        "least_time_s": round(least, 2),
        "efficiency": round(least / wall, 3) if wall else None,
        "products_stored": stats.get("products_stored"),
        "write_requests": stats.get("write_requests"),
        "throttled": stats.get("rate_limited"),
        "cost_spent": stats.get("cost_spent"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
