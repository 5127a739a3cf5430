"""A seeded order generator: new orders, and status changes along the order lifecycle.

    pending ──▶ paid ──▶ shipped ──▶ delivered
       │          │         │
       ▼          ▼         ▼
    cancelled  refunded  refunded

The same seed and the same shop give the same sequence of events; only the timestamps
follow the clock.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from shopsync.sandbox.store import Store
from shopsync.sandbox.timefmt import rfc3339

logger = logging.getLogger(__name__)

ORDER_STATUSES: tuple[str, ...] = (
    "pending",
    "paid",
    "shipped",
    "delivered",
    "cancelled",
    "refunded",
)

# Next status and its weight, for each status an order can leave.
_TRANSITIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "pending": (("paid", 0.85), ("cancelled", 0.15)),
    "paid": (("shipped", 0.9), ("refunded", 0.1)),
    "shipped": (("delivered", 0.95), ("refunded", 0.05)),
}

_BUYERS = (
    ("Li Wei", "CN"),
    ("Wang Fang", "CN"),
    ("Zhang Min", "CN"),
    ("Chen Jing", "CN"),
    ("Anna Schmidt", "DE"),
    ("John Smith", "US"),
    ("Maria Garcia", "ES"),
    ("Sato Yuki", "JP"),
    ("Kim Minjun", "KR"),
    ("Priya Sharma", "IN"),
)
_DEMO_SKUS = tuple(f"DEMO-{n:03d}" for n in range(1, 21))
_NEW_ORDER_SHARE = 0.4
_HISTORY_SECONDS = 7 * 24 * 3600.0


class OrderGenerator:
    """Makes orders and moves them along their lifecycle, driven by a seeded generator."""

    def __init__(self, store: Store, seed: int, clock: Callable[[], float]) -> None:
        self._store = store
        self._clock = clock
        # Seeded on purpose, for reproducible orders; nothing here is a secret.
        self._rng = random.Random(f"{seed}:orders")  # noqa: S311
        self._lock = threading.Lock()

    def ensure(self, count: int) -> int:
        """Generate orders until the shop holds ``count``; returns how many were made.

        These start-up orders get a history: a creation time in the last week, and some
        status changes since.
        """
        with self._lock, self._store.transaction():
            missing = max(0, count - self._store.order_count())
            now = self._clock()
            for _ in range(missing):
                created = now - self._rng.uniform(0.0, _HISTORY_SECONDS)
                order = self._new_order(created)
                moment = created
                while order["status"] in _TRANSITIONS and self._rng.random() < 0.7:
                    moment += self._rng.uniform(0.0, (now - moment) / 2)
                    self._advance(order, moment)
                self._store.save_order(order)
            return missing

    def step(self, events: int = 1) -> None:
        """Apply ``events`` events at the current time: each a new order or a status change."""
        with self._lock, self._store.transaction():
            for _ in range(events):
                now = self._clock()
                open_orders = self._store.open_orders()
                if not open_orders or self._rng.random() < _NEW_ORDER_SHARE:
                    self._store.save_order(self._new_order(now))
                    continue
                order_id, _status = self._rng.choice(open_orders)
                order = self._store.order(order_id)
                if order is not None:
                    self._advance(order, now)
                    self._store.save_order(order)

    def _new_order(self, created: float) -> dict[str, Any]:
        seq = self._store.next_sequence("order")
        catalog = self._catalog()
        lines: list[dict[str, Any]] = []
        for _ in range(self._rng.randint(1, 3)):
            if catalog:
                sku, price = self._rng.choice(catalog)
            else:
                sku, price = self._rng.choice(_DEMO_SKUS), f"{self._rng.randint(5, 500)}.00"
            lines.append({"sku": sku, "quantity": self._rng.randint(1, 4), "unit_price": price})
        total = sum((line["quantity"] * Decimal(line["unit_price"]) for line in lines), Decimal(0))
        name, country = self._rng.choice(_BUYERS)
        stamp = rfc3339(created)
        return {
            "order_id": f"ord_{seq:08d}",
            "status": "pending",
            "created_at": stamp,
            "updated_at": stamp,
            "currency": "CNY",
            "total": f"{total:.2f}",
            "lines": lines,
            "buyer": {"name": name, "country": country},
        }

    def _catalog(self) -> list[tuple[str, str]]:
        # The first products of the shop, so generated orders name SKUs that exist.
        rows = self._store.list_products(after=0, limit=50)
        # A product with variants is sold by its variants' SKUs (API v2).
        return [
            (str(item["sku"]), str(item["price"]))
            for row in rows
            for item in (row.values.get("variants") or [row.values])
        ]

    def _advance(self, order: dict[str, Any], moment: float) -> None:
        choices = _TRANSITIONS.get(order["status"])
        if not choices:
            return
        statuses = [status for status, _ in choices]
        weights = [weight for _, weight in choices]
        order["status"] = self._rng.choices(statuses, weights)[0]
        order["updated_at"] = max(order["updated_at"], rfc3339(moment))

    async def run(self, rate: float) -> None:
        """Generate and advance orders at ``rate`` events a second until cancelled.

        Paced against the loop's clock, so a stall is caught up in one go, never by more
        than 100 events; a failing step is logged and the loop goes on (the generator
        must not take the server down). What every dialect's lifespan starts.
        """
        loop = asyncio.get_running_loop()
        interval = 1.0 / rate
        due = loop.time()
        while True:
            due += interval
            await asyncio.sleep(max(0.0, due - loop.time()))
            events = min(100, 1 + max(0, int((loop.time() - due) / interval)))
            due += (events - 1) * interval
            try:
                self.step(events)
            except Exception:
                logger.exception("order generator failed")
