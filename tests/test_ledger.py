"""The ledger: what shopsync put on a platform, kept across runs and threads.

The tests that take ``open_ledger`` are the one suite both ledgers pass: SQLite (the
single machine's) and PostgreSQL (a fleet's, on a real server from tests/servers.py).
The rest are about SQLite's files and formats.
"""

from __future__ import annotations

import json
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import diskcache
import pytest

from servers import postgres_url  # noqa: F401
from shopsync.domain.models import Product, product_digest, product_json
from shopsync.errors import ConfigError
from shopsync.state.ledger import Ledger, LedgerEntry
from shopsync.state.store import LedgerStore

OpenLedger = Callable[[Path], LedgerStore]


@pytest.fixture(scope="session")
def ledger_database(postgres_url: str) -> str:  # noqa: F811
    """The session's PostgreSQL database, migrated; each test's targets are its own."""
    from shopsync.state.ledger_pg import migrate  # noqa: PLC0415

    migrate(postgres_url)
    return postgres_url


@pytest.fixture(params=["sqlite", "postgresql"])
def open_ledger(request: pytest.FixtureRequest) -> Iterator[OpenLedger]:
    """A factory: ``open_ledger(path)`` opens the ledger of ``path`` (a directory for
    SQLite, a target name for PostgreSQL), as often as a test reopens it."""
    opened: list[LedgerStore] = []
    if request.param == "sqlite":

        def make(path: Path) -> LedgerStore:
            opened.append(Ledger(path))
            return opened[-1]

    else:
        url = request.getfixturevalue("ledger_database")
        from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

        def make(path: Path) -> LedgerStore:
            opened.append(PgLedger(url, target=str(path)))
            return opened[-1]

    yield make
    for ledger in opened:
        ledger.close()


def _write_error(ledger: LedgerStore) -> type[Exception]:
    if isinstance(ledger, Ledger):
        return sqlite3.Error
    import psycopg  # noqa: PLC0415

    return psycopg.Error


def _entry(product_id: str, price: str = "10.00") -> LedgerEntry:
    return LedgerEntry.of(product_id, {"sku": "A-1", "title": "Mug", "price": price}, "created")


def test_entries_stocks_and_batches_survive_reopening(
    tmp_path: Path, open_ledger: OpenLedger
) -> None:
    with open_ledger(tmp_path / "ledger") as ledger:
        ledger.begin_batch("key-1", '{"creates":[{"body":{"sku":"A-1"},"file":"f","line":2}]}')
        ledger.begin_batch("key-2", {"creates": [], "updates": []})
        ledger.record({"A-1": _entry("p1")}, stocks={"A-1": 7}, finished_batch="key-1")
        ledger.mark_done("delta-key")
    with open_ledger(tmp_path / "ledger") as ledger:
        found = ledger.get("A-1")
        assert found is not None
        assert (found.product_id, found.outcome) == ("p1", "created")
        assert found.body == {"sku": "A-1", "title": "Mug", "price": "10.00"}
        assert ledger.get("B-2") is None
        assert ledger.stocks(["A-1", "B-2"]) == {"A-1": 7}
        assert [b.idempotency_key for b in ledger.pending_batches()] == ["key-2"]
        assert ledger.pending_batches()[0].request == {"creates": [], "updates": []}
        assert ledger.is_done("delta-key") and not ledger.is_done("other")
        assert list(ledger.skus()) == ["A-1"] and len(ledger) == 1


def test_uploaded_images_are_remembered_by_content_hash(
    tmp_path: Path, open_ledger: OpenLedger
) -> None:
    with open_ledger(tmp_path / "ledger") as ledger:
        assert ledger.image("sha-1") is None
        ledger.record_image(
            "sha-1", "https://cdn.example/1.png", url="https://cdn.example/1.png", image_id=None
        )
        ledger.record_image("sha-2", "img-2", url=None, image_id="img-2")
        ledger.record_image("sha-2", "img-2b", url=None, image_id="img-2b")
    with open_ledger(tmp_path / "ledger") as ledger:
        assert ledger.image("sha-1") == "https://cdn.example/1.png"
        assert ledger.image("sha-2") == "img-2b"
        assert ledger.image("sha-3") is None


def test_forgotten_products_and_the_refresh_marker(tmp_path: Path, open_ledger: OpenLedger) -> None:
    with open_ledger(tmp_path / "ledger") as ledger:
        assert ledger.state_as_of() is None
        ledger.record({"A-1": _entry("p1"), "B-2": _entry("p2"), "C-3": _entry("p3")})
        oldest = ledger.state_as_of()
        assert oldest is not None
        ledger.forget(["A-1", "C-3"])
        ledger.mark_refreshed(at=1234.5)
    with open_ledger(tmp_path / "ledger") as ledger:
        assert list(ledger.skus()) == ["B-2"]
        assert ledger.state_as_of() == 1234.5
    with open_ledger(tmp_path / "other") as other:
        assert other.state_as_of() is None  # a marker is its own target's


def test_get_many_looks_up_more_skus_than_one_query_binds(
    tmp_path: Path, open_ledger: OpenLedger
) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.record({f"S-{n}": _entry(f"p{n}") for n in range(1_200)})
        found = ledger.get_many([f"S-{n}" for n in range(0, 2_400, 2)])
    assert sorted(found) == sorted(f"S-{n}" for n in range(0, 1_200, 2))
    assert found["S-998"].product_id == "p998"


def test_a_failed_record_changes_nothing(tmp_path: Path, open_ledger: OpenLedger) -> None:
    with open_ledger(tmp_path) as ledger:
        ledger.begin_batch("key-1", {"creates": []})
        broken = LedgerEntry("p2", "hash", "{}", "created", updated_at=object())  # type: ignore[arg-type]
        with pytest.raises(_write_error(ledger)):
            ledger.record({"A-1": _entry("p1"), "B-2": broken}, finished_batch="key-1")
        assert ledger.get("A-1") is None
        assert [b.idempotency_key for b in ledger.pending_batches()] == ["key-1"]


def test_threads_record_side_by_side(tmp_path: Path, open_ledger: OpenLedger) -> None:
    with open_ledger(tmp_path) as ledger:

        def work(n: int) -> None:
            for batch in range(20):
                key = f"k-{n}-{batch}"
                ledger.begin_batch(key, {"n": n})
                skus = {f"S-{n}-{batch}-{i}": _entry(f"p{n}") for i in range(10)}
                ledger.record(skus, stocks=dict.fromkeys(skus, n), finished_batch=key)

        threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(ledger) == 8 * 20 * 10
        assert ledger.pending_batches() == []
        assert ledger.stocks(["S-5-19-9"]) == {"S-5-19-9": 5}


def test_files_are_private(tmp_path: Path) -> None:
    with Ledger(tmp_path / "data" / "ledger") as ledger:
        ledger.record({"A-1": _entry("p1")})
        assert stat.S_IMODE(ledger.directory.stat().st_mode) == 0o700
        assert stat.S_IMODE(ledger.path.stat().st_mode) == 0o600


def test_a_ledger_from_a_newer_shopsync_is_refused(tmp_path: Path) -> None:
    Ledger(tmp_path).close()
    with sqlite3.connect(tmp_path / "ledger.sqlite3") as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match="newer shopsync"):
        Ledger(tmp_path)


def test_a_ledger_of_the_first_format_is_imported(tmp_path: Path) -> None:
    # The first ledger kept the same records in a diskcache directory, bodies as
    # sorted-key JSON: they come over with today's text and hash.
    product = Product.model_validate({"title": "Mug", "sku": "A-1", "price": "10"})
    old_body = product.to_api()
    with diskcache.Cache(str(tmp_path)) as cache:
        cache.set(
            "p:A-1",
            {
                "v": 1,
                "product_id": "p1",
                "hash": "old-hash",
                "body": json.dumps(old_body, sort_keys=True),
                "outcome": "created",
                "at": 5.0,
            },
        )
        cache.set("s:A-1", 3)
        cache.set("b:key-1", {"request": {"creates": [{"body": old_body}]}, "at": 6.0})
        cache.set("d:delta-key", 7.0)
    with Ledger(tmp_path) as ledger:
        entry = ledger.get("A-1")
        assert entry is not None
        assert (entry.product_id, entry.body_json) == ("p1", product.api_json)
        assert entry.content_hash == product_digest(product.to_api())[1]
        assert ledger.stocks(["A-1"]) == {"A-1": 3}
        [pending] = ledger.pending_batches()
        assert (pending.idempotency_key, pending.started_at) == ("key-1", 6.0)
        assert pending.request == {"creates": [{"body": old_body}]}
        assert ledger.is_done("delta-key")
    with Ledger(tmp_path) as ledger:  # once: a second open imports nothing again
        ledger.record({"A-1": _entry("p9")})
    with Ledger(tmp_path) as ledger:
        assert ledger.get("A-1").product_id == "p9"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "description", ["plain", "tab\there", "\x01\x1f", "e\u2028f", "😀", '"q"\\', "产品"]
)
def test_product_json_of_a_body_is_the_products_own_text(description: str) -> None:
    product = Product.model_validate(
        {
            "sku": "A-1",
            "title": "Mug",
            "price": "3999",
            "description": description,
            "images": "https://a.example/1.jpg|https://a.example/2.jpg",
            "attributes": {"颜色": "红", "size": "L"},
            "weight_kg": "1.500",
        }
    )
    body = product.to_api()
    assert product_json(body) == product.api_json
    assert product_json(dict(reversed(body.items()))) == product.api_json
    assert json.loads(product.api_json) == body
    bare = Product.model_validate({"sku": "B", "title": "t", "price": "1"})
    assert product_json(bare.to_api()) == bare.api_json
    assert "attributes" not in bare.api_json
