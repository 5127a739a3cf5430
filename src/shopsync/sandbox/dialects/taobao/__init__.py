"""The Taobao Open Platform's dialect: one gateway (``/router/rest``), signed form posts,
``error_response`` envelopes with HTTP 200, throttling as code 7 (see ``app.py``).

The sandbox's ``client_id`` and ``client_secret`` serve as the app key and app secret;
the seller's session key is :data:`~shopsync.sandbox.dialects.taobao.app.DEMO_SESSION`.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

from shopsync.sandbox.config import SandboxConfig

if TYPE_CHECKING:
    from shopsync.sandbox.dialects.taobao.app import TaobaoApp

DEMO_SESSION = "demo-session"
"""The seller session key the sandbox accepts (a published demo credential)."""


def create_app(config: SandboxConfig) -> TaobaoApp:
    """The ASGI application of this dialect."""
    from shopsync.sandbox.dialects.taobao.app import TaobaoApp  # noqa: PLC0415

    return TaobaoApp(config)


def client_settings(base_url: str, config: SandboxConfig) -> dict[str, str]:
    """The settings a ``taobao`` client needs to reach this sandbox."""
    return {
        "base_url": base_url,
        "app_key": config.client_id,
        "app_secret": config.client_secret,
        "session": DEMO_SESSION,
    }


def try_command(base_url: str, config: SandboxConfig) -> str:
    """A command that works as printed against this sandbox: it checks the credentials.

    The secrets go in the environment variables the client reads; they are the sandbox's
    demo credentials, printed beside it anyway.
    """
    return (
        f"SHOPSYNC_PLATFORM=taobao SHOPSYNC_APP_KEY={shlex.quote(config.client_id)}"
        f" SHOPSYNC_APP_SECRET={shlex.quote(config.client_secret)}"
        f" SHOPSYNC_SESSION={DEMO_SESSION} shopsync auth check"
        f" --base-url {shlex.quote(base_url)}"
    )
