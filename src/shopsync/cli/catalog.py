"""Commands that read catalog files without talking to a platform: ``validate``, ``schema``."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar

import click

from shopsync.cli.main import AppContext, echo_json
from shopsync.cli.options import settings_from_context

F = TypeVar("F", bound=Callable[..., Any])

FORMAT_CHOICES = ("csv", "tsv", "json", "jsonl", "xlsx")


_META_KEY = "shopsync.input_options"


def _store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if param.name is not None:
        ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def _option(*names: str, **kwargs: Any) -> Callable[[F], F]:
    return click.option(*names, expose_value=False, callback=_store, **kwargs)


INPUT_OPTIONS: tuple[Callable[[F], F], ...] = (
    _option(
        "--format",
        "file_format",
        type=click.Choice(FORMAT_CHOICES),
        help="Read every file as this format (default: from the extension).",
    ),
    _option(
        "--encoding",
        metavar="NAME",
        help="Text encoding of the files (default: detected; see README 'Encodings').",
    ),
    _option(
        "--delimiter",
        type=click.Choice([",", ";", "tab"]),
        help="CSV column separator (default: sniffed from the header line).",
    ),
    _option(
        "--decimal-comma/--no-decimal-comma",
        default=None,
        help="Read 1.299,00 as 1299.00 (default: on for semicolon-separated files).",
    ),
    _option(
        "--sheet",
        metavar="NAME|N",
        help="The sheet of an Excel workbook to read, by name or number (default: the first).",
    ),
    _option(
        "--map",
        "mappings",
        multiple=True,
        metavar='FIELD="COLUMN"',
        help="Read FIELD from the column named COLUMN (repeatable).",
    ),
)


IMAGES_FROM_OPTION = _option(
    "--images-from",
    "images_from",
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    metavar="DIR",
    help="Find images given as bare file names (a.jpg) in DIR (default: beside the input file).",
)
"""For commands that read catalogs (validate, plan, upload): not stock files."""


def input_options(function: F) -> F:
    """Add the options every command that reads input files shares.

    Like the platform flags, they are not passed to the command function: they land in
    ``ctx.meta``, where :func:`read_options` and :func:`user_mapping` find them.
    """
    for option in reversed(INPUT_OPTIONS):
        function = option(function)
    return function


def read_options(ctx: click.Context) -> Any:
    """:class:`shopsync.io.readers.ReadOptions` from this command's input options."""
    from shopsync.io.readers import ReadOptions  # noqa: PLC0415 - keeps --help fast

    given = ctx.meta.get(_META_KEY, {})
    delimiter = given.get("delimiter")
    return ReadOptions(
        format=given.get("file_format"),
        encoding=given.get("encoding"),
        delimiter="\t" if delimiter == "tab" else delimiter,
        decimal_comma=given.get("decimal_comma"),
        sheet=given.get("sheet"),
    )


def user_mapping(ctx: click.Context, fields: Iterable[str]) -> dict[str, str]:
    """The ``--map FIELD=COLUMN`` options of this command, checked against ``fields``."""
    from shopsync.io.headers import parse_user_mapping  # noqa: PLC0415

    return parse_user_mapping(ctx.meta.get(_META_KEY, {}).get("mappings", ()), fields)


def open_catalog(ctx: click.Context, files: tuple[Path, ...], platform: str | None = None) -> Any:
    """Open ``files`` as a :class:`shopsync.catalog.Catalog` with this command's options.

    With ``platform``, the rows are also held to that adapter's ``product_constraints``
    (checked at plan time, reported by file, line and column), if it declares any.
    """
    from shopsync.catalog.records import Catalog  # noqa: PLC0415
    from shopsync.domain.models import PRODUCT_FIELDS  # noqa: PLC0415

    constraints = None
    if platform is not None:
        from shopsync.platforms import adapter_class  # noqa: PLC0415

        constraints = getattr(adapter_class(platform), "product_constraints", None)
    return Catalog(
        list(files),
        read_options(ctx),
        user_mapping(ctx, PRODUCT_FIELDS),
        images_from=ctx.meta.get(_META_KEY, {}).get("images_from"),
        constraints=constraints,
    )


MAX_AUTO_JOBS = 4
PARALLEL_FROM_BYTES = 16 << 20
"""Below this much CSV/TSV, starting worker processes (~0.3 s) costs more than it saves."""


def automatic_jobs(csv_bytes: int) -> int:
    """Processes that ``validate`` uses when ``--jobs`` is not given."""
    if csv_bytes < PARALLEL_FROM_BYTES:
        return 1
    try:
        cpus = len(os.sched_getaffinity(0))  # the CPUs this process may run on
    except AttributeError:  # not on every platform
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_AUTO_JOBS, cpus))


FILES = click.argument(
    "files", nargs=-1, required=True, type=click.Path(path_type=Path, dir_okay=False)
)


@click.command()
@FILES
@input_options
@IMAGES_FROM_OPTION
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every rejected row (its cells plus an 'error' column) to this CSV.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON on stdout.")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default="0: automatic",
    help="Processes that validate CSV/TSV rows (1: this one only). 0 uses one per CPU, "
    f"at most {MAX_AUTO_JOBS}, for inputs over {PARALLEL_FROM_BYTES >> 20} MB.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    help="Rejected rows to list (the counts and --rejects always cover all).",
)
@click.pass_context
def validate(
    ctx: click.Context,
    files: tuple[Path, ...],
    rejects: Path | None,
    as_json: bool,
    jobs: int,
    max_errors: int,
) -> None:
    """Check catalog FILES against the product rules; send nothing.

    Exits 0 when every row is valid and 3 when any row was rejected.
    """
    from shopsync.catalog.records import validate as run_validation  # noqa: PLC0415
    from shopsync.errors import ExitCode  # noqa: PLC0415

    app = ctx.find_object(AppContext) or AppContext()
    # The profile's platform (generic unless set) decides the rules beyond the model's;
    # it needs no credentials and no network.
    catalog = open_catalog(ctx, files, settings_from_context(ctx).platform)
    csv_bytes = sum(opened.size for opened in catalog.files if opened.format in ("csv", "tsv"))
    report = run_validation(
        catalog,
        rejects=rejects,
        keep_errors=None if as_json else max_errors,
        jobs=jobs or automatic_jobs(csv_bytes),
    )
    if as_json:
        echo_json(ctx, report.to_json())
    else:
        from shopsync.ui.console import Output, show_validation  # noqa: PLC0415

        show_validation(Output(quiet=app.quiet, verbose=app.verbose), report)
    if catalog.empty_files():
        from shopsync.ui.console import Output, show_empty_inputs  # noqa: PLC0415

        output = Output(quiet=app.quiet, verbose=app.verbose)
        show_empty_inputs(output, catalog.empty_files(), files=len(catalog.files))
    if report.stats.invalid:
        ctx.exit(int(ExitCode.INPUT_REJECTED))


SCHEMA_DESCRIPTION = (
    "One product as shopsync sends it to the platform: every row of a catalog file must "
    "fit this shape once its columns are matched to these fields. The fields and their "
    "rules are described in docs/platform-api.md (section 2, Products) in the shopsync "
    "repository."
)


@click.command()
@click.option("--indent", type=click.IntRange(min=0), default=2, show_default=True)
@click.pass_context
def schema(ctx: click.Context, indent: int) -> None:
    """Print the JSON Schema of a product, the shape every row must have."""
    import json  # noqa: PLC0415

    from shopsync.domain.models import Product  # noqa: PLC0415
    from shopsync.platforms import adapter_class  # noqa: PLC0415

    document = Product.model_json_schema(mode="validation")
    # The profile's platform (generic unless set) adds its own limits, where it states them.
    platform_schema = getattr(
        adapter_class(settings_from_context(ctx).platform), "product_schema", None
    )
    if platform_schema is not None:
        document = platform_schema(document)
    # The model's docstring is written for developers; people reading a schema get this.
    document["description"] = SCHEMA_DESCRIPTION
    click.echo(json.dumps(document, ensure_ascii=False, indent=indent or None))


COMMANDS = [validate, schema]
