"""``shopsync orders``: list a shop's orders, or watch them change as they happen."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from shopsync.cli.main import AppContext
from shopsync.cli.options import platform_options
from shopsync.cli.sync import SANDBOX_OPTION, open_target
from shopsync.i18n import _, localized

if TYPE_CHECKING:
    from shopsync.config import Settings
    from shopsync.jobs.orders import Since
    from shopsync.platforms.base import Platform
    from shopsync.ui.console import Output

# The same as shopsync.jobs.orders.ORDER_STATUSES (a test holds them equal); repeated here
# because importing that module pulls in pydantic, and `--help` must stay fast.
STATUSES = ("pending", "paid", "shipped", "delivered", "cancelled", "refunded")

# What the embedded sandbox (--sandbox) is given so there is something to look at: a
# week of order history, and for a watch a new event every two seconds or so.
SANDBOX_ORDERS = 100
SANDBOX_ORDER_RATE = 0.5


@click.command("orders")
@platform_options
@SANDBOX_OPTION
@click.option(
    "--since",
    "since_text",
    metavar="TIME",
    help="Only orders updated since TIME: RFC 3339 (2024-05-01T08:00:00Z), a date "
    "(2024-05-01, UTC), or a duration back from now (30m, 2h, 3d, 1w).",
)
@click.option("--status", type=click.Choice(STATUSES), help="Only orders with this status.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: for people; json: an array (JSON Lines with --watch); csv: a header and rows.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Ask the platform even if a cached answer is fresh (the new answer is cached).",
)
@click.option(
    "--cache-ttl",
    default="5m",
    show_default=True,
    metavar="DURATION",
    help="How long a listing is answered from the cache (0: no cache).",
)
@click.option(
    "--watch", is_flag=True, help="Keep polling; print each new order and status change once."
)
@click.option(
    "--interval",
    "interval_text",
    default="30s",
    show_default=True,
    metavar="DURATION",
    help="Time between polls of --watch (30s, 2m, or seconds).",
)
@click.pass_context
def orders_command(
    ctx: click.Context,
    sandbox: bool,
    since_text: str | None,
    status: str | None,
    fmt: str,
    no_cache: bool,
    cache_ttl: str,
    watch: bool,
    interval_text: str,
) -> None:
    """List the shop's orders, oldest update first; or watch them with --watch.

    \b
    A listing reads every page and is kept in a cache for --cache-ttl, so running the
    command again soon after asks the platform nothing.
    \b
    --watch starts now (or at --since, printing what changed since then first), polls
    every --interval, and prints one line per new order and per status change. It keeps
    going through token expiry, rate limits and platform errors (a warning, then a
    longer wait), and stops with exit code 0 on Ctrl-C or SIGTERM.
    """
    from shopsync.jobs.orders import parse_duration, parse_since  # noqa: PLC0415 - keeps --help fast
    from shopsync.ui.console import Output  # noqa: PLC0415

    app: AppContext = ctx.find_object(AppContext) or AppContext()
    output = Output(quiet=app.quiet, verbose=app.verbose)
    since = parse_since(since_text) if since_text else None
    interval = parse_duration(interval_text, what="--interval")
    if interval <= 0:
        raise click.BadParameter(_("must be more than 0 seconds."), param_hint="--interval")
    ttl = parse_duration(cache_ttl, what="--cache-ttl")
    sandbox_options = {
        "orders": SANDBOX_ORDERS,
        "order_rate": SANDBOX_ORDER_RATE if watch else 0.0,
    }
    with open_target(ctx, sandbox=sandbox, need_platform=True, sandbox_options=sandbox_options) as (
        settings,
        target,
    ):
        assert target.platform is not None  # need_platform=True
        if watch:
            _watch(output, target.platform, settings, since, status, fmt, interval)
        else:
            namespace = f"{target.namespace}|{settings.client_id}"
            _list(output, target.platform, settings, since, status, fmt, namespace, ttl, no_cache)


def _list(
    output: Output,
    platform: Platform,
    settings: Settings,
    since: Since | None,
    status: str | None,
    fmt: str,
    namespace: str,
    ttl: float,
    no_cache: bool,
) -> None:
    import time  # noqa: PLC0415

    from shopsync.jobs.orders import OrderCache, OrderQuery, list_orders  # noqa: PLC0415
    from shopsync.ui.console import show_orders, show_orders_summary  # noqa: PLC0415

    cache = OrderCache(settings.cache_dir / "orders", ttl=ttl) if ttl > 0 else None
    try:
        listing = list_orders(
            platform,
            OrderQuery(since=since, status=status),
            namespace=namespace,
            cache=cache,
            refresh=no_cache,
        )
    finally:
        if cache is not None:
            cache.close()
    show_orders(output, listing.orders, fmt)
    age = time.time() - listing.fetched_at if listing.from_cache else None
    show_orders_summary(output, len(listing.orders), cached_age=age)


def _watch(
    output: Output,
    platform: Platform,
    settings: Settings,
    since: Since | None,
    status: str | None,
    fmt: str,
    interval: float,
) -> None:
    from shopsync.errors import ShopsyncError  # noqa: PLC0415
    from shopsync.jobs.orders import OrderQuery, Watcher  # noqa: PLC0415
    from shopsync.ui.console import OrderEventPrinter, show_watch_start, show_watch_stopped  # noqa: PLC0415

    start = OrderQuery(since=since).updated_since(datetime.now(timezone.utc))
    watcher = Watcher(platform, since=start, status=status)
    printer = OrderEventPrinter(output, fmt)

    def failed(error: ShopsyncError, delay: float) -> None:
        output.warn(
            _("{message} Polling again in {delay:g}s.").format(
                message=localized(error.message), delay=delay
            )
        )

    show_watch_start(output, settings.base_url or "the platform", interval)
    try:
        with _interrupt_on_sigterm():
            watcher.run(printer, interval=interval, stop=threading.Event(), on_error=failed)
    except KeyboardInterrupt:
        # A watch has nothing to save: stopping is its normal end, so exit 0.
        pass
    show_watch_stopped(output, printer, watcher.polls)


@contextmanager
def _interrupt_on_sigterm() -> Iterator[None]:
    """Make SIGTERM stop a watch the way Ctrl-C does (a KeyboardInterrupt in the main thread).

    Raising from the handler, rather than setting an event, ends a poll that is waiting
    on the network or in a retry at once; a watch holds no state worth finishing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> Any:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


COMMANDS = [orders_command]
