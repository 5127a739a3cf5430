"""Helpers for the HTTP client tests: loopback servers, an injected clock, settings.

Not a conftest: the sandbox tests own tests/conftest.py. Modules import what they need
from here (pytest puts tests/ on sys.path). The one test below checks the helpers.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync.config import Settings, load_settings
from shopsync.http.client import HttpClient
from shopsync.platforms.generic.wire import client_from_settings

CANARY_SECRET = "canary-secret-6f1d2c9a"
CANARY_TOKEN = "canary-token-93be77e1f0"
CLIENT_ID = "client-1"


class FakeTime:
    """A monotonic clock that only moves when something sleeps (thread-safe)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def clock(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@pytest.fixture(scope="module")
def _loopback_server() -> Iterator[HTTPServer]:
    # One server per module: stopping werkzeug's server takes half a second.
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def server(_loopback_server: HTTPServer) -> Iterator[HTTPServer]:
    """A threaded pytest-httpserver on 127.0.0.1 (free port), with no handlers or log."""
    _loopback_server.clear()
    yield _loopback_server
    _loopback_server.clear()


@pytest.fixture
def shopsync_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let ``shopsync.*`` records reach caplog even after a CLI test configured logging.

    The CLI's logging setup stops propagation on the ``shopsync`` logger (process-wide
    state that outlives a CliRunner test); this undoes it for one test.
    """
    root = logging.getLogger("shopsync")
    monkeypatch.setattr(root, "propagate", True)
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", logging.NOTSET)


def make_settings(tmp_path: Path, base_url: str, **overrides: Any) -> Settings:
    """Settings from an environment only (the CI case), data under ``tmp_path``."""
    environ = {
        "SHOPSYNC_BASE_URL": base_url,
        "SHOPSYNC_CLIENT_ID": CLIENT_ID,
        "SHOPSYNC_CLIENT_SECRET": CANARY_SECRET,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_RATE": "1000",
        "SHOPSYNC_BURST": "1000",
    }
    environ.update({f"SHOPSYNC_{k.upper()}": str(v) for k, v in overrides.items()})
    return load_settings(config_dir=tmp_path / "config", environ=environ)


def make_client(
    tmp_path: Path,
    srv: HTTPServer,
    fake: FakeTime | None = None,
    *,
    jitter: Callable[[float], float] = lambda cap: cap,
    disk_cache: bool = True,
    **overrides: Any,
) -> HttpClient:
    """A client for ``srv`` with pinned jitter and, if given, an injected clock and sleep."""
    settings = make_settings(tmp_path, srv.url_for("").rstrip("/"), **overrides)
    if fake is None:
        return client_from_settings(settings, jitter=jitter, disk_cache=disk_cache)
    return client_from_settings(
        settings, clock=fake.clock, sleep=fake.sleep, jitter=jitter, disk_cache=disk_cache
    )


class TokenEndpoint:
    """A scripted token endpoint that counts requests and hands out numbered tokens."""

    def __init__(self, expires_in: int = 3600, scope: str = "products inventory orders") -> None:
        self.count = 0
        self.expires_in = expires_in
        self.scope = scope
        self.forms: list[dict[str, str]] = []
        self._lock = threading.Lock()

    def token_for(self, n: int) -> str:
        return CANARY_TOKEN if n == 1 else f"{CANARY_TOKEN}-{n}"

    def __call__(self, request: Request) -> Response:
        with self._lock:
            self.count += 1
            n = self.count
            self.forms.append(dict(request.form))
        if request.form.get("client_secret") != CANARY_SECRET:
            return Response(
                json.dumps({"error": "invalid_client", "error_description": "bad secret"}),
                status=401,
                content_type="application/json",
            )
        body = {
            "access_token": self.token_for(n),
            "token_type": "Bearer",
            "expires_in": self.expires_in,
            "scope": self.scope,
        }
        return Response(json.dumps(body), status=200, content_type="application/json")

    def install(self, srv: HTTPServer) -> TokenEndpoint:
        srv.expect_request("/auth/token", method="POST").respond_with_handler(self)
        return self


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    """A JSON answer with ``X-Request-Id`` and extra headers (underscores become dashes)."""
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["X-Request-Id"] = f"req-{status}"
    for name, value in headers.items():
        response.headers[name.replace("_", "-")] = value
    return response


def drop_connection(request: Request) -> None:
    """Cut the client's connection without answering (as a reset or a crash would)."""
    sock: socket.socket = request.environ["werkzeug.socket"]
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll for something another thread or process does (not for time to pass)."""
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError("condition not reached")
        time.sleep(0.01)


def test_fake_time_moves_only_when_sleeping() -> None:
    fake = FakeTime(start=5.0)
    assert fake.clock() == 5.0
    fake.sleep(1.5)
    assert fake.clock() == 6.5
    assert fake.sleeps == [1.5]
