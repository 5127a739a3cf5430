"""Sandbox dialects: how each platform's API reads, over the sandbox's shared core.

The core (``shopsync.sandbox``: server, store, faults, stats, idempotency, rate limiting,
order generator) knows nothing of any platform's paths, bodies or error shapes; a dialect
does, and only that. The generic platform API is the first; a later adapter adds its own
dialect package beside ``generic/`` and one line here.

Like the client's platform registry, this one is lazy: it names modules, and a dialect is
imported (with starlette) only when a sandbox of that dialect starts. A dialect module
provides::

    create_app(config: SandboxConfig) -> DialectApp        # the ASGI application, on
                                                           # shopsync.sandbox.dialect.DialectApp
    client_settings(base_url, config) -> dict[str, str]    # what a client is given
    try_command(base_url, config) -> str                   # a shell command that works
"""

from __future__ import annotations

import importlib
from types import ModuleType

DIALECTS: dict[str, str] = {
    "amazon": "shopsync.sandbox.dialects.amazon",
    "generic": "shopsync.sandbox.dialects.generic",
    "shopee": "shopsync.sandbox.dialects.shopee",
    "woocommerce": "shopsync.sandbox.dialects.woocommerce",
    "taobao": "shopsync.sandbox.dialects.taobao",
    "shopify": "shopsync.sandbox.dialects.shopify",
}
"""Dialect modules by name; the names are the client's platform names."""

DEFAULT_DIALECT = "generic"


def known_dialects() -> list[str]:
    """The dialect names, sorted."""
    return sorted(DIALECTS)


def load_dialect(name: str) -> ModuleType:
    """The dialect module ``name`` (already checked by :class:`SandboxConfig`)."""
    return importlib.import_module(DIALECTS[name])
