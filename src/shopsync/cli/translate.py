"""``--help`` and click's own messages in the run's language.

click reads command help from docstrings and option help from ``help=`` when the
modules are imported, before the language is known, and it translates its own words
("Usage:", "Options", "Missing argument") with :mod:`gettext` under the domain
"messages". So: :func:`translate_help` sets the help texts of the command tree from the
catalog once the language is chosen (keeping the English ones as the msgids), and
:func:`install_click_messages` points click's gettext at shopsync's catalog, which holds
translations of the click messages a user meets (:data:`CLICK_MESSAGES`).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator

import click

from shopsync.i18n import N_, _, current_language, ngettext, nN_

CLICK_MESSAGES = (
    N_("Usage:"),
    N_("Options"),
    N_("Commands"),
    N_("Show this message and exit."),
    N_("Show the version and exit."),
    N_("%(prog)s, version %(version)s"),
    N_("Error: {message}"),
    N_("Try '{command} {option}' for help."),
    N_("Aborted!"),
    N_("Missing command."),
    N_("Invalid value: {message}"),
    N_("Invalid value for {param_hint}: {message}"),
    N_("Missing argument"),
    N_("Missing option"),
    N_("Missing parameter"),
    N_("Missing {param_type}"),
    N_("Missing parameter: {param_name}"),
    N_("No such option {name!r}."),
    N_("No such command {name!r}."),
    N_("Option {name!r} does not take a value."),
    N_("env var: {var}"),
    N_("default: {default}"),
    N_("required"),
    N_("{value!r} is not a valid {number_type}."),
    N_("{value} is not in the range {range}."),
    N_("{value!r} is not a valid boolean. Recognized values: {states}"),
    N_("file"),
    N_("directory"),
    N_("path"),
    N_("{name} {filename!r} does not exist."),
    N_("{name} {filename!r} is a file."),
    N_("{name} {filename!r} is a directory."),
    N_("{name} {filename!r} is not readable."),
    N_("{name} {filename!r} is not writable."),
    N_("Could not open file {filename!r}: {message}"),
    N_("Do you want to continue?"),
)
"""The words of click a user reads, marked for shopsync's catalog."""

CLICK_COUNTED_MESSAGES = (
    nN_("Got unexpected extra argument ({args})", "Got unexpected extra arguments ({args})", 2),
    nN_("Did you mean {possibility}?", "(Did you mean one of: {possibilities}?)", 2),
    nN_("Option {name!r} requires an argument.", "Option {name!r} requires {nargs} arguments.", 2),
    nN_("{value!r} is not {choice}.", "{value!r} is not one of {choices}.", 2),
)

_CLICK_MODULES = (
    "core",
    "decorators",
    "exceptions",
    "formatting",
    "parser",
    "termui",
    "types",
    "utils",
)
_MSGID = "_shopsync_msgids"


def install_click_messages() -> None:
    """Make click translate its own messages with shopsync's catalog (idempotent)."""
    for name in _CLICK_MODULES:
        module = sys.modules.get(f"click.{name}")  # all loaded by `import click`
        if module is None:
            continue
        if hasattr(module, "_"):
            module._ = _  # type: ignore[attr-defined]
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext  # type: ignore[attr-defined]


def help_msgid(text: str | None) -> str | None:
    """The catalog's msgid for a help text as click holds it (its part before ``\\f``)."""
    if not text:
        return None
    if "\n" not in text and "\f" not in text:  # most option help: no cleandoc needed
        return text.strip() or None
    return inspect.cleandoc(text).partition("\f")[0].strip() or None


def _commands(command: click.Command) -> Iterator[click.Command]:
    yield command
    if isinstance(command, click.Group):
        for subcommand in command.commands.values():
            yield from _commands(subcommand)


def help_texts(root: click.Command) -> Iterator[str]:
    """Every help msgid of ``root``'s tree: commands' help and short help, options' help."""
    for command in _commands(root):
        for text in (command.help, command.short_help):
            msgid = help_msgid(text)
            if msgid:
                yield msgid
        for param in command.params:
            msgid = help_msgid(getattr(param, "help", None))
            if msgid:
                yield msgid


def _short_help(text: str) -> str:
    """The first sentence of a translated help text (click's own rule splits on spaces)."""
    first = text.strip().split("\n\n")[0].replace("\n", "")
    head, stop, _rest = first.partition("。")
    return head + stop


def translate_help(root: click.Command) -> None:
    """Set the help texts of ``root``'s tree in the current language.

    Free in English until the tree was once translated: its texts are the msgids.
    """
    chinese = current_language() == "zh"
    if not chinese and _MSGID not in vars(root):
        return
    for command in _commands(root):
        originals: dict[str, str | None] = vars(command).get(_MSGID) or {
            "help": help_msgid(command.help),
            "short_help": help_msgid(command.short_help),
        }
        setattr(command, _MSGID, originals)
        if vars(command).get("_help_option") is not None:
            command._help_option = None  # click keeps --help's option once made: make it anew
        for attribute, msgid in originals.items():
            if msgid is not None:
                setattr(command, attribute, _(msgid))
        if chinese and originals["short_help"] is None and originals["help"] is not None:
            command.short_help = _short_help(_(originals["help"]))
        elif originals["short_help"] is None:
            command.short_help = None
        for param in command.params:
            if not isinstance(param, click.Option):
                continue
            msgid = vars(param).get(_MSGID) or help_msgid(param.help)
            if msgid is not None:
                setattr(param, _MSGID, msgid)
                param.help = _(msgid)
