"""The contract suite (issue 12) against the WooCommerce adapter and its REST v3 dialect."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract, Shop, rows_of
from shopsync.platforms.base import Platform
from shopsync.platforms.woocommerce import WooCommercePlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.ratelimit import RateLimiter
from test_platform_woocommerce import _settings


class TestWooCommerceContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "woocommerce"}

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

    def test_429_is_waited_out(self, make_shop: Callable[..., Shop]) -> None:
        # The suite's version expects one 429 and then pacing by the answers' rate
        # headers. A host's WAF sends none (WooCommerce has no rate limit of its own), so
        # at one request a second, each of the four creates meets one 429 and waits out
        # its Retry-After, on the fake clock; none is sent twice.
        shop = make_shop()
        self.exhaust_rate_limit(shop, rate=1.0)
        rows = rows_of(4)
        skus = [row["sku"] for row in rows]
        report = shop.upload(rows, batch_size=1, workers=1)
        assert (report.exit_code, report.counts["created"]) == (0, 4)
        assert shop.sandbox.stats()["rate_limited"] == 4
        assert report.traffic["throttled"] == 4
        assert shop.time.slept >= 4.0
        assert shop.copies(skus) == dict.fromkeys(skus, 1)
        # Five answered: check_auth's empty batch, then the four creates.
        assert shop.sandbox.stats()["requests"]["POST /wp-json/wc/v3/products/batch"] == {
            "200": 5,
            "429": 4,
        }
