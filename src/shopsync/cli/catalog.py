"""Commands that read catalog files without talking to a platform: ``validate``, ``schema``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from shopsync.cli.main import AppContext

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = ("csv", "tsv", "json", "jsonl")


def input_options(function: F) -> F:
    """The options every command that reads catalog files shares."""
    options = [
        click.option(
            "--format",
            "file_format",
            type=click.Choice(FORMAT_CHOICES),
            help="Read every file as this format (default: from the extension).",
        ),
        click.option(
            "--encoding",
            metavar="NAME",
            help="Text encoding of the files (default: detected; see README 'Encodings').",
        ),
        click.option(
            "--delimiter",
            type=click.Choice([",", ";", "tab"]),
            help="CSV column separator (default: sniffed from the header line).",
        ),
        click.option(
            "--decimal-comma/--no-decimal-comma",
            default=None,
            help="Read 1.299,00 as 1299.00 (default: on for semicolon-separated files).",
        ),
        click.option(
            "--map",
            "mappings",
            multiple=True,
            metavar='FIELD="COLUMN"',
            help="Read FIELD from the column named COLUMN (repeatable).",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def build_catalog(
    files: tuple[Path, ...],
    file_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    decimal_comma: bool | None,
    mappings: tuple[str, ...],
) -> Any:
    """Open ``files`` as a :class:`shopsync.catalog.Catalog` from the shared input options."""
    from shopsync.catalog import Catalog  # noqa: PLC0415 - keeps --help fast
    from shopsync.io.headers import parse_user_mapping  # noqa: PLC0415
    from shopsync.models import PRODUCT_FIELDS  # noqa: PLC0415

    options = read_options(file_format, encoding, delimiter, decimal_comma)
    return Catalog(list(files), options, parse_user_mapping(mappings, PRODUCT_FIELDS))


def read_options(
    file_format: str | None, encoding: str | None, delimiter: str | None, decimal_comma: bool | None
) -> Any:
    """:class:`shopsync.io.readers.ReadOptions` from the shared input options."""
    from shopsync.io.readers import ReadOptions  # noqa: PLC0415

    return ReadOptions(
        format=file_format,  # type: ignore[arg-type] # click.Choice guarantees the literal
        encoding=encoding,
        delimiter="\t" if delimiter == "tab" else delimiter,
        decimal_comma=decimal_comma,
    )


FILES = click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)


@click.command()
@FILES
@input_options
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every rejected row (its cells plus an 'error' column) to this CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Rejected rows to list (the counts and --rejects always cover all).",
)
@click.pass_obj
def validate(
    app: AppContext,
    files: tuple[Path, ...],
    file_format: str | None,
    encoding: str | None,
    delimiter: str | None,
    decimal_comma: bool | None,
    mappings: tuple[str, ...],
    rejects: Path | None,
    as_json: bool,
    max_errors: int,
) -> None:
    """Check catalog FILES against the product rules; send nothing.

    Exits 0 when every row is valid and 3 when any row was rejected.
    """
    from shopsync.catalog import validate as run_validation  # noqa: PLC0415
    from shopsync.errors import ExitCode  # noqa: PLC0415

    catalog = build_catalog(files, file_format, encoding, delimiter, decimal_comma, mappings)
    report = run_validation(catalog, rejects=rejects, keep_errors=None if as_json else max_errors)
    if as_json:
        import json  # noqa: PLC0415

        click.echo(json.dumps(report.to_json(), ensure_ascii=False, indent=2))
    else:
        from shopsync.ui import Output, show_validation  # noqa: PLC0415

        show_validation(Output(quiet=app.quiet, verbose=app.verbose), report)
    if report.stats.invalid:
        raise SystemExit(int(ExitCode.INPUT_REJECTED))


@click.command()
@click.option("--indent", type=click.IntRange(min=0), default=2, show_default=True)
def schema(indent: int) -> None:
    """Print the JSON Schema of a product, the shape every row must have."""
    import json  # noqa: PLC0415

    from shopsync.models import Product  # noqa: PLC0415

    document = Product.model_json_schema(mode="validation")
    click.echo(json.dumps(document, ensure_ascii=False, indent=indent or None))


COMMANDS = [validate, schema]
