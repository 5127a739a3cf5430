"""``shopsync config show`` and ``shopsync auth check``: what is configured, and does it work."""

from __future__ import annotations

import unicodedata
from contextlib import closing

import click

from shopsync.cli.options import config_dir, platform_options, settings_from_context
from shopsync.errors import ScopeError, UsageError
from shopsync.i18n import N_, Message, _

KNOWN_SCOPES = ("products", "inventory", "orders")


@click.group("config")
def config_group() -> None:
    """Inspect the configuration (profiles, environment, flags)."""


@config_group.command("show")
@platform_options
@click.pass_context
def config_show(ctx: click.Context) -> None:
    """Print the effective settings, where each comes from, and the data paths.

    The client secret is never printed, only whether it is set.
    """
    settings = settings_from_context(ctx)
    if settings.config_file is not None:
        click.echo(_("Config file: {config_file}").format(config_file=settings.config_file))
    else:
        click.echo(
            _("Config file: none (looked for {path})").format(path=config_dir() / "config.toml")
        )
    # Labels (a source, "(not set)") in the run's language before the columns are measured;
    # a value as it is, even one that reads like a label (a profile named "default").
    rows = [(name, _label(value), _label(source)) for name, value, source in settings.describe()]

    name_width = max(len(name) for name, _, _ in rows)
    value_width = min(48, max(_columns(value) for _, value, _ in rows))
    for name, value, source in rows:
        padding = " " * max(0, value_width - _columns(value))
        click.echo(f"  {name:<{name_width}}  {value}{padding}  ({source})")
    click.echo(_("Paths:"))
    click.echo(
        _("  token cache  {token_cache_dir}").format(token_cache_dir=settings.token_cache_dir)
    )
    click.echo(_("  ledger       {path}").format(path=settings.ledger_dir()))
    click.echo(_("  audit log    {audit_path}").format(audit_path=settings.audit_path))


@click.group("auth")
def auth_group() -> None:
    """Check the platform credentials."""


@auth_group.command("check")
@platform_options
@click.pass_context
def auth_check(ctx: click.Context) -> None:
    """Fetch an access token and report whether the credentials and scopes work.

    The token itself is never printed. Exits 4 if the platform refuses the credentials
    or the token lacks a scope shopsync uses.
    """
    from shopsync.platforms import connect  # noqa: PLC0415 - requests loads only when needed

    settings = settings_from_context(ctx)
    with closing(connect(settings)) as platform:
        status = platform.check_auth()
    click.echo(
        _("Credentials OK: client {client_id!r} got a token from {token_url}").format(
            client_id=status.client_id, token_url=status.token_url
        )
    )
    if status.expires_in == float("inf"):
        # A signed platform (Taobao) has no token of its own to time.
        click.echo(_("The platform does not say how long these credentials last."))
    else:
        click.echo(
            _("Token valid for {expires_in:.0f} s (cached for the next runs).").format(
                expires_in=status.expires_in
            )
        )
    if status.granted_scopes is None:
        click.echo(_("The platform did not say which scopes the token carries."))
        return
    click.echo(
        _("Scopes: {scopes}").format(scopes=" ".join(sorted(status.granted_scopes)) or _("(none)"))
    )

    # An adapter whose platform names its scopes its own way says which it needs.
    needed = getattr(platform, "required_scopes", KNOWN_SCOPES)
    wanted = settings.scope.split() if settings.scope else needed
    missing = [scope for scope in wanted if scope not in status.granted_scopes]
    if missing:
        raise ScopeError(
            N_(
                "The token lacks the scope(s) {names}: commands that need them will be refused."
            ).format(names=", ".join(missing)),
            hint=N_("Ask the shop's admin to grant them, or set `scope` in the profile."),
        )


@auth_group.command("shopee")
@click.option("--code", help="The code in the address Shopee sent the seller back to.")
@click.option(
    "--redirect",
    default="https://open.shopee.com",
    show_default=True,
    help="Where Shopee sends the seller after they agree (any page; its address gets the code).",
)
@platform_options
@click.pass_context
def auth_shopee(ctx: click.Context, code: str | None, redirect: str) -> None:
    """Authorise the app for a Shopee shop: without --code, print the link the seller
    opens; with it, turn the code into tokens, saved (0600) for every later run.

    The tokens are never printed. The code works once, for 10 minutes.
    """
    settings = settings_from_context(ctx)
    if settings.platform != "shopee":
        raise UsageError(
            N_(
                "`shopsync auth shopee` is for a Shopee profile; this one's platform is {platform}."
            ).format(platform=settings.platform),
            hint=N_("Add --platform shopee, or choose a Shopee profile with --profile."),
        )
    from shopsync.platforms import connect  # noqa: PLC0415 - requests loads only when needed
    from shopsync.platforms.shopee import ShopeePlatform, authorisation_url  # noqa: PLC0415

    if code is None:
        click.echo(_("Open this link as the seller and authorise the app (it is valid 5 minutes):"))
        click.echo(f"  {authorisation_url(settings, redirect)}")
        click.echo(
            _(
                "Shopee then opens the redirect page with ?code=...&shop_id=... "
                "in its address: set shop_id to that shop id and run `shopsync "
                "auth shopee --code CODE`."
            )
        )
        return
    with closing(connect(settings)) as platform:
        assert isinstance(platform, ShopeePlatform)
        status = platform.exchange_code(code)
        saved = platform.token_path
    click.echo(
        _("Shop {shop_id} authorised: tokens saved to {saved} (mode 0600).").format(
            shop_id=settings.get("shop_id"), saved=saved
        )
    )
    click.echo(
        _(
            "The access token is valid for {expires_in:.0f} s; the refresh "
            "token renews it, and each renewal's new refresh token is saved "
            "the same way."
        ).format(expires_in=status.expires_in)
    )


COMMANDS = [config_group, auth_group]


def _columns(text: str) -> int:
    """Terminal columns ``text`` takes: a wide character (汉字, full-width signs) two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _label(text: str) -> str:
    """A marked label (:class:`Message`) in the run's language; other text as it is."""
    return text.localized() if isinstance(text, Message) else text
