"""The contract suite (issue 12) against the Taobao adapter and its TOP dialect."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from contract.suite import FakeClock, PlatformContract, Shop
from shopsync.platforms.base import Platform
from shopsync.platforms.taobao import TaobaoPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.ratelimit import RateLimiter
from taobao_support import taobao_settings


class TestTaobaoContract(PlatformContract):
    sandbox_options: ClassVar[dict[str, Any]] = {"dialect": "taobao"}

    def connect(self, sandbox: SandboxHandle, data_dir: Path, time: FakeClock) -> Platform:
        settings = taobao_settings(sandbox, data_dir, rate=2000, burst=200)
        return TaobaoPlatform.from_settings(
            settings, disk_cache=False, clock=time.clock, sleep=time.sleep
        )

    def required_cells(self) -> Mapping[str, str]:
        return {"attr:taobao:cid": "50000436"}  # the leaf category taobao.item.add needs

    def write_requests_for(self, items: int, batch_size: int) -> int:
        return items  # taobao.item.add: one item per call, its quantity included

    def refused_cells(self) -> tuple[dict[str, str], str] | None:
        # 31 Chinese characters: 31 as Python counts, 62 as Taobao does (at most 60).
        return {"title": "纯" * 31}, "title"

    def exhaust_rate_limit(self, shop: Shop, rate: float) -> None:
        # TOP sends no rate headers, so after a ban the client cannot pace itself by them:
        # a bucket refilling at ``rate`` would ban each of the next calls too. This one is
        # emptied once and refills to its whole burst within the one-second ban it gives.
        burst = 100
        limiter = RateLimiter(burst * rate, burst, shop.time.clock)
        for _ in range(burst):
            limiter.acquire(shop.sandbox.client_id)
        shop.sandbox.app.limiter = limiter  # type: ignore[attr-defined]
