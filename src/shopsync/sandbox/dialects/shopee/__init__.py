"""The Shopee Open Platform v2 dialect: signed calls, rotating refresh tokens, the media
space, items, stock and price, orders by update time, errors in the envelope with HTTP 200
(specs/shopee/ and platforms.md, "Shopee")."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.shopee.app import ShopeeApp

DEMO_PARTNER_ID = 2001887
"""The partner id of the sandbox's one app, unless ``client_id`` is a number."""
DEMO_SHOP_ID = 14701711
"""The one shop that authorised the app."""
DEMO_CODE = "demo-authorisation-code"
"""The authorisation code ``/api/v2/auth/token/get`` accepts (as often as asked)."""


def partner_id_of(config: SandboxConfig) -> int:
    """The sandbox app's partner id: ``client_id`` if it is a number, else the demo one."""
    return int(config.client_id) if config.client_id.isdigit() else DEMO_PARTNER_ID


def create_app(config: SandboxConfig) -> ShopeeApp:
    """The ASGI application of this dialect (imports starlette)."""
    from shopsync.sandbox.dialects.shopee.app import ShopeeApp  # noqa: PLC0415

    return ShopeeApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """What the ``shopee`` adapter needs to reach this sandbox: the partner key and the
    demo authorisation code (the adapter turns it into tokens on first use)."""
    return {
        "base_url": base_url,
        "partner_id": str(partner_id_of(config)),
        "partner_key": config.client_secret,
        "shop_id": str(DEMO_SHOP_ID),
        "auth_code": DEMO_CODE,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed: it turns the demo code into tokens and checks them."""
    environment = (
        f"SHOPSYNC_PARTNER_ID={partner_id_of(config)} SHOPSYNC_SHOP_ID={DEMO_SHOP_ID}"
        f" SHOPSYNC_PARTNER_KEY={shlex.quote(config.client_secret)} SHOPSYNC_AUTH_CODE={DEMO_CODE}"
    )
    return f"{environment} shopsync auth check --platform shopee --base-url {shlex.quote(base_url)}"
