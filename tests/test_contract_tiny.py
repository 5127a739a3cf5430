"""A second, deliberately small adapter, in tests only, passes the contract suite (issue 12).

``TinyPlatform`` writes one product a request, cannot look products up by SKU, takes image
URLs only, and has neither stock deltas nor compare-and-set; it speaks the generic API
through the generic adapter's wire, against the generic dialect started with
``max_batch=1`` (so a batch of two would be refused by the sandbox). It is registered
under the name ``tiny`` for these tests only and built through
:func:`shopsync.platforms.connect`, as every command builds a platform. Nothing in the
core knows it exists: the engine picks its paths from the capabilities it declares.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

import pytest

from contract.suite import FakeClock, PlatformContract, Shop, rows_of, seed_for_first_draws
from shopsync.config import CLIENT_CREDENTIALS_SETTINGS, Setting, Settings
from shopsync.domain.models import Product
from shopsync.platforms import REGISTRY, connect
from shopsync.platforms.base import (
    AuthStatus,
    BatchResult,
    Capabilities,
    ErrorScope,
    ItemCode,
    ItemResult,
    Platform,
    ProductUpdate,
    RemoteImage,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    default_error_scope,
)
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.faults import Fault
from test_sync import settings_for


class TinyPlatform:
    """One product a request, no lookup by SKU, stock set only."""

    name = "tiny"
    max_batch_size = 1
    settings: tuple[Setting, ...] = CLIENT_CREDENTIALS_SETTINGS

    def __init__(self, wire: GenericPlatform, *, unique_skus: bool) -> None:
        self._wire = wire
        self.capabilities = Capabilities(
            max_batch_size=1,
            idempotency_keys="unknown",
            lookup_by_sku=False,
            unique_skus=unique_skus,
            stock_set=True,
            stock_cas=False,
            stock_delta=False,
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, *, unique_skus: bool = True, **client_options: Any
    ) -> TinyPlatform:
        return cls(
            GenericPlatform.from_settings(settings, **client_options), unique_skus=unique_skus
        )

    def error_scope(self, error: Exception) -> ErrorScope:
        return default_error_scope(error)

    def raw_code(self, code: ItemCode, operation: str) -> str | None:
        return self._wire.raw_code(code, operation)

    def check_product(self, product: Product) -> Sequence[tuple[str, str]]:
        return self._wire.check_product(product)

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        assert len(creates) + len(updates) <= 1, "the engine sent a tiny platform a batch"
        return self._wire.write_products(creates, updates, idempotency_key=idempotency_key)

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        raise AssertionError("the core asked a platform without a lookup to look up")

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        raise AssertionError("the core sent an image to a platform that takes URLs only")

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        raise AssertionError("the core removed products from a platform that cannot remove")

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        return self._wire.iter_products(page_size=page_size)

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        assert all(c.delta is None and c.expected is None for c in changes), (
            "the engine sent a tiny platform a delta or a compare-and-set"
        )
        return self._wire.update_inventory(changes, idempotency_key=idempotency_key)

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        return self._wire.iter_orders(
            updated_since=updated_since, status=status, page_size=page_size
        )

    def get_order(self, order_id: str) -> RemoteOrder | None:
        return self._wire.get_order(order_id)

    def check_auth(self) -> AuthStatus:
        return self._wire.check_auth()

    def stats(self) -> dict[str, int]:
        return self._wire.stats()

    def throttle_wait(self) -> float:
        return self._wire.throttle_wait()

    def close(self) -> None:
        self._wire.close()


class TinyContract(PlatformContract):
    unique_skus: ClassVar[bool] = True

    @pytest.fixture(autouse=True)
    def _registered(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(REGISTRY, "tiny", ("test_contract_tiny", "TinyPlatform"))

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        settings = settings_for(sandbox, data_dir, platform="tiny", rate=2000.0, burst=200)
        return connect(
            settings,
            unique_skus=self.unique_skus,
            disk_cache=False,
            clock=time.clock,
            sleep=time.sleep,
        )

    def refused_cells(self) -> tuple[dict[str, str], str]:
        return {"images": "https:///no-host.jpg"}, "images"


class TestTinyPlatform(TinyContract):
    """Against a sandbox that refuses a second product with a SKU: a lost create's
    resend is answered "exists", and adopted."""

    sandbox_options: ClassVar[dict[str, Any]] = {"max_batch": 1}


class TestTinyPlatformWithoutUniqueSkus(TinyContract):
    """Against a sandbox that ignores keys and allows duplicate SKUs: neither a key nor a
    lookup nor an "exists" answer can tell whether a lost create was applied, so the
    engine lists the platform's products to find out before sending anything again."""

    unique_skus = False
    sandbox_options: ClassVar[dict[str, Any]] = {
        "max_batch": 1,
        "ignore_idempotency_keys": True,
        "allow_duplicate_skus": True,
    }

    def test_a_lost_create_is_found_by_listing_and_not_sent_again(
        self, make_shop: Callable[..., Shop]
    ) -> None:
        shop = make_shop()
        pattern = [Fault.DROP_AFTER_COMMIT, *[None] * 10]
        shop.sandbox.configure_faults(
            drop_after_commit_rate=0.05,
            seed=seed_for_first_draws(pattern, drop_after_commit_rate=0.05),
        )
        report = shop.upload(rows_of(2))
        assert report.counts["created"] == 2
        assert shop.copies(["CT-000", "CT-001"]) == {"CT-000": 1, "CT-001": 1}
        requests = shop.sandbox.stats()["requests"]
        # Two creates, one of them cut after commit, neither sent twice; one listing.
        assert requests["POST /products/batch"] == {"200": 1, "dropped": 1}
        assert requests["GET /products"] == {"200": 1}
