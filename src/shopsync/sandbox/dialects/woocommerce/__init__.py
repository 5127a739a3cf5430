"""The WooCommerce REST API v3 dialect: consumer keys (HTTP Basic, or one-legged OAuth 1.0a
in the query string), ``/products/batch`` with per-item errors, variations, stock, orders
with WordPress paging headers, and a host's WAF answering 429 (specs/woocommerce/ and
platforms.md, "WooCommerce")."""

from __future__ import annotations

import hashlib
import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.woocommerce.app import WooCommerceApp


def consumer_key_of(config: SandboxConfig) -> str:
    """The sandbox's one REST API key: ``ck_`` + the client id (as WooCommerce names keys)."""
    return config.client_id if config.client_id.startswith("ck_") else "ck_" + config.client_id


def consumer_secret_of(config: SandboxConfig) -> str:
    """The key's secret: ``cs_`` + the client secret."""
    secret = config.client_secret
    return secret if secret.startswith("cs_") else "cs_" + secret


def application_password_of(config: SandboxConfig) -> tuple[str, str]:
    """The site's one WordPress user and an application password of it (for the media
    library), as WordPress shows it: four-letter groups."""
    digest = hashlib.sha256(f"application-password:{config.client_secret}".encode()).hexdigest()
    return "shopsync", " ".join(digest[i : i + 4] for i in range(0, 24, 4))


def create_app(config: SandboxConfig) -> WooCommerceApp:
    """The ASGI application of this dialect (imports starlette)."""
    from shopsync.sandbox.dialects.woocommerce.app import WooCommerceApp  # noqa: PLC0415

    return WooCommerceApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """What the ``woocommerce`` adapter needs: the site and the REST API key, and a user's
    application password for the media library."""
    user, password = application_password_of(config)
    return {
        "base_url": base_url,
        "consumer_key": consumer_key_of(config),
        "consumer_secret": consumer_secret_of(config),
        "wp_username": user,
        "wp_application_password": password,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed: it signs one request and reports the key works."""
    environment = (
        f"SHOPSYNC_CONSUMER_KEY={shlex.quote(consumer_key_of(config))}"
        f" SHOPSYNC_CONSUMER_SECRET={shlex.quote(consumer_secret_of(config))}"
    )
    return (
        f"{environment} shopsync auth check --platform woocommerce "
        f"--base-url {shlex.quote(base_url)}"
    )
