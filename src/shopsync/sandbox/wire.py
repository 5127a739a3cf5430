"""The dialect-neutral parts of answering a request: answers, per-request state, and the
socket tricks behind injected faults (cutting a connection, draining a body)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response
from starlette.types import Receive

from shopsync.sandbox.faults import Fault

JSON_TYPE = "application/json; charset=utf-8"
DRAIN_LIMIT = 64 * 1024 * 1024
"""Read (and discard) up to this much of an oversize body, so the client gets to read the 413
instead of a reset while it is still sending."""
LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})
WRITE_METHODS = frozenset({"POST", "PATCH", "DELETE"})


def dumps_json(value: Any) -> bytes:
    """Compact UTF-8 JSON, as every answer is written."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass
class Reply:
    """An answer before it becomes a starlette ``Response`` (and what an idempotency key keeps)."""

    status: int
    body: bytes = b""
    content_type: str | None = JSON_TYPE
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, status: int, value: Any, headers: Iterable[tuple[str, str]] = ()) -> Reply:
        """A JSON answer."""
        return cls(status, dumps_json(value), JSON_TYPE, list(headers))

    def stored_headers(self) -> list[tuple[str, str]]:
        """The headers an idempotent replay repeats (never per-request ones)."""
        out = list(self.headers)
        if self.content_type is not None:
            out.insert(0, ("Content-Type", self.content_type))
        return out

    def response(self) -> Response:
        """The starlette response."""
        return Response(
            content=self.body,
            status_code=self.status,
            headers=dict(self.headers),
            media_type=self.content_type,
        )


@dataclass
class RequestContext:
    """Per-request state shared by the outer wrapper and the handlers."""

    request_id: str
    fault: Fault | None
    headers: list[tuple[str, str]] = field(default_factory=list)
    """Headers the outer wrapper adds to the answer (the RateLimit-* ones)."""
    dropped: bool = False


def abort_connection(receive: Receive) -> bool:
    """Cut the client's connection with a TCP reset, sending nothing; ``False`` if impossible.

    ASGI has no message for "drop this connection", so this reaches uvicorn's transport
    through the ``receive`` callable, which is a bound method of uvicorn's per-request cycle
    object in both its h11 and httptools protocols.
    """
    cycle = getattr(receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST rather than FIN: the client
        # sees "connection reset by peer", as when a proxy or a crashed worker cuts it.
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    return True


async def after_abort(receive: Receive) -> None:
    # transport.abort() tells the protocol in a later loop iteration; wait for that so
    # uvicorn knows the client is gone and does not try to send a 500 of its own.
    cycle = getattr(receive, "__self__", None)
    for _ in range(10):
        if getattr(cycle, "disconnected", True):
            return
        await asyncio.sleep(0)


async def drain(receive: Receive) -> None:
    """Read and discard a request body (up to DRAIN_LIMIT), so the client can read the answer."""
    seen = 0
    while seen <= DRAIN_LIMIT:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def internal_reply(
    client_host: str, method: str, path: str, stats: Callable[[], Any], reset: Callable[[], None]
) -> Reply:
    """The answer to a ``/_sandbox/...`` request: ``stats`` and ``reset``, loopback only
    (anyone else gets 404, as for a route that does not exist)."""
    if client_host not in LOOPBACK:
        return Reply.json(404, {"error": "not_found"})
    if path == "/_sandbox/stats":
        return Reply.json(200, stats())
    if path == "/_sandbox/reset" and method == "POST":
        reset()
        return Reply(204, b"", None)
    return Reply.json(404, {"error": "not_found"})
