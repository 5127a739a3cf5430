"""Amazon: listings per second against the put plan's ceiling, and the feed path's time.

    python benchmarks/amazon_upload.py --listings 300 --scale 1
    python benchmarks/amazon_upload.py --feed-listings 20000 --feed-delay 60

Starts the Amazon sandbox dialect as its own process (``shopsync sandbox serve --dialect
amazon --latency-ms 20``, its usage plans multiplied by ``--scale`` through
``--dialect-option usage_scale``), uploads a generated catalog with the installed
``shopsync`` entry point, and reads the sandbox's counters.

1. **Per listing.** ``--listings`` new listings, one ``putListingsItem`` each (the feed
   threshold out of reach), ``--no-verify`` so the puts alone are timed. The put plan is
   5 requests/s with a burst of 10, times ``--scale``: no client can create N listings
   in less than ``(N - 10) / (5 x scale)`` seconds. Efficiency is that least time over
   the measured wall time of the whole process (start-up included; 1.0 = at the ceiling).
2. **Feed.** ``--feed-listings`` new listings in batches of 1,000 (the largest batch
   size; one ``JSON_LISTINGS_FEED`` each), the plans times ``--feed-scale`` (createFeed:
   a burst of 15, then one every 120 s / scale), the dialect taking ``--feed-delay``
   seconds to process a feed and shopsync polling every 5 s; compared with the least
   time the per-listing path needs for as many at the same scale,
   ``(N - 10) / (5 x scale)``.
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
import urllib.request
from pathlib import Path
from typing import Any

PUT_RATE = 5.0
PUT_BURST = 10


def write_catalog(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock", "brand"])
        for n in range(rows):
            writer.writerow([f"AZ-{n:06d}", f"Benchmark teapot {n}", "19.90", n % 40, "Yixing"])


def run(
    work: Path, rows: int, options: dict[str, str], env_extra: dict[str, str]
) -> dict[str, Any]:
    """One sandbox, one upload of ``rows`` new listings; wall time and the server's stats."""
    shopsync = str(Path(sys.executable).with_name("shopsync"))
    catalog = work / f"catalog-{rows}.csv"
    if not catalog.exists():
        write_catalog(catalog, rows)
    command = [shopsync, "sandbox", "serve", "--dialect", "amazon", "--port", "0",
               "--latency-ms", "20", "--log-level", "warning"]  # fmt: skip
    for name, value in options.items():
        command += ["--dialect-option", f"{name}={value}"]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None
        base_url = server.stdout.readline().split(" at ")[-1].strip()
        data = work / f"data-{time.monotonic_ns()}"
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
            "SHOPSYNC_PLATFORM": "amazon",
            "SHOPSYNC_BASE_URL": base_url,
            "SHOPSYNC_TOKEN_URL": base_url + "/auth/o2/token",
            "SHOPSYNC_CLIENT_ID": "demo-client",
            "SHOPSYNC_CLIENT_SECRET": "demo-secret",
            "SHOPSYNC_REFRESH_TOKEN": "Atzr|demo-refresh-token",
            "SHOPSYNC_SELLER_ID": "A2DEMOSELLER01",
            "SHOPSYNC_MARKETPLACE_ID": "ATVPDKIKX0DER",
            "SHOPSYNC_PRODUCT_TYPE": "HOME",
            "SHOPSYNC_DATA_DIR": str(data),
            **env_extra,
        }
        started = time.monotonic()
        done = subprocess.run(
            [shopsync, "--quiet", "upload", str(catalog), "--no-verify"],
            env=env, check=False, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.monotonic() - started
        with urllib.request.urlopen(f"{base_url}/_sandbox/stats") as answer:  # noqa: S310
            stats = json.load(answer)
    finally:
        server.terminate()
        server.wait(10)
    if done.returncode != 0:
        print(done.stderr, file=sys.stderr)
    requests = stats.get("requests") or {}
    return {
        "exit_code": done.returncode,
        "wall_s": round(wall, 2),
        "stored": stats.get("products_stored"),
        "puts": sum((requests.get("PUT putListingsItem") or {}).values()),
        "feeds": stats.get("feeds_created"),
        "throttled": stats.get("rate_limited"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--listings", type=int, default=300)
    parser.add_argument("--scale", type=float, default=1.0, help="usage plans times this")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--feed-listings", type=int, default=20000, help="0: skip the feed run")
    parser.add_argument("--feed-delay", type=float, default=30.0)
    parser.add_argument("--feed-scale", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if args.listings:
            single = run(
                work,
                args.listings,
                {"usage_scale": str(args.scale)},
                {"SHOPSYNC_WORKERS": str(args.workers), "SHOPSYNC_FEED_THRESHOLD": "10001"},
            )
            ceiling = PUT_RATE * args.scale
            least = max(0.0, (args.listings - PUT_BURST) / ceiling)
            result["per_listing"] = {
                **single,
                "listings": args.listings,
                "scale": args.scale,
                "ceiling_listings_per_s": ceiling,
                "listings_per_s": round(args.listings / single["wall_s"], 2),
                "least_time_s": round(least, 2),
                "efficiency": round(least / single["wall_s"], 3),
            }
        if args.feed_listings:
            feed = run(
                work,
                args.feed_listings,
                {"feed_delay": str(args.feed_delay), "usage_scale": str(args.feed_scale)},
                {"SHOPSYNC_BATCH_SIZE": "1000", "SHOPSYNC_FEED_THRESHOLD": "200",
                 "SHOPSYNC_FEED_POLL_SECONDS": "5"},
            )  # fmt: skip
            per_listing_least = (args.feed_listings - PUT_BURST) / (PUT_RATE * args.feed_scale)
            result["feed"] = {
                **feed,
                "listings": args.feed_listings,
                "feed_delay_s": args.feed_delay,
                "scale": args.feed_scale,
                "per_listing_least_time_s": round(per_listing_least, 1),
                "speedup": round(per_listing_least / feed["wall_s"], 1),
            }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if all(part["exit_code"] == 0 for part in result.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
