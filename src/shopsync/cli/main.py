"""The root command group, global options, and the one place errors become exit codes."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from typing import Any

import click

from shopsync import __version__
from shopsync.errors import ExitCode, ShopsyncError


@dataclass
class AppContext:
    """What every command needs to know about how it was called (``ctx.obj``)."""

    verbose: int = 0
    quiet: bool = False
    traceback: bool = False


class ShopsyncGroup(click.Group):
    """A group that turns every exception into a message and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ShopsyncError as error:
            _report(ctx, error)
            ctx.exit(int(error.exit_code))
        except KeyboardInterrupt:
            click.echo("Interrupted.", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))
        except Exception as error:
            _report_bug(ctx, error)
            ctx.exit(int(ExitCode.INTERNAL))
        return None  # pragma: no cover - ctx.exit raises


def _wants_traceback(ctx: click.Context) -> bool:
    app = ctx.find_object(AppContext)
    return bool(app and app.traceback)


def _report(ctx: click.Context, error: ShopsyncError) -> None:
    if _wants_traceback(ctx):
        _print_traceback()
    click.echo(f"Error: {error.message}", err=True)
    if error.hint:
        click.echo(f"Hint: {error.hint}", err=True)


def _report_bug(ctx: click.Context, error: BaseException) -> None:
    if _wants_traceback(ctx):
        _print_traceback()
    # The message is shown without the traceback by default: it can only come from a bug,
    # and a traceback may show local values; --traceback is the deliberate way to see one.
    from shopsync.http.redact import redact_text  # noqa: PLC0415 - only on this rare path

    click.echo(
        f"Internal error: {type(error).__name__}: {redact_text(str(error))}\n"
        "This is a bug in shopsync. Run again with --traceback and report the output.",
        err=True,
    )


def _print_traceback() -> None:
    import traceback  # noqa: PLC0415 - only on the error path

    from shopsync.http.redact import redact_text  # noqa: PLC0415

    click.echo(redact_text(traceback.format_exc()), err=True)


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING
    if quiet:
        level = logging.ERROR
    elif verbose == 1:
        level = logging.INFO
    elif verbose >= 2:
        level = logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    from shopsync.http.redact import RedactingFilter  # noqa: PLC0415

    handler.addFilter(RedactingFilter())
    root = logging.getLogger("shopsync")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


@click.group(cls=ShopsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="shopsync")
@click.option("-v", "--verbose", count=True, help="More detail on stderr (-vv for debug logs).")
@click.option("-q", "--quiet", is_flag=True, help="Print only errors and the final summary.")
@click.option(
    "--traceback", "show_traceback", is_flag=True, help="Show a traceback when something fails."
)
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, show_traceback: bool) -> None:
    """Put a product catalog kept in CSV/TSV/JSON files onto a shop platform.

    \b
    Start with:
      shopsync validate products.csv      check a file, change nothing
      shopsync upload products.csv --sandbox
    """
    if verbose and quiet:
        raise click.UsageError("--verbose and --quiet contradict each other; choose one.")
    ctx.obj = AppContext(verbose=verbose, quiet=quiet, traceback=show_traceback)
    _configure_logging(verbose, quiet)


def main() -> None:
    """Entry point of the ``shopsync`` console script."""
    cli.main(prog_name="shopsync")
