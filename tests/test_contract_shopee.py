"""The contract suite (issue 12) against the Shopee adapter and its Open Platform dialect.

Shopee needs a weight and an image on every item (``add_item`` refuses one without), so
every row of the suite's catalogs carries both; the image is fetched by the adapter's
``image_source`` from a table, not from the network, and uploaded once per content.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract, Shop
from shopsync.platforms.base import Platform
from shopsync.platforms.shopee import ShopeePlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.dialects.shopee import partner_id_of
from shopsync.sandbox.ratelimit import RateLimiter
from test_platform_shopee import IMAGES, _settings

IMAGE = "https://img.example/a.png"


class TestShopeeContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "shopee"}
    rate_headers = False  # error_too_many_request says only that the limit was hit

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        platform = ShopeePlatform.from_settings(
            dataclasses.replace(_settings(sandbox, data_dir), rate=2000.0, burst=200),
            clock=time.clock,
            sleep=time.sleep,
            image_source=IMAGES.__getitem__,
        )
        # The one image every row names, uploaded now: the suite counts item writes.
        platform.image_id_for(IMAGE)
        return platform

    def required_cells(self) -> Mapping[str, str]:
        return {"weight_kg": "0.4", "images": IMAGE}

    def write_requests_for(self, items: int, batch_size: int) -> int:
        return items  # add_item makes one item per call

    def refused_cells(self) -> tuple[dict[str, str], str] | None:
        return {"title": "Teapot " * 20}, "title"

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        # The dialect's bucket is the partner's, not the sandbox's OAuth client's.
        limiter = RateLimiter(rate, 1, shop.time.clock)
        limiter.acquire(str(partner_id_of(shop.sandbox.config)))
        shop.sandbox.app.limiter = limiter
