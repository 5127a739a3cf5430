""":class:`DialectApp`, the base of every dialect's ASGI application.

What each dialect used to repeat lives here once: the core's parts (config, store,
counters, fault injector, order generator), the server's start and stop (expired tokens
purged, the orders a config asks for seeded, the order generator run and cancelled), the
ASGI lifespan protocol for a dialect written on raw ASGI and as a context manager for one
on Starlette, the loopback-only ``/_sandbox/`` routes, and the core's faults around one
API call (:meth:`answer_with_faults`). A dialect adds its paths,
bodies, errors and limits, and what its stats and reset add (:meth:`stats_snapshot`,
:meth:`reset`, :meth:`on_startup`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope, Send

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.faults import Fault, FaultInjector
from shopsync.sandbox.orders import OrderGenerator
from shopsync.sandbox.stats import Stats
from shopsync.sandbox.store import Store
from shopsync.sandbox.wire import Reply, abort_connection, after_abort, drain, internal_reply


class DialectApp:
    """A dialect's ASGI application over the sandbox core; subclasses define ``__call__``."""

    def __init__(
        self, config: SandboxConfig, store: Store | None = None, *, unique_skus: bool = True
    ) -> None:
        """``store``: a shared one (tests); else one at ``config.db_path``. ``unique_skus``:
        whether the platform refuses a second product with a SKU it holds."""
        self.config = config
        self.store = store if store is not None else Store(config.db_path, unique_skus=unique_skus)
        self.stats = Stats()
        self.faults = FaultInjector(config)
        self.orders = OrderGenerator(self.store, config.seed, config.clock)
        self._order_task: asyncio.Task[None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The ASGI entry point (the dialect's)."""
        raise NotImplementedError

    # -- what the server and the tests ask of every dialect --------------------------------

    def stats_snapshot(self) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers: the core's counters (a dialect adds its own)."""
        return self.stats.snapshot()

    def reset(self) -> None:
        """Empty the shop and zero the counters (a dialect also resets its limits)."""
        self.store.reset()
        self.stats.reset()

    # -- start and stop --------------------------------------------------------------------

    def on_startup(self) -> None:
        """A dialect's own work when the server starts, before orders are seeded (none)."""

    async def start(self) -> None:
        """Purge expired tokens, run :meth:`on_startup`, seed the orders the config asks
        for, and start the order generator if it has a rate."""
        self.store.purge_tokens(self.config.clock())
        self.on_startup()
        if self.config.orders:
            self.orders.ensure(self.config.orders)
        if self.config.order_rate > 0:
            self._order_task = asyncio.get_running_loop().create_task(
                self.orders.run(self.config.order_rate)
            )

    async def stop(self) -> None:
        """Stop the order generator, waiting until it has."""
        task, self._order_task = self._order_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: object = None) -> AsyncIterator[None]:
        """:meth:`start` and :meth:`stop` around the server's life (Starlette's ``lifespan``)."""
        await self.start()
        try:
            yield
        finally:
            await self.stop()

    async def serve_lifespan(self, receive: Receive, send: Send) -> None:
        """The ASGI lifespan protocol, for a dialect on raw ASGI."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def served_by_core(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Answer what is the core's (lifespan, a scope that is not HTTP, ``/_sandbox/``)
        and say so; False for a request to the platform's API, the dialect's to answer."""
        if scope["type"] == "lifespan":
            await self.serve_lifespan(receive, send)
            return True
        if scope["type"] != "http":
            return True
        path: str = scope["path"]
        if path.startswith("/_sandbox/"):
            await self.internal_reply(scope).response()(scope, receive, send)
            return True
        return False

    def internal_reply(self, scope: Scope) -> Reply:
        """The answer to a ``/_sandbox/`` request (stats, reset), from loopback only."""
        client = scope.get("client") or ("", 0)
        return internal_reply(
            str(client[0]), scope["method"], scope["path"], self.stats_snapshot, self.reset
        )

    async def answer_with_faults(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        label: str,
        write: bool,
        answer: Callable[[], Awaitable[Reply]],
        fault_reply: Callable[[int], Reply],
        fault_send: Send | None = None,
        reply_send: Callable[[], Send] | None = None,
    ) -> None:
        """One API call with the core's faults around it, counted under ``label``.

        A drawn fault: a reset cuts the connection before the call; an injected status
        is answered by ``fault_reply(status)`` (the platform's error shape) without the
        call; a slow one and the configured latency wait first; drop-after-commit makes
        the call (``answer()``) and cuts the connection instead of answering. The answer
        goes out through ``reply_send()`` (headers the dialect adds), an injected status
        through ``fault_send``; either, by default, through ``send``.
        """
        fault = self.faults.draw()
        if fault is not None:
            self.stats.fault(fault)
        if fault is Fault.RESET:
            self.stats.request(label, "reset", write=write)
            if abort_connection(receive):
                await after_abort(receive)
                return
        status = fault.status if fault is not None else None
        if status is not None:
            await drain(receive)
            reply = fault_reply(status)
            self.stats.request(label, str(status), write=write)
            await reply.response()(scope, receive, fault_send or send)
            return
        if fault is Fault.SLOW:
            await asyncio.sleep(self.config.slow_ms / 1000.0)
        latency = self.faults.latency()
        if latency:
            await asyncio.sleep(latency)
        reply = await answer()
        if fault is Fault.DROP_AFTER_COMMIT:
            self.stats.request(label, "dropped", write=write)
            if abort_connection(receive):
                await after_abort(receive)
                return
        else:
            self.stats.request(label, str(reply.status), write=write)
        await reply.response()(scope, receive, reply_send() if reply_send else send)
