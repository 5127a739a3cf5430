"""The contract suite (issue 12) against the WooCommerce adapter and its REST v3 dialect."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract, Shop
from shopsync.platforms.base import Platform
from shopsync.platforms.woocommerce import WooCommercePlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.ratelimit import RateLimiter
from test_platform_woocommerce import _settings


class TestWooCommerceContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "woocommerce"}
    rate_headers: ClassVar[bool] = False  # a host's WAF says nothing but Retry-After

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        return WooCommercePlatform.from_settings(
            _settings(sandbox, data_dir), clock=time.clock, sleep=time.sleep
        )

    def refused_cells(self) -> tuple[dict[str, str], str]:
        # The catalog takes any short text as a category; WooCommerce wants a category id.
        return {"category": "Mugs"}, "category"

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        # The host's WAF keys its bucket by the client's address, not by a client id.
        limiter = RateLimiter(rate, 1, shop.time.clock)
        limiter.acquire("waf:127.0.0.1")
        shop.sandbox.app.limiter = limiter  # type: ignore[attr-defined]
