"""The contract suite (issue 12) against the Shopify adapter and its GraphQL dialect.

The dialect keeps its products in its own shop (products, variants, inventory levels),
not in the sandbox core's store, so :class:`ShopifyServer` reads and arranges that shop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from contract.suite import ContractServer, FakeClock, PlatformContract, Shop
from shopify_support import schema_path, shopify_settings
from shopsync.platforms import connect
from shopsync.platforms.base import Platform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.dialects.shopify.app import CostBucket
from shopsync.sandbox.store import ProductRow


class ShopifyServer(ContractServer):
    """The sandbox, its products read from the Shopify dialect's own shop."""

    def stored(self, skus: Sequence[str]) -> dict[str, list[ProductRow]]:
        """Every product carrying each SKU (two products sharing one show as two)."""
        shop = self.sandbox.app.shop  # type: ignore[attr-defined]
        found: dict[str, list[ProductRow]] = {sku: [] for sku in skus}
        with shop.lock:
            for product in shop.products.values():
                for variant in product.variants:
                    if variant.sku in found:
                        found[variant.sku].append(
                            ProductRow(
                                id=product.number,
                                product_id=f"gid://shopify/Product/{product.number}",
                                version=0,
                                created_at=product.created_at,
                                updated_at=product.updated_at,
                                values={"title": product.title, "price": variant.price},
                            )
                        )
        return found

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """Each SKU's available count, over every location."""
        shop = self.sandbox.app.shop  # type: ignore[attr-defined]
        counts: dict[str, int] = {}
        with shop.lock:
            for product in shop.products.values():
                for variant in product.variants:
                    if variant.sku in skus:
                        counts[variant.sku] = shop._available(variant.number)
        return counts

    def sell_behind(self, shop: Shop, sku: str, stock: int) -> None:
        """The count at the primary location, as a sale in the shop would leave it."""
        shop = self.sandbox.app.shop  # type: ignore[attr-defined]
        with shop.lock:
            for product in shop.products.values():
                for variant in product.variants:
                    if variant.sku == sku:
                        shop.stock[(variant.number, 1)] = stock


@pytest.mark.parametrize("version", ["2026-07", "2025-10"])
class TestShopifyContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "shopify"}

    def serve(
        self,
        request: pytest.FixtureRequest,
        make_sandbox: Callable[..., SandboxHandle],
        settings: Mapping[str, Any],
    ) -> ContractServer:
        return ShopifyServer(make_sandbox(**{**self.sandbox_options, **settings}))

    @pytest.fixture(autouse=True)
    def _version(self, version: str) -> None:
        schema_path(version)  # skips where the schema is absent
        self.api_version = version

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        settings = shopify_settings(sandbox, data_dir, SHOPSYNC_API_VERSION=self.api_version)
        return connect(settings, disk_cache=False, clock=time.clock, sleep=time.sleep)

    def refused_cells(self) -> tuple[dict[str, str], str] | None:
        # The catalog takes any https image; Shopify takes no TIFF as product media.
        return {"images": "https://img.example.com/a.tiff"}, "images"

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        # Shopify's bucket is cost points: leave less than one productSet in it, refilling
        # on the client's fake clock, and answer THROTTLED as a 429 with Retry-After.
        bucket = CostBucket(rate, clock=shop.time.clock)
        assert bucket.take(int(bucket.maximum))
        shop.sandbox.app.bucket = bucket  # type: ignore[attr-defined]
        shop.sandbox.app.throttle_status = 429  # type: ignore[attr-defined]
