"""Running the sandbox: in a background thread (:func:`running_sandbox`) or in the foreground
(:func:`serve`, behind ``shopsync sandbox serve``). Both bind the socket themselves first,
so that port 0 can be resolved to the real port before anyone is told the base URL."""

from __future__ import annotations

import dataclasses
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shopsync.errors import UsageError
from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialects import load_dialect

if TYPE_CHECKING:
    from shopsync.sandbox.dialect import DialectApp
    from shopsync.sandbox.store import Store

_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 15.0


def _require_extra() -> None:
    try:
        import starlette  # noqa: F401, PLC0415
        import uvicorn  # noqa: F401, PLC0415
    except ImportError as exc:
        raise UsageError(
            f"The sandbox needs starlette and uvicorn, which are not installed ({exc.name}).",
            hint="pip install 'shopsync[sandbox]'",
        ) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not the default 0: asyncio sets TCP_NODELAY only on accepted sockets
    # whose proto says TCP, and they inherit it from this one. Without it, uvicorn's separate
    # header and body writes meet the client's delayed ACK and every answer stalls ~40 ms.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UsageError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from None
    sock.set_inheritable(True)
    return sock


def _base_url(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _uvicorn_server(app: DialectApp, config: SandboxConfig) -> Any:
    import uvicorn  # noqa: PLC0415 - an optional extra, and slow to import

    return uvicorn.Server(
        uvicorn.Config(
            app,
            lifespan="on",
            log_level=config.log_level,
            access_log=config.access_log,
            # Header parsing and the event loop: the pure-Python ones, always present.
            http="h11",
            loop="asyncio",
            # The client address must be the socket's: /_sandbox is for loopback only.
            proxy_headers=False,
            server_header=False,
            timeout_graceful_shutdown=2,
            timeout_keep_alive=30,
        )
    )


@dataclass
class SandboxHandle:
    """A running sandbox: where it answers, with which credentials, and its insides."""

    base_url: str
    """``http://127.0.0.1:PORT``: the base URL clients are given (the API is at its root)."""
    client_id: str
    client_secret: str
    config: SandboxConfig
    app: DialectApp

    @property
    def store(self) -> Store:
        """The SQLite store, to look at (or arrange) the shop directly in tests."""
        return self.app.store

    def client_settings(self) -> dict[str, str]:
        """The client settings that reach this sandbox (``base_url``, credentials...),
        named as its dialect's platform adapter names them."""
        settings: dict[str, str] = load_dialect(self.config.dialect).client_settings(
            self.base_url, self.config
        )
        return settings

    def stats(self) -> dict[str, Any]:
        """The same counters as ``GET /_sandbox/stats``."""
        return self.app.stats_snapshot()

    def reset(self) -> None:
        """Empty the shop, zero the counters and refill the rate-limit buckets."""
        self.app.reset()

    def issue_token(self, scopes: tuple[str, ...] | None = None) -> str:
        """An access token for the demo client, made without an HTTP request."""
        import secrets  # noqa: PLC0415

        from shopsync.sandbox.config import ALL_SCOPES  # noqa: PLC0415
        from shopsync.sandbox.store import TokenInfo  # noqa: PLC0415

        token = secrets.token_urlsafe(32)
        granted = frozenset(scopes if scopes is not None else ALL_SCOPES)
        expires = self.config.clock() + self.config.token_ttl
        self.store.save_token(token, TokenInfo(self.client_id, granted, expires))
        return token

    def configure_faults(self, **rates: float) -> None:
        """Change fault injection while running: ``configure_faults(drop_after_commit_rate=0)``.

        Takes the fault fields of :class:`SandboxConfig` (``fault_rate``, ``reset_rate``,
        ``slow_rate``, ``slow_ms``, ``drop_after_commit_rate``, ``seed``, ``latency_ms``,
        ``jitter_ms``); the fault sequence restarts from the seed.
        """
        allowed = {
            "fault_rate",
            "reset_rate",
            "slow_rate",
            "slow_ms",
            "drop_after_commit_rate",
            "seed",
            "latency_ms",
            "jitter_ms",
        }
        unknown = set(rates) - allowed
        if unknown:
            raise TypeError(f"not fault settings: {', '.join(sorted(unknown))}")
        from shopsync.sandbox.faults import FaultInjector  # noqa: PLC0415

        self.config = dataclasses.replace(self.config, **rates)  # type: ignore[arg-type]
        self.app.config = self.config
        self.app.faults = FaultInjector(self.config)

    def advance_orders(self, events: int = 1) -> None:
        """Run ``events`` order-generator events now (new orders or status changes)."""
        self.app.orders.step(events)


def _create_app(config: SandboxConfig) -> DialectApp:
    app: DialectApp = load_dialect(config.dialect).create_app(config)
    return app


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@contextmanager
def running_sandbox(config: SandboxConfig | None = None) -> Iterator[SandboxHandle]:
    """Run a sandbox in a background thread for the duration of the ``with`` block.

    ``config.port`` 0 (the default) picks a free port. The server is stopped, its
    connections closed and its database closed on exit::

        with running_sandbox(SandboxConfig(latency_ms=20)) as sandbox:
            requests.post(f"{sandbox.base_url}/auth/token", ...)
    """
    _require_extra()
    config = config or SandboxConfig()
    sock = _bind(config.host, config.port)
    app = _create_app(config)
    server = _uvicorn_server(app, config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # reported to the starting thread below
            failure.append(exc)

    thread = threading.Thread(target=run, name="shopsync-sandbox", daemon=True)
    thread.start()
    try:
        started = _wait(lambda: server.started or not thread.is_alive(), _START_TIMEOUT)
        if not started or not server.started:
            raise RuntimeError(f"the sandbox did not start: {failure or 'timeout'}")
        yield SandboxHandle(
            base_url=_base_url(sock, config.host),
            client_id=config.client_id,
            client_secret=config.client_secret,
            config=config,
            app=app,
        )
    finally:
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        sock.close()
        app.store.close()


def serve(config: SandboxConfig, *, on_ready: Callable[[str], None] | None = None) -> None:
    """Run a sandbox in the foreground until SIGINT or SIGTERM, then return normally.

    ``on_ready`` is called with the base URL once the port is bound, before requests are
    served (the CLI prints it with the credentials).
    """
    _require_extra()
    sock = _bind(config.host, config.port)
    app = _create_app(config)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main else None
    if in_main:
        # uvicorn shuts down gracefully, then raises the signal it caught again; turning
        # SIGTERM into KeyboardInterrupt lets both ways of stopping end here, not by a kill.
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if on_ready is not None:
            on_ready(_base_url(sock, config.host))
        _uvicorn_server(app, config).run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # stopping is how a foreground server ends; uvicorn has already shut down
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)
        sock.close()
        app.store.close()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt
