"""``shopsync sandbox``: the click group that ``shopsync.cli`` registers.

Kept thin: flags become a :class:`SandboxConfig`, and :func:`shopsync.sandbox.serve` does
the rest. starlette and uvicorn are imported only when ``serve`` runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from shopsync.i18n import _
from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialects import DEFAULT_DIALECT, known_dialects, load_dialect

_FRACTION = click.FloatRange(0.0, 1.0)
_NON_NEGATIVE = click.FloatRange(min=0.0)


@click.group(name="sandbox")
def sandbox_group() -> None:
    """A local platform server that speaks the platform API, for demos and rehearsals."""


@sandbox_group.command(name="serve")
@click.option(
    "--dialect",
    type=click.Choice(known_dialects()),
    default=DEFAULT_DIALECT,
    show_default=True,
    help="Which platform's API to speak.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="TCP port (0 picks a free one).",
)
@click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="SQLite file that keeps the shop across restarts [default: in memory].",
)
@click.option("--client-id", default="demo-client", show_default=True)
@click.option("--client-secret", default="demo-secret", show_default=True)
@click.option(
    "--token-ttl",
    type=click.FloatRange(min=0.001),
    default=3600.0,
    show_default=True,
    help="Access token lifetime, seconds.",
)
@click.option(
    "--rate",
    type=click.FloatRange(min=0.001),
    default=100.0,
    show_default=True,
    help="Rate limit per client, requests per second.",
)
@click.option(
    "--burst",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Rate limit burst (bucket size).",
)
@click.option(
    "--max-batch",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Most items in one batch request.",
)
@click.option(
    "--latency-ms",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Fixed delay added to every API request.",
)
@click.option(
    "--jitter-ms",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Extra random delay, uniform in [0, jitter].",
)
@click.option(
    "--fault-rate",
    type=_FRACTION,
    default=0.0,
    show_default=True,
    help="Fraction of requests answered 500/502/503.",
)
@click.option(
    "--reset-rate",
    type=_FRACTION,
    default=0.0,
    show_default=True,
    help="Fraction of connections reset before any response.",
)
@click.option(
    "--slow-rate",
    type=_FRACTION,
    default=0.0,
    show_default=True,
    help="Fraction of requests delayed by --slow-ms.",
)
@click.option("--slow-ms", type=_NON_NEGATIVE, default=5000.0, show_default=True)
@click.option(
    "--drop-after-commit-rate",
    type=_FRACTION,
    default=0.0,
    show_default=True,
    help="Fraction of requests committed, then cut without a response.",
)
@click.option(
    "--ignore-idempotency-keys",
    is_flag=True,
    help="Apply every request as new, whatever its Idempotency-Key.",
)
@click.option(
    "--allow-duplicate-skus",
    is_flag=True,
    help="Let a create of an existing SKU make a second product.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seed of faults, jitter and orders (same seed, same faults).",
)
@click.option(
    "--orders",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Orders to have in the shop at start.",
)
@click.option(
    "--order-rate",
    type=_NON_NEGATIVE,
    default=0.0,
    show_default=True,
    help="New orders and status changes per second.",
)
@click.option(
    "--dialect-option",
    "dialect_options",
    multiple=True,
    metavar="NAME=VALUE",
    help="A knob of the chosen dialect only (repeatable), e.g. for amazon "
    "visibility_delay=30, lose_skus=A,B, suppress_skus=C, lose_rate=0.1, feed_delay=120, "
    "usage_scale=10.",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
def serve_command(
    dialect: str,
    host: str,
    port: int,
    db: Path | None,
    client_id: str,
    client_secret: str,
    token_ttl: float,
    rate: float,
    burst: int,
    max_batch: int,
    latency_ms: float,
    jitter_ms: float,
    fault_rate: float,
    reset_rate: float,
    slow_rate: float,
    slow_ms: float,
    drop_after_commit_rate: float,
    ignore_idempotency_keys: bool,
    allow_duplicate_skus: bool,
    seed: int,
    orders: int,
    order_rate: float,
    dialect_options: tuple[str, ...],
    log_level: str,
) -> None:
    """Serve the platform API on HTTP until Ctrl-C.

    The base URL it prints is what clients are given (the API is at its root), with the
    client credentials. /openapi.json describes the API; /_sandbox/stats (loopback only,
    not part of the platform API) counts what happened.
    """
    from shopsync.sandbox.server import serve  # noqa: PLC0415 - keeps `--help` fast

    config = SandboxConfig(
        dialect=dialect,
        host=host,
        port=port,
        db=db,
        client_id=client_id,
        client_secret=client_secret,
        token_ttl=token_ttl,
        rate=rate,
        burst=burst,
        max_batch=max_batch,
        latency_ms=latency_ms,
        jitter_ms=jitter_ms,
        fault_rate=fault_rate,
        reset_rate=reset_rate,
        slow_rate=slow_rate,
        slow_ms=slow_ms,
        drop_after_commit_rate=drop_after_commit_rate,
        ignore_idempotency_keys=ignore_idempotency_keys,
        allow_duplicate_skus=allow_duplicate_skus,
        seed=seed,
        orders=orders,
        order_rate=order_rate,
        log_level=log_level,
        access_log=log_level in ("info", "debug"),
        dialect_options=_named_values(dialect_options),
    )

    def ready(base_url: str) -> None:
        click.echo(
            _("shopsync sandbox serving the platform API at {base_url}").format(base_url=base_url)
        )
        click.echo(_("  client id:     {client_id}").format(client_id=client_id))
        click.echo(_("  client secret: {client_secret}").format(client_secret=client_secret))
        click.echo(
            _("  shop:          {shop}").format(
                shop=db if db is not None else _("in memory (gone on exit)")
            )
        )
        click.echo(_("  dialect:       {dialect}").format(dialect=dialect))
        click.echo(
            _("  try:           {command}").format(
                command=load_dialect(dialect).try_command(base_url, config)
            )
        )
        click.echo(_("Press Ctrl-C to stop."))

    serve(config, on_ready=ready)


def _named_values(given: tuple[str, ...]) -> dict[str, str]:
    """``NAME=VALUE`` texts as a dict (a usage error names the malformed one)."""
    out: dict[str, str] = {}
    for text in given:
        name, sep, value = text.partition("=")
        if not sep or not name.strip():
            raise click.BadParameter(
                _("{text} is not NAME=VALUE.").format(text=repr(text)),
                param_hint="--dialect-option",
            )

        out[name.strip()] = value.strip()
    return out


@sandbox_group.command(name="reset")
@click.pass_context
def reset_command(ctx: click.Context) -> None:
    """Empty the built-in sandbox shop (--sandbox): its products, orders and counters, and
    the ledger shopsync keeps for it, so the next --sandbox upload starts from nothing."""
    import shutil  # noqa: PLC0415

    from shopsync.cli.options import settings_from_context  # noqa: PLC0415
    from shopsync.sandbox.store import Store  # noqa: PLC0415

    settings = settings_from_context(ctx)
    shop = settings.data_dir / "sandbox" / "shop.db"
    if shop.is_file():
        store = Store(str(shop))
        try:
            store.reset()
        finally:
            store.close()
    shutil.rmtree(settings.data_dir / "ledger" / "sandbox-embedded", ignore_errors=True)
    click.echo(_("The sandbox shop in {parent} is empty.").format(parent=shop.parent))


COMMANDS = [sandbox_group]
