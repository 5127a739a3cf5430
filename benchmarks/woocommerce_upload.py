"""WooCommerce: requests and time per product, simple and variable, against a host's WAF.

    python benchmarks/woocommerce_upload.py --products 2000 --variable 0.2 --rate 50

Starts the WooCommerce sandbox dialect as its own process (``shopsync sandbox serve
--dialect woocommerce --rate RATE``: WooCommerce has no rate limit of its own, the host's
firewall answers 429 above RATE requests a second) with 20 ms latency a request, uploads
a generated catalog (a share of the products variable, four sizes each) with the
installed ``shopsync`` entry point, signed OAuth 1.0a over http://, and reads the
sandbox's counters. Run it with ``--batch-size 50`` (the shared default) and without
(the adapter's default, 100) to see what the batch size buys.

The least number of requests: one ``products/batch`` per BATCH products (parents
included), and one ``variations/batch`` per variable product (a parent's id is known
only once it is created). The least time is that over RATE; efficiency is the least
time over the time measured (1.0 = the WAF's rate, every request needed and no other).
The latency is the sandbox's, not WordPress's: a real batch of 100 runs PHP for seconds,
which no loopback figure stands for.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sandbox_process import sandbox_stats, serving

SIZES = ("S", "M", "L", "XL")


def write_catalog(path: Path, products: int, variable: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["handle", "sku", "title", "price", "stock", "option:Size"])
        for n in range(products - variable):
            writer.writerow(["", f"BS-{n:06d}", f"Mug {n}", "19.90", 5, ""])
        for n in range(variable):
            for size in SIZES:
                writer.writerow([f"bv-{n:06d}", f"BV-{n:06d}-{size}", f"Tee {n}", "29.00", 3, size])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--variable", type=float, default=0.2, help="share of variable products")
    parser.add_argument("--rate", type=float, default=50.0, help="the WAF's requests per second")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch-size", type=int, help="default: the adapter's (100)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    variable = round(args.products * args.variable)
    shopsync = str(Path(sys.executable).with_name("shopsync"))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        catalog = work / "catalog.csv"
        write_catalog(catalog, args.products, variable)
        with serving(
            shopsync,
            "woocommerce",
            "--rate",
            str(args.rate),
            "--burst",
            str(max(1, int(args.rate))),
            "--latency-ms",
            str(args.latency_ms),
            "--log-level",
            "warning",
        ) as base_url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
                "SHOPSYNC_PLATFORM": "woocommerce",
                "SHOPSYNC_BASE_URL": base_url,
                "SHOPSYNC_CONSUMER_KEY": "ck_demo-client",
                "SHOPSYNC_CONSUMER_SECRET": "cs_demo-secret",
                "SHOPSYNC_DATA_DIR": str(work / "data"),
                "SHOPSYNC_WORKERS": str(args.workers),
                "SHOPSYNC_RATE": str(args.rate),  # the profile the README gives: the WAF's
                **({"SHOPSYNC_BATCH_SIZE": str(args.batch_size)} if args.batch_size else {}),
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
    batch = args.batch_size or 100
    least_requests = math.ceil(args.products / batch) + variable
    least = least_requests / args.rate
    result = {
        "products": args.products,
        "variable": variable,
        "skus": args.products - variable + variable * len(SIZES),
        "batch_size": batch,
        "waf_rate": args.rate,
        "exit_code": done.returncode,
        "wall_s": round(wall, 2),
        "products_per_s": round(args.products / wall, 1),
        "requests": stats.get("requests_total"),
        "least_requests": least_requests,
        "least_time_s": round(least, 2),
        "efficiency": round(least / wall, 3) if wall else None,
        "throttled": stats.get("rate_limited"),
        "products_stored": stats.get("products_stored"),
        "variations_stored": stats.get("variations_stored"),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if done.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
