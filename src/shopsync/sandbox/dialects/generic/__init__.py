"""The generic platform API's dialect: OAuth2 client credentials, ``/products``,
``/inventory/batch``, ``/orders``, problem+json errors (docs/platform-api.md)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.generic.app import SandboxApp


def create_app(config: SandboxConfig) -> SandboxApp:
    """The ASGI application of this dialect (imports starlette)."""
    from shopsync.sandbox.dialects.generic.app import SandboxApp  # noqa: PLC0415

    return SandboxApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """The settings a generic-platform client needs to reach this sandbox."""
    return {
        "base_url": base_url,
        "token_url": f"{base_url}/auth/token",
        "client_id": config.client_id,
        "client_secret": config.client_secret,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed against this sandbox: it fetches a token.

    The secret goes in the environment variable the client reads (there is no secret
    flag, on purpose); it is the sandbox's demo credential, printed beside it anyway.
    """
    return (
        f"SHOPSYNC_CLIENT_SECRET={shlex.quote(config.client_secret)} shopsync auth check"
        f" --platform generic --base-url {shlex.quote(base_url)}"
        f" --token-url {shlex.quote(base_url + '/auth/token')}"
        f" --client-id {shlex.quote(config.client_id)}"
    )
