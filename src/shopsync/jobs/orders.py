"""Orders: listing them (with a short-lived disk cache) and watching them change.

Everything here talks to a :class:`~shopsync.platforms.base.Platform`, never to a URL,
and never prints: the CLI hands the results to :mod:`shopsync.ui.console`.

* :func:`list_orders` reads every page of ``Platform.iter_orders`` for one query. The
  answer is kept on disk (:class:`OrderCache`, diskcache, mode 0700) for a few minutes,
  keyed by the target and the query, so running ``shopsync orders`` twice in a row (or
  piping it into three different reports) costs one round of requests.
* :class:`Watcher` polls for orders updated since the last ``updated_at`` it saw and
  turns what comes back into :class:`OrderEvent`\\ s: each new order and each status
  change once. Its loop takes the sleep as an argument, so tests drive it without
  waiting for real intervals.

Time strings: ``--since`` takes RFC 3339 (``2024-05-01T08:00:00Z``,
``2024-05-01T10:00:00+02:00``), a date (``2024-05-01``, midnight UTC), or a duration
back from now (``90s``, ``15m``, ``2h``, ``3d``, ``1w``, combined as ``1h30m``).
Intervals take ``30s``, ``2m``, ``1h`` or plain seconds (``45``, ``0.5``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from shopsync.domain.digest import canonical_json
from shopsync.domain.timefmt import format_timestamp, parse_timestamp
from shopsync.errors import (
    AuthError,
    PlatformError,
    ShopsyncError,
    UsageError,
)
from shopsync.i18n import N_
from shopsync.platforms.base import ErrorScope, OrderLine, RemoteOrder, error_scope_of

if TYPE_CHECKING:
    from shopsync.platforms.base import Platform

log = logging.getLogger(__name__)

ORDER_STATUSES: tuple[str, ...] = (
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
)
"""The statuses of docs/platform-api.md §4, in lifecycle order."""

DEFAULT_CACHE_TTL = 300.0
"""Seconds a listing stays in the cache (five minutes)."""
DEFAULT_INTERVAL = 30.0
"""Seconds between two polls of a watch."""
MAX_BACKOFF = 300.0
"""The longest wait after failed polls (unless the interval itself is longer)."""

# -- time strings ----------------------------------------------------------------------

_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_RE = re.compile(r"(?:\d+(?:\.\d+)?[smhdw])+")
_DURATION_PART_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str, *, what: str = "--interval") -> float:
    """Seconds in ``30s``, ``2m``, ``1h30m``, ``1d`` or plain ``45`` / ``0.5``.

    Raises UsageError, naming the option ``what``, for anything else (and for negative
    or infinite values).
    """
    value = text.strip().lower()
    seconds: float | None = None
    try:
        seconds = float(value)
    except ValueError:
        if _DURATION_RE.fullmatch(value):
            seconds = sum(
                float(number) * _UNIT_SECONDS[unit]
                for number, unit in _DURATION_PART_RE.findall(value)
            )
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        raise UsageError(
            N_("{what} {text!r} is not a duration.").format(what=what, text=text),
            hint=N_("Use seconds (45), or a number with s, m, h, d or w (30s, 2m, 1h30m)."),
        )
    return seconds


Since = datetime | timedelta
"""A ``--since`` value: a moment, or a duration back from the time of the request."""


def parse_since(text: str) -> Since:
    """``--since``: an RFC 3339 date-time, a date (midnight UTC), or a duration back from now.

    A duration stays a :class:`~datetime.timedelta` until the query runs, so the same
    ``--since 2h`` given twice is the same query (and the same cache entry).
    """
    value = text.strip()
    moment = parse_timestamp(value)
    if moment is not None:
        return moment
    date = _DATE_RE.fullmatch(value)
    if date is not None:
        year, month, day = (int(part) for part in date.groups())
        try:
            return datetime(year, month, day, tzinfo=timezone.utc)
        except ValueError:
            pass
    elif _DURATION_RE.fullmatch(value.lower()):
        return timedelta(seconds=parse_duration(value, what="--since"))
    raise UsageError(
        N_("--since {text!r} is neither a time nor a duration.").format(text=text),
        hint=N_(
            "Use RFC 3339 (2024-05-01T08:00:00Z), a date (2024-05-01), or a "
            "duration back from now (30m, 2h, 3d, 1w)."
        ),
    )


def _utc_now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), tz=timezone.utc)


# -- orders as plain data --------------------------------------------------------------


def order_to_json(order: RemoteOrder) -> dict[str, Any]:
    """The order in the API's own shape (docs/platform-api.md §4), decimals as strings."""
    return {
        "order_id": order.order_id,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "currency": order.currency,
        "total": str(order.total),
        "lines": [
            {"sku": line.sku, "quantity": line.quantity, "unit_price": str(line.unit_price)}
            for line in order.lines
        ],
        "buyer": {"name": order.buyer_name, "country": order.buyer_country},
    }


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def order_from_json(data: Mapping[str, Any]) -> RemoteOrder:
    """The inverse of :func:`order_to_json`."""
    buyer = data.get("buyer") or {}
    return RemoteOrder(
        order_id=str(data["order_id"]),
        status=str(data["status"]),
        created_at=str(data["created_at"]),
        updated_at=str(data["updated_at"]),
        currency=str(data["currency"]),
        total=_decimal(data["total"]),
        lines=tuple(
            OrderLine(
                sku=str(line["sku"]),
                quantity=int(line["quantity"]),
                unit_price=_decimal(line["unit_price"]),
            )
            for line in data.get("lines") or ()
        ),
        buyer_name=buyer.get("name"),
        buyer_country=buyer.get("country"),
    )


ORDER_COLUMNS: tuple[str, ...] = (
    "order_id",
    "status",
    "created_at",
    "updated_at",
    "currency",
    "total",
    "items",
    "lines",
    "buyer_name",
    "buyer_country",
)
"""Columns of ``--format csv``. ``items`` is the number of units; ``lines`` is
``SKU:QUANTITY:UNIT_PRICE`` per line, joined with ``|`` (neither can occur in a SKU)."""


def order_row(order: RemoteOrder) -> dict[str, str]:
    """One order as the flat row of :data:`ORDER_COLUMNS` (not yet made formula-safe)."""
    return {
        "order_id": order.order_id,
        "status": order.status,
        "created_at": order.created_at,
        "updated_at": order.updated_at,
        "currency": order.currency,
        "total": str(order.total),
        "items": str(sum(line.quantity for line in order.lines)),
        "lines": "|".join(f"{ln.sku}:{ln.quantity}:{ln.unit_price}" for ln in order.lines),
        "buyer_name": order.buyer_name or "",
        "buyer_country": order.buyer_country or "",
    }


# -- listing ---------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderQuery:
    """What to list: orders updated since ``since`` (all if None), of one ``status`` or all."""

    since: Since | None = None
    status: str | None = None

    def updated_since(self, now: datetime) -> datetime | None:
        """The moment ``since`` names, a duration being counted back from ``now``."""
        if isinstance(self.since, timedelta):
            return now - self.since
        return self.since

    def cache_key(self, namespace: str) -> str:
        """The cache key: the target (``namespace``) and the query as given.

        A relative ``since`` is keyed by its duration, not by the moment it resolved to,
        or ``--since 2h`` would never hit; a hit is then filtered to the new moment.
        """
        if isinstance(self.since, timedelta):
            since: str | None = f"relative:{self.since.total_seconds()!r}"
        elif self.since is not None:
            since = f"at:{format_timestamp(self.since)}"
        else:
            since = None
        material = canonical_json(
            {"v": 1, "target": namespace, "since": since, "status": self.status}
        )
        return "orders:" + hashlib.sha256(material.encode("utf-8")).hexdigest()


class OrderCache:
    """Order listings on disk (diskcache, directory mode 0700), each for ``ttl`` seconds.

    Order data names buyers, so the directory is private to the user, as the token cache
    is. The cache is an optimisation: if it cannot be opened or written, a warning is
    logged and listings go to the platform.
    """

    def __init__(self, directory: Path, *, ttl: float = DEFAULT_CACHE_TTL) -> None:
        """Open (or create) the cache in ``directory``."""
        self.directory = directory
        self.ttl = ttl
        self._cache: Any = None
        try:
            import diskcache  # noqa: PLC0415 - only listings that use the cache need it

            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            if os.name == "posix":
                # mkdir's mode is filtered by the umask and ignored for existing directories.
                directory.chmod(0o700)
            self._cache = diskcache.Cache(str(directory), statistics=False)
        except (OSError, sqlite3.Error) as error:
            log.warning("not caching orders: cannot open %s: %s", directory, error)

    def get(self, key: str, now: float) -> tuple[float, list[dict[str, Any]]] | None:
        """``(fetched_at, orders as JSON)`` if cached less than ``ttl`` seconds before ``now``."""
        if self._cache is None:
            return None
        try:
            record = self._cache.get(key)
        except (OSError, sqlite3.Error) as error:
            log.warning("cannot read the order cache: %s", error)
            return None
        if not isinstance(record, dict):
            return None
        fetched_at = record.get("fetched_at")
        orders = record.get("orders")
        if not isinstance(fetched_at, float) or not isinstance(orders, list):
            return None
        # diskcache expires entries by the real clock; this check follows the caller's.
        if not 0 <= now - fetched_at < self.ttl:
            return None
        return fetched_at, orders

    def set(self, key: str, orders: list[dict[str, Any]], now: float) -> None:
        """Keep ``orders`` (JSON-ready) under ``key``, fetched at ``now``."""
        if self._cache is None or self.ttl <= 0:
            return
        try:
            self._cache.set(key, {"fetched_at": now, "orders": orders}, expire=self.ttl)
        except (OSError, sqlite3.Error) as error:
            log.warning("cannot write the order cache: %s", error)

    def close(self) -> None:
        """Close the database handles."""
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> OrderCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class OrderListing:
    """The orders of one query, oldest update first, and where they came from."""

    orders: list[RemoteOrder]
    fetched_at: float
    """When the platform gave this answer (seconds since the epoch)."""
    from_cache: bool = False


def list_orders(
    platform: Platform,
    query: OrderQuery,
    *,
    namespace: str,
    cache: OrderCache | None = None,
    refresh: bool = False,
    clock: Callable[[], float] = time.time,
    page_size: int = 100,
) -> OrderListing:
    """Every order that matches ``query``, from the cache if a fresh answer is there.

    ``namespace`` names the target (profile, base URL, client) in the cache key.
    ``refresh`` skips reading the cache but still stores the new answer, so the next
    cached listing is never older than one already shown.
    """
    now = clock()
    key = query.cache_key(namespace)
    since = query.updated_since(_utc_now(lambda: now))
    if cache is not None and not refresh:
        hit = cache.get(key, now)
        if hit is not None:
            fetched_at, raw = hit
            orders = [order_from_json(item) for item in raw]
            if isinstance(query.since, timedelta) and since is not None:
                # The cached answer started earlier; keep what the new moment covers.
                orders = [o for o in orders if _after(o.updated_at, since)]
            return OrderListing(orders, fetched_at, from_cache=True)
    orders = list(
        platform.iter_orders(updated_since=since, status=query.status, page_size=page_size)
    )
    if cache is not None:
        cache.set(key, [order_to_json(order) for order in orders], now)
    return OrderListing(orders, now)


def _after(stamp: str, moment: datetime) -> bool:
    parsed = parse_timestamp(stamp)
    return parsed is None or parsed >= moment


# -- watching --------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderEvent:
    """Something a watch reports: a new order, or an order whose status changed.

    ``previous_status`` is the status the watch last saw; None for a new order, and for
    an order that changed before the watch first saw it.
    """

    kind: Literal["new", "status"]
    order: RemoteOrder
    previous_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"event", "previous_status", "order"}`` for JSON Lines."""
        return {
            "event": self.kind,
            "previous_status": self.previous_status,
            "order": order_to_json(self.order),
        }


def is_transient(error: ShopsyncError, platform: object = None) -> bool:
    """Whether a failed poll may succeed later without anyone changing anything.

    Auth errors are final: the client already fetched a new token and replayed once, so
    a refusal now means the credentials or scopes are wrong. So is a request the platform
    refused as it is (scope ``BATCH``: a malformed query stays malformed); what is about
    the platform (outage, throttling, transport) passes. ``platform`` rules on the scope
    where it has a rule of its own.
    """
    if isinstance(error, AuthError) or not isinstance(error, PlatformError):
        return False
    return error_scope_of(platform, error) is not ErrorScope.BATCH


@dataclass
class _Known:
    """The watch's memory: last status per order, least recently changed first."""

    limit: int
    statuses: OrderedDict[str, str] = field(default_factory=OrderedDict)

    def get(self, order_id: str) -> str | None:
        return self.statuses.get(order_id)

    def put(self, order_id: str, status: str) -> None:
        self.statuses[order_id] = status
        self.statuses.move_to_end(order_id)
        while len(self.statuses) > self.limit:
            self.statuses.popitem(last=False)


class Watcher:
    """Polls a platform for changed orders and reports each new order and status change once.

    Each poll asks for orders updated since the newest ``updated_at`` seen so far, minus
    ``overlap`` seconds. The overlap makes the watch right whether the platform's
    ``updated_since`` is inclusive (the sandbox's is) or exclusive, and catches an order
    whose change was committed a moment after a later one was already visible. Orders
    that come back again are recognised by the last status the watch saw for them (kept
    for the ``memory`` most recently changed orders), so nothing is reported twice; an
    update that leaves the status alone is not reported at all.

    An order is *new* if it was created at or after the watch's start (``since``, or the
    moment the watcher was made); the first sighting of an older order reports its
    status change with ``previous_status`` None. Changes made between two polls are seen
    as one: an order paid and shipped within one interval is reported once, as shipped.
    """

    def __init__(
        self,
        platform: Platform,
        *,
        since: datetime | None = None,
        status: str | None = None,
        overlap: float = 1.0,
        memory: int = 100_000,
        page_size: int = 100,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Watch ``platform`` from ``since`` (default: now, by ``clock``)."""
        self.platform = platform
        self.status = status
        self.overlap = timedelta(seconds=overlap)
        self.page_size = page_size
        self.start = since if since is not None else _utc_now(clock)
        self.cursor = self.start
        """The newest ``updated_at`` seen (the start until something is seen)."""
        self._known = _Known(memory)
        self.polls = 0
        self.failures = 0
        """Polls that failed in a row (0 after a success)."""

    def poll_once(self) -> list[OrderEvent]:
        """One poll: every page since the cursor; the events in the platform's order.

        Raises the platform's ShopsyncError if the poll fails; the cursor and memory
        are then unchanged, so the next poll asks again for the same changes.
        """
        orders = list(
            self.platform.iter_orders(
                updated_since=self.cursor - self.overlap,
                status=self.status,
                page_size=self.page_size,
            )
        )
        self.polls += 1
        return self._events(orders)

    def _events(self, orders: Iterable[RemoteOrder]) -> list[OrderEvent]:
        events: list[OrderEvent] = []
        cursor = self.cursor
        for order in orders:
            updated = parse_timestamp(order.updated_at)
            if updated is not None and updated < self.start:
                # Only reached through the overlap: before the watch, so not news;
                # remembered so that its next change can say what it changed from.
                self._known.put(order.order_id, order.status)
                continue
            if updated is not None and updated > cursor:
                cursor = updated
            previous = self._known.get(order.order_id)
            if previous == order.status:
                continue
            self._known.put(order.order_id, order.status)
            if previous is None and _after(order.created_at, self.start):
                events.append(OrderEvent("new", order))
            else:
                events.append(OrderEvent("status", order, previous))
        self.cursor = cursor
        return events

    def backoff(self) -> float:
        """The wait after :attr:`failures` failed polls in a row at ``interval`` 1.

        Doubles per failure; :meth:`run` multiplies by the interval and caps it.
        """
        return float(2 ** max(0, self.failures - 1))

    def run(
        self,
        emit: Callable[[OrderEvent], None],
        *,
        interval: float,
        stop: threading.Event,
        wait: Callable[[float], bool] | None = None,
        on_error: Callable[[ShopsyncError, float], None] | None = None,
    ) -> None:
        """Poll every ``interval`` seconds until ``stop`` is set, handing each event to ``emit``.

        ``wait(seconds)`` sleeps and returns True if the watch should stop (default:
        ``stop.wait``; tests pass one that does not sleep). A failed poll that may
        succeed later (:func:`is_transient`) goes to ``on_error`` with the seconds until
        the next try, which doubles with each failure in a row up to
        max(``interval``, :data:`MAX_BACKOFF`); any other error is raised.
        """
        sleep = wait if wait is not None else stop.wait
        while not stop.is_set():
            try:
                events = self.poll_once()
            except ShopsyncError as error:
                if not is_transient(error, self.platform):
                    raise
                self.failures += 1
                delay = min(interval * self.backoff(), max(interval, MAX_BACKOFF))
                if on_error is not None:
                    on_error(error, delay)
                if sleep(delay):
                    return
                continue
            self.failures = 0
            for event in events:
                emit(event)
            if sleep(interval):
                return
