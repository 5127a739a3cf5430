"""``shopsync apply PLAN`` (a saved plan, exactly) and ``shopsync products`` (read the platform)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from shopsync.cli.catalog import input_options, open_catalog
from shopsync.cli.main import AppContext
from shopsync.cli.options import platform_options
from shopsync.cli.sync import (
    JSON_SUMMARY_OPTION,
    SANDBOX_OPTION,
    _job_options,
    _path_option,
    _run_job,
    _run_output,
    open_target,
)
from shopsync.i18n import _


@click.command("apply")
@click.argument("plan_path", metavar="PLAN", type=click.Path(path_type=Path, dir_okay=False))
@input_options
@platform_options
@SANDBOX_OPTION
@click.option(
    "--refresh",
    is_flag=True,
    help="Compare the platform's products, not this machine's ledger, with the state the "
    "plan was made against (for CI runners whose ledger starts empty).",
)
@click.option(
    "--replan",
    is_flag=True,
    help="Plan again from the files the plan names and upload that, instead of the plan.",
)
@_path_option(
    "--failed", "Rows the platform refused go here (default: DATA_DIR/runs/RUN/failed.csv, if any)."
)
@_path_option("--succeeded", "Write sku, product_id and action of every product sent.")
@_path_option("--report", "Write a JSON report of the run (counts, traffic, exit code).")
@_path_option("--metrics-file", "Write Prometheus metrics of the run (textfile collector).")
@JSON_SUMMARY_OPTION
@click.pass_context
def apply_command(
    ctx: click.Context,
    plan_path: Path,
    sandbox: bool,
    refresh: bool,
    replan: bool,
    failed: Path | None,
    succeeded: Path | None,
    report: Path | None,
    metrics_file: Path | None,
    as_json: bool,
) -> None:
    """Apply exactly the changes of PLAN (written by `shopsync plan FILE... --out PLAN`).

    What is sent is the plan's, not the files' as they are now. If the ledger or the
    platform changed since the plan for any product it touches, nothing is sent and
    the command exits 7, naming what moved; --replan plans again from the plan's files.
    """
    from shopsync.jobs.apply import ApplyJob  # noqa: PLC0415 - keeps --help fast
    from shopsync.jobs.base import Outputs  # noqa: PLC0415
    from shopsync.jobs.planfile import PlanDocument, check_target  # noqa: PLC0415
    from shopsync.jobs.upload import UploadJob  # noqa: PLC0415

    document = PlanDocument.read(plan_path)
    options = document.options
    output = _run_output(ctx, as_json)
    files = tuple(Path(item["file"]) for item in document.inputs)
    catalog = open_catalog(ctx, files if replan else ())
    with open_target(ctx, sandbox=sandbox, need_platform=True) as (settings, target):
        check_target(
            document,
            profile=target.profile,
            platform=target.platform_name,
            base_url=target.base_url,
        )
        flags: dict[str, Any] = {
            "force": bool(options.get("force")),
            "refresh": refresh or (bool(options.get("refresh")) and replan),
            "prune": bool(options.get("prune")),
            "max_delete": options.get("max_delete"),
        }
        outputs = Outputs(
            failed=failed,
            succeeded=succeeded,
            report=report,
            metrics=metrics_file,
            runs_dir=settings.data_dir / "runs",
        )
        job: UploadJob
        if replan:
            job = UploadJob(
                catalog, target, _job_options(settings, **flags), outputs, command="apply"
            )
        else:
            job = ApplyJob(document, catalog, target, _job_options(settings, **flags), outputs)
            job.report.files = [str(item["file"]) for item in document.inputs]
        code = _run_job(ctx, job, output, catalog.warnings, as_json=as_json)
    if code:
        ctx.exit(code)


@click.group("products")
def products_group() -> None:
    """Read the products on the platform (what its back office would show)."""


PRODUCT_FORMAT_OPTION = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="table: for people; json: an array; csv: a header and rows.",
)


@products_group.command("list")
@platform_options
@SANDBOX_OPTION
@PRODUCT_FORMAT_OPTION
@click.pass_context
def products_list_command(ctx: click.Context, sandbox: bool, fmt: str) -> None:
    """List every product on the platform, page by page."""
    from shopsync.ui.console import Output, show_products  # noqa: PLC0415

    app: AppContext = ctx.find_object(AppContext) or AppContext()
    with open_target(ctx, sandbox=sandbox, need_platform=True) as (_settings, target):
        assert target.platform is not None  # need_platform=True
        products = list(target.platform.iter_products())
    show_products(Output(quiet=app.quiet, verbose=app.verbose), products, fmt)


@products_group.command("get")
@click.argument("sku")
@platform_options
@SANDBOX_OPTION
@PRODUCT_FORMAT_OPTION
@click.pass_context
def products_get_command(ctx: click.Context, sku: str, sandbox: bool, fmt: str) -> None:
    """Show the product with SKU as the platform holds it (exit 1 if there is none)."""
    from shopsync.ui.console import Output, show_products  # noqa: PLC0415

    app: AppContext = ctx.find_object(AppContext) or AppContext()
    with open_target(ctx, sandbox=sandbox, need_platform=True) as (_settings, target):
        assert target.platform is not None  # need_platform=True
        found = target.platform.lookup_skus([sku]).get(sku)
    if found is None:
        click.echo(_("No product has the SKU {sku!r} on the platform.").format(sku=sku), err=True)
        ctx.exit(1)
    show_products(Output(quiet=app.quiet, verbose=app.verbose), [found], fmt)


COMMANDS = [apply_command, products_group]
