"""The adapter contract suite: what every platform adapter must do, driven as a user would.

An adapter's tests subclass :class:`PlatformContract`, as keyring's backends subclass
``keyring.testing.backend.BackendBasicTests``, and say two things:

- :attr:`PlatformContract.sandbox_options`: the :class:`~shopsync.sandbox.SandboxConfig`
  fields that start the adapter's sandbox (its ``dialect``, and knobs such as
  ``ignore_idempotency_keys``);
- :meth:`PlatformContract.connect`: the adapter, connected to that sandbox, its HTTP
  client on the given clock and sleep (so retries and 429 waits take no time).

The base class provides the ``make_shop`` fixture (a :class:`Shop`: the connected
platform, the sandbox for faults, stats and store, and helpers that run uploads and stock
syncs through the jobs) and the tests. Each test reads the platform's capabilities: a
stock mode the platform lacks must be a usage error naming it, a lookup it lacks must
not be needed. Outcomes are asserted exactly, from the sandbox's store and stats.
Hooks with defaults (:meth:`PlatformContract.write_requests_for`, ...) let a dialect
whose wire differs (one request per item) say how many requests it expects.

A real server instead of the sandbox (Medusa): the subclass overrides
:meth:`PlatformContract.serve` to return its own :class:`ContractServer` (which answers the
counts the tests read from the server's API and injects faults through a proxy) and
:meth:`PlatformContract.connect_to`; :meth:`PlatformContract.sku_prefix` keeps its SKUs
apart from other tests' on a server shared by the session.
"""

from __future__ import annotations

import csv
import math
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from shopsync.catalog.records import Catalog
from shopsync.errors import ExitCode, PlatformError, UsageError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.orders import OrderQuery, list_orders
from shopsync.jobs.stock import StockFile, StockJob, StockOptions
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.base import Platform, ProductUpdate, capabilities_of
from shopsync.sandbox import SandboxConfig, SandboxHandle
from shopsync.sandbox.faults import Fault, FaultInjector
from shopsync.sandbox.ratelimit import RateLimiter
from shopsync.sandbox.store import ProductRow
from shopsync.sync.report import RunReport


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it (thread-safe).

    The client's retries and rate limiter sleep on it; the sandbox's rate limiter can be
    put on it too (:meth:`PlatformContract.exhaust_rate_limit`), so a 429's ``Retry-After`` is
    waited out exactly and instantly.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.slept = 0.0

    def clock(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept += max(0.0, seconds)
            self._now += max(0.0, seconds)


class ContractServer:
    """What the tests read from and do to the server under test; this one: the sandbox.

    A real server's subclass answers the same questions from its own API (counts through
    a fault proxy, products and stock by SKU) and injects the faults through the proxy.
    """

    def __init__(self, sandbox: SandboxHandle | None) -> None:
        self._sandbox = sandbox

    @property
    def sandbox(self) -> SandboxHandle:
        """The sandbox under test (a real server has none: its tests must not ask)."""
        if self._sandbox is None:
            raise AssertionError("this contract runs against a real server, not the sandbox")
        return self._sandbox

    def stored(self, skus: Sequence[str]) -> dict[str, list[ProductRow]]:
        """Every stored product of each SKU (a duplicate shows as two)."""
        found = self.sandbox.store.products_with_skus(skus)
        return {sku: found.get(sku, []) for sku in skus}

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The platform's stock count of each SKU."""
        return {
            sku: stock for sku, (_, stock, _) in self.sandbox.store.stocks_by_skus(skus).items()
        }

    def sell_behind(self, shop: Shop, sku: str, stock: int) -> None:
        """Set ``sku``'s count on the platform as an order would, behind shopsync's back."""
        self.sandbox.store.update_stocks(_stock_change(shop, sku, stock))

    def writes(self) -> int:
        """Write requests the server has answered (or dropped) so far."""
        return int(self.sandbox.stats()["write_requests"])

    def requests(self) -> int:
        """Requests of any kind the server has seen so far."""
        return int(self.sandbox.stats()["requests_total"])

    def drop_first_write_answer(self) -> None:
        """The next write is committed and its answer cut; every request after it behaves."""
        pattern = [Fault.DROP_AFTER_COMMIT, *[None] * 30]
        self.sandbox.configure_faults(
            drop_after_commit_rate=0.05,
            seed=seed_for_first_draws(pattern, drop_after_commit_rate=0.05),
        )

    def dropped_answers(self) -> int:
        """How many answers were cut after their request was committed."""
        return int(self.sandbox.stats()["faults"]["drop_after_commit"])

    def outage(self, down: bool) -> None:
        """Every request fails with a server error (``down``), or none does."""
        self.sandbox.configure_faults(fault_rate=1.0 if down else 0.0)

    def rate_limited(self) -> int:
        """How many requests the server answered 429."""
        return int(self.sandbox.stats()["rate_limited"])


@dataclass
class Shop:
    """A connected platform and its sandbox, with runs as a user's commands make them."""

    server: ContractServer
    platform: Platform
    target: Target
    time: FakeClock
    workdir: Path
    batch_size: int = 3
    cells: Mapping[str, str] = field(default_factory=dict)
    """Cells every row gets unless it has its own (:meth:`PlatformContract.required_cells`)."""
    prefix: str = "CT"
    _files: int = field(default=0, repr=False)

    @property
    def sandbox(self) -> SandboxHandle:
        """The sandbox under test (for a dialect's own hooks; a real server has none)."""
        return self.server.sandbox

    def rows(self, count: int, **options: Any) -> list[dict[str, Any]]:
        """:func:`rows_of` with this shop's SKU prefix."""
        return rows_of(count, prefix=self.prefix, **options)

    def sku(self, n: int) -> str:
        """The SKU of row ``n`` of :meth:`rows`."""
        return f"{self.prefix}-{n:03}"

    def _path(self, stem: str) -> Path:
        self._files += 1
        return self.workdir / f"{stem}-{self._files}.csv"

    def catalog(self, rows: Sequence[Mapping[str, Any]]) -> Path:
        """A product CSV of ``rows`` (columns from the first row)."""
        path = self._path("catalog")
        rows = [{**self.cells, **row} for row in rows]
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path

    def upload(
        self, rows: Sequence[Mapping[str, Any]], *, target: Target | None = None, **options: Any
    ) -> RunReport:
        """``shopsync upload`` of ``rows``; raises what the run raises."""
        options.setdefault("batch_size", self.batch_size)
        options.setdefault("workers", 2)
        job = UploadJob(
            Catalog([self.catalog(rows)]),
            target or self.target,
            JobOptions(**options),
            Outputs(default_dir=self.workdir, failed=self.workdir / "failed.csv"),
        )
        return job.run()

    def stock(
        self, lines: Mapping[str, int], *, column: str = "stock", **options: Any
    ) -> RunReport:
        """``shopsync stock`` of ``sku → count`` (``column="delta"``: a delta file)."""
        path = self._path("stock")
        path.write_text(
            f"sku,{column}\n" + "".join(f"{sku},{n}\n" for sku, n in lines.items()),
            encoding="utf-8",
        )
        options.setdefault("batch_size", self.batch_size)
        options.setdefault("workers", 2)
        job = StockJob(
            StockFile([path]),
            self.target,
            StockOptions(**options),
            Outputs(failed=self.workdir / "stock-failed.csv"),
        )
        return job.run()

    def failed_rows(self) -> list[dict[str, str]]:
        """The rows of the last upload's failed file (none if it wrote none)."""
        path = self.workdir / "failed.csv"
        if not path.exists():
            return []
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))

    def stored(self, skus: Sequence[str]) -> dict[str, list[ProductRow]]:
        """Every stored product of each SKU (a duplicate shows as two)."""
        return self.server.stored(skus)

    def copies(self, skus: Sequence[str]) -> dict[str, int]:
        """How many products each SKU has on the platform."""
        return {sku: len(rows) for sku, rows in self.stored(skus).items()}

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The platform's stock count of each SKU."""
        return self.server.stocks(skus)

    def writes(self) -> int:
        """Write requests the server has answered (or dropped) so far."""
        return self.server.writes()

    def requests(self) -> int:
        """Requests of any kind the server has seen so far."""
        return self.server.requests()


def rows_of(
    count: int, *, prefix: str = "CT", price: str = "9.90", stock: int = 5
) -> list[dict[str, Any]]:
    """``count`` catalog rows: SKUs ``CT-000``..., titles ``Item CT-000``..."""
    return [
        {
            "sku": f"{prefix}-{n:03}",
            "title": f"Item {prefix}-{n:03}",
            "price": price,
            "stock": stock,
        }
        for n in range(count)
    ]


def seed_for_first_draws(pattern: Sequence[Fault | None], **rates: float) -> int:
    """A sandbox seed whose next fault draws (one per request) are ``pattern``."""
    for seed in range(20_000):
        injector = FaultInjector(SandboxConfig(seed=seed, **rates))
        if [injector.draw() for _ in pattern] == list(pattern):
            return seed
    raise AssertionError("no seed gives that pattern")


class PlatformContract:
    """The tests every adapter passes against its sandbox dialect; subclass and fill in."""

    sandbox_options: ClassVar[Mapping[str, Any]] = {}
    """SandboxConfig fields for this adapter's sandbox: ``dialect`` and any knobs."""
    rate_headers: ClassVar[bool] = True
    """The platform's answers say how much of its rate limit is left (False: Shopee)."""

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        """The adapter under test, connected to ``sandbox``, its client on ``time``."""
        raise NotImplementedError

    # -- hooks a dialect with another wire may override -----------------------------------

    def write_requests_for(self, items: int, batch_size: int) -> int:
        """Write requests an upload of ``items`` new products makes in batches of that size."""
        return math.ceil(items / batch_size)

    def required_cells(self) -> Mapping[str, str]:
        """Cells this platform needs in every row beyond :func:`rows_of`'s (a weight, an
        image), added to each catalog the shop writes; none by default."""
        return {}

    def refused_cells(self) -> tuple[dict[str, str], str] | None:
        """Cells that make a catalog row valid by the catalog's rules but refused by this
        platform's own (:meth:`~shopsync.platforms.base.Platform.check_product`), and the
        column the row error names; None: the platform has no rules of its own."""
        return None

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        """Leave the client's bucket empty, refilling at ``rate`` a second on the shop's
        fake clock (as if another program had just spent it): its next request is a 429."""
        limiter = RateLimiter(rate, 1, shop.time.clock)
        limiter.acquire(shop.sandbox.client_id)
        shop.sandbox.app.limiter = limiter

    def serve(
        self,
        request: pytest.FixtureRequest,
        make_sandbox: Callable[..., SandboxHandle],
        settings: Mapping[str, Any],
    ) -> ContractServer:
        """The server under test: by default a sandbox with :attr:`sandbox_options` and
        the test's ``settings``; a real server's subclass returns its own (and may take
        its fixtures from ``request``)."""
        return ContractServer(make_sandbox(**{**self.sandbox_options, **settings}))

    def connect_to(self, server: ContractServer, data_dir: Path, time: FakeClock) -> Platform:
        """The adapter connected to ``server``: by default :meth:`connect` to its sandbox."""
        return self.connect(server.sandbox, data_dir, time)

    def namespace_of(self, server: ContractServer) -> str:
        """The ledger namespace of a shop on ``server`` (one per sandbox by default)."""
        return f"contract|{server.sandbox.base_url}"

    def sku_prefix(self) -> str:
        """The prefix of the tests' SKUs: one sandbox per shop lets every shop use ``CT``;
        a server shared by the session needs one of its own per shop."""
        return "CT"

    # -- the fixture ------------------------------------------------------------------------

    @pytest.fixture
    def make_shop(
        self,
        request: pytest.FixtureRequest,
        make_sandbox: Callable[..., SandboxHandle],
        tmp_path: Path,
    ) -> Iterator[Callable[..., Shop]]:
        """``make_shop(orders=25)``: a server (the sandbox with :attr:`sandbox_options` and
        these) and the adapter connected to it, its token fetched (so faults start after it)."""
        made: list[Platform] = []

        def make(**sandbox_settings: Any) -> Shop:
            server = self.serve(request, make_sandbox, sandbox_settings)
            time = FakeClock()
            workdir = tmp_path / f"shop-{len(made)}"
            workdir.mkdir()
            platform = self.connect_to(server, workdir / "data", time)
            made.append(platform)
            assert isinstance(platform, Platform)  # every member the protocol names
            platform.check_auth()
            target = Target(
                platform=platform,
                ledger_dir=workdir / "data" / "ledger",
                namespace=self.namespace_of(server),
                profile="contract",
            )
            return Shop(
                server,
                platform,
                target,
                time,
                workdir,
                cells=self.required_cells(),
                prefix=self.sku_prefix(),
            )

        yield make
        for platform in made:
            platform.close()

    def batch_of(self, shop: Shop) -> int:
        """The batch size an upload of the shop really sends (the option, or the platform's)."""
        return min(shop.batch_size, capabilities_of(shop.platform).max_batch_size)

    # -- products ---------------------------------------------------------------------------

    def test_create_sends_each_new_product_once(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        rows = shop.rows(7)
        skus = [row["sku"] for row in rows]
        writes = shop.writes()
        report = shop.upload(rows)
        assert report.exit_code == 0
        assert report.counts["created"] == 7
        assert report.counts["failed"] == report.counts["rejected"] == 0
        assert shop.copies(skus) == dict.fromkeys(skus, 1)
        stored = {sku: found[0].values for sku, found in shop.stored(skus).items()}
        assert {sku: stored[sku]["title"] for sku in skus} == {sku: f"Item {sku}" for sku in skus}
        assert shop.stocks(skus) == dict.fromkeys(skus, 5)
        assert shop.writes() - writes == self.write_requests_for(7, self.batch_of(shop))

    def test_update_sends_only_the_changed_fields(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        rows = shop.rows(4)
        shop.upload(rows)
        # Someone renames CT-001 on the platform; the file then changes only its price.
        # Had the update sent every field, the platform's title would be undone.
        [row] = shop.stored([shop.sku(1)])[shop.sku(1)]
        renamed = Catalog.model.model_validate({**rows[1], "title": "Renamed on the platform"})
        edit = shop.platform.write_products(
            [], [ProductUpdate(row.product_id, renamed, frozenset({"title"}))]
        )
        assert edit.updated[0].ok
        rows[1] = {**rows[1], "price": "12.50"}
        writes = shop.writes()
        report = shop.upload(rows)
        assert (report.counts["updated"], report.counts["unchanged"]) == (1, 3)
        assert shop.writes() - writes == 1
        [after] = shop.stored([shop.sku(1)])[shop.sku(1)]
        assert after.product_id == row.product_id
        assert after.values["title"] == "Renamed on the platform"
        assert str(after.values["price"]) == "12.50"
        assert shop.copies([r["sku"] for r in rows]) == {r["sku"]: 1 for r in rows}

    def test_a_product_the_platform_refuses_is_a_row_error_at_plan_time(
        self, make_shop: Callable[..., Shop]
    ) -> None:
        refused = self.refused_cells()
        if refused is None:
            pytest.skip("the platform declares no rules of its own")
        cells, column = refused
        shop = make_shop()
        rows = shop.rows(3)
        rows[1] = {**rows[1], **cells}
        rows = [{name: row.get(name, "") for name in rows[1]} for row in rows]
        writes = shop.writes()
        rejects = shop.workdir / "rejects.csv"
        job = UploadJob(
            Catalog([shop.catalog(rows)]),
            shop.target,
            JobOptions(batch_size=shop.batch_size, workers=2),
            Outputs(rejects=rejects, default_dir=shop.workdir),
        )
        report = job.run()
        assert (report.counts["created"], report.counts["rejected"]) == (2, 1)
        assert report.exit_code == ExitCode.INPUT_REJECTED  # as for a row the model refuses
        assert shop.copies([row["sku"] for row in rows]) == {
            shop.sku(0): 1,
            shop.sku(1): 0,
            shop.sku(2): 1,
        }
        assert shop.writes() - writes == self.write_requests_for(2, self.batch_of(shop))
        with rejects.open(encoding="utf-8-sig", newline="") as handle:
            [rejected] = list(csv.DictReader(handle))
        assert rejected["sku"] == shop.sku(1)
        assert rejected["error"].startswith(f"{job.catalog.files[0].name}:3: {column}: ")

    def test_unchanged_products_send_nothing(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        rows = shop.rows(5)
        shop.upload(rows)
        requests = shop.requests()
        report = shop.upload(rows)
        assert report.counts["unchanged"] == 5
        assert report.counts["created"] == report.counts["updated"] == 0
        assert shop.requests() == requests  # not one request, not even a read

    def test_lookup_or_none_needed(self, make_shop: Callable[..., Shop]) -> None:
        # With a lookup, --refresh with a lost ledger finds every product: nothing is
        # created twice. Without one, --refresh is a usage error naming the platform,
        # raised before anything is sent.
        shop = make_shop()
        rows = shop.rows(4)
        shop.upload(rows)
        skus = [row["sku"] for row in rows]
        lost_ledger = Target(
            platform=shop.platform,
            ledger_dir=shop.workdir / "other-ledger",
            namespace=shop.target.namespace,
            profile=shop.target.profile,
        )
        writes = shop.writes()
        if capabilities_of(shop.platform).lookup_by_sku:
            found = shop.platform.lookup_skus([*skus[:2], "NO-SUCH-SKU"])
            assert sorted(found) == skus[:2]
            assert found[skus[0]].product_id == shop.stored(skus[:1])[skus[0]][0].product_id
            report = shop.upload(rows, target=lost_ledger, refresh=True)
            assert report.counts["unchanged"] == 4
        else:
            with pytest.raises(UsageError, match=shop.platform.name):
                shop.upload(rows, target=lost_ledger, refresh=True)
        assert shop.writes() == writes
        assert shop.copies(skus) == dict.fromkeys(skus, 1)

    # -- stock ------------------------------------------------------------------------------

    def test_stock_set(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        rows = shop.rows(4)
        shop.upload(rows)
        report = shop.stock({shop.sku(0): 8, shop.sku(2): 0})
        assert report.counts["updated"] == 2
        assert shop.stocks([shop.sku(0), shop.sku(1), shop.sku(2)]) == {
            shop.sku(0): 8,
            shop.sku(1): 5,
            shop.sku(2): 0,
        }
        requests = shop.requests()
        again = shop.stock({shop.sku(0): 8, shop.sku(2): 0})
        assert again.counts["unchanged"] == 2
        assert shop.requests() == requests

    def test_stock_delta_or_usage_error(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        shop.upload(shop.rows(3))
        writes = shop.writes()
        if not capabilities_of(shop.platform).stock_delta:
            with pytest.raises(UsageError, match=shop.platform.name):
                shop.stock({shop.sku(0): -2}, column="delta")
            assert shop.writes() == writes
            return
        report = shop.stock({shop.sku(0): -2, shop.sku(1): 3}, column="delta")
        assert report.counts["updated"] == 2
        assert shop.stocks([shop.sku(0), shop.sku(1), shop.sku(2)]) == {
            shop.sku(0): 3,
            shop.sku(1): 8,
            shop.sku(2): 5,
        }
        shop.stock({shop.sku(0): -2, shop.sku(1): 3}, column="delta")  # the same file: applied once
        assert shop.stocks([shop.sku(0), shop.sku(1)]) == {shop.sku(0): 3, shop.sku(1): 8}

    def test_stock_compare_and_set_or_usage_error(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        shop.upload(shop.rows(2))
        writes = shop.writes()
        if not capabilities_of(shop.platform).stock_cas:
            with pytest.raises(UsageError, match=shop.platform.name):
                shop.stock({shop.sku(0): 7}, cas=True)
            assert shop.writes() == writes
            return
        # An order sold one of CT-001 since the upload: the compare-and-set must not
        # overwrite a count shopsync did not see.
        shop.server.sell_behind(shop, shop.sku(1), 4)
        report = shop.stock({shop.sku(0): 7, shop.sku(1): 9}, cas=True)
        assert report.counts["updated"] == 1
        assert report.counts["failed"] == 1
        assert report.exit_code == 1
        assert shop.stocks([shop.sku(0), shop.sku(1)]) == {shop.sku(0): 7, shop.sku(1): 4}

    # -- orders -----------------------------------------------------------------------------

    def test_orders_are_listed_page_by_page(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop(orders=25, seed=3)
        listing = list_orders(
            shop.platform, OrderQuery(), namespace=shop.target.namespace, page_size=10
        )
        orders = listing.orders
        assert len(orders) == 25
        assert len({order.order_id for order in orders}) == 25
        keys = [(order.updated_at, order.order_id) for order in orders]
        assert keys == sorted(keys)
        assert shop.platform.get_order(orders[0].order_id) == orders[0]
        assert shop.platform.get_order("no-such-order") is None

    # -- failures ---------------------------------------------------------------------------

    def test_an_answer_lost_after_commit_is_reconciled_exactly_once(
        self, make_shop: Callable[..., Shop]
    ) -> None:
        shop = make_shop()
        rows = shop.rows(3)
        skus = [row["sku"] for row in rows]
        shop.server.drop_first_write_answer()
        report = self.upload_through_faults(shop, rows)
        assert shop.server.dropped_answers() == 1
        assert shop.copies(skus) == dict.fromkeys(skus, 1)
        assert report.exit_code == 0
        assert report.counts["created"] + report.counts["unchanged"] == 3
        assert report.counts["failed"] == 0
        requests = shop.requests()
        assert shop.upload(rows).counts["unchanged"] == 3
        assert shop.requests() == requests

    def upload_through_faults(self, shop: Shop, rows: Sequence[Mapping[str, Any]]) -> RunReport:
        """Upload; where a run stops for the platform, run again (at most three runs)."""
        for _ in range(3):
            try:
                return shop.upload(rows)
            except PlatformError:
                continue
        raise AssertionError("three runs did not finish the upload")

    def test_429_is_waited_out(self, make_shop: Callable[..., Shop]) -> None:
        shop = make_shop()
        self.exhaust_rate_limit(shop, rate=1.0)
        rows = shop.rows(4)
        skus = [row["sku"] for row in rows]
        report = shop.upload(rows, batch_size=1, workers=1)
        assert report.exit_code == 0
        assert report.counts["created"] == 4
        throttled = shop.server.rate_limited()
        if self.rate_headers:
            # One 429; after it the client paces itself by the answers' rate headers.
            assert throttled == 1
        else:
            # No headers to pace by: each throttle pauses and halves the client's rate.
            assert throttled >= 1
        assert report.traffic["throttled"] == throttled
        assert shop.time.slept >= 1.0  # Retry-After waited out, on the fake clock
        assert shop.copies(skus) == dict.fromkeys(skus, 1)

    def test_an_outage_stops_the_run_and_the_next_run_finishes(
        self, make_shop: Callable[..., Shop]
    ) -> None:
        shop = make_shop()
        rows = shop.rows(4)
        skus = [row["sku"] for row in rows]
        shop.server.outage(down=True)
        with pytest.raises(PlatformError):
            shop.upload(rows)
        assert shop.failed_rows() == []  # the rows are not at fault: none in the failed file
        assert shop.copies(skus) == dict.fromkeys(skus, 0)
        shop.server.outage(down=False)
        report = shop.upload(rows)
        assert report.exit_code == 0
        assert report.counts["created"] + report.counts["unchanged"] == 4
        assert report.counts["created"] == 4
        assert shop.copies(skus) == dict.fromkeys(skus, 1)


def _stock_change(shop: Shop, sku: str, stock: int) -> list[tuple[int, int, str, int]]:
    """The store's own stock write for ``sku``, as an order would make it."""
    row_id, _, version = shop.sandbox.store.stocks_by_skus([sku])[sku]
    return [(stock, version + 1, "2026-01-01T00:00:00Z", row_id)]
