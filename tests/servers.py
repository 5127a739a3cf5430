"""Real Redis and PostgreSQL servers for the fleet tests, on free loopback ports.

Each server runs from a temporary directory, is waited for until it answers, and is
stopped by its PID when the session ends (one per xdist worker). Where the server
programs cannot be found, the tests that need them fail under CI (``CI=true``: a CI
machine that cannot run them is broken, and ``.ci/run`` installs them from Debian) and
are skipped elsewhere; they never pass without the servers.

Import the fixtures into a test module to use them::

    from servers import postgres_url, redis_url  # noqa: F401
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

_START_TIMEOUT_S = 30.0
_STOP_TIMEOUT_S = 15.0
_POSTGRES_USER = "postgres"


def missing_server(what: str, packages: str = "redis-server postgresql") -> None:
    """Fail under CI, skip elsewhere: ``what`` is needed and cannot be had here.

    ``packages`` are the Debian packages that bring it, for the skip message.
    """
    message = f"{what} is not available on this machine"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message}; .ci/run should have installed it from Debian.", pytrace=False)
    pytest.skip(f"{message} (apt-get install {packages} to run these tests)")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {timeout:g} s", pytrace=False)
        time.sleep(0.02)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs. A process that has exited but is not reaped yet (a
    zombie: our own child before ``wait``, or a daemon whose parent, PID 1 in a
    container, never reaps) still answers signal 0, so its state is read as well."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _stop_pid(pid: int, sig: signal.Signals = signal.SIGTERM) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + _STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if not _running(pid):
            return
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@contextmanager
def running_redis() -> Iterator[str]:
    """``redis://127.0.0.1:PORT``: a Redis server of its own, without persistence, on a
    free loopback port, stopped by PID on exit.

    Raises :class:`ServerUnavailable` where ``redis-server`` cannot be found, RuntimeError
    where it does not start. Used by the ``redis_url`` fixture and benchmarks/fleet.py.
    """
    program = shutil.which("redis-server")
    if program is None:
        raise ServerUnavailable("redis-server")
    with tempfile.TemporaryDirectory(prefix="shopsync-redis-") as directory:
        port = free_port()
        process = subprocess.Popen(
            [
                program,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                directory,
                "--logfile",
                str(Path(directory) / "redis.log"),
            ],
            stdin=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + _START_TIMEOUT_S
            while process.poll() is None and not _answers_ping(port):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not answer within {_START_TIMEOUT_S} s")
                time.sleep(0.02)
            if process.poll() is not None:
                log = (Path(directory) / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited at start:\n{log}")
            yield f"redis://127.0.0.1:{port}"
        finally:
            _stop_pid(process.pid)
            process.wait()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:PORT``: a Redis server of its own, without persistence."""
    try:
        with running_redis() as url:
            yield url
    except ServerUnavailable as missing:
        missing_server(str(missing))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


def _postgres_bin() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, or Debian's versioned one."""
    found = shutil.which("initdb")
    if found:
        # Resolved: a symlink on PATH may stand alone, without psql and pg_dump beside it.
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _as_postgres(argv: list[str], postgres: pwd.struct_passwd | None) -> list[str]:
    # PostgreSQL refuses to run as root; the machines run as root, so run it as postgres.
    if postgres is None:
        return argv
    return ["runuser", "-u", _POSTGRES_USER, "--", *argv]


def _postgres_answers(port: int) -> bool:
    import psycopg  # noqa: PLC0415 - the fleet extra

    try:
        with psycopg.connect(
            f"postgresql://postgres@127.0.0.1:{port}/postgres", connect_timeout=1
        ) as db:
            db.execute("SELECT 1")
    except psycopg.Error:
        return False
    return True


class ServerUnavailable(Exception):
    """A server program cannot be had here (the message says which); not a failure to start."""


@dataclass(frozen=True)
class PostgresServer:
    """A running throwaway cluster: its port, its directory and the postmaster's PID."""

    port: int
    directory: Path
    pid: int
    bin_dir: Path

    @property
    def url(self) -> str:
        """``postgresql://postgres@127.0.0.1:PORT/postgres``."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(
        self, program: str, *args: str, stdin: bytes | None = None, timeout: float = 120
    ) -> bytes:
        """Run one of the cluster's client programs (``psql``, ``pg_dump``...) as postgres.

        Files go through ``stdin`` and the answer, not paths: the postgres user may not
        be allowed to read or write where the caller keeps them.
        """
        argv = [str(self.bin_dir / program), "-h", "127.0.0.1", "-p", str(self.port), *args]
        done = subprocess.run(
            _as_postgres(argv, _postgres_user()),
            input=stdin,
            check=True,
            capture_output=True,
            timeout=timeout,
        )
        return done.stdout


def _postgres_user() -> pwd.struct_passwd | None:
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(_POSTGRES_USER)
    except KeyError:
        raise ServerUnavailable("the postgres user (PostgreSQL refuses to run as root)") from None


@contextmanager
def running_postgres(*, max_connections: int = 200) -> Iterator[PostgresServer]:
    """A PostgreSQL cluster of its own on a free loopback port, stopped by PID on exit.

    Raises :class:`ServerUnavailable` where PostgreSQL cannot be had, RuntimeError where
    it does not start. Used by the ``postgres_url`` fixture, tests/medusa/harness.py and
    benchmarks/fleet.py.
    """
    bin_dir = _postgres_bin()
    if bin_dir is None:
        raise ServerUnavailable("PostgreSQL (initdb)")
    postgres = _postgres_user()
    directory = Path(tempfile.mkdtemp(prefix="shopsync-pg-"))
    data = directory / "data"
    if postgres is not None:
        os.chown(directory, postgres.pw_uid, postgres.pw_gid)
    port = free_port()
    try:
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "initdb"),
                    "-D",
                    str(data),
                    "-U",
                    "postgres",
                    "-A",
                    "trust",
                    "-E",
                    "UTF8",
                    "--no-sync",
                ],
                postgres,
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        options = (
            f"-p {port} -k {directory} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off "
            f"-c max_connections={max_connections}"
        )
        subprocess.run(
            _as_postgres(
                [
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-o",
                    options,
                    "-l",
                    str(directory / "postgres.log"),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
                postgres,
            ),
            check=True,
            capture_output=True,
            timeout=120,
        )
        pid = int((data / "postmaster.pid").read_text().split()[0])
    except subprocess.CalledProcessError as error:
        log = directory / "postgres.log"
        detail = log.read_text(errors="replace") if log.exists() else ""
        shutil.rmtree(directory, ignore_errors=True)
        raise RuntimeError(
            f"PostgreSQL did not start: {error.stderr.decode(errors='replace')}\n{detail}"
        ) from error
    try:
        yield PostgresServer(port=port, directory=directory, pid=pid, bin_dir=bin_dir)
    finally:
        _stop_pid(pid, signal.SIGINT)  # "fast" shutdown: roll back, disconnect, stop
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """``postgresql://postgres@127.0.0.1:PORT/postgres``: a PostgreSQL cluster of its own."""
    try:
        import psycopg  # noqa: F401, PLC0415
    except ImportError:
        missing_server("psycopg (pip install -e '.[test]')")
    try:
        with running_postgres() as server:
            wait_until(
                lambda: _postgres_answers(server.port),
                timeout=_START_TIMEOUT_S,
                what="PostgreSQL answering",
            )
            yield server.url
    except ServerUnavailable as missing:
        missing_server(str(missing))
    except RuntimeError as error:
        pytest.fail(str(error), pytrace=False)


@pytest.fixture
def fresh_database(postgres_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the session's server, dropped after the test."""
    import uuid  # noqa: PLC0415

    import psycopg  # noqa: PLC0415

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = postgres_url.rsplit("/", 1)[0] + "/" + name
    yield url
    with psycopg.connect(postgres_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
