"""Taobao: items per second against TOP's call limit, one call per item.

    python benchmarks/taobao_upload.py --items 1000 --rate 50 [--images 3]

Starts the Taobao sandbox dialect as its own process (``shopsync sandbox serve --dialect
taobao --rate RATE --burst RATE``: the app's call limit, answered with code 7 when
exceeded; 20 ms a call) and uploads a generated catalog of new items with the installed
``shopsync``, ``--workers`` workers, its own ``rate`` set to the server's. With
``--images N`` each item has N images (N distinct contents in all, so the picture space
gets each once and every item joins N - 1 extra images).

TOP has no batch write: an item costs ``taobao.item.add`` plus one
``taobao.item.joint.img`` per extra image, and nothing else (the category's properties
are not asked: the options are SKU-less here). The ceiling is the call limit over the
calls an item costs; efficiency is the least time (calls - burst) / rate over the time
measured. The sandbox's counters give the calls and the code-7 answers.
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

_PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


def write_catalog(path: Path, items: int, images: int) -> None:
    pictures = []
    for n in range(images):
        # A distinct content per picture: the PNG with a trailing comment of its number.
        picture = path.parent / f"picture-{n}.png"
        picture.write_bytes(_PNG + f"#{n}".encode())
        pictures.append(picture.name)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        header = ["sku", "title", "price", "stock", "taobao:cid"]
        writer.writerow([*header, *(["images"] if images else [])])
        for n in range(items):
            row = [f"TB-{n:06d}", f"纯棉T恤 {n}", "59.00", 5, "50000436"]
            writer.writerow([*row, *(["|".join(pictures)] if images else [])])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="calls per second")
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--images", type=int, default=0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    shopsync = str(Path(sys.executable).with_name("shopsync"))
    burst = max(1, int(args.rate))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        catalog = work / "catalog.csv"
        write_catalog(catalog, args.items, args.images)
        with serving(
            shopsync,
            "taobao",
            "--rate",
            str(args.rate),
            "--burst",
            str(burst),
            "--latency-ms",
            str(args.latency_ms),
        ) as base_url:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
                "SHOPSYNC_PLATFORM": "taobao",
                "SHOPSYNC_BASE_URL": base_url,
                "SHOPSYNC_APP_KEY": "demo-client",
                "SHOPSYNC_APP_SECRET": "demo-secret",
                "SHOPSYNC_SESSION": "demo-session",
                "SHOPSYNC_LOCATION_STATE": "浙江",
                "SHOPSYNC_LOCATION_CITY": "杭州",
                "SHOPSYNC_DATA_DIR": str(work / "data"),
                "SHOPSYNC_WORKERS": str(args.workers),
                "SHOPSYNC_RATE": str(args.rate),
                "SHOPSYNC_BURST": str(burst),
                "HOME": str(work),
            }
            started = time.monotonic()
            process = subprocess.Popen(
                [shopsync, "--quiet", "upload", str(catalog)],
                env=env,
                cwd=work,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.monotonic() - started
            stats = sandbox_stats(base_url)
    calls = {
        method: sum(outcomes.values()) for method, outcomes in (stats.get("requests") or {}).items()
    }
    writes = int(stats.get("write_requests") or 0)
    least = max(0.0, (sum(calls.values()) - burst) / args.rate)
    result = {
        "items": args.items,
        "images_per_item": args.images,
        "rate": args.rate,
        "exit_code": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 2),
        "items_per_s": round(args.items / wall, 2),
        "calls": calls,
        "calls_per_item": round(sum(calls.values()) / args.items, 3),
        "ceiling_items_per_s": round(args.rate * args.items / sum(calls.values()), 2),
        "least_time_s": round(least, 2),
        "efficiency": round(least / wall, 3) if wall else None,
        "write_requests": writes,
        "throttled": stats.get("rate_limited"),
        "cpu_s_per_1000_items": round((usage.ru_utime + usage.ru_stime) * 1000 / args.items, 2),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0 if result["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
