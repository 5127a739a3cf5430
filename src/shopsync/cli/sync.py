"""Commands that sync a catalog to a platform: ``plan``, ``upload``, and ``audit``."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from shopsync.cli.catalog import (
    FILES,
    IMAGES_FROM_OPTION,
    input_options,
    open_catalog,
    read_options,
    user_mapping,
)
from shopsync.cli.main import AppContext, echo_json, note_changes
from shopsync.cli.options import BULK_OPTION, platform_options, settings_from_context
from shopsync.errors import ExitCode
from shopsync.i18n import _, localized

if TYPE_CHECKING:
    from shopsync.config import Settings
    from shopsync.jobs.base import Target

SANDBOX_PROFILE = "sandbox"


@contextmanager
def open_target(
    ctx: click.Context,
    *,
    sandbox: bool,
    need_platform: bool,
    sandbox_options: Mapping[str, Any] | None = None,
) -> Iterator[tuple[Settings, Target]]:
    """Settings and the sync target for a command; with ``sandbox``, an embedded sandbox.

    ``sandbox_options`` are extra :class:`~shopsync.sandbox.SandboxConfig` fields for the
    embedded sandbox (``shopsync orders`` asks for generated orders this way).

    The embedded sandbox keeps its shop in the data directory and its ledger under a
    fixed name, so a second ``--sandbox`` run finds everything it sent the first time
    (the sandbox's port changes from run to run; the ledger must not follow it).
    """
    from shopsync.jobs.base import Target  # noqa: PLC0415 - keeps --help fast

    settings = settings_from_context(ctx)
    with ExitStack() as stack:
        if sandbox:
            from shopsync.sandbox import SandboxConfig, running_sandbox  # noqa: PLC0415

            shop_dir = settings.data_dir / "sandbox"
            shop_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            # The embedded sandbox speaks the dialect of the profile's platform.
            handle = stack.enter_context(
                running_sandbox(
                    SandboxConfig(
                        db=shop_dir / "shop.db",
                        dialect=settings.platform,
                        **(sandbox_options or {}),
                    )
                )
            )
            settings = replace(settings, profile=SANDBOX_PROFILE).with_values(
                **handle.client_settings()
            )
            ledger_dir = settings.data_dir / "ledger" / "sandbox-embedded"
            namespace = "sandbox|embedded"
        else:
            # Even a command that sends nothing (plan) needs the target named: the ledger
            # that decides it is per profile and base URL.
            settings.require_credentials()
            if not settings.base_url:
                from shopsync.platforms import endpoint_for  # noqa: PLC0415

                # An endpoint the adapter derives (Amazon's region) names the ledger too.
                derived = endpoint_for(settings)
                settings = settings.with_values(base_url=derived) if derived else settings
            ledger_dir = settings.ledger_dir()
            namespace = f"{settings.profile}|{settings.base_url}"
        platform = None
        if need_platform:
            from shopsync.platforms import connect  # noqa: PLC0415 - keeps --help fast

            platform = connect(settings)
            stack.callback(platform.close)
        yield (
            settings,
            Target(
                platform=platform,
                capabilities=_declared_capabilities(settings.platform),
                platform_name=settings.platform,
                ledger_dir=ledger_dir,
                namespace=namespace,
                profile=settings.profile,
                audit_path=settings.audit_path,
                lock_path=settings.lock_path,
                base_url="sandbox (embedded)" if sandbox else str(settings.base_url),
                # The embedded sandbox keeps its own ledger; a real target may share one.
                ledger_url=None if sandbox else settings.ledger_url,
            ),
        )


def _declared_capabilities(name: str) -> Any:
    """What the adapter of platform ``name`` declares for any connection, if it does."""
    from shopsync.platforms import adapter_class  # noqa: PLC0415 - keeps --help fast
    from shopsync.platforms.base import Capabilities  # noqa: PLC0415

    declared = getattr(adapter_class(name), "capabilities", None)
    return declared if isinstance(declared, Capabilities) else None


def _job_options(settings: Settings, **flags: Any) -> Any:
    from shopsync.jobs.base import JobOptions  # noqa: PLC0415

    return JobOptions(batch_size=settings.batch_size, workers=settings.workers, **flags)


SANDBOX_OPTION = click.option(
    "--sandbox",
    is_flag=True,
    help="Use a built-in sandbox platform kept in the data directory (no account needed).",
)
FORCE_OPTION = click.option(
    "--force", is_flag=True, help="Send every product again, changed or not."
)
VERIFY_OPTION = click.option(
    "--verify/--no-verify",
    default=True,
    show_default=True,
    help="Where the platform applies writes later (Amazon), check that each accepted "
    "write was applied before counting it; those that were not are reported as "
    "accepted but not live (exit code 9) and checked again by the next run.",
)
VERIFY_TIMEOUT_OPTION = click.option(
    "--verify-timeout",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    metavar="SECONDS",
    help="How long --verify waits for accepted writes to be applied (0: check once).",
)
REMOVE_VARIANTS_OPTION = click.option(
    "--remove-missing-variants",
    is_flag=True,
    help="Remove from the platform a variant an earlier upload sent that the file no "
    "longer lists (default: keep it there and report it).",
)
REFRESH_OPTION = click.option(
    "--refresh",
    is_flag=True,
    help="First read the products' current state from the platform (for catalogs edited "
    "elsewhere).",
)


PRUNE_OPTION = click.option(
    "--prune",
    is_flag=True,
    help="Also remove (archive where the platform can) products shopsync manages on this "
    "target that the catalog no longer lists.",
)
MAX_DELETE_OPTION = click.option(
    "--max-delete",
    type=click.IntRange(min=0),
    metavar="N",
    help="With --prune: stop before removing anything if more than N products would go "
    "(default: 5% of the products shopsync manages there, at least 1).",
)


QUEUE_OPTION = click.option(
    "--queue",
    is_flag=True,
    help="Fleet mode: plan into the shared ledger and queue the batches for `shopsync worker`s.",
)
WAIT_OPTION = click.option(
    "--wait", is_flag=True, help="With --queue: follow the run until every batch is done."
)
JSON_SUMMARY_OPTION = click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print the run's summary as one JSON object on stdout (the report's fields); "
    "progress and messages go to stderr.",
)


def _path_option(name: str, text: str) -> Callable[[Any], Any]:
    return click.option(name, type=click.Path(path_type=Path, dir_okay=False), help=text)


@click.command("plan")
@FILES
@input_options
@IMAGES_FROM_OPTION
@platform_options
@SANDBOX_OPTION
@FORCE_OPTION
@REFRESH_OPTION
@REMOVE_VARIANTS_OPTION
@PRUNE_OPTION
@MAX_DELETE_OPTION
@_path_option("--rejects", "Write rejected rows (cells plus an 'error' column) to this CSV.")
@_path_option("--out", "Write the plan, every change with its values, to this file (for apply).")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    expose_value=False,  # cli/main.py reads it and decides the exit code
    help="Exit 0 with no changes, 2 with changes, 1 on any error (as terraform does).",
)
@click.pass_context
def plan_command(
    ctx: click.Context,
    files: tuple[Path, ...],
    sandbox: bool,
    force: bool,
    refresh: bool,
    remove_missing_variants: bool,
    prune: bool,
    max_delete: int | None,
    rejects: Path | None,
    out: Path | None,
    as_json: bool,
) -> None:
    """Show what an upload of FILES would change; send no write request.

    Without --refresh, nothing is sent at all: the ledger of earlier uploads decides.
    With --out PLAN, the plan is saved for `shopsync apply PLAN`.
    """
    from shopsync.jobs.base import Outputs  # noqa: PLC0415
    from shopsync.jobs.plan import plan  # noqa: PLC0415

    app: AppContext = ctx.find_object(AppContext) or AppContext()
    catalog = open_catalog(ctx, files, settings_from_context(ctx).platform)
    with open_target(ctx, sandbox=sandbox, need_platform=refresh) as (settings, target):
        from shopsync.platforms import adapter_class  # noqa: PLC0415

        # Local images are checked against the platform's limits, known without connecting.
        catalog.use_image_limits(
            getattr(adapter_class(settings.platform), "image_limits", None), settings.platform
        )
        result = plan(
            catalog,
            target,
            _job_options(
                settings,
                force=force,
                refresh=refresh,
                remove_missing_variants=remove_missing_variants,
                prune=prune,
                max_delete=max_delete,
            ),
            Outputs(rejects=rejects, plan=out),
        )
    if as_json:
        echo_json(ctx, result.to_json())
    else:
        from shopsync.ui.console import Output, show_plan  # noqa: PLC0415

        show_plan(Output(quiet=app.quiet, verbose=app.verbose), result)
    if catalog.empty_files():
        from shopsync.ui.console import Output, show_empty_inputs  # noqa: PLC0415

        output = Output(quiet=app.quiet, verbose=app.verbose)
        show_empty_inputs(output, catalog.empty_files(), files=len(catalog.files))
    # --detailed-exitcode is applied where every exit code is decided (cli/main.py).
    note_changes(ctx, result.has_changes)
    if result.counts.rejected:
        ctx.exit(int(ExitCode.INPUT_REJECTED))


@click.command("upload")
@FILES
@input_options
@IMAGES_FROM_OPTION
@platform_options
@SANDBOX_OPTION
@FORCE_OPTION
@REFRESH_OPTION
@REMOVE_VARIANTS_OPTION
@PRUNE_OPTION
@MAX_DELETE_OPTION
@VERIFY_OPTION
@VERIFY_TIMEOUT_OPTION
@BULK_OPTION
@click.option("--strict", is_flag=True, help="Send nothing if any row is invalid.")
@_path_option(
    "--rejects", "Rejected input rows go here (default: DATA_DIR/runs/RUN/rejects.csv, if any)."
)
@_path_option(
    "--failed", "Rows the platform refused go here (default: DATA_DIR/runs/RUN/failed.csv, if any)."
)
@_path_option("--succeeded", "Write sku, product_id and action of every product sent.")
@_path_option("--report", "Write a JSON report of the run (counts, traffic, exit code).")
@_path_option("--metrics-file", "Write Prometheus metrics of the run (textfile collector).")
@JSON_SUMMARY_OPTION
@QUEUE_OPTION
@WAIT_OPTION
@click.pass_context
def upload_command(
    ctx: click.Context,
    files: tuple[Path, ...],
    sandbox: bool,
    force: bool,
    refresh: bool,
    remove_missing_variants: bool,
    prune: bool,
    max_delete: int | None,
    verify: bool,
    verify_timeout: float,
    strict: bool,
    rejects: Path | None,
    failed: Path | None,
    succeeded: Path | None,
    report: Path | None,
    metrics_file: Path | None,
    as_json: bool,
    queue: bool,
    wait: bool,
) -> None:
    """Validate FILES, plan the changes, and send them to the platform.

    Only what changed since the last upload is sent. Invalid rows are set aside
    (--rejects) and the valid ones still go, unless --strict. A re-run after a crash
    or Ctrl-C resumes where the last one stopped, and never creates a product twice.
    """
    if queue or wait:
        from shopsync.cli.fleet_cmds import queue_upload  # noqa: PLC0415 - the fleet extra

        if not queue or sandbox or prune:
            raise click.UsageError(
                _(
                    "--wait goes with --queue, and --queue with neither --sandbox (the "
                    "embedded sandbox lives in one process) nor --prune (yet)."
                )
            )
        queue_upload(
            ctx,
            files,
            wait=wait,
            force=force,
            refresh=refresh,
            rejects=rejects,
            strict=strict,
            failed=failed,
            report=report,
            as_json=as_json,
            metrics=metrics_file,
            succeeded=succeeded,
        )
        return
    from shopsync.jobs.base import Outputs  # noqa: PLC0415
    from shopsync.jobs.upload import UploadJob  # noqa: PLC0415

    output = _run_output(ctx, as_json)
    catalog = open_catalog(ctx, files, settings_from_context(ctx).platform)
    with open_target(ctx, sandbox=sandbox, need_platform=True) as (settings, target):
        job = UploadJob(
            catalog,
            target,
            _job_options(
                settings,
                force=force,
                refresh=refresh,
                strict=strict,
                remove_missing_variants=remove_missing_variants,
                prune=prune,
                max_delete=max_delete,
                verify=verify,
                verify_timeout=verify_timeout,
            ),
            Outputs(
                rejects=rejects,
                failed=failed,
                succeeded=succeeded,
                report=report,
                metrics=metrics_file,
                runs_dir=settings.data_dir / "runs",
            ),
        )
        code = _run_job(ctx, job, output, catalog.warnings, as_json=as_json)
    if code:
        ctx.exit(code)


def _run_output(ctx: click.Context, as_json: bool) -> Any:
    """The Output of a run; with ``--json`` stdout is kept for the JSON document alone."""
    from shopsync.ui.console import Output  # noqa: PLC0415

    app: AppContext = ctx.find_object(AppContext) or AppContext()
    if as_json:
        return Output(stdout=sys.stderr, quiet=app.quiet, verbose=app.verbose)
    return Output(quiet=app.quiet, verbose=app.verbose)


def _run_job(
    ctx: click.Context, job: Any, output: Any, warnings: list[Any], *, as_json: bool
) -> int:
    """Run an upload or stock job with the progress view and signal handling; its exit code."""
    from shopsync.ui.console import (  # noqa: PLC0415
        RunView,
        show_empty_inputs,
        show_rejected_sample,
        show_run_summary,
    )

    for warning in warnings:
        output.warn(f"{warning.file}: {localized(warning.message)}")

    started = time.monotonic()
    if not output.quiet:  # only a progress display needs the count pass
        job.count_planned()
    with _stop_on_signals(job.stop, output):
        try:
            with RunView(output, job.progress):
                report = job.run()
        finally:
            if job.report.finished_at:  # a run refused before it began has nothing to sum up
                show_empty_inputs(output, job.reader.empty_files(), files=len(job.reader.files))
                show_rejected_sample(
                    output,
                    job.rejected_sample,
                    job.report.counts.get("rejected", 0),
                    job.report.outputs.get("rejects"),
                )
                show_run_summary(output, job.report, time.monotonic() - started)
                if as_json:  # also for a run that failed: the report holds error and exit code
                    echo_json(ctx, job.report.to_json())
    return int(report.exit_code)


@click.command("stock")
@FILES
@input_options
@platform_options
@SANDBOX_OPTION
@click.option(
    "--mode",
    type=click.Choice(["set", "delta"]),
    help="set: the file holds counts; delta: changes to counts (default: from the columns).",
)
@click.option(
    "--cas",
    is_flag=True,
    help="Only change a count that still is what shopsync last set; report the rest as conflicts.",
)
@click.option(
    "--force", is_flag=True, help="Send every count, changed or not (delta: apply the file again)."
)
@_path_option("--rejects", "Rejected input rows go here (default: DATA_DIR/runs/RUN/rejects.csv).")
@_path_option(
    "--failed", "Refused and unknown SKUs go here (default: DATA_DIR/runs/RUN/failed.csv)."
)
@_path_option("--report", "Write a JSON report of the run (counts, traffic, exit code).")
@_path_option("--metrics-file", "Write Prometheus metrics of the run (textfile collector).")
@JSON_SUMMARY_OPTION
@QUEUE_OPTION
@WAIT_OPTION
@click.pass_context
def stock_command(
    ctx: click.Context,
    files: tuple[Path, ...],
    sandbox: bool,
    mode: str | None,
    cas: bool,
    force: bool,
    rejects: Path | None,
    failed: Path | None,
    report: Path | None,
    metrics_file: Path | None,
    as_json: bool,
    queue: bool,
    wait: bool,
) -> None:
    """Sync stock counts from FILES (columns sku and stock, or sku and delta).

    Only counts that changed since the last sync are sent. Unknown SKUs are reported,
    never created. Safe under cron: one run per profile at a time, plain output off a
    terminal, --report and --metrics-file for monitoring.
    """
    from shopsync.io.headers import STOCK_SCHEMA  # noqa: PLC0415
    from shopsync.jobs.base import Outputs  # noqa: PLC0415
    from shopsync.jobs.stock import StockFile, StockJob, StockOptions  # noqa: PLC0415

    output = _run_output(ctx, as_json)
    stock_file = StockFile(
        list(files),
        read_options(ctx),
        user_mapping(ctx, STOCK_SCHEMA.aliases),
        mode=mode,  # type: ignore[arg-type] # click.Choice guarantees the literal
    )
    if queue or wait:
        from shopsync.cli.fleet_cmds import queue_stock  # noqa: PLC0415 - the fleet extra

        if not queue or sandbox:
            raise click.UsageError(
                _(
                    "--wait goes with --queue, and --queue does not go with --sandbox (the "
                    "embedded sandbox lives in one process)."
                )
            )
        queue_stock(
            ctx,
            stock_file,
            files,
            wait=wait,
            cas=cas,
            force=force,
            rejects=rejects,
            failed=failed,
            report=report,
            as_json=as_json,
            metrics=metrics_file,
        )
        return
    with open_target(ctx, sandbox=sandbox, need_platform=True) as (settings, target):
        job = StockJob(
            stock_file,
            target,
            StockOptions(
                cas=cas, force=force, batch_size=settings.batch_size, workers=settings.workers
            ),
            Outputs(
                rejects=rejects,
                failed=failed,
                report=report,
                metrics=metrics_file,
                runs_dir=settings.data_dir / "runs",
            ),
        )
        code = _run_job(ctx, job, output, stock_file.warnings, as_json=as_json)
    if code:
        ctx.exit(code)


@contextmanager
def _stop_on_signals(stop: threading.Event, output: Any) -> Iterator[None]:
    """First Ctrl-C or SIGTERM: finish the batches in flight, save, exit 130. Second: now."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received = 0

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal received
        received += 1
        if received > 1:
            os.write(2, b"\nAborted.\n")
            os._exit(int(ExitCode.INTERRUPTED))
        stop.set()
        os.write(
            2,
            b"\nStopping: waiting for the batches in flight, then saving "
            b"(Ctrl-C again to abort at once).\n",
        )

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("audit")
@platform_options
@click.option("--run", "run_id", metavar="ID", help="Only this run's changes.")
@click.option("--sku", metavar="SKU", help="Only this SKU's changes.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON Lines, as stored.")
@SANDBOX_OPTION
@click.pass_context
def audit_command(
    ctx: click.Context, run_id: str | None, sku: str | None, as_json: bool, sandbox: bool
) -> None:
    """Show the audit log: every change shopsync made on the platform, oldest first."""
    import json  # noqa: PLC0415

    from shopsync.state.audit import read_audit  # noqa: PLC0415

    settings = settings_from_context(ctx)
    if sandbox:
        settings = replace(settings, profile=SANDBOX_PROFILE)
    found = 0
    for record in read_audit(settings.audit_path, run_id=run_id, sku=sku):
        found += 1
        if as_json:
            click.echo(json.dumps(record, ensure_ascii=False))
        else:
            detail = f" {record.get('code')}: {record.get('message')}" if record.get("code") else ""
            click.echo(
                f"{record.get('time')} {record.get('run_id')} {record.get('action')} "
                f"{record.get('sku')} {record.get('product_id') or '-'} "
                f"{record.get('outcome')}{detail}"
            )
    if not found and not as_json:
        click.echo(
            _("No audit records in {audit_path} match.").format(audit_path=settings.audit_path),
            err=True,
        )


COMMANDS = [plan_command, upload_command, stock_command, audit_command]
