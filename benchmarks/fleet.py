"""Fleet mode, ten shops at once: each shop's limit held, and the sum of them used.

    python benchmarks/fleet.py [--seconds 30] [--workers 3] [--json out.json] [--logs DIR]

Starts its own Redis and PostgreSQL on free loopback ports (``redis-server``,
``initdb``/``pg_ctl`` as the ``postgres`` user when run as root), ten sandboxes (one per
shop, each with its own limit: 3, 4, ... 12 requests/s, burst 5, 20 ms latency), three
``shopsync worker`` processes, and one ``shopsync upload --queue --wait`` per shop, all
at once. Each shop gets ``rate * seconds`` batches of 10 products, so that every shop
would finish at the same moment if each ran at its ceiling.

Reported, from the sandboxes' own request times: per shop the most requests in any one
second (a token bucket of rate r and burst b allows at most r + b) and its 429s; for
all shops, API requests per second from the first request to the last against the sum
of the ceilings. Every process it starts is stopped by PID at the end. Only 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

PYTHON = sys.executable
SHOPSYNC = str(Path(PYTHON).with_name("shopsync"))
RATES = [3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0]
BURST = 5
BATCH = 10


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process and its reaped children (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(fields[i]) for i in (11, 12, 13, 14))
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    """CPU time of this process's reaped children (the uploads, once they have ended)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu_of_user(user: str) -> float:
    """CPU time of every process of ``user`` (the PostgreSQL server's backends)."""
    try:
        uid = pwd.getpwnam(user).pw_uid
    except KeyError:
        return 0.0
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    total += _cpu_seconds(int(entry.name))
            except OSError:
                continue
    return total


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def run(  # noqa: PLR0915 - one measurement, start to end, reads best in one piece
    seconds: float, workers: int, scale: float = 1.0, logs: Path | None = None
) -> dict[str, Any]:
    """One measurement; returns the figures as plain values."""
    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "src"))
    sys.path.insert(0, str(root / "tests"))
    # The test suite's servers: free loopback ports, temporary directories, stopped by PID.
    from servers import ServerUnavailable, running_postgres, running_redis  # noqa: PLC0415
    from shopsync.sandbox import SandboxConfig, running_sandbox  # noqa: PLC0415
    from shopsync.state.ledger_pg import migrate  # noqa: PLC0415

    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="shopsync-fleet-")))
        try:
            broker = stack.enter_context(running_redis()) + "/0"
            # Ten planners and three workers of four threads, a connection per thread
            # and target: more than the tests' 200.
            ledger = stack.enter_context(running_postgres(max_connections=400)).url
        except ServerUnavailable as missing:
            sys.exit(f"{missing} is not installed: apt-get install redis-server postgresql")
        migrate(ledger)
        shops = []
        config = []
        rates = [rate * scale for rate in RATES]
        for n, rate in enumerate(rates):
            handle = stack.enter_context(
                running_sandbox(SandboxConfig(rate=rate, burst=BURST, latency_ms=20))
            )
            times: list[tuple[float, str]] = []
            count = handle.app.stats.request

            def timed(
                endpoint: str, outcome: str, *, write: bool, _t: Any = times, _c: Any = count
            ) -> None:
                _t.append((time.time(), endpoint))
                _c(endpoint, outcome, write=write)

            handle.app.stats.request = timed  # type: ignore[method-assign]
            products = int(rate * seconds) * BATCH
            catalog = tmp / f"shop{n}.csv"
            catalog.write_text(
                "sku,title,price\n"
                + "".join(f"S{n}-{i:05d},Product {i},{i % 50 + 1}.00\n" for i in range(products))
            )
            shops.append({"handle": handle, "times": times, "rate": rate, "products": products})
            config.append(
                f'[profiles.shop{n}]\nbase_url = "{handle.base_url}"\n'
                f'client_id = "{handle.client_id}"\nclient_secret_env = "SHOP_SECRET"\n'
                f"rate = {rate}\nburst = 3\nbatch_size = {BATCH}\n"
            )
        (tmp / "config.toml").write_text("\n".join(config))
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp),
            "SHOPSYNC_CONFIG": str(tmp / "config.toml"),
            "SHOPSYNC_DATA_DIR": str(tmp / "data"),
            "SHOPSYNC_LEDGER_URL": ledger,
            "SHOPSYNC_BROKER_URL": broker,
            "SHOP_SECRET": "demo-secret",
            "SHOPSYNC_PROFILE": "shop0",
        }
        started: list[subprocess.Popen[bytes]] = []
        try:
            for w in range(workers):
                log = (tmp / f"w{w}.log").open("wb")
                started.append(
                    subprocess.Popen(
                        [SHOPSYNC, "worker", "--name", f"w{w}", "--concurrency", "4"],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            time.sleep(5)  # Celery's start-up; tasks queued earlier would wait anyway
            cpu_before = {
                "workers": sum(_cpu_seconds(p.pid) for p in started),
                "postgres": _cpu_of_user("postgres"),
                "sandboxes": time.process_time(),
                "children": _children_cpu(),
            }
            began = time.time()
            uploads = [
                subprocess.Popen(
                    [
                        SHOPSYNC,
                        "--quiet",
                        "upload",
                        str(tmp / f"shop{n}.csv"),
                        "--queue",
                        "--wait",
                        "--profile",
                        f"shop{n}",
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                )
                for n in range(len(rates))
            ]
            for upload in uploads:
                out, err = upload.communicate(timeout=600)
                if upload.returncode != 0:
                    sys.exit(f"upload failed ({upload.returncode}): {out!r} {err!r}")
            planners = _children_cpu() - cpu_before["children"]
            wall = time.time() - began
            cpu = {
                "workers": sum(_cpu_seconds(p.pid) for p in started) - cpu_before["workers"],
                "postgres": _cpu_of_user("postgres") - cpu_before["postgres"],
                "sandboxes_and_driver": time.process_time() - cpu_before["sandboxes"],
                "planners": planners,
            }
        finally:
            for process in started:
                process.terminate()  # Celery's warm shutdown: the tasks in hand finish
            for process in started:
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if logs is not None:
                logs.mkdir(parents=True, exist_ok=True)
                for w in range(workers):
                    shutil.copy(tmp / f"w{w}.log", logs / f"w{w}.log")
        import psycopg  # noqa: PLC0415 - the fleet extra

        with psycopg.connect(ledger) as db:
            queued = {
                target.split("|", 1)[1]: (first, last)
                for target, first, last in db.execute(
                    "SELECT target, min(at), max(at) FROM shopsync_batch GROUP BY target"
                )
            }
        per_shop = []
        every: list[float] = []
        for n, shop in enumerate(shops):
            api = [at for at, endpoint in shop["times"] if endpoint != "POST /auth/token"]
            every += api
            stats = shop["handle"].stats()
            live, _ = shop["handle"].store.product_counts()
            own_span = max(api) - min(api)
            per_shop.append(
                {
                    "shop": f"shop{n}",
                    "rate": shop["rate"],
                    "requests": len(api),
                    "first_to_last_request_s": round(own_span, 2),
                    # Since the uploads started: when planning let the shop begin, and end.
                    "first_request_at_s": round(min(api) - began, 2),
                    "last_request_at_s": round(max(api) - began, 2),
                    # When its planner queued its first and last batch.
                    "queued_from_s": round(queued[shop["handle"].base_url][0] - began, 2),
                    "queued_to_s": round(queued[shop["handle"].base_url][1] - began, 2),
                    # What a token bucket allows over that span: the burst, then the rate.
                    "of_its_ceiling": round(len(api) / (BURST + shop["rate"] * own_span), 3),
                    "most_in_one_second": _most_in_any_second(api),
                    "allowed_in_one_second": shop["rate"] + BURST,
                    "rate_limited": stats["rate_limited"],
                    "products": live,
                    "expected_products": shop["products"],
                }
            )
        span = max(every) - min(every)
        ceiling = sum(rates)
        batches = len(every)
        return {
            "seconds_per_shop_at_ceiling": seconds,
            "workers": workers,
            "wall_s": round(wall, 2),
            "api_requests": len(every),
            "first_to_last_request_s": round(span, 2),
            "requests_per_s": round((len(every) - 1) / span, 2),
            "sum_of_ceilings_per_s": ceiling,
            "ratio_of_ceiling": round((len(every) - 1) / span / ceiling, 3),
            # Each shop against what its own bucket allowed while it had batches: the
            # dispatch's share of the result, without the planners' staggered start-up.
            "ratio_while_busy": round(
                sum(shop["requests"] for shop in per_shop)
                / sum(BURST + shop["rate"] * shop["first_to_last_request_s"] for shop in per_shop),
                3,
            ),
            "cpu_ms_per_batch": {k: round(1000 * v / batches, 1) for k, v in cpu.items()},
            "cpu_s_per_wall_s": round(sum(cpu.values()) / wall, 2),
            "cores": os.cpu_count(),
            "shops": per_shop,
            # Each shop's API request times since the uploads started, for a closer look.
            "request_times_s": {
                f"shop{n}": [
                    round(at - began, 3)
                    for at, endpoint in shop["times"]
                    if endpoint != "POST /auth/token"
                ]
                for n, shop in enumerate(shops)
            },
        }


def main() -> None:
    """Parse the flags, measure once, print the figures (and write them with --json)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--seconds",
        type=float,
        default=30.0,
        help="Each shop's work at its ceiling (default 30: start-up is a tenth of it).",
    )
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="Multiply every shop's limit (default 1: 3..12/s)."
    )
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logs", type=Path, help="Keep the workers' logs in this folder.")
    args = parser.parse_args()
    result = run(args.seconds, args.workers, args.scale, args.logs)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
