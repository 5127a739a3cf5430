"""shopsync's benchmarks: one command, every figure of docs/benchmarks.md.

    python benchmarks/run.py [--quick] [--repeat N] [--only NAME[,NAME]] [--json out.json]

Sections (``--only`` takes their names):

upload
    Products/s of ``shopsync upload`` against a sandbox run as a separate process
    (20 ms ± 5 ms latency, 100 requests/s, burst 100), batches of 50: the ceiling is
    5,000 products/s. Side by side, on the same server after a reset, the naive client
    of ``naive_client.py`` (one POST per product, one thread, a sleep throttle),
    capped at a few hundred products and extrapolated per product.
adaptive
    The same upload with shopsync configured at twice the server's limit (200/s):
    products/s, and the share of requests answered 429 (sandbox stats and --report).
local
    ``shopsync validate`` and ``shopsync plan`` (empty ledger, no network) on a
    generated CSV, against a bare ``csv.DictReader`` loop over the same file in the
    same run: rows/s, their ratio, and peak RSS at two sizes.
incremental
    ``shopsync plan`` of a catalog already in the ledger and unchanged, and the write
    requests the matching ``upload`` sends (sandbox stats).
startup
    ``shopsync --version`` and ``shopsync --help`` against ``python -c pass``.

Every figure is the median of ``--repeat`` runs; every ratio is taken within one run
(one repeat) and then the median of those. Each command runs as its own process;
its wall time, CPU time and peak RSS come from ``wait4``. Every process the benchmark
starts is ended when it finishes, fails or is interrupted. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import IO, Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
SECTIONS: tuple[str, ...] = ("upload", "adaptive", "local", "incremental", "startup")

SERVER_RATE = 100.0
SERVER_BURST = 100
LATENCY_MS = 20.0
JITTER_MS = 5.0
BATCH = 50
CEILING = SERVER_RATE * BATCH
"""Products per second the server's rate limit allows with batches of ``BATCH``."""
CLIENT_ID = "bench-client"
CLIENT_SECRET = "bench-secret"  # noqa: S105 - the sandbox's throwaway credential
SEED = 1
COMMAND_TIMEOUT = 1800.0
"""No single measured command may run longer than this (seconds)."""


@dataclass(frozen=True)
class Sizes:
    """How big each section's inputs are."""

    upload: int
    naive: int
    local_small: int
    local_large: int
    incremental: int
    startup_runs: int


FULL = Sizes(
    upload=50_000,
    naive=1_000,
    local_small=100_000,
    local_large=1_000_000,
    incremental=100_000,
    startup_runs=10,
)
QUICK = Sizes(
    upload=2_000, naive=50, local_small=2_000, local_large=20_000, incremental=2_000, startup_runs=3
)


class BenchError(Exception):
    """A benchmark step failed (a command exited non-zero, a server did not start)."""


# -- processes ------------------------------------------------------------------------------


class Processes:
    """Every child process the benchmark started and has not reaped yet, to end them all."""

    def __init__(self) -> None:
        self._live: dict[int, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()
        self.started: list[int] = []
        """Every pid started, for the record (the quick test checks none is left)."""

    def start(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        stdout: IO[bytes] | int,
        stderr: IO[bytes] | int,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` in its own process group (so a signal can end it and its children)."""
        proc = subprocess.Popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
        with self._lock:
            self._live[proc.pid] = proc
            self.started.append(proc.pid)
        return proc

    def forget(self, proc: subprocess.Popen[bytes]) -> None:
        """``proc`` was reaped: nothing to end."""
        with self._lock:
            self._live.pop(proc.pid, None)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
        """SIGTERM to ``proc``'s group, then SIGKILL after ``grace`` seconds; reap it."""
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(grace)
        self.forget(proc)

    def stop_all(self) -> None:
        """End every process still running."""
        with self._lock:
            procs = list(self._live.values())
        for proc in procs:
            try:
                self.stop(proc)
            except (OSError, subprocess.TimeoutExpired) as error:
                print(f"warning: could not stop process {proc.pid}: {error}", file=sys.stderr)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with suppress(ProcessLookupError):
        os.killpg(pid, sig)


PROCS = Processes()


@dataclass
class Measured:
    """One finished command: exit code, wall and CPU seconds, peak RSS, output."""

    argv: list[str]
    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float
    stdout: str
    stderr: str


def measure(
    argv: Sequence[str], *, env: dict[str, str], cwd: Path, timeout: float = COMMAND_TIMEOUT
) -> Measured:
    """Run ``argv`` to completion; its resources come from ``wait4`` (this child only)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = PROCS.start(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        lock = threading.Lock()
        reaped = False

        def kill() -> None:
            with lock:
                if not reaped:
                    _signal_group(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.daemon = True
        timer.start()
        try:
            # Wait without reaping, so the timer can never signal a recycled pid.
            os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
            wall = time.perf_counter() - started
            with lock:
                _, status, usage = os.wait4(proc.pid, 0)
                reaped = True
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        PROCS.forget(proc)
        out.seek(0)
        err.seek(0)
        return Measured(
            argv=list(argv),
            returncode=proc.returncode,
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # kilobytes on Linux
            stdout=out.read().decode("utf-8", "replace"),
            stderr=err.read().decode("utf-8", "replace"),
        )


def checked(run: Measured, *, ok: Sequence[int] = (0,)) -> Measured:
    """``run`` if its exit code is one of ``ok``; otherwise a :class:`BenchError`."""
    if run.returncode not in ok:
        raise BenchError(
            f"{' '.join(run.argv[:4])}... exited {run.returncode}:\n"
            f"{run.stdout[-1500:]}\n{run.stderr[-3000:]}"
        )
    return run


def shopsync_argv() -> list[str]:
    """The installed ``shopsync`` entry point beside this interpreter, else ``-m shopsync``."""
    script = Path(PYTHON).parent / "shopsync"
    return [str(script)] if script.exists() else [PYTHON, "-m", "shopsync"]


def child_env(workdir: Path, data_dir: Path | None = None) -> dict[str, str]:
    """The environment of every child: no user config, no proxies, its own data directory."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHOPSYNC_")}
    env.update(
        {
            "XDG_CONFIG_HOME": str(workdir / "config"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            "SHOPSYNC_CLIENT_ID": CLIENT_ID,
            "SHOPSYNC_CLIENT_SECRET": CLIENT_SECRET,
            "SHOPSYNC_DATA_DIR": str(data_dir or workdir / "data"),
        }
    )
    return env


# -- the sandbox server ---------------------------------------------------------------------

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_READY = re.compile(r"serving the platform API at (http://127\.0\.0\.1:\d+)")


@dataclass
class Sandbox:
    """A ``shopsync sandbox serve`` process on 127.0.0.1."""

    proc: subprocess.Popen[bytes]
    base_url: str

    def _call(self, method: str, path: str) -> bytes:
        request = urllib.request.Request(self.base_url + path, method=method)  # noqa: S310
        with _OPENER.open(request, timeout=30) as response:
            return bytes(response.read())

    def stats(self) -> dict[str, Any]:
        """``GET /_sandbox/stats``."""
        result: dict[str, Any] = json.loads(self._call("GET", "/_sandbox/stats"))
        return result

    def reset(self) -> None:
        """Empty the shop, zero the counters, refill the rate-limit bucket."""
        self._call("POST", "/_sandbox/reset")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server has used so far."""
        text = Path(f"/proc/{self.proc.pid}/stat").read_text()
        fields = text.rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def sandbox(
    workdir: Path,
    name: str,
    *,
    rate: float = SERVER_RATE,
    burst: int = SERVER_BURST,
    latency_ms: float = LATENCY_MS,
    jitter_ms: float = JITTER_MS,
) -> Iterator[Sandbox]:
    """A sandbox in its own process for the duration of the block, then stopped."""
    log = workdir / f"sandbox-{name}.log"
    argv = [
        PYTHON, "-m", "shopsync", "sandbox", "serve",
        "--host", "127.0.0.1", "--port", "0",
        "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
        "--rate", str(rate), "--burst", str(burst),
        "--latency-ms", str(latency_ms), "--jitter-ms", str(jitter_ms),
        "--seed", str(SEED), "--log-level", "warning",
    ]  # fmt: skip
    with log.open("wb") as sink:
        proc = PROCS.start(argv, env=child_env(workdir), cwd=workdir, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 30
        while True:
            text = log.read_text(encoding="utf-8", errors="replace")
            found = _READY.search(text)
            if found:
                break
            if proc.poll() is not None:
                raise BenchError(f"the sandbox exited with {proc.returncode}:\n{text[-3000:]}")
            if time.monotonic() > deadline:
                raise BenchError(f"the sandbox did not start within 30 s:\n{text[-3000:]}")
            time.sleep(0.05)
        yield Sandbox(proc, found.group(1))
    finally:
        PROCS.stop(proc)


# -- inputs ---------------------------------------------------------------------------------


def catalog(workdir: Path, rows: int) -> Path:
    """A generated CSV catalog of ``rows`` products (seed 1), made once per work directory."""
    path = workdir / f"catalog-{rows}.csv"
    done = path.with_suffix(".done")
    if not done.exists():
        checked(
            measure(
                [PYTHON, str(HERE / "generate_catalog.py"), "--rows", str(rows),
                 "--seed", str(SEED), "--format", "csv", "-o", str(path)],
                env=child_env(workdir),
                cwd=workdir,
            )
        )  # fmt: skip
        done.touch()
    return path


def median(values: Sequence[float]) -> float:
    """The median, or NaN for no values."""
    return statistics.median(values) if values else float("nan")


# -- sections -------------------------------------------------------------------------------


@dataclass
class Context:
    """What every section gets."""

    workdir: Path
    sizes: Sizes
    repeat: int
    runs: int = 0

    def fresh_data_dir(self) -> Path:
        """A new, empty shopsync data directory (no ledger, no token cache)."""
        self.runs += 1
        path = self.workdir / f"data-{self.runs}"
        shutil.rmtree(path, ignore_errors=True)
        return path


def _report_seconds(report: dict[str, Any]) -> float:
    def parse(stamp: str) -> float:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()

    return parse(report["finished_at"]) - parse(report["started_at"])


def _upload_once(
    ctx: Context, server: Sandbox, path: Path, *, rate: float, data_dir: Path | None = None
) -> dict[str, Any]:
    """One ``shopsync upload`` of ``path``; what it did by its report and by the server."""
    data_dir = data_dir or ctx.fresh_data_dir()
    report_path = data_dir.with_name(data_dir.name + "-report.json")
    before, cpu_before = server.stats(), server.cpu_seconds()
    run = checked(
        measure(
            [*shopsync_argv(), "-q", "upload", str(path), "--base-url", server.base_url,
             "--rate", str(rate), "--batch-size", str(BATCH), "--report", str(report_path)],
            env=child_env(ctx.workdir, data_dir),
            cwd=ctx.workdir,
        )
    )  # fmt: skip
    after, cpu_after = server.stats(), server.cpu_seconds()
    report = json.loads(report_path.read_text(encoding="utf-8"))
    sent = report["counts"]["created"] + report["counts"]["updated"]
    batch_requests = sum(after["requests"].get("POST /products/batch", {}).values()) - sum(
        before["requests"].get("POST /products/batch", {}).values()
    )
    return {
        "products": sent,
        "unchanged": report["counts"]["unchanged"],
        "failed": report["counts"]["failed"],
        "wall_s": run.wall,
        "in_run_s": _report_seconds(report),
        "products_per_s": sent / run.wall,
        "in_run_products_per_s": sent / max(_report_seconds(report), 1e-9),
        "client_cpu_s": run.cpu,
        "client_max_rss_mb": run.max_rss_mb,
        "server_cpu_s": cpu_after - cpu_before,
        "requests_reported": report["requests"],
        "throttled_reported": report["throttled"],
        "server_requests": after["requests_total"] - before["requests_total"],
        "server_write_requests": after["write_requests"] - before["write_requests"],
        "server_batch_requests": batch_requests,
        "server_429": after["rate_limited"] - before["rate_limited"],
    }


def _naive_once(ctx: Context, server: Sandbox, path: Path) -> dict[str, Any]:
    run = checked(
        measure(
            [PYTHON, str(HERE / "naive_client.py"), str(path), "--base-url", server.base_url,
             "--client-id", CLIENT_ID, "--client-secret", CLIENT_SECRET,
             "--rate", str(SERVER_RATE), "--limit", str(ctx.sizes.naive)],
            env=child_env(ctx.workdir),
            cwd=ctx.workdir,
        )
    )  # fmt: skip
    result = json.loads(run.stdout.strip().splitlines()[-1])
    per_product = result["seconds"] / result["products"]
    return {
        "products": result["products"],
        "seconds": result["seconds"],
        "statuses": result["statuses"],
        "products_per_s": 1 / per_product,
        "extrapolated_s": per_product * ctx.sizes.upload,
        "client_cpu_s": run.cpu,
    }


def section_upload(ctx: Context) -> dict[str, Any]:
    """shopsync at the server's limit, and the naive client, side by side."""
    path = catalog(ctx.workdir, ctx.sizes.upload)
    runs: list[dict[str, Any]] = []
    with sandbox(ctx.workdir, "upload") as server:
        for number in range(ctx.repeat):
            server.reset()
            ours = _upload_once(ctx, server, path, rate=SERVER_RATE)
            server.reset()
            naive = _naive_once(ctx, server, path)
            runs.append(
                {
                    "shopsync": ours,
                    "naive": naive,
                    "ratio_to_ceiling": ours["products_per_s"] / CEILING,
                    "speedup_vs_naive": ours["products_per_s"] / naive["products_per_s"],
                }
            )
            _progress(
                f"upload {number + 1}/{ctx.repeat}: {ours['products_per_s']:.0f} products/s "
                f"({runs[-1]['ratio_to_ceiling']:.2f} of ceiling), naive "
                f"{naive['products_per_s']:.1f}/s"
            )
    return {
        "products": ctx.sizes.upload,
        "naive_products": ctx.sizes.naive,
        "ceiling_products_per_s": CEILING,
        "products_per_s": median([r["shopsync"]["products_per_s"] for r in runs]),
        "in_run_products_per_s": median([r["shopsync"]["in_run_products_per_s"] for r in runs]),
        "ratio_to_ceiling": median([r["ratio_to_ceiling"] for r in runs]),
        "client_cpu_s": median([r["shopsync"]["client_cpu_s"] for r in runs]),
        "server_cpu_s": median([r["shopsync"]["server_cpu_s"] for r in runs]),
        "naive_products_per_s": median([r["naive"]["products_per_s"] for r in runs]),
        "naive_extrapolated_s": median([r["naive"]["extrapolated_s"] for r in runs]),
        "speedup_vs_naive": median([r["speedup_vs_naive"] for r in runs]),
        "runs": runs,
    }


def section_adaptive(ctx: Context) -> dict[str, Any]:
    """shopsync configured at twice the server's limit."""
    path = catalog(ctx.workdir, ctx.sizes.upload)
    runs: list[dict[str, Any]] = []
    with sandbox(ctx.workdir, "adaptive") as server:
        for number in range(ctx.repeat):
            server.reset()
            run = _upload_once(ctx, server, path, rate=2 * SERVER_RATE)
            run["ratio_to_ceiling"] = run["products_per_s"] / CEILING
            run["share_429"] = run["server_429"] / max(1, run["server_batch_requests"])
            runs.append(run)
            _progress(
                f"adaptive {number + 1}/{ctx.repeat}: {run['products_per_s']:.0f} products/s, "
                f"{run['server_429']} of {run['server_batch_requests']} requests answered 429"
            )
    return {
        "products": ctx.sizes.upload,
        "client_rate": 2 * SERVER_RATE,
        "server_rate": SERVER_RATE,
        "products_per_s": median([r["products_per_s"] for r in runs]),
        "ratio_to_ceiling": median([r["ratio_to_ceiling"] for r in runs]),
        "share_429": median([r["share_429"] for r in runs]),
        "server_429": median([r["server_429"] for r in runs]),
        "throttled_reported": median([r["throttled_reported"] for r in runs]),
        "runs": runs,
    }


_DICTREADER = (
    "import csv, sys\n"
    "rows = 0\n"
    "with open(sys.argv[1], encoding='utf-8', newline='') as handle:\n"
    "    for _row in csv.DictReader(handle):\n"
    "        rows += 1\n"
    "print(rows)\n"
)


def _local_once(ctx: Context, path: Path, rows: int) -> dict[str, Any]:
    """DictReader, validate and plan over one file, back to back."""
    env = child_env(ctx.workdir)
    bare = checked(measure([PYTHON, "-c", _DICTREADER, str(path)], env=env, cwd=ctx.workdir))
    if int(bare.stdout.strip()) != rows:
        raise BenchError(f"csv.DictReader read {bare.stdout.strip()} rows, expected {rows}")
    validate = checked(
        measure([*shopsync_argv(), "-q", "validate", str(path)], env=env, cwd=ctx.workdir)
    )
    data_dir = ctx.fresh_data_dir()
    plan = checked(
        measure(
            [*shopsync_argv(), "-q", "plan", str(path), "--json",
             "--base-url", "http://127.0.0.1:9"],  # never contacted: plan without --refresh
            env=child_env(ctx.workdir, data_dir),
            cwd=ctx.workdir,
        )
    )  # fmt: skip
    planned = json.loads(plan.stdout)["counts"]
    if planned["create"] != rows:
        raise BenchError(f"plan found {planned} for {rows} new products")
    shutil.rmtree(data_dir, ignore_errors=True)
    result: dict[str, Any] = {"rows": rows}
    for name, run in (("dictreader", bare), ("validate", validate), ("plan", plan)):
        result[name] = {
            "wall_s": run.wall,
            "rows_per_s": rows / run.wall,
            "cpu_s": run.cpu,
            "max_rss_mb": run.max_rss_mb,
        }
    for name in ("validate", "plan"):
        result[name]["ratio_to_dictreader"] = (
            result[name]["rows_per_s"] / result["dictreader"]["rows_per_s"]
        )
    return result


def section_local(ctx: Context) -> dict[str, Any]:
    """Cost per row and peak memory of validate and plan, at two sizes."""
    sizes = (ctx.sizes.local_small, ctx.sizes.local_large)
    paths = {rows: catalog(ctx.workdir, rows) for rows in sizes}
    runs: dict[int, list[dict[str, Any]]] = {rows: [] for rows in sizes}
    for number in range(ctx.repeat):
        for rows in sizes:
            run = _local_once(ctx, paths[rows], rows)
            runs[rows].append(run)
            _progress(
                f"local {rows:,} rows {number + 1}/{ctx.repeat}: dictreader "
                f"{run['dictreader']['rows_per_s']:,.0f}/s, validate "
                f"{run['validate']['rows_per_s']:,.0f}/s ({run['validate']['max_rss_mb']:.0f} MB), "
                f"plan {run['plan']['rows_per_s']:,.0f}/s ({run['plan']['max_rss_mb']:.0f} MB)"
            )
    by_size: dict[str, Any] = {}
    for rows in sizes:
        summary: dict[str, Any] = {}
        for tool in ("dictreader", "validate", "plan"):
            summary[tool] = {
                key: median([run[tool][key] for run in runs[rows]]) for key in runs[rows][0][tool]
            }
        by_size[str(rows)] = summary
    small, large = by_size[str(sizes[0])], by_size[str(sizes[1])]
    return {
        "rows_small": sizes[0],
        "rows_large": sizes[1],
        "by_rows": by_size,
        "validate_ratio": large["validate"]["ratio_to_dictreader"],
        "plan_ratio": large["plan"]["ratio_to_dictreader"],
        "peak_rss_mb": max(large["validate"]["max_rss_mb"], large["plan"]["max_rss_mb"]),
        "rss_growth": {
            tool: large[tool]["max_rss_mb"] / small[tool]["max_rss_mb"]
            for tool in ("validate", "plan")
        },
        "runs": {str(rows): value for rows, value in runs.items()},
    }


def section_incremental(ctx: Context) -> dict[str, Any]:
    """Plan and upload of a catalog that is all in the ledger already."""
    rows = ctx.sizes.incremental
    path = catalog(ctx.workdir, rows)
    data_dir = ctx.fresh_data_dir()
    # Filling the ledger is set-up, not a figure: a server with no latency and no limit.
    unlimited = {"rate": 1e6, "burst": 1_000_000, "latency_ms": 0.0, "jitter_ms": 0.0}
    with sandbox(ctx.workdir, "incremental", **unlimited) as server:
        first = _upload_once(ctx, server, path, rate=1e6, data_dir=data_dir)
        if first["products"] != rows:
            raise BenchError(f"the first upload sent {first['products']} of {rows} products")
        _progress(f"incremental: ledger filled with {rows:,} products in {first['wall_s']:.1f} s")
        plans: list[dict[str, Any]] = []
        uploads: list[dict[str, Any]] = []
        for number in range(ctx.repeat):
            plan = checked(
                measure(
                    [*shopsync_argv(), "-q", "plan", str(path), "--json",
                     "--base-url", server.base_url],
                    env=child_env(ctx.workdir, data_dir),
                    cwd=ctx.workdir,
                )
            )  # fmt: skip
            counts = json.loads(plan.stdout)["counts"]
            plans.append(
                {"wall_s": plan.wall, "cpu_s": plan.cpu, "max_rss_mb": plan.max_rss_mb, **counts}
            )
            again = _upload_once(ctx, server, path, rate=SERVER_RATE, data_dir=data_dir)
            uploads.append(again)
            _progress(
                f"incremental {number + 1}/{ctx.repeat}: plan {plan.wall:.2f} s "
                f"({counts['unchanged']:,} unchanged), upload {again['wall_s']:.2f} s with "
                f"{again['server_write_requests']} write requests"
            )
    return {
        "products": rows,
        "plan_s": median([p["wall_s"] for p in plans]),
        "plan_max_rss_mb": median([p["max_rss_mb"] for p in plans]),
        "plan_changes": max(p["create"] + p["update"] for p in plans),
        "upload_s": median([u["wall_s"] for u in uploads]),
        "upload_write_requests": max(u["server_write_requests"] for u in uploads),
        "fill_s": first["wall_s"],
        "plans": plans,
        "uploads": uploads,
    }


def section_startup(ctx: Context) -> dict[str, Any]:
    """Start-up time of the CLI against the bare interpreter, interleaved."""
    commands = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "shopsync --version": [*shopsync_argv(), "--version"],
        "shopsync --help": [*shopsync_argv(), "--help"],
    }
    env = child_env(ctx.workdir)
    for argv in commands.values():  # warm the page cache and the bytecode caches
        checked(measure(argv, env=env, cwd=ctx.workdir))
    walls: dict[str, list[float]] = {name: [] for name in commands}
    rounds = ctx.sizes.startup_runs * ctx.repeat
    for _ in range(rounds):
        for name, argv in commands.items():
            walls[name].append(checked(measure(argv, env=env, cwd=ctx.workdir)).wall)
    base = median(walls["python -c pass"])
    result: dict[str, Any] = {"runs_each": rounds, "python_s": base}
    for name in ("shopsync --version", "shopsync --help"):
        key = name.split("--")[1]
        result[f"{key}_s"] = median(walls[name])
        result[f"{key}_over_python_s"] = median(walls[name]) - base
    result["walls"] = walls
    _progress(
        f"startup: python {base * 1000:.0f} ms, "
        f"--version +{result['version_over_python_s'] * 1000:.0f} ms, "
        f"--help +{result['help_over_python_s'] * 1000:.0f} ms"
    )
    return result


SECTION_RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {
    "upload": section_upload,
    "adaptive": section_adaptive,
    "local": section_local,
    "incremental": section_incremental,
    "startup": section_startup,
}


# -- targets and output ---------------------------------------------------------------------


@dataclass
class Target:
    """One figure with its target."""

    section: str
    name: str
    value: float
    target: str
    met: bool
    unit: str = ""
    note: str = ""


def _at_least(section: str, name: str, value: float, bound: float, unit: str = "") -> Target:
    return Target(section, name, value, f"≥ {bound:g}", value >= bound, unit)


def _at_most(
    section: str, name: str, value: float, bound: float, unit: str = "", shown: str = ""
) -> Target:
    return Target(section, name, value, shown or f"≤ {bound:g}", value <= bound, unit)


def targets(results: dict[str, Any]) -> list[Target]:
    """Every target of the issue that the sections run could judge."""
    found: list[Target] = []
    if up := results.get("upload"):
        found.append(
            _at_least("upload", "products/s ÷ ceiling (5,000/s)", up["ratio_to_ceiling"], 0.90)
        )
    if ad := results.get("adaptive"):
        found.append(
            _at_least("adaptive", "products/s ÷ ceiling, client at 2× the limit",
                      ad["ratio_to_ceiling"], 0.80)
        )  # fmt: skip
        found.append(_at_most("adaptive", "share of requests answered 429", ad["share_429"], 0.02))
    if loc := results.get("local"):
        found.append(
            _at_least("local", "validate rows/s ÷ csv.DictReader", loc["validate_ratio"], 0.35)
        )
        found.append(_at_least("local", "plan rows/s ÷ csv.DictReader", loc["plan_ratio"], 0.35))
        found.append(_at_most("local", "peak RSS (validate, plan)", loc["peak_rss_mb"], 150, "MiB"))
        growth = max(loc["rss_growth"].values())
        found.append(
            _at_most("local", "peak RSS, large ÷ small file", growth, 1.10, "", "≤ 1.10 (flat)")
        )
    if inc := results.get("incremental"):
        found.append(_at_most("incremental", "plan of unchanged catalog", inc["plan_s"], 5, "s"))
        found.append(
            _at_most("incremental", "write requests of the re-upload",
                     inc["upload_write_requests"], 0, "", "= 0")
        )  # fmt: skip
    if st := results.get("startup"):
        for key in ("version", "help"):
            value = st[f"{key}_over_python_s"]
            found.append(
                _at_most("startup", f"shopsync --{key} − python -c pass", value, 0.15, "s")
            )
    return found


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    memory_kb = 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": cpu,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": source_state(),
        "load_average_at_start": os.getloadavg(),
    }


def source_state() -> str:
    """The commit measured, with ``+dirty`` if src/ has uncommitted changes."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return commit + ("+dirty" if dirty else "")


def _progress(message: str) -> None:
    print(f"  {message}", flush=True)


def _format(value: float, unit: str) -> str:
    if isinstance(value, int) or (float(value).is_integer() and abs(value) >= 10):
        return f"{value:,.0f}{(' ' + unit) if unit else ''}"
    return f"{value:.3f}{(' ' + unit) if unit else ''}"


def print_table(found: list[Target]) -> None:
    """The targets as a Markdown table."""
    print("\n| section | figure | measured | target | met |")
    print("|---|---|---|---|---|")
    for item in found:
        print(
            f"| {item.section} | {item.name} | {_format(item.value, item.unit)} | "
            f"{item.target}{(' ' + item.unit) if item.unit else ''} | "
            f"{'yes' if item.met else '**no**'} |"
        )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        description="Run shopsync's benchmarks (see docs/benchmarks.md)."
    )
    parser.add_argument(
        "--quick", action="store_true", help="small sizes and one repeat: checks it works"
    )
    parser.add_argument("--repeat", type=int, help="runs per figure (default 3, quick 1)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        help=f"run only these sections, comma-separated: {', '.join(SECTIONS)}",
    )
    parser.add_argument("--json", type=Path, help="write every figure and run to this file")
    parser.add_argument(
        "--workdir", type=Path, help="keep inputs and logs here (default: a temporary dir)"
    )
    args = parser.parse_args(argv)
    chosen = [name.strip() for value in args.only for name in value.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section(s): {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = [name for name in SECTIONS if name in chosen] if chosen else list(SECTIONS)
    if args.repeat is not None and args.repeat < 1:
        parser.error("--repeat must be at least 1")
    args.repeat = args.repeat or (1 if args.quick else 3)
    return args


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the chosen sections; return the whole result document."""
    sizes = QUICK if args.quick else FULL
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="shopsync-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    ctx = Context(workdir.resolve(), sizes, args.repeat)
    document: dict[str, Any] = {
        "command": "python benchmarks/run.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "mode": "quick" if args.quick else "full",
        "repeat": args.repeat,
        "sizes": asdict(sizes),
        "machine": machine(),
        "results": {},
    }
    started = time.monotonic()
    try:
        for name in args.sections:
            print(f"{name}:", flush=True)
            section_started = time.monotonic()
            load_before = os.getloadavg()[0]
            result = SECTION_RUNNERS[name](ctx)
            result["section_seconds"] = time.monotonic() - section_started
            # Other work on the machine skews every figure: the 1-minute load average
            # before and after each section says whether there was any.
            result["load_average_1m"] = [load_before, os.getloadavg()[0]]
            document["results"][name] = result
    finally:
        PROCS.stop_all()
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    document["seconds"] = time.monotonic() - started
    # Where others work in the same tree, the code can change during a run: say so.
    document["commit_at_end"] = source_state()
    document["processes_started"] = len(PROCS.started)
    document["pids_started"] = list(PROCS.started)
    document["targets"] = [asdict(item) for item in targets(document["results"])]
    return document


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point: 0 when it ran (targets missed or not), 1 on failure."""
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        document = run(args)
    except KeyboardInterrupt:
        print("interrupted: every process started was stopped", file=sys.stderr)
        return 130
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
        PROCS.stop_all()
    print_table(targets(document["results"]))
    print(f"\n{document['mode']} run, {document['repeat']} repeat(s), {document['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
