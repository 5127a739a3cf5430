"""What the PostgreSQL ledger adds for a fleet: migrations, leases, and a lock per target.

Against a real PostgreSQL server (tests/servers.py), a new database per test.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psycopg
import pytest

from servers import fresh_database, postgres_url, wait_until  # noqa: F401
from shopsync.config import load_settings
from shopsync.errors import ConfigError, FleetError, LockedError
from shopsync.state.ledger import LedgerEntry
from shopsync.state.ledger_pg import (
    LATEST_VERSION,
    LeaseLost,
    PgLedger,
    TargetLock,
    display_url,
    migrate,
)


def _entry(product_id: str) -> LedgerEntry:
    return LedgerEntry.of(product_id, {"sku": "A-1", "title": "Mug", "price": "1.00"}, "created")


def _expire(url: str, key: str) -> None:
    # What the passing of time does to a lease, without waiting for it.
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "UPDATE shopsync_batch SET lease_until = now() - interval '1 second' WHERE key = %s",
            (key,),
        )


def test_migrate_applies_each_version_once_and_opening_checks_it(
    fresh_database: str,  # noqa: F811
) -> None:
    with pytest.raises(ConfigError, match="has schema version 0; this shopsync needs") as old:
        PgLedger(fresh_database, target="t")
    assert "shopsync ledger migrate" in (old.value.hint or "")
    assert migrate(fresh_database) == list(range(1, LATEST_VERSION + 1))
    assert migrate(fresh_database) == []
    PgLedger(fresh_database, target="t").close()
    with psycopg.connect(fresh_database, autocommit=True) as db:
        db.execute("INSERT INTO shopsync_schema (version) VALUES (%s)", (LATEST_VERSION + 1,))
    with pytest.raises(ConfigError, match="newer shopsync"):
        PgLedger(fresh_database, target="t")


def test_an_unreachable_database_is_a_fleet_error_without_the_password() -> None:
    url = "postgresql://fleet:hunter2@127.0.0.1:1/ledger"
    with pytest.raises(FleetError) as caught:
        PgLedger(url, target="t")
    assert "hunter2" not in caught.value.message
    assert "postgresql://fleet:***@127.0.0.1:1/ledger" in caught.value.message
    assert display_url("postgresql://a@h/db") == "postgresql://a@h/db"


def test_a_batch_is_claimed_by_one_worker_and_recorded_only_under_its_lease(
    fresh_database: str,  # noqa: F811
) -> None:
    migrate(fresh_database)
    with PgLedger(fresh_database, target="shop") as ledger:
        ledger.begin_batch("k1", {"creates": []}, run_id="r1", items=1)
        claimed = ledger.claim_batch("k1", owner="w1", lease_seconds=60)
        assert claimed is not None and (claimed.attempts, claimed.run_id) == (1, "r1")
        assert ledger.claim_batch("k1", owner="w2", lease_seconds=60) is None  # leased
        with pytest.raises(LeaseLost):
            ledger.record_leased("k1", owner="w2", entries={"A-1": _entry("p2")})
        assert ledger.get("A-1") is None

        _expire(fresh_database, "k1")  # w1 is killed; its lease runs out
        again = ledger.claim_batch("k1", owner="w2", lease_seconds=60)
        assert again is not None and again.attempts == 2
        with pytest.raises(LeaseLost):  # w1 comes back late: nothing of it is recorded
            ledger.record_leased("k1", owner="w1", entries={"A-1": _entry("p1")})
        ledger.record_leased("k1", owner="w2", entries={"A-1": _entry("p2")}, stocks={"A-1": 3})
        assert ledger.get("A-1").product_id == "p2"  # type: ignore[union-attr]
        assert ledger.stocks(["A-1"]) == {"A-1": 3}
        assert ledger.pending_batches() == []
        # A task delivered again, late, finds the batch done and does nothing.
        assert ledger.claim_batch("k1", owner="w3", lease_seconds=60) is None


def test_two_workers_claiming_at_once_get_the_batch_once(
    fresh_database: str,  # noqa: F811
) -> None:
    migrate(fresh_database)
    with PgLedger(fresh_database, target="shop") as ledger:
        for n in range(20):
            ledger.begin_batch(f"k{n}", {"n": n})
        won: list[tuple[str, str]] = []
        start = threading.Barrier(4)

        def claim(owner: str) -> None:
            start.wait()
            for n in range(20):
                if ledger.claim_batch(f"k{n}", owner=owner, lease_seconds=60):
                    won.append((owner, f"k{n}"))

        threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(key for _, key in won) == sorted(f"k{n}" for n in range(20))


def test_workers_taking_the_next_batch_take_the_oldest_free_one_each_once(
    fresh_database: str,  # noqa: F811
) -> None:
    migrate(fresh_database)
    with PgLedger(fresh_database, target="shop") as ledger:
        for n in range(20):
            ledger.begin_batch(f"k{n:02d}", {"n": n})
        with PgLedger(fresh_database, target="other") as other:
            other.begin_batch("elsewhere", {})  # another target's: never taken
        assert ledger.claim_batch("k00", owner="w0", lease_seconds=60) is not None
        first = ledger.claim_next(owner="w1", lease_seconds=60)
        assert first is not None and first.key == "k01" and first.attempts == 1
        won: list[str] = [first.key]
        start = threading.Barrier(4)

        def claim(owner: str) -> None:
            start.wait()
            while (claimed := ledger.claim_next(owner=owner, lease_seconds=60)) is not None:
                won.append(claimed.key)

        threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(won) == [f"k{n:02d}" for n in range(1, 20)]
        assert ledger.claim_next(owner="w9", lease_seconds=60) is None
        assert ledger.next_claimable() is None and not ledger.is_claimable("k05")
        _expire(fresh_database, "k05")  # its worker died: free again, and the next
        assert ledger.is_claimable("k05") and ledger.next_claimable() == "k05"
        again = ledger.claim_next(owner="w9", lease_seconds=60)
        assert again is not None and again.key == "k05" and again.attempts == 2


def test_a_shops_sending_slots_are_one_connection_each_and_die_with_it(
    fresh_database: str,  # noqa: F811
) -> None:
    migrate(fresh_database)
    one, two = PgLedger(fresh_database, target="shop"), PgLedger(fresh_database, target="shop")
    try:
        assert one.try_drain_slot(0)
        assert not two.try_drain_slot(0) and two.try_drain_slot(1)
        with PgLedger(fresh_database, target="other") as other:
            assert other.try_drain_slot(0)  # another shop's slot 0
        one.close()  # the worker died: its connection, and its slot, are gone
        # (once the server's backend for it has ended, a moment later)
        wait_until(lambda: two.try_drain_slot(0), timeout=10, what="slot 0 let go")
        two.release_drain_slot(0)
        three = PgLedger(fresh_database, target="shop")
        assert three.try_drain_slot(0)
        three.close()
    finally:
        one.close()
        two.close()


def test_one_planner_per_target_across_connections(fresh_database: str) -> None:  # noqa: F811
    first = TargetLock(fresh_database, target="shop", profile="shop", command="upload")
    first.acquire()
    with pytest.raises(LockedError, match="fleet lock for profile 'shop'"):
        TargetLock(fresh_database, target="shop", profile="shop", command="upload").acquire()
    with TargetLock(fresh_database, target="other", profile="other", command="upload"):
        pass
    first.release()  # the connection goes, and the lock with it
    with TargetLock(fresh_database, target="shop", profile="shop", command="upload"):
        pass


def test_fleet_urls_are_settings_whose_passwords_config_show_hides(tmp_path: Path) -> None:
    settings = load_settings(
        config_dir=tmp_path,
        environ={
            "HOME": str(tmp_path),
            "SHOPSYNC_LEDGER_URL": "postgresql://fleet:hunter2@db.internal/shopsync",
            "SHOPSYNC_BROKER_URL": "redis://:s3cret@127.0.0.1:6379/0",
        },
    )
    assert settings.ledger_url == "postgresql://fleet:hunter2@db.internal/shopsync"
    shown = {name: value for name, value, _ in settings.describe()}
    assert shown["ledger_url"] == "postgresql://fleet:***@db.internal/shopsync"
    assert shown["broker_url"] == "redis://:***@127.0.0.1:6379/0"
    assert shown["limiter_url"] == "(not set)"
    assert "hunter2" not in repr(settings)
    with pytest.raises(ConfigError, match="must be a postgresql:// or postgres:// URL"):
        load_settings(
            config_dir=tmp_path,
            environ={"HOME": str(tmp_path), "SHOPSYNC_LEDGER_URL": "mysql://h/db"},
        )


def test_a_watched_lease_is_renewed_and_an_unwatched_one_is_not(
    fresh_database: str,  # noqa: F811
) -> None:
    from servers import wait_until  # noqa: PLC0415
    from shopsync.state.ledger_pg import LeaseRenewer  # noqa: PLC0415

    migrate(fresh_database)

    def lease_until(key: str) -> object:
        with psycopg.connect(fresh_database, autocommit=True) as db:
            row = db.execute("SELECT lease_until FROM shopsync_batch WHERE key = %s", (key,))
            return row.fetchone()[0]  # type: ignore[index]

    with PgLedger(fresh_database, target="t") as ledger:
        for key in ("watched", "other"):
            ledger.begin_batch(key, {"creates": []})
            assert ledger.claim_batch(key, owner="w1", lease_seconds=1.5) is not None
        first, other = lease_until("watched"), lease_until("other")
        renewer = LeaseRenewer("w1", lease_seconds=1.5)
        held = {"watched"}
        renewer.watch(ledger, held)
        try:
            wait_until(lambda: lease_until("watched") > first, timeout=10, what="a renewal")
            assert lease_until("other") == other
            renewer.unwatch(held)
        finally:
            renewer.close()
