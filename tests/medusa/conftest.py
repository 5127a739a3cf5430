"""Fixtures for the tests against a real Medusa server (see harness.py).

One server per test session. Without xdist the fixture runs it in-process. Under xdist
the first worker to take the file lock starts ``harness.py serve`` as a process of its
own, which writes a state file (address, key, ids) and stops Medusa and PostgreSQL when
the pytest controller process ends; the other workers find the state file under the
same lock and use that server. Without Node.js or PostgreSQL the tests fail under
``CI=true`` and skip elsewhere, with the same message; they never pass without the
server.

``SHOPSYNC_TEST_MEDUSA_STATE=FILE`` uses a server already running, the one ``harness.py
serve --state FILE`` started (for working on these tests without a start per run).
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultproxy import FaultProxy
from harness import (
    MedusaServer,
    ServerUnavailable,
    cache_root,
    read_state,
    running_medusa,
)

from servers import missing_server

_HARNESS = Path(__file__).resolve().parent / "harness.py"
_SERVE_TIMEOUT_S = 900.0  # a cold cache installs Medusa first
_UNAVAILABLE = 3  # harness.py's exit status when a program is missing


def _missing(what: str) -> None:
    missing_server(f"{what}, which the Medusa tests need,", "nodejs npm postgresql")


def _shared_server(run_id: str) -> MedusaServer:
    """The session's server, started by the first worker that asks (see the module doc)."""
    directory = cache_root() / "sessions"
    directory.mkdir(parents=True, exist_ok=True)
    state = directory / f"{run_id}.json"
    log = directory / f"{run_id}.log"
    with (directory / f"{run_id}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not state.exists():
            with log.open("ab") as output:
                serving = subprocess.Popen(
                    [
                        sys.executable,
                        str(_HARNESS),
                        "serve",
                        "--state",
                        str(state),
                        "--watch-pid",
                        str(os.getppid()),
                    ],
                    stdin=subprocess.DEVNULL,
                    stdout=output,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            deadline = time.monotonic() + _SERVE_TIMEOUT_S
            while not state.exists():
                status = serving.poll()
                if status == _UNAVAILABLE:
                    lines = log.read_text(errors="replace").strip().splitlines()
                    _missing(lines[-1].removeprefix("[medusa harness] ").split(" is not")[0])
                if status is not None or time.monotonic() > deadline:
                    tail = log.read_text(errors="replace")[-4000:]
                    pytest.fail(f"the Medusa server did not start:\n{tail}", pytrace=False)
                time.sleep(0.2)  # polling the state file the server process writes
    return read_state(state)


@pytest.fixture(scope="session")
def medusa_server() -> Iterator[MedusaServer]:
    """A running Medusa 2.21.2 from the snapshot, shared by the session's Medusa tests."""
    running = os.environ.get("SHOPSYNC_TEST_MEDUSA_STATE")
    if running:
        yield read_state(Path(running))
        return
    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    if run_id is not None and os.environ.get("PYTEST_XDIST_WORKER"):
        yield _shared_server(run_id)
        return
    try:
        with running_medusa() as server:
            yield server
    except ServerUnavailable as missing:
        _missing(str(missing))


@pytest.fixture
def fault_proxy(medusa_server: MedusaServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's Medusa, with no faults yet."""
    with FaultProxy(medusa_server.base_url) as proxy:
        yield proxy
