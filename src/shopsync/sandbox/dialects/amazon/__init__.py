"""The Amazon Selling Partner API dialect: Login with Amazon tokens, Listings Items
2021-08-01 (put, patch, get, search, delete), Orders v0, usage plans per operation and
Amazon's ``{"errors": [...]}`` envelope (specs/amazon/ and platforms.md, "Amazon")."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.amazon.app import AmazonApp

DEMO_SELLER_ID = "A2DEMOSELLER01"
"""The one seller the sandbox holds."""
DEMO_MARKETPLACE_ID = "ATVPDKIKX0DER"
"""Amazon.com (the NA marketplace of the models' examples)."""
DEMO_REFRESH_TOKEN = "Atzr|demo-refresh-token"  # noqa: S105 - a published demo credential
"""The refresh token the sandbox's LWA endpoint accepts."""
TOKEN_PATH = "/auth/o2/token"  # noqa: S105 - a path, not a secret


def create_app(config: SandboxConfig) -> AmazonApp:
    """The ASGI application of this dialect (imports starlette)."""
    from shopsync.sandbox.dialects.amazon.app import AmazonApp  # noqa: PLC0415

    return AmazonApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """What the ``amazon`` adapter needs to reach this sandbox (LWA on the same server)."""
    return {
        "base_url": base_url,
        "token_url": base_url + TOKEN_PATH,
        "client_id": config.client_id,
        "client_secret": config.client_secret,
        "refresh_token": DEMO_REFRESH_TOKEN,
        "seller_id": DEMO_SELLER_ID,
        "marketplace_id": DEMO_MARKETPLACE_ID,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed: it exchanges the demo refresh token for a token."""
    environment = (
        f"SHOPSYNC_CLIENT_ID={shlex.quote(config.client_id)}"
        f" SHOPSYNC_CLIENT_SECRET={shlex.quote(config.client_secret)}"
        f" SHOPSYNC_REFRESH_TOKEN={shlex.quote(DEMO_REFRESH_TOKEN)}"
        f" SHOPSYNC_SELLER_ID={DEMO_SELLER_ID} SHOPSYNC_MARKETPLACE_ID={DEMO_MARKETPLACE_ID}"
        f" SHOPSYNC_TOKEN_URL={shlex.quote(base_url + TOKEN_PATH)}"
    )
    return f"{environment} shopsync auth check --platform amazon --base-url {shlex.quote(base_url)}"
