"""The root command group, global options, and the one place errors become exit codes."""

from __future__ import annotations

import io
import itertools
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from shopsync import __version__
from shopsync.errors import ExitCode, ShopsyncError
from shopsync.i18n import (
    LANGUAGES,
    N_,
    _,
    choose_language,
    localized,
    parse_language,
    set_language,
)


@dataclass
class AppContext:
    """What every command needs to know about how it was called (``ctx.obj``)."""

    verbose: int = 0
    quiet: bool = False
    traceback: bool = False


@dataclass(frozen=True)
class OutputModes:
    """How the result must be told, read from the raw arguments before click parses them.

    Read that early because a mistyped flag fails before any option callback runs, and
    that failure, too, must end as ``--detailed-exitcode`` and ``--json`` promise.
    """

    detailed_exitcode: bool = False
    """0 no changes, 2 changes, 1 anything else (terraform's convention)."""
    json: bool = False
    """Exactly one JSON document on stdout, also when the command fails."""


_MODES_KEY = "shopsync.output_modes"
_CHANGES_KEY = "shopsync.has_changes"
_JSON_PRINTED_KEY = "shopsync.json_printed"
_JSON_FORMAT_COMMANDS = ("orders",)
"""Commands whose ``--format json`` is their --json (elsewhere it names an input format)."""


def output_modes_of(args: Sequence[str]) -> OutputModes:
    """The :class:`OutputModes` that a command line asks for."""
    tokens = list(args)
    if "--" in tokens:
        tokens = tokens[: tokens.index("--")]
    command = next((token for token in tokens if not token.startswith("-")), None)
    as_json = "--json" in tokens
    if command in _JSON_FORMAT_COMMANDS:
        as_json = as_json or "--format=json" in tokens
        as_json = as_json or ("--format", "json") in itertools.pairwise(tokens)
    return OutputModes(detailed_exitcode="--detailed-exitcode" in tokens, json=as_json)


def language_flag_of(args: Sequence[str]) -> str | None:
    """The last valid ``--lang`` value of a command line, read before click parses it: the
    help texts must be in the run's language before click builds any of them."""
    tokens = list(args)
    if "--" in tokens:
        tokens = tokens[: tokens.index("--")]
    chosen = None
    for index, argument in enumerate(tokens):
        value = None
        if argument == "--lang" and index + 1 < len(tokens):
            value = tokens[index + 1]
        elif argument.startswith("--lang="):
            value = argument.partition("=")[2]
        if value is not None and parse_language(value):
            chosen = value
    return chosen


def note_changes(ctx: click.Context, has_changes: bool) -> None:
    """Tell the exit-code mapping whether the command found changes (``--detailed-exitcode``)."""
    ctx.meta[_CHANGES_KEY] = has_changes


def echo_json(ctx: click.Context, document: Any) -> None:
    """Print a command's one JSON document on stdout (no error document follows it)."""
    import json  # noqa: PLC0415

    ctx.meta[_JSON_PRINTED_KEY] = True
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))


class ShopsyncGroup(click.Group):
    """A group that turns every exception into a message and a documented exit code."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        """Register ``cmd``, giving it (and its subcommands) the global flags too."""
        add_global_options(cmd)
        super().add_command(cmd, name)

    def main(self, args: Sequence[str] | None = None, *pargs: Any, **kwargs: Any) -> Any:
        """Choose the run's language (``--lang``, then the environment), then run."""
        from shopsync.cli.translate import install_click_messages, translate_help  # noqa: PLC0415

        given = sys.argv[1:] if args is None else args
        set_language(choose_language(language_flag_of(given), os.environ))
        install_click_messages()
        translate_help(self)
        return super().main(args, *pargs, **kwargs)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[_MODES_KEY] = output_modes_of(args)
        try:
            return super().parse_args(ctx, args)
        except click.ClickException as error:  # a bad flag before the subcommand
            error.show()
            _exit(ctx, _final_code(ctx, int(error.exit_code)), error, error.format_message())

    def invoke(self, ctx: click.Context) -> Any:
        error: BaseException | None = None
        message = ""
        try:
            try:
                super().invoke(ctx)
                code = int(ExitCode.OK)
            except click.exceptions.Exit as stop:
                code = int(stop.exit_code)
            # Buffered output meets a closed pipe here at the latest, not at exit.
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader of our output went away (`| head`): nothing to say, as git does.
            _silence_stdout()
            ctx.meta[_JSON_PRINTED_KEY] = True
            code = int(ExitCode.BROKEN_PIPE)
        except click.exceptions.Abort:
            raise
        except click.ClickException as failure:
            failure.show()
            error, message, code = failure, failure.format_message(), int(failure.exit_code)
        except ShopsyncError as failure:
            _report(ctx, failure)
            error, message, code = failure, failure.message, int(failure.exit_code)
        except KeyboardInterrupt as failure:
            message = _("Interrupted.")
            click.echo(message, err=True)
            error, code = failure, int(ExitCode.INTERRUPTED)
        except Exception as failure:
            message = _report_bug(ctx, failure)
            error, code = failure, int(ExitCode.INTERNAL)
        _exit(ctx, _final_code(ctx, code), error, message)


def _final_code(ctx: click.Context, code: int) -> int:
    """The process's exit code: ``code``, unless ``--detailed-exitcode`` folds it."""
    modes: OutputModes = ctx.meta.get(_MODES_KEY) or OutputModes()
    if not modes.detailed_exitcode:
        return code
    if code != ExitCode.OK:
        return 1  # whatever the cause: a usage error (2) must never read as "changes"
    return 2 if ctx.meta.get(_CHANGES_KEY) else 0


def _exit(ctx: click.Context, code: int, error: BaseException | None, message: str) -> NoReturn:
    modes: OutputModes = ctx.meta.get(_MODES_KEY) or OutputModes()
    if modes.json and error is not None and not ctx.meta.get(_JSON_PRINTED_KEY):
        hint = error.hint if isinstance(error, ShopsyncError) else None
        document = {
            "error": {"type": type(error).__name__, "message": message, "hint": hint},
            "exit_code": code,
        }
        try:
            echo_json(ctx, document)
            sys.stdout.flush()
        except BrokenPipeError:
            _silence_stdout()
    ctx.exit(code)


def _silence_stdout() -> None:
    # Point stdout at /dev/null so the interpreter's last flush does not fail again
    # ("Exception ignored ... BrokenPipeError", exit 120). Python's own advice.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # not a real file descriptor (a test's stream): nothing will flush it


def _wants_traceback(ctx: click.Context) -> bool:
    app = ctx.find_object(AppContext)
    return bool(app and app.traceback)


def _report(ctx: click.Context, error: ShopsyncError) -> None:
    if _wants_traceback(ctx):
        _print_traceback()
    click.echo(_("Error: {message}").format(message=localized(error.message)), err=True)
    if error.hint:
        click.echo(_("Hint: {hint}").format(hint=localized(error.hint)), err=True)


def _report_bug(ctx: click.Context, error: BaseException) -> str:
    if _wants_traceback(ctx):
        _print_traceback()
    # The message is shown without the traceback by default: it can only come from a bug,
    # and a traceback may show local values; --traceback is the deliberate way to see one.
    from shopsync.http.redact import redact_text  # noqa: PLC0415 - only on this rare path

    message = _("Internal error: {kind}: {detail}").format(
        kind=type(error).__name__, detail=redact_text(str(error))
    )
    bug = _("This is a bug in shopsync. Run again with --traceback and report the output.")
    click.echo(f"{message}\n{bug}", err=True)
    return message


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


_VERBOSE_HELP = N_(
    "More detail on stderr: batches, answers, retries, waits (-vv: the HTTP exchange)."
)
_QUIET_HELP = N_("Print only errors and the final summary.")
_TRACEBACK_HELP = N_("Show a traceback when something fails.")
_LANG_HELP = N_(
    "Language of messages: zh (Simplified Chinese) or en "
    "[env SHOPSYNC_LANG, else LC_ALL, LC_MESSAGES, LANG]."
)
_CONTRADICTION = N_("--verbose and --quiet contradict each other; choose one.")


def _global_flag(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """A global flag given after the subcommand: it adds to what the root group was given."""
    if not value:
        return
    app = ctx.ensure_object(AppContext)
    if param.name == "verbose":
        app.verbose += int(value)
    elif param.name == "quiet":
        app.quiet = True
    else:
        app.traceback = True
    if app.verbose and app.quiet:
        raise click.UsageError(_(_CONTRADICTION), ctx=ctx)
    _configure_logging(app.verbose, app.quiet)


def _global_options() -> list[click.Option]:
    common: dict[str, Any] = {"expose_value": False, "callback": _global_flag}
    return [
        click.Option(["-v", "--verbose"], count=True, help=_VERBOSE_HELP, **common),
        click.Option(["-q", "--quiet"], is_flag=True, help=_QUIET_HELP, **common),
        click.Option(["--traceback"], is_flag=True, help=_TRACEBACK_HELP, **common),
        # Read before parsing (ShopsyncGroup.main); here it is checked and shown in help.
        click.Option(["--lang"], type=click.Choice(LANGUAGES), expose_value=False, help=_LANG_HELP),
    ]


def add_global_options(command: click.Command) -> None:
    """Accept ``-v``, ``-q`` and ``--traceback`` after ``command`` too (and list them in its help).

    Groups pass them on to their subcommands. A command that already has one of these
    names for something else keeps its own.
    """
    taken = {name for param in command.params for name in getattr(param, "opts", ())}
    for option in _global_options():
        if not taken.intersection(option.opts):
            command.params.append(option)
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            add_global_options(subcommand)


@click.group(cls=ShopsyncGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="shopsync")
@click.option("-v", "--verbose", count=True, help=_VERBOSE_HELP)
@click.option("-q", "--quiet", is_flag=True, help=_QUIET_HELP)
@click.option("--traceback", "show_traceback", is_flag=True, help=_TRACEBACK_HELP)
@click.option("--lang", type=click.Choice(LANGUAGES), expose_value=False, help=_LANG_HELP)
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool, show_traceback: bool) -> None:
    """Put a product catalog kept in CSV/TSV/JSON files onto a shop platform.

    \b
    Start with:
      shopsync validate products.csv      check a file, change nothing
      shopsync upload products.csv --sandbox
    """
    if verbose and quiet:
        raise click.UsageError(_(_CONTRADICTION))
    ctx.obj = AppContext(verbose=verbose, quiet=quiet, traceback=show_traceback)
    _configure_logging(verbose, quiet)


def main() -> None:
    """Entry point of the ``shopsync`` console script."""
    cli.main(prog_name="shopsync")
