"""The platform flags every command that talks to a platform shares, and Settings from them.

Usage in a command module::

    @click.command()
    @platform_options
    @click.pass_context
    def upload(ctx: click.Context, ...) -> None:
        settings = settings_from_context(ctx)

The flags are not passed to the command function (``expose_value=False``): they land in
``ctx.meta`` and :func:`settings_from_context` merges them with the environment and the
config file, so commands stay thin and the precedence lives in one place
(:func:`shopsync.config.load_settings`).

There is deliberately no ``--client-secret VALUE`` flag: a secret on the command line
is visible to every user in ``ps`` and stays in shell history. The secret comes from
``SHOPSYNC_CLIENT_SECRET``, from the variable ``--client-secret-env NAME`` names, or
from a mode-0600 config file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shopsync.config import Settings, load_settings

F = TypeVar("F", bound=Callable[..., Any])

_META_KEY = "shopsync.platform_flags"
APP_NAME = "shopsync"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is not None and param.name is not None:
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_store, default=None, **kwargs)


_POSITIVE = click.FloatRange(min=0, min_open=True)

PLATFORM_OPTIONS: tuple[Callable[[F], F], ...] = (
    _option("--profile", metavar="NAME", help="Config profile to use [env SHOPSYNC_PROFILE]."),
    _option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Config file (default: config.toml in the app dir) [env SHOPSYNC_CONFIG].",
    ),
    _option(
        "--platform",
        metavar="NAME",
        help="Platform adapter: generic (default) [env SHOPSYNC_PLATFORM].",
    ),
    _option("--base-url", metavar="URL", help="Platform API base URL."),
    _option("--token-url", metavar="URL", help="OAuth2 token URL (default: BASE_URL/auth/token)."),
    _option("--client-id", metavar="ID", help="OAuth2 client id."),
    _option(
        "--client-secret-env",
        metavar="NAME",
        help="Read the client secret from environment variable NAME "
        "(default: SHOPSYNC_CLIENT_SECRET).",
    ),
    _option("--scope", metavar="SCOPES", help="OAuth2 scopes to request, space-separated."),
    _option("--rate", type=_POSITIVE, help="Requests per second, all workers together."),
    _option("--burst", type=click.IntRange(min=1), help="Requests allowed at once."),
    _option("--batch-size", type=click.IntRange(min=1), help="Items per batch request."),
    _option("--workers", type=click.IntRange(1, 64), help="Concurrent requests."),
    _option(
        "--timeout",
        type=_POSITIVE,
        metavar="SECONDS",
        help="Connect and read timeout (unless given separately).",
    ),
    _option("--connect-timeout", type=_POSITIVE, metavar="SECONDS", help="Connect timeout."),
    _option("--read-timeout", type=_POSITIVE, metavar="SECONDS", help="Read timeout."),
    _option("--max-attempts", type=click.IntRange(1, 20), help="Attempts per request."),
    _option("--deadline", type=_POSITIVE, metavar="SECONDS", help="Most time for one request."),
    _option(
        "--ca-bundle",
        type=click.Path(dir_okay=False, path_type=Path),
        help="CA certificates to verify the platform's TLS certificate with.",
    ),
    _option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Where the token cache, ledger and audit log live.",
    ),
)

BULK_OPTION = _option(
    "--bulk/--no-bulk",
    "bulk",
    help="Send the change as the platform's bulk operations (--bulk), or never (--no-bulk); "
    "default: the `bulk` setting (Shopify: auto, by the size of the change).",
)
"""``upload --bulk/--no-bulk``: the platform's ``bulk`` setting for this run (a platform
without a bulk path has no such setting, and says so)."""


def platform_options(function: F) -> F:
    """Add the platform flags (``--profile``, ``--base-url``, ``--rate``, ...) to a command."""
    for option in reversed(PLATFORM_OPTIONS):
        function = option(function)
    return function


def platform_flags(ctx: click.Context) -> dict[str, Any]:
    """The platform flags given on the command line, by setting name."""
    flags: dict[str, Any] = dict(ctx.meta.get(_META_KEY, {}))
    timeout = flags.pop("timeout", None)
    if timeout is not None:
        flags.setdefault("connect_timeout", timeout)
        flags.setdefault("read_timeout", timeout)
    return flags


def config_dir() -> Path:
    """The user's config directory for shopsync (click's app dir)."""
    return Path(click.get_app_dir(APP_NAME))


def settings_from_context(ctx: click.Context) -> Settings:
    """Settings from this command's flags, the process environment and the config file.

    The platform's own settings are those its adapter declares, found through the
    registry (which imports that one adapter only).
    """
    from shopsync.platforms import platform_settings  # noqa: PLC0415 - keeps --help fast

    return load_settings(
        config_dir=config_dir(),
        environ=os.environ,
        flags=platform_flags(ctx),
        platform_settings=platform_settings,
    )
