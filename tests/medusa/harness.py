"""A real Medusa 2.21.2 server for the test suite, on loopback, from a cache outside the repo.

    python tests/medusa/harness.py prepare   # install + snapshot; .ci/run calls this
    python tests/medusa/harness.py serve     # a server by hand, until Ctrl-C
    python tests/medusa/harness.py serve --state FILE --watch-pid PID   # for xdist workers

Three steps, each done once per machine and reused after:

1. **Install.** The hand-written project in ``tests/medusa/project/`` (``create-medusa-app``
   clones a template from a host this machine cannot reach) is copied into
   ``~/.cache/shopsync-test/medusa-2.21.2-KEY/`` (``SHOPSYNC_TEST_CACHE`` moves the root),
   KEY being the sha256 of the project's files, and ``npm install``-ed there: about two
   minutes and 700 MB cold. A directory appears under its final name only when complete.
2. **Snapshot.** A throwaway PostgreSQL cluster (``tests/servers.running_postgres``, the
   fleet tests' starter), ``medusa db:migrate``, ``medusa user``, one start to create a
   secret API key, a stock location linked to the default sales channel and a region,
   then ``pg_dump``. The key and the ids go into ``state.json`` beside the dump.
3. **Start** (every test session): a new cluster, ``pg_restore`` of the snapshot (about
   2 s), ``medusa start -H 127.0.0.1 -p PORT``, wait for ``GET /health``.

Everything started is stopped by its PID (Medusa by its own process group) on exit.
Where Node.js or PostgreSQL cannot be had, :class:`ServerUnavailable` says which.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests/, for servers.py

from servers import (
    PostgresServer,
    ServerUnavailable,
    _postgres_bin,
    free_port,
    running_postgres,
)

MEDUSA_VERSION = "2.21.2"
PROJECT_DIR = Path(__file__).resolve().parent / "project"
PROJECT_FILES = ("package.json", "package-lock.json", "medusa-config.ts", ".env", "tsconfig.json")
ADMIN_EMAIL = "admin@shopsync.test"
# A test-only password for a server that lives on loopback for one test session.
ADMIN_PASSWORD = "shopsync-test-admin"
DATABASE = "medusa"
REGION_CURRENCY = "eur"
_INSTALL_TIMEOUT_S = 900.0
_MIGRATE_TIMEOUT_S = 300.0
_START_TIMEOUT_S = 120.0
_STOP_TIMEOUT_S = 20.0
_MIN_NODE_MAJOR = 20


@dataclass(frozen=True)
class StoreSetup:
    """What the snapshot holds besides Medusa's own defaults: the key and the ids to use."""

    api_key: str
    store_id: str
    sales_channel_id: str
    stock_location_id: str
    shipping_profile_id: str
    region_id: str
    currency: str


@dataclass(frozen=True)
class MedusaServer:
    """A running Medusa: where it answers and what a client needs to talk to it."""

    base_url: str
    pid: int
    log_path: Path
    setup: StoreSetup

    @property
    def api_key(self) -> str:
        """The secret API key (``sk_…``)."""
        return self.setup.api_key

    def admin_headers(self) -> dict[str, str]:
        """``Authorization: Basic base64("sk_…:")``, as Medusa takes a secret key."""
        token = base64.b64encode(f"{self.setup.api_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}


def log(message: str) -> None:
    """Progress on stderr: the harness is a test helper, not the library."""
    print(f"[medusa harness] {message}", file=sys.stderr, flush=True)


def cache_root() -> Path:
    """``$SHOPSYNC_TEST_CACHE`` or ``~/.cache/shopsync-test``."""
    configured = os.environ.get("SHOPSYNC_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "shopsync-test"


def project_key() -> str:
    """The sha256 of the hand-written project's files (names and bytes), 16 hex digits."""
    digest = hashlib.sha256()
    for name in PROJECT_FILES:
        path = PROJECT_DIR / name
        if path.exists():
            digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def install_dir() -> Path:
    """Where this version and project are installed."""
    return cache_root() / f"medusa-{MEDUSA_VERSION}-{project_key()}"


def _medusa_program(directory: Path) -> Path:
    return directory / "node_modules" / ".bin" / "medusa"


def check_node() -> str:
    """The ``node`` program, if it is recent enough; else ServerUnavailable."""
    node = shutil.which("node")
    npm = shutil.which("npm")
    if node is None or npm is None:
        raise ServerUnavailable("Node.js (node and npm)")
    version = subprocess.run(
        [node, "--version"], check=True, capture_output=True, text=True, timeout=30
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < _MIN_NODE_MAJOR:
        raise ServerUnavailable(f"Node.js {_MIN_NODE_MAJOR} or later (found {version})")
    return node


@contextlib.contextmanager
def _cache_lock() -> Iterator[None]:
    """One installer or snapshot-taker at a time (xdist workers, CI and a person)."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    with (root / f"medusa-{MEDUSA_VERSION}.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install() -> Path:
    """Medusa installed in the cache (a no-op once done); returns its directory."""
    target = install_dir()
    if _medusa_program(target).exists():
        return target
    check_node()
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name in PROJECT_FILES:
        if (PROJECT_DIR / name).exists():
            shutil.copy2(PROJECT_DIR / name, partial / name)
    command = ["npm", "ci"] if (partial / "package-lock.json").exists() else ["npm", "install"]
    command += ["--no-audit", "--no-fund", "--loglevel=error"]
    log(f"installing Medusa {MEDUSA_VERSION} into {target} ({' '.join(command)})")
    started = time.monotonic()
    subprocess.run(command, cwd=partial, check=True, timeout=_INSTALL_TIMEOUT_S)
    log(f"installed in {time.monotonic() - started:.0f} s")
    partial.rename(target)
    return target


def _snapshot_paths(directory: Path) -> tuple[Path, Path]:
    # A dump restores into the same major version; the file name says which.
    bin_dir = _postgres_bin()
    if bin_dir is None:
        raise ServerUnavailable("PostgreSQL (initdb)")
    major = (
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "--version"],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )
        .stdout.split()[-1]
        .split(".")[0]
    )
    return directory / f"snapshot-pg{major}.dump", directory / f"snapshot-pg{major}.json"


def _medusa_env(pg: PostgresServer) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:{pg.port}/{DATABASE}",
        MEDUSA_DISABLE_TELEMETRY="true",
        NODE_ENV="development",
        # Node's fetch and npm would otherwise try a proxy; Medusa talks only to loopback.
        NO_PROXY="127.0.0.1,localhost",
    )
    return env


def _medusa(directory: Path, pg: PostgresServer, *args: str, timeout: float) -> None:
    done = subprocess.run(
        [str(_medusa_program(directory)), *args],
        cwd=directory,
        env=_medusa_env(pg),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(
            f"medusa {' '.join(args[:1])} failed ({done.returncode}):\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )


def _answers_health(base_url: str) -> bool:
    try:
        return requests.get(base_url + "/health", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop Medusa and whatever it started: its own process group, by its PID."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextlib.contextmanager
def _medusa_process(directory: Path, pg: PostgresServer) -> Iterator[tuple[str, int, Path]]:
    """``medusa start`` on a free loopback port until exit: (base URL, PID, log path)."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = pg.directory / "medusa.log"
    started = time.monotonic()
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [str(_medusa_program(directory)), "start", "-H", "127.0.0.1", "-p", str(port)],
            cwd=directory,
            env=_medusa_env(pg),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + _START_TIMEOUT_S
        while not _answers_health(base_url):
            if process.poll() is not None or time.monotonic() > deadline:
                tail = log_path.read_text(errors="replace")[-4000:]
                raise RuntimeError(f"medusa start did not answer /health:\n{tail}")
            time.sleep(0.1)
        log(f"medusa answered /health after {time.monotonic() - started:.1f} s")
        yield base_url, process.pid, log_path
    finally:
        _stop_group(process)


def _set_up_store(base_url: str) -> StoreSetup:
    """A secret key, a stock location on the default sales channel, a region; the ids."""
    session = requests.Session()
    answer = session.post(
        base_url + "/auth/user/emailpass",
        json={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD},
        timeout=30,
    )
    answer.raise_for_status()
    session.headers["Authorization"] = f"Bearer {answer.json()['token']}"

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = session.request(method, base_url + path, json=body, timeout=30)
        if response.status_code >= 400:
            raise RuntimeError(f"{method} {path}: {response.status_code} {response.text}")
        result: dict[str, Any] = response.json()
        return result

    key = call("POST", "/admin/api-keys", {"title": "shopsync tests", "type": "secret"})
    store = call("GET", "/admin/stores")["stores"][0]
    sales_channel = store["default_sales_channel_id"]
    profiles = call("GET", "/admin/shipping-profiles")["shipping_profiles"]
    if profiles:
        profile = profiles[0]["id"]
    else:
        created = call("POST", "/admin/shipping-profiles", {"name": "Default", "type": "default"})
        profile = created["shipping_profile"]["id"]
    location = call("POST", "/admin/stock-locations", {"name": "Warehouse"})["stock_location"]
    call(
        "POST", f"/admin/stock-locations/{location['id']}/sales-channels", {"add": [sales_channel]}
    )
    currencies = [
        {"currency_code": REGION_CURRENCY, "is_default": True},
        {"currency_code": "cny"},
        {"currency_code": "usd"},
    ]
    call(
        "POST",
        f"/admin/stores/{store['id']}",
        {"supported_currencies": currencies, "default_location_id": location["id"]},
    )
    region = call(
        "POST",
        "/admin/regions",
        {"name": "Europe", "currency_code": REGION_CURRENCY, "countries": ["de"]},
    )["region"]
    return StoreSetup(
        api_key=key["api_key"]["token"],
        store_id=store["id"],
        sales_channel_id=sales_channel,
        stock_location_id=location["id"],
        shipping_profile_id=profile,
        region_id=region["id"],
        currency=REGION_CURRENCY,
    )


def _create_database(pg: PostgresServer) -> None:
    pg.run("psql", "-U", "postgres", "-d", "postgres", "-c", f"CREATE DATABASE {DATABASE}")


def prepare() -> tuple[Path, Path, StoreSetup]:
    """Install and snapshot, each if not done yet: (install dir, dump, store set-up)."""
    check_node()  # before any work: a missing program is a skip (or a CI failure), not a crash
    with _cache_lock():
        directory = install()
        dump, state = _snapshot_paths(directory)
        if dump.exists() and state.exists():
            return directory, dump, StoreSetup(**json.loads(state.read_text()))
        with running_postgres() as pg:
            started = time.monotonic()
            _create_database(pg)
            _medusa(directory, pg, "db:migrate", timeout=_MIGRATE_TIMEOUT_S)
            log(f"migrated in {time.monotonic() - started:.0f} s")
            _medusa(directory, pg, "user", "-e", ADMIN_EMAIL, "-p", ADMIN_PASSWORD, timeout=120)
            with _medusa_process(directory, pg) as (base_url, _pid, _log):
                setup = _set_up_store(base_url)
            partial = dump.with_name(dump.name + ".partial")
            partial.write_bytes(pg.run("pg_dump", "-U", "postgres", "-Fc", "-d", DATABASE))
            partial.rename(dump)
            state.write_text(json.dumps(asdict(setup), indent=2))
            log(f"snapshot taken in {time.monotonic() - started:.0f} s: {dump}")
            return directory, dump, setup


@contextlib.contextmanager
def running_medusa() -> Iterator[MedusaServer]:
    """A Medusa server of its own, from the snapshot, on free loopback ports."""
    directory, dump, setup = prepare()
    started = time.monotonic()
    with running_postgres() as pg:
        _create_database(pg)
        # The dump's owner is postgres, as here, and ownership needs no restoring.
        pg.run(
            "pg_restore", "-U", "postgres", "--no-owner", "-d", DATABASE, stdin=dump.read_bytes()
        )
        log(f"snapshot restored in {time.monotonic() - started:.1f} s")
        with _medusa_process(directory, pg) as (base_url, pid, log_path):
            log(f"warm start took {time.monotonic() - started:.1f} s")
            yield MedusaServer(base_url=base_url, pid=pid, log_path=log_path, setup=setup)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def write_state(path: Path, server: MedusaServer) -> None:
    """``server`` as JSON at ``path``, written whole (a temporary file renamed)."""
    partial = path.with_name(path.name + ".partial")
    document = {**asdict(server), "log_path": str(server.log_path)}
    partial.write_text(json.dumps(document, indent=2))
    partial.rename(path)


def read_state(path: Path) -> MedusaServer:
    """The server :func:`write_state` described."""
    document = json.loads(path.read_text())
    return MedusaServer(
        base_url=document["base_url"],
        pid=document["pid"],
        log_path=Path(document["log_path"]),
        setup=StoreSetup(**document["setup"]),
    )


def main(argv: list[str] | None = None) -> int:
    """``prepare`` (install + snapshot) or ``serve`` (run until interrupted)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["prepare", "serve"])
    parser.add_argument("--state", type=Path, help="serve: write the server's address here")
    parser.add_argument("--watch-pid", type=int, help="serve: stop when this process ends")
    args = parser.parse_args(argv)
    try:
        if args.command == "prepare":
            prepare()
            return 0
        # SIGTERM too, and SIGINT even where a background start left it ignored: either
        # must stop Medusa and PostgreSQL, not leave them running without their parent.
        for stop_signal in (signal.SIGINT, signal.SIGTERM):
            signal.signal(stop_signal, _interrupt)
        with running_medusa() as server, contextlib.suppress(KeyboardInterrupt):
            if args.state is not None:
                write_state(args.state, server)
            log(f"Medusa at {server.base_url}; key in {install_dir()} (Ctrl-C stops it)")
            try:
                if args.watch_pid is None:
                    signal.pause()
                else:
                    # The test session that asked for this server: when it ends, so does
                    # Medusa (polled: a process cannot wait for one that is not its child).
                    while _alive(args.watch_pid):
                        time.sleep(0.5)
            finally:
                if args.state is not None:
                    args.state.unlink(missing_ok=True)
    except ServerUnavailable as missing:
        log(f"{missing} is not available on this machine")
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
