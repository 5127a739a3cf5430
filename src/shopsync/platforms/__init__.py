"""Platforms shopsync can write to, behind one protocol the engine uses.

    from shopsync.platforms import connect
    with connect(settings) as platform:      # a Platform
        result = platform.write_products(products)

Only adapters know URLs; the engine knows :class:`Platform` and the result types.
"""

from __future__ import annotations

from typing import Any

from shopsync.config import Settings
from shopsync.domain.digest import canonical_json
from shopsync.platforms.base import (
    AuthStatus,
    BatchResult,
    ItemResult,
    OrderLine,
    Platform,
    ProductUpdate,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    derive_idempotency_key,
)
from shopsync.platforms.generic import GenericPlatform

ADAPTERS = {"generic": GenericPlatform}
"""Adapter classes by name; each has ``from_settings(settings, **options)``."""


def connect(settings: Settings, kind: str = "generic", **options: Any) -> GenericPlatform:
    """The adapter ``kind`` configured from ``settings`` (credentials must be complete).

    ``options`` reach the adapter (``trust_idempotency_keys``) and its HTTP client
    (``clock``, ``sleep``, ``jitter``, ``disk_cache``) — the latter for tests.
    """
    try:
        adapter = ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown platform {kind!r}; known: {', '.join(ADAPTERS)}") from None
    return adapter.from_settings(settings, **options)


__all__ = [
    "ADAPTERS",
    "AuthStatus",
    "BatchResult",
    "GenericPlatform",
    "ItemResult",
    "OrderLine",
    "Platform",
    "ProductUpdate",
    "RemoteOrder",
    "RemoteProduct",
    "StockChange",
    "canonical_json",
    "connect",
    "derive_idempotency_key",
]
