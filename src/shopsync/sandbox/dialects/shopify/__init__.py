"""Shopify's dialect: the Admin GraphQL API executed against Shopify's own schema
(graphql-core), its client-credentials token endpoint, cost-based throttling and the core's
faults. See :mod:`shopsync.sandbox.dialects.shopify.app`."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.shopify.app import ShopifyApp

SHOP = "sandbox"
"""The shop name the sandbox answers as (``sandbox.myshopify.com``)."""


def create_app(config: SandboxConfig) -> ShopifyApp:
    """The ASGI application of this dialect (imports starlette and graphql-core)."""
    from shopsync.sandbox.dialects.shopify.app import ShopifyApp  # noqa: PLC0415

    return ShopifyApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """The settings a Shopify client needs to reach this sandbox (client credentials)."""
    return {
        "platform": "shopify",
        "shop": SHOP,
        "base_url": base_url,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed against this sandbox: it fetches a token."""
    return (
        f"SHOPSYNC_CLIENT_SECRET={shlex.quote(config.client_secret)}"
        f" SHOPSYNC_SHOP={SHOP} SHOPSYNC_CLIENT_ID={shlex.quote(config.client_id)}"
        f" shopsync auth check --platform shopify --base-url {shlex.quote(base_url)}"
    )
