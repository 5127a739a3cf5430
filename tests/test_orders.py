"""shopsync.jobs.orders: time strings, listing with the disk cache, and the watcher.

Listing and watching run against the sandbox (real sockets) and are checked against its
store, the ground truth. Time is injected: the sandbox gets a wall clock the test moves,
so token expiry and order timestamps happen exactly when the test says.
"""

from __future__ import annotations

import stat
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from shopsync.config import load_settings
from shopsync.errors import APIError, AuthError, PlatformError, TransportError, UsageError
from shopsync.jobs.orders import (
    ORDER_STATUSES,
    OrderCache,
    OrderEvent,
    OrderQuery,
    Watcher,
    format_timestamp,
    is_transient,
    list_orders,
    order_from_json,
    order_to_json,
    parse_duration,
    parse_since,
    parse_timestamp,
)
from shopsync.platforms import GenericPlatform, connect
from shopsync.platforms.base import RemoteOrder
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.orders import ORDER_STATUSES as SANDBOX_STATUSES
from test_http_support import FakeTime, wait_until

UTC = timezone.utc


class WallClock:
    """A settable wall clock (seconds since the epoch) for the sandbox and the watcher."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds


def settings_for(sandbox: SandboxHandle, tmp_path: Path, **extra: str) -> Any:
    environ = {
        "SHOPSYNC_BASE_URL": sandbox.base_url,
        "SHOPSYNC_CLIENT_ID": sandbox.client_id,
        "SHOPSYNC_CLIENT_SECRET": sandbox.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_RATE": "1000",
        "SHOPSYNC_BURST": "100",
        **extra,
    }
    return load_settings(config_dir=tmp_path, environ=environ)


def platform_for(sandbox: SandboxHandle, tmp_path: Path, **options: Any) -> GenericPlatform:
    return connect(settings_for(sandbox, tmp_path), **options)


def store_orders(sandbox: SandboxHandle) -> list[dict[str, Any]]:
    """Every order the sandbox holds, in the API's order (updated_at, order_id)."""
    return sandbox.store.orders_page(updated_since=None, status=None, after=None, limit=100_000)


def orders_request_count(sandbox: SandboxHandle) -> int:
    return sum(sandbox.stats()["requests"].get("GET /orders", {}).values())


# -- time strings ----------------------------------------------------------------------


def test_parse_since_accepts_rfc3339_dates_and_durations() -> None:
    assert parse_since("2024-05-01T08:00:00Z") == datetime(2024, 5, 1, 8, tzinfo=UTC)
    assert parse_since("2024-05-01T10:00:00.5+02:00") == datetime(
        2024, 5, 1, 8, 0, 0, 500000, tzinfo=UTC
    )
    assert parse_since("2024-05-01") == datetime(2024, 5, 1, tzinfo=UTC)
    assert parse_since("2h") == timedelta(hours=2)
    assert parse_since("3d") == timedelta(days=3)
    assert parse_since("1h30m") == timedelta(minutes=90)
    assert parse_since("1w") == timedelta(weeks=1)
    for bad in ("yesterday", "2024-13-01", "2024-05-01T08:00:00", "-2h", "2x", ""):
        with pytest.raises(UsageError, match="--since"):
            parse_since(bad)


def test_parse_duration_accepts_units_and_plain_seconds() -> None:
    assert parse_duration("30s") == 30.0
    assert parse_duration("2m") == 120.0
    assert parse_duration("45") == 45.0
    assert parse_duration("0.5") == 0.5
    assert parse_duration("1h30m") == 5400.0
    for bad in ("-1", "inf", "nan", "5 minutes", "m"):
        with pytest.raises(UsageError, match="--interval"):
            parse_duration(bad)


def test_timestamps_keep_microseconds_and_cut_finer_digits() -> None:
    assert parse_timestamp("2024-05-01T08:00:00.123456789Z") == datetime(
        2024, 5, 1, 8, 0, 0, 123456, tzinfo=UTC
    )
    assert parse_timestamp("2024-05-01T08:00:00+25:00") is None
    assert format_timestamp(datetime(2024, 5, 1, 10, tzinfo=timezone(timedelta(hours=2)))) == (
        "2024-05-01T08:00:00.000000Z"
    )


def test_statuses_match_the_sandbox_and_the_cli() -> None:
    from shopsync.cli.orders_cmds import STATUSES  # noqa: PLC0415

    assert ORDER_STATUSES == SANDBOX_STATUSES == STATUSES


def test_order_json_round_trip_is_exact() -> None:
    data = {
        "order_id": "ord_1",
        "status": "paid",
        "created_at": "2024-05-01T08:00:00.000000Z",
        "updated_at": "2024-05-01T09:00:00.000000Z",
        "currency": "CNY",
        "total": "39.80",
        "lines": [{"sku": "A-1", "quantity": 2, "unit_price": "19.90"}],
        "buyer": {"name": "Li Wei", "country": "CN"},
    }
    order = order_from_json(data)
    assert order.total == Decimal("39.80")
    assert order_to_json(order) == data


def test_transient_errors_are_told_apart_from_final_ones() -> None:
    assert is_transient(TransportError("reset"))
    assert is_transient(PlatformError("retry budget spent"))
    assert is_transient(APIError("busy", status=503))
    assert is_transient(APIError("slow down", status=429))
    assert not is_transient(APIError("bad query", status=422))
    assert not is_transient(AuthError("invalid_client"))


# -- listing ---------------------------------------------------------------------------


def test_listing_reads_every_page_and_filters_like_the_store(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox(orders=60, seed=5)
    truth = store_orders(sandbox)
    assert len(truth) == 60
    middle = parse_timestamp(truth[30]["updated_at"])
    assert middle is not None
    with platform_for(sandbox, tmp_path) as platform:
        everything = list_orders(platform, OrderQuery(), namespace="t", page_size=7)
        paid = list_orders(platform, OrderQuery(status="paid"), namespace="t", page_size=7)
        recent = list_orders(platform, OrderQuery(since=middle), namespace="t", page_size=7)
    assert [order_to_json(o) for o in everything.orders] == truth
    assert [o.order_id for o in paid.orders] == [
        o["order_id"] for o in truth if o["status"] == "paid"
    ]
    assert paid.orders  # the seed gives some paid orders; the filter is not vacuous
    assert [o.order_id for o in recent.orders] == [o["order_id"] for o in truth[30:]]
    assert not everything.from_cache


def test_cache_answers_the_same_query_without_a_request(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox(orders=25, seed=2)
    truth = store_orders(sandbox)
    clock = WallClock()
    query = OrderQuery(since=timedelta(days=30), status=None)
    with platform_for(sandbox, tmp_path) as platform, OrderCache(tmp_path / "c") as cache:
        first = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
        assert orders_request_count(sandbox) == 1
        clock.advance(299)
        second = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
        assert orders_request_count(sandbox) == 1
        assert second.from_cache
        assert second.fetched_at == first.fetched_at
        assert second.orders == first.orders
        assert [order_to_json(o) for o in second.orders] == truth
        # Another query, another target: each asks the platform.
        list_orders(platform, OrderQuery(status="paid"), namespace="t", cache=cache, clock=clock)
        list_orders(platform, query, namespace="other", cache=cache, clock=clock)
        assert orders_request_count(sandbox) == 3
        # --no-cache asks again, and what it got is what the cache answers next.
        sandbox.advance_orders(3)
        fresh = list_orders(platform, query, namespace="t", cache=cache, refresh=True, clock=clock)
        assert orders_request_count(sandbox) == 4
        assert not fresh.from_cache
        again = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
        assert again.from_cache and again.orders == fresh.orders
        assert [order_to_json(o) for o in again.orders] == store_orders(sandbox)
        # Five minutes after the fetch the entry is stale.
        clock.advance(300)
        stale = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
        assert not stale.from_cache
        assert orders_request_count(sandbox) == 5
    mode = stat.S_IMODE((tmp_path / "c").stat().st_mode)
    assert mode == 0o700


def test_a_cached_relative_since_is_narrowed_to_the_new_moment(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox(orders=40, seed=9)
    truth = store_orders(sandbox)
    # A duration back to the 10th order; asked again when it reaches back to the 11th.
    tenth = parse_timestamp(truth[10]["updated_at"])
    eleventh = parse_timestamp(truth[11]["updated_at"])
    assert tenth is not None and eleventh is not None
    clock = WallClock()  # whole seconds, so the float clock converts back exactly
    now = datetime.fromtimestamp(clock(), UTC)
    query = OrderQuery(since=now - tenth)
    month = 30 * 86400.0  # the orders are up to a week apart: outlast that
    with (
        platform_for(sandbox, tmp_path) as platform,
        OrderCache(tmp_path / "c", ttl=month) as cache,
    ):
        first = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
        clock.advance((eleventh - tenth).total_seconds())
        second = list_orders(platform, query, namespace="t", cache=cache, clock=clock)
    assert [o.order_id for o in first.orders] == [o["order_id"] for o in truth[10:]]
    assert second.from_cache
    assert [o.order_id for o in second.orders] == [o["order_id"] for o in truth[11:]]


# -- watching --------------------------------------------------------------------------


def statuses(sandbox: SandboxHandle) -> dict[str, str]:
    return {o["order_id"]: o["status"] for o in store_orders(sandbox)}


def expected_events(
    before: dict[str, str], seen: dict[str, str], sandbox: SandboxHandle
) -> list[tuple[str, str, str, str | None]]:
    """What a poll must report after the store went from ``before`` to now, in API order.

    ``seen`` is what the watch reported so far: the previous status it can name.
    """
    found: list[tuple[str, str, str, str | None]] = []
    for order in store_orders(sandbox):
        oid, status = order["order_id"], order["status"]
        if oid not in before:
            found.append(("new", oid, status, None))
        elif before[oid] != status:
            found.append(("status", oid, status, seen.get(oid)))
    return found


def as_tuples(events: list[OrderEvent]) -> list[tuple[str, str, str, str | None]]:
    return [(e.kind, e.order.order_id, e.order.status, e.previous_status) for e in events]


def test_watch_reports_each_change_once_across_a_token_expiry(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    clock = WallClock()
    sandbox = make_sandbox(orders=15, seed=11, clock=clock, token_ttl=60.0)
    # The client keeps real time, so it believes its token good for 54 s: when the
    # sandbox's clock jumps past the expiry, the next poll gets 401 invalid_token.
    with platform_for(sandbox, tmp_path) as platform:
        watcher = Watcher(platform, clock=clock)
        assert watcher.poll_once() == []  # nothing changed since the start
        all_events: list[tuple[str, str, str, str | None]] = []
        seen: dict[str, str] = {}
        # (seconds the clock moves, events the generator makes) before each poll; zero
        # seconds puts several changes, and the poll boundary, on one timestamp.
        script = [(0.5, 1), (0, 2), (0.2, 3), (0, 0), (61, 2), (0.3, 1), (0, 4), (0.8, 2)]
        for step, (seconds, events) in enumerate(script):
            before = statuses(sandbox)
            clock.advance(seconds)
            sandbox.advance_orders(events)
            expected = expected_events(before, seen, sandbox)
            got = as_tuples(watcher.poll_once())
            assert got == expected, f"poll {step}"
            all_events.extend(got)
            seen.update((oid, status) for _kind, oid, status, _previous in got)
            # Asked again with nothing new, the boundary orders come back: not reported.
            assert watcher.poll_once() == [], f"repeat of poll {step}"
        stats = platform.stats()
    assert sum(events for _, events in script) == 15
    assert any(previous is not None for *_, previous in all_events)  # a change of a change
    assert len(all_events) == len(set(all_events))
    assert stats["token_refreshes"] == 1
    assert sandbox.stats()["tokens_issued"] == 2
    assert sandbox.stats()["requests"]["GET /orders"].get("401") == 1
    # Everything the watch reported is the store's final word on those orders.
    final = statuses(sandbox)
    last: dict[str, str] = {}
    for _kind, oid, status, _previous in all_events:
        last[oid] = status
    assert all(final[oid] == status for oid, status in last.items())


def test_watch_loop_in_real_time_with_short_tokens_and_a_running_generator(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    """Real sockets, real clock: 1 s tokens, polls every 0.1 s, changes every 20 ms."""
    sandbox = make_sandbox(orders=20, seed=4, token_ttl=1.0)
    with platform_for(sandbox, tmp_path) as platform:
        initial = statuses(sandbox)
        watcher = Watcher(platform)
        stop = threading.Event()
        reported: list[OrderEvent] = []
        errors: list[str] = []
        loop = threading.Thread(
            target=watcher.run,
            args=(reported.append,),
            kwargs={
                "interval": 0.1,
                "stop": stop,
                "on_error": lambda e, _d: errors.append(e.message),
            },
        )

        def changed_orders() -> dict[str, str]:
            now = statuses(sandbox)
            return {oid: status for oid, status in now.items() if initial.get(oid) != status}

        def caught_up() -> bool:
            last = {e.order.order_id: e.order.status for e in list(reported)}
            return last == changed_orders()

        loop.start()
        try:
            # A generator running in real time (an event every 20 ms) until the watch has
            # outlived two tokens and seen a dozen new orders; then the watch catches up.
            deadline = time.monotonic() + 60
            while platform.stats()["token_fetches"] < 3 or (
                sandbox.stats()["orders_stored"] - len(initial) < 12
            ):
                assert time.monotonic() < deadline, "the watch did not outlive two tokens"
                sandbox.advance_orders(1)
                time.sleep(0.02)  # the generator's pace, not a wait for an outcome
            wait_until(caught_up, timeout=30)
        finally:
            stop.set()
            loop.join(timeout=10)
        stats = platform.stats()
    assert not loop.is_alive()
    assert errors == []
    assert stats["token_fetches"] >= 3  # the watch outlived at least two tokens
    truth = {o["order_id"]: o for o in store_orders(sandbox)}
    start = watcher.start
    new_ids = sorted(
        oid for oid, o in truth.items() if (parse_timestamp(o["created_at"]) or start) >= start
    )
    assert len(new_ids) > 10
    assert sorted(e.order.order_id for e in reported if e.kind == "new") == new_ids
    pairs = [(e.order.order_id, e.order.status) for e in reported]
    assert len(pairs) == len(set(pairs))  # no change reported twice
    last = {e.order.order_id: e.order.status for e in reported}
    changed = {oid for oid, o in truth.items() if initial.get(oid) != o["status"]}
    assert set(last) == changed
    assert all(truth[oid]["status"] == status for oid, status in last.items())


class ListPlatform:
    """A Platform stand-in over a list of orders, to pin ``updated_since`` semantics.

    Not a transport mock: nothing here is HTTP. It answers ``iter_orders`` the way a
    platform with an inclusive (``>=``) or exclusive (``>``) ``updated_since`` would.
    """

    def __init__(self, *, inclusive: bool) -> None:
        self.inclusive = inclusive
        self.orders: dict[str, RemoteOrder] = {}
        self.fail_with: Exception | None = None

    def put(self, oid: str, status: str, created: str, updated: str) -> None:
        self.orders[oid] = RemoteOrder(oid, status, created, updated, "CNY", Decimal("1.00"))

    def iter_orders(
        self, *, updated_since: datetime | None = None, status: str | None = None, **_: Any
    ) -> Iterator[RemoteOrder]:
        if self.fail_with is not None:
            raise self.fail_with
        for order in sorted(self.orders.values(), key=lambda o: (o.updated_at, o.order_id)):
            moment = parse_timestamp(order.updated_at)
            assert moment is not None
            if updated_since is not None and (
                moment < updated_since or (not self.inclusive and moment == updated_since)
            ):
                continue
            if status is None or order.status == status:
                yield order


def stamp(second: float) -> str:
    return format_timestamp(datetime(2024, 5, 1, tzinfo=UTC) + timedelta(seconds=second))


@pytest.mark.parametrize("inclusive", [True, False])
@pytest.mark.parametrize("overlap", [0.0, 1.0])
def test_boundary_timestamps_neither_repeat_nor_miss(inclusive: bool, overlap: float) -> None:
    shop = ListPlatform(inclusive=inclusive)
    shop.put("old", "paid", stamp(-100), stamp(-50))
    watcher = Watcher(shop, since=parse_timestamp(stamp(0)), overlap=overlap)  # type: ignore[arg-type]
    shop.put("a", "pending", stamp(10), stamp(10))
    assert as_tuples(watcher.poll_once()) == [("new", "a", "pending", None)]
    # Another order appears on the very timestamp the last poll ended on.
    shop.put("b", "pending", stamp(10), stamp(10))
    assert as_tuples(watcher.poll_once()) == (
        [("new", "b", "pending", None)] if inclusive or overlap else []
    )
    shop.put("a", "paid", stamp(10), stamp(11))
    shop.put("old", "shipped", stamp(-100), stamp(11))
    assert as_tuples(watcher.poll_once()) == [
        ("status", "a", "paid", "pending"),
        ("status", "old", "shipped", None),
    ]
    assert watcher.poll_once() == []
    # An update that leaves the status alone is not news.
    shop.put("a", "paid", stamp(10), stamp(12))
    assert watcher.poll_once() == []


def test_the_memory_of_statuses_is_bounded() -> None:
    shop = ListPlatform(inclusive=True)
    watcher = Watcher(shop, since=parse_timestamp(stamp(0)), memory=3)  # type: ignore[arg-type]
    for n in range(5):
        shop.put(f"o{n}", "pending", stamp(n + 1), stamp(n + 1))
    assert len(watcher.poll_once()) == 5
    assert list(watcher._known.statuses) == ["o2", "o3", "o4"]


def test_failed_polls_back_off_and_the_watch_goes_on() -> None:
    shop = ListPlatform(inclusive=True)
    watcher = Watcher(shop, since=parse_timestamp(stamp(0)))  # type: ignore[arg-type]
    waits: list[float] = []
    warned: list[tuple[str, float]] = []
    emitted: list[OrderEvent] = []
    plan: list[Callable[[], None]] = [
        lambda: setattr(shop, "fail_with", TransportError("connection reset")),
        lambda: None,
        lambda: setattr(shop, "fail_with", APIError("HTTP 503", status=503)),
        lambda: None,
        lambda: setattr(shop, "fail_with", None),
        lambda: shop.put("a", "pending", stamp(1), stamp(1)),
        lambda: None,
    ]

    def wait(seconds: float) -> bool:
        waits.append(seconds)
        if not plan:
            return True
        plan.pop(0)()
        return False

    shop.fail_with = TransportError("connection refused")
    watcher.run(
        emitted.append,
        interval=10.0,
        stop=threading.Event(),
        wait=wait,
        on_error=lambda e, d: warned.append((e.message, d)),
    )
    # Five failures in a row: 10, 20, 40, 80, 160 s; then back to the interval.
    assert waits == [10.0, 20.0, 40.0, 80.0, 160.0, 10.0, 10.0, 10.0]
    assert [m for m, _ in warned] == [
        "connection refused",
        "connection reset",
        "connection reset",
        "HTTP 503",
        "HTTP 503",
    ]
    assert as_tuples(emitted) == [("new", "a", "pending", None)]


def test_backoff_is_capped() -> None:
    shop = ListPlatform(inclusive=True)
    shop.fail_with = TransportError("down")
    watcher = Watcher(shop)  # type: ignore[arg-type]
    waits: list[float] = []
    watcher.run(
        lambda _e: None,
        interval=30.0,
        stop=threading.Event(),
        wait=lambda s: waits.append(s) or len(waits) == 6,
    )
    assert waits == [30.0, 60.0, 120.0, 240.0, 300.0, 300.0]


def test_final_errors_end_the_watch() -> None:
    shop = ListPlatform(inclusive=True)
    watcher = Watcher(shop)  # type: ignore[arg-type]
    shop.fail_with = APIError("bad status", status=422)
    with pytest.raises(APIError):
        watcher.run(lambda _e: None, interval=1.0, stop=threading.Event(), wait=lambda _s: False)


def test_rejected_credentials_end_the_watch(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    settings = settings_for(sandbox, tmp_path, SHOPSYNC_CLIENT_SECRET="wrong")
    fake = FakeTime()
    with connect(settings, clock=fake.clock, sleep=fake.sleep) as platform:
        watcher = Watcher(platform)
        with pytest.raises(AuthError, match="invalid_client"):
            watcher.run(
                lambda _e: None, interval=1.0, stop=threading.Event(), wait=lambda _s: False
            )
    assert watcher.polls == 0


def test_the_stop_event_ends_the_loop(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    stop = threading.Event()
    with platform_for(sandbox, tmp_path) as platform:
        watcher = Watcher(platform)
        timer = threading.Timer(0.3, stop.set)
        timer.start()
        started = time.monotonic()
        watcher.run(lambda _e: None, interval=60.0, stop=stop)
    assert time.monotonic() - started < 5
    assert watcher.polls == 1
