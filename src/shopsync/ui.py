"""What a person sees: rich tables and progress on a terminal, plain lines elsewhere.

Only this module imports rich. Off a terminal (cron, CI, a pipe) output is plain text,
one fact per line in the ``file:line: column: message`` shape that editors and grep
understand, and with no colour or box drawing.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from shopsync.catalog import ValidationReport
    from shopsync.io.readers import OpenedFile

_DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}


class Output:
    """The two streams a command writes to, each a rich Console that knows if it is a terminal."""

    def __init__(
        self,
        stdout: TextIO | None = None,
        stderr: TextIO | None = None,
        *,
        quiet: bool = False,
        verbose: int = 0,
    ) -> None:
        """``stdout``/``stderr`` default to the process streams (tests pass their own)."""
        self.out = Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True)
        self.err = Console(file=stderr or sys.stderr, highlight=False, soft_wrap=True)
        self.quiet = quiet
        self.verbose = verbose

    @property
    def is_terminal(self) -> bool:
        """Whether stdout is an interactive terminal (and so gets tables and live progress)."""
        return self.out.is_terminal

    def line(self, text: str = "") -> None:
        """One plain line on stdout, printed as is (no markup)."""
        self.out.print(Text(text))

    def warn(self, text: str) -> None:
        """A warning on stderr."""
        self.err.print(Text(f"Warning: {text}", style="yellow"))


def describe_file(opened: OpenedFile) -> str:
    """``products.csv: CSV, utf-8 (valid UTF-8), comma-separated``, for --verbose."""
    parts = [opened.format.upper(), f"{opened.detected.encoding} ({opened.detected.reason})"]
    if opened.delimiter:
        parts.append(f"{_DELIMITER_NAMES.get(opened.delimiter, repr(opened.delimiter))}-separated")
    if opened.decimal_comma:
        parts.append("decimal comma")
    return f"{opened.name}: " + ", ".join(parts)


def show_validation(output: Output, report: ValidationReport) -> None:
    """Print what ``shopsync validate`` found: file details, warnings, errors, summary."""
    if output.verbose:
        for opened in report.files:
            output.line(describe_file(opened))
    for warning in report.warnings:
        output.warn(f"{warning.file}: {warning.message}")
    if report.errors and not output.quiet:
        if output.is_terminal:
            _error_table(output, report)
        else:
            for error in report.errors:
                for field_error in error.errors:
                    location = f"{error.row.file}:{error.row.line}"
                    column = f" {field_error.column}:" if field_error.column else ""
                    value = f" (value: {field_error.value!r})" if field_error.value else ""
                    output.line(f"{location}:{column} {field_error.message}{value}")
        if report.errors_dropped:
            output.line(
                f"... and {report.errors_dropped} more rejected rows "
                "(all of them are in --rejects and --json)."
            )
    stats = report.stats
    output.line(
        f"{stats.rows} rows: {stats.valid} valid, {stats.invalid} invalid"
        f" in {len(report.files)} file{'s' if len(report.files) != 1 else ''}."
    )
    if report.rejects_path:
        output.line(f"Rejected rows written to {report.rejects_path} ({report.rejects_written}).")


def _error_table(output: Output, report: ValidationReport) -> None:
    table = Table(title="Rejected rows", title_justify="left", show_lines=False)
    table.add_column("Location", no_wrap=True)
    table.add_column("Column", no_wrap=True)
    table.add_column("Value", overflow="fold", max_width=30)
    table.add_column("Problem", overflow="fold")
    for error in report.errors:
        for field_error in error.errors:
            table.add_row(
                f"{error.row.file}:{error.row.line}",
                field_error.column,
                Text(field_error.value),
                Text(field_error.message),
            )
    output.out.print(table)
