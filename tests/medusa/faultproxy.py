"""A loopback HTTP proxy in front of a real server that injects faults, per test.

    with FaultProxy("http://127.0.0.1:9000") as proxy:
        proxy.inject("commit_then_drop", method="POST", path="/admin/products/batch")
        client.post(proxy.base_url + "/admin/products/batch", ...)  # applied, answer lost

Faults, each for the next ``times`` requests that match ``method`` and ``path`` (a
prefix of the path, query excluded):

- ``reset``: the client's connection is reset before anything is forwarded.
- ``status``: the proxy answers ``status`` (503 by default) itself, with ``Retry-After``
  when ``retry_after`` is given (a 429 as a rate limit sends it); nothing forwarded.
- ``slow``: the answer is held ``delay`` seconds before it is passed on (forwarded first).
- ``commit_then_drop``: the request is forwarded and its answer read in full, then the
  client's connection is reset: the server did the work, the client never hears of it.

``forwarded`` counts the requests that reached the server, by ``"METHOD /path"``, so
tests can assert exact request counts on the real server.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

FaultKind = Literal["reset", "status", "slow", "commit_then_drop"]
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


@dataclass
class Fault:
    """One injected fault and how many more requests it applies to."""

    kind: FaultKind
    method: str | None
    path: str
    times: int
    status: int = 503
    delay: float = 0.0
    retry_after: float | None = None

    def matches(self, method: str, path: str) -> bool:
        """Whether a request ``method path`` (query excluded) is one of this fault's."""
        return (self.method is None or self.method == method) and path.startswith(self.path)


class FaultProxy:
    """The proxy server, on a free loopback port, in a daemon thread until :meth:`close`."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self.forwarded: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def inject(
        self,
        kind: FaultKind,
        *,
        path: str = "/",
        method: str | None = None,
        times: int = 1,
        status: int = 503,
        delay: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """Apply ``kind`` to the next ``times`` requests matching ``method`` and ``path``."""
        with self._lock:
            self._faults.append(Fault(kind, method, path, times, status, delay, retry_after))

    def remove_faults(self) -> None:
        """No faults any more; the counters stay."""
        with self._lock:
            self._faults.clear()

    def clear(self) -> None:
        """No faults any more, and counters back to zero."""
        with self._lock:
            self._faults.clear()
            self.forwarded.clear()
            self.injected.clear()

    def writes(self) -> int:
        """How many non-GET requests reached the server."""
        with self._lock:
            return sum(n for key, n in self.forwarded.items() if not key.startswith("GET "))

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    self.injected[fault.kind] += 1
                    return fault
            return None

    def _count(self, method: str, path: str) -> None:
        with self._lock:
            self.forwarded[f"{method} {path}"] += 1

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                """Quiet: the tests assert on counters, not on a log."""

            def handle(self) -> None:
                # A client that gave up (a read timeout, a test's reset) is not an error here.
                with contextlib.suppress(ConnectionError, TimeoutError):
                    super().handle()

            def _reset(self) -> None:
                # SO_LINGER 0: close() sends RST, as a crashed peer or a middlebox would.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                )
                self.close_connection = True
                self.connection.close()

            def _handle(self) -> None:
                path = urlsplit(self.path).path
                fault = proxy._take_fault(self.command, path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if fault is not None and fault.kind == "reset":
                    self._reset()
                    return
                if fault is not None and fault.kind == "status":
                    payload = b'{"type":"unexpected_state","message":"injected by the proxy"}'
                    self.send_response(fault.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    if fault.retry_after is not None:
                        self.send_header("Retry-After", f"{fault.retry_after:g}")
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                status, reason, headers, answer = self._forward(body)
                proxy._count(self.command, path)
                if fault is not None and fault.kind == "commit_then_drop":
                    self._reset()
                    return
                if fault is not None and fault.kind == "slow":
                    time.sleep(fault.delay)  # the fault itself: a server slow to answer
                self.send_response(status, reason)
                for name, value in headers:
                    if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def _forward(self, body: bytes) -> tuple[int, str, list[tuple[str, str]], bytes]:
                upstream = http.client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=120
                )
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP
                    }
                    headers["Host"] = f"{proxy.upstream_host}:{proxy.upstream_port}"
                    upstream.request(self.command, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    return response.status, response.reason, response.getheaders(), response.read()
                finally:
                    upstream.close()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        return Handler

    def close(self) -> None:
        """Stop serving and close the listening socket."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
