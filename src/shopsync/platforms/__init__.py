"""Platforms shopsync can write to, behind one protocol the engine uses, and their registry.

    from shopsync.platforms import connect
    with connect(settings) as platform:      # the adapter settings.platform names
        result = platform.write_products(products)

Only adapters know URLs; the engine knows :class:`Platform` and the result types.

The registry is lazy, as apache-libcloud's driver table is: it maps each platform name to
``(module, class)`` and imports an adapter only when it is asked for, so importing this
package or one adapter never imports the others. :func:`connect` is the one way every
command builds a platform; :func:`platform_settings` gives what an adapter declares
(``settings`` on its class), which :func:`shopsync.config.load_settings` reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shopsync.config import Setting, Settings
from shopsync.domain.digest import canonical_json
from shopsync.errors import ConfigError
from shopsync.http.redact import register_secret
from shopsync.i18n import N_
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

if TYPE_CHECKING:
    from shopsync.platforms.generic import GenericPlatform

REGISTRY: dict[str, tuple[str, str]] = {
    "amazon": ("shopsync.platforms.amazon", "AmazonPlatform"),
    "generic": ("shopsync.platforms.generic", "GenericPlatform"),
    "medusa": ("shopsync.platforms.medusa", "MedusaPlatform"),
    "shopee": ("shopsync.platforms.shopee", "ShopeePlatform"),
    "woocommerce": ("shopsync.platforms.woocommerce", "WooCommercePlatform"),
    "taobao": ("shopsync.platforms.taobao", "TaobaoPlatform"),
    "shopify": ("shopsync.platforms.shopify", "ShopifyPlatform"),
}
"""Adapter classes by platform name, as ``(module, class)``. Each class has a ``settings``
tuple of :class:`~shopsync.config.Setting` and ``from_settings(settings, **options)``."""


def known_platforms() -> list[str]:
    """The platform names the registry knows, sorted."""
    return sorted(REGISTRY)


def adapter_class(name: str) -> Any:
    """The adapter class of platform ``name``, imported now; :class:`ConfigError` if unknown."""
    try:
        module_name, class_name = REGISTRY[name]
    except KeyError:
        raise ConfigError(
            N_("Unknown platform {name!r}.").format(name=name),
            hint=N_(
                "Known platforms: {names}. Set `platform` in the profile, "
                "SHOPSYNC_PLATFORM or --platform."
            ).format(names=", ".join(known_platforms())),
        ) from None
    return getattr(importlib.import_module(module_name), class_name)


def platform_settings(name: str) -> Sequence[Setting]:
    """The settings the adapter of platform ``name`` declares (for ``load_settings``)."""
    settings: Sequence[Setting] = adapter_class(name).settings
    return settings


def endpoint_for(settings: Settings) -> str | None:
    """The base URL the profile's adapter talks to: ``base_url`` if set, else the one its
    adapter derives from other settings (``endpoint_of``: Amazon's from its region), else
    None. The ledger and idempotency keys are named by it, so two endpoints never share."""
    if settings.base_url:
        return settings.base_url
    derive = getattr(adapter_class(settings.platform), "endpoint_of", None)
    endpoint = derive(settings) if callable(derive) else None
    return endpoint if isinstance(endpoint, str) and endpoint else None


def connect(settings: Settings, **options: Any) -> Platform:
    """The adapter ``settings.platform`` names, configured from ``settings``.

    Credentials must be complete. Every secret setting's value is registered for redaction
    first. ``options`` reach the adapter (``trust_idempotency_keys``) and its HTTP client
    (``clock``, ``sleep``, ``jitter``, ``disk_cache``) — the latter for tests.
    """
    adapter = adapter_class(settings.platform)
    settings.require_credentials()
    for secret in settings.secret_values():
        register_secret(secret)
    platform: Platform = adapter.from_settings(settings, **options)
    return platform


def __getattr__(name: str) -> Any:
    # `from shopsync.platforms import GenericPlatform` keeps working without making every
    # importer of this package import the generic adapter.
    if name == "GenericPlatform":
        return adapter_class("generic")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "REGISTRY",
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
    "adapter_class",
    "canonical_json",
    "connect",
    "derive_idempotency_key",
    "endpoint_for",
    "known_platforms",
    "platform_settings",
]
