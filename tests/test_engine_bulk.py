"""The engine's bulk seam (Capabilities.bulk): changes are held until the threshold, then
go in bulk batches; a change that stays under it goes in the usual batches; a bulk batch a
killed run left pending is sent again with its key and not looked up first (its adapter
settles it by that key), while a usual batch still is."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from shopsync.domain.models import Product, SourceRow, ValidRow
from shopsync.platforms.base import (
    BatchResult,
    BulkWrites,
    Capabilities,
    ItemCode,
    ItemResult,
    ProductUpdate,
    RemoteProduct,
)
from shopsync.state.ledger import Ledger
from shopsync.sync.engine import Engine, EngineOptions
from shopsync.sync.planner import Planner


class BulkStub:
    """Records each write's size and key; products get ids ``p-SKU``."""

    name = "stub"

    def __init__(self, bulk: BulkWrites | None) -> None:
        self.capabilities = Capabilities(
            max_batch_size=10,
            idempotency_keys="ignored",
            lookup_by_sku=True,
            unique_skus=False,
            bulk=bulk,
        )
        self.writes: list[tuple[int, str | None]] = []
        self.lookups: list[list[str]] = []
        self._lock = threading.Lock()

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        with self._lock:
            self.writes.append((len(creates) + len(updates), idempotency_key))
        return BatchResult(
            created=[
                ItemResult(p.sku, ok=True, product_id=f"p-{p.sku}", item_code=ItemCode.OK)
                for p in creates
            ],
            updated=[ItemResult(u.sku, ok=True, item_code=ItemCode.OK) for u in updates],
        )

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        self.lookups.append(list(skus))
        return {}


def _rows(count: int) -> list[ValidRow[Product]]:
    return [
        ValidRow(
            SourceRow("f.csv", n + 2, {}),
            Product.model_validate({"sku": f"S-{n:03}", "title": f"Item {n}", "price": "1.00"}),
        )
        for n in range(count)
    ]


def _apply(stub: BulkStub, ledger: Ledger, count: int) -> None:
    engine = Engine(
        stub,  # type: ignore[arg-type]
        ledger,
        namespace="t",
        run_id="r",
        profile="t",
        options=EngineOptions(batch_size=10, workers=1),
    )
    engine.apply(Planner(ledger).plan(_rows(count)))


def test_under_the_threshold_the_usual_batches_from_it_bulk_batches(tmp_path: Path) -> None:
    small = BulkStub(BulkWrites(batch_size=100, threshold=30))
    with Ledger(tmp_path / "a") as ledger:
        _apply(small, ledger, 29)
    assert [size for size, _ in small.writes] == [10, 10, 9]
    large = BulkStub(BulkWrites(batch_size=100, threshold=30))
    with Ledger(tmp_path / "b") as ledger:
        _apply(large, ledger, 250)
    assert [size for size, _ in large.writes] == [100, 100, 50]
    always = BulkStub(BulkWrites(batch_size=100, threshold=0))
    with Ledger(tmp_path / "c") as ledger:
        _apply(always, ledger, 7)
    assert [size for size, _ in always.writes] == [7]
    never = BulkStub(None)
    with Ledger(tmp_path / "d") as ledger:
        _apply(never, ledger, 25)
    assert [size for size, _ in never.writes] == [10, 10, 5]


def test_a_pending_bulk_batch_is_resent_with_its_key_without_a_lookup(tmp_path: Path) -> None:
    for bulk, count, looked_up in (
        (BulkWrites(batch_size=100, threshold=0), 40, False),  # bulk: the adapter settles it
        (None, 10, True),  # the usual batch: looked up first, as before
    ):
        stub = BulkStub(bulk)
        with Ledger(tmp_path / f"ledger-{looked_up}") as ledger:
            products = [row.product for row in _rows(count)]
            request = {
                "creates": [
                    {"body": p.to_api(), "file": "f.csv", "line": n + 2}
                    for n, p in enumerate(products)
                ],
                "updates": [],
            }
            ledger.begin_batch("the-key", request)  # left pending by a killed run
            engine = Engine(
                stub,  # type: ignore[arg-type]
                ledger,
                namespace="t",
                run_id="r2",
                profile="t",
                options=EngineOptions(batch_size=10, workers=1),
            )
            engine.resume_pending()
            assert ledger.pending_batches() == []
        assert stub.writes == [(count, "the-key")]
        assert bool(stub.lookups) is looked_up
