"""The contract suite (issue 12) against the Amazon adapter and its SP-API dialect."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract, Shop
from shopsync.platforms.amazon import AmazonPlatform
from shopsync.platforms.base import Platform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.ratelimit import TokenBucket
from test_platform_amazon import _settings


class TestAmazonContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "amazon"}

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        sandbox.app.usage_scale = 1000.0  # type: ignore[attr-defined]
        return AmazonPlatform.from_settings(
            _settings(sandbox, data_dir), disk_cache=False, clock=time.clock, sleep=time.sleep
        )

    def write_requests_for(self, items: int, batch_size: int) -> int:
        return items  # one put per listing

    def refused_cells(self) -> tuple[dict[str, str], str] | None:
        return {"barcode": "12345"}, "barcode"

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        # Amazon limits each operation on its own: empty the put bucket.
        bucket = TokenBucket(rate, 1, shop.time.clock)
        bucket.acquire()
        shop.sandbox.app._buckets["putListingsItem"] = bucket  # type: ignore[attr-defined]
