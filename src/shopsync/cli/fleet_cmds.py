"""Fleet commands: ``worker``, ``fleet status``, ``ledger migrate``, ``upload --queue``
and ``stock --queue``.

Everything here needs the ``fleet`` extra (celery, redis, psycopg), imported inside the
commands so that ``shopsync --help`` and every single-machine command load none of it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from shopsync.cli.main import AppContext
from shopsync.cli.options import config_dir, platform_flags, platform_options
from shopsync.cli.sync import _run_output
from shopsync.errors import ExitCode, UsageError
from shopsync.i18n import N_, _, localized, nN_

if TYPE_CHECKING:
    from collections.abc import Sequence

    from celery import Celery

    from shopsync.config import Settings
    from shopsync.fleet.status import RunProgress
    from shopsync.fleet.targets import FleetTarget
    from shopsync.jobs.stock import StockFile
    from shopsync.state.ledger_pg import ItemFailure

_FLEET_MODULES = ("celery", "redis", "psycopg")


def require_fleet_extra() -> None:
    """Raise a :class:`UsageError` with the install command if the fleet extra is missing."""
    import importlib.util  # noqa: PLC0415

    missing = [name for name in _FLEET_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(
            nN_(
                "fleet mode needs {names}, which is not installed.",
                "fleet mode needs {names}, which are not installed.",
                len(missing),
            ).format(names=", ".join(missing)),
            hint="pip install 'shopsync[fleet]'",
        )


def _settings(ctx: click.Context, profile: str | None = None) -> Settings:
    """This command's settings, or with ``profile`` (a task's target) that profile's."""
    from shopsync.config import load_settings  # noqa: PLC0415
    from shopsync.platforms import platform_settings  # noqa: PLC0415

    flags = platform_flags(ctx)
    if profile is not None:
        flags["profile"] = profile
    return load_settings(
        config_dir=config_dir(),
        environ=os.environ,
        flags=flags,
        platform_settings=platform_settings,
    )


@click.command("worker")
@platform_options
@click.option(
    "--concurrency",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Batches this worker sends at once (threads).",
)
@click.option("--name", metavar="NAME", help="Worker name (default: HOST:PID).")
@click.option(
    "--lease",
    type=click.FloatRange(min=1),
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="How long a claimed batch stays this worker's without renewal.",
)
@click.pass_context
def worker_command(ctx: click.Context, concurrency: int, name: str | None, lease: float) -> None:
    """Run a fleet worker: take batches from the queue and send them.

    The broker is broker_url (SHOPSYNC_BROKER_URL), the shared ledger ledger_url
    (SHOPSYNC_LEDGER_URL), the shared rate limit limiter_url (SHOPSYNC_LIMITER_URL,
    default the broker's Redis). Each task names a profile; its credentials come from
    this machine's config file and environment, never from the queue.
    """
    require_fleet_extra()
    import socket  # noqa: PLC0415

    from shopsync.fleet.app import QUEUE, enqueue, make_app, set_runner  # noqa: PLC0415
    from shopsync.fleet.runner import BatchRunner  # noqa: PLC0415
    from shopsync.fleet.targets import fleet_target  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    app_context: AppContext = ctx.find_object(AppContext) or AppContext()
    base = fleet_target(_settings(ctx))
    worker_name = name or f"{socket.gethostname()}:{os.getpid()}"
    # The schema is checked now, not at the first task: a worker of the wrong version
    # should not start at all.
    with PgLedger(base.ledger_url, target="") as ledger:
        ledger.note_worker(worker_name, hostname=socket.gethostname(), pid=os.getpid())
    runner = BatchRunner(
        lambda profile: _settings(ctx, profile), name=worker_name, lease_seconds=lease
    )
    set_runner(runner)
    app = make_app(base.broker_url)
    runner.requeue = lambda profile, key, later, ahead: enqueue(
        app, profile, key, countdown=later, first=ahead
    )
    level = "WARNING" if app_context.quiet else ("DEBUG" if app_context.verbose > 1 else "INFO")
    try:
        app.worker_main(
            [
                "worker",
                "--pool=threads",
                f"--concurrency={concurrency}",
                f"--hostname={worker_name}",
                f"--loglevel={level}",
                "--without-gossip",
                "--without-mingle",
                f"--queues={QUEUE}",
            ]
        )
    finally:
        set_runner(None)
        runner.close()


@click.group("fleet")
def fleet_group() -> None:
    """Look at a fleet of workers and the shared ledger."""


@fleet_group.command("status")
@platform_options
@click.option("--json", "as_json", is_flag=True, help="Print the status as one JSON object.")
@click.pass_context
def fleet_status_command(ctx: click.Context, as_json: bool) -> None:
    """Show runs, batches per target (pending, leased, done, failed), workers and limits."""
    require_fleet_extra()
    from shopsync.fleet.limiter import connect_redis  # noqa: PLC0415
    from shopsync.fleet.status import fleet_status  # noqa: PLC0415
    from shopsync.fleet.targets import fleet_target  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    target = fleet_target(_settings(ctx), need_broker=False)
    PgLedger(target.ledger_url, target="").close()  # the schema check, with its hint
    limiter = connect_redis(target.limiter_url) if target.limiter_url else None
    try:
        status = fleet_status(target.ledger_url, limiter)
    finally:
        if limiter is not None:
            limiter.close()
    if as_json:
        import json  # noqa: PLC0415

        click.echo(json.dumps(status, ensure_ascii=False, indent=2))
        return
    click.echo(_("Ledger: {ledger}").format(ledger=status["ledger"]))

    click.echo(_("Targets:") if status["targets"] else _("Targets: none yet"))
    for row in status["targets"]:
        click.echo(
            _(
                "  {target}: {pending} pending, {leased} leased, {done} done, {failed} failed"
            ).format(
                target=row["target"],
                pending=row["pending"],
                leased=row["leased"],
                done=row["done"],
                failed=row["failed"],
            )
        )
    click.echo(_("Runs:") if status["runs"] else _("Runs: none yet"))
    for run in status["runs"]:
        click.echo(
            _(
                "  {run_id} {profile}: {settled_batches} of {batches} batches "
                "settled, {items} items queued, {unchanged} unchanged, "
                "{rejected} rejected"
            ).format(
                run_id=run["run_id"],
                profile=run["profile"],
                settled_batches=run["settled_batches"],
                batches=run["batches"],
                items=run["items"],
                unchanged=run["unchanged"],
                rejected=run["rejected"],
            )
        )
    click.echo(
        _("Workers seen in the last hour:") if status["workers"] else _("Workers: none seen")
    )
    for worker in status["workers"]:
        click.echo(
            _("  {name}: {batches} batches, last seen {seconds_since_seen:g} s ago").format(
                name=worker["name"],
                batches=worker["batches"],
                seconds_since_seen=worker["seconds_since_seen"],
            )
        )
    for key, state in status["limiters"].items():
        if state:
            click.echo(
                _("Limit {key}: {rate:g}/s of {max_rate:g}/s").format(
                    key=key, rate=state["rate"], max_rate=state["max_rate"]
                )
                + (
                    _(", the shop refills {refill:g}/s").format(refill=state["measured_refill"])
                    if state.get("measured_refill")
                    else ""
                )
                + (
                    _(", paused {paused_for:.1f} s").format(paused_for=state["paused_for"])
                    if state["paused_for"]
                    else ""
                )
            )


@click.group("ledger")
def ledger_group() -> None:
    """Manage the shared PostgreSQL ledger of a fleet."""


@ledger_group.command("migrate")
@platform_options
@click.pass_context
def ledger_migrate_command(ctx: click.Context) -> None:
    """Bring the ledger database (ledger_url) to this shopsync's schema version."""
    require_fleet_extra()
    from shopsync.fleet.targets import fleet_target  # noqa: PLC0415
    from shopsync.state.ledger_pg import LATEST_VERSION, display_url, migrate  # noqa: PLC0415

    target = fleet_target(_settings(ctx), need_broker=False)
    applied = migrate(target.ledger_url)
    where = display_url(target.ledger_url)
    if applied:
        click.echo(
            _("Applied migration(s) {names} to {where}.").format(
                names=", ".join(map(str, applied)), where=where
            )
        )
    else:
        click.echo(
            _("{where} is at schema version {version} already; nothing to do.").format(
                where=where, version=LATEST_VERSION
            )
        )


def queue_upload(  # noqa: PLR0915 - the upload command's options, in one place
    ctx: click.Context,
    files: tuple[Path, ...],
    *,
    wait: bool,
    force: bool,
    refresh: bool,
    rejects: Path | None,
    strict: bool = False,
    failed: Path | None = None,
    report: Path | None = None,
    as_json: bool = False,
    metrics: Path | None = None,
    succeeded: Path | None = None,
) -> None:
    """``upload FILES --queue [--wait]``: plan into the shared ledger, queue, and follow.

    With ``--wait`` the run ends as an ordinary upload does: the items the platform
    refused (whichever worker sent them) go to the failed file, ``--report`` and
    ``--json`` give the run's counts and exit code.
    """
    require_fleet_extra()

    from shopsync.catalog.records import RejectsFile  # noqa: PLC0415
    from shopsync.cli.catalog import open_catalog  # noqa: PLC0415
    from shopsync.domain.timefmt import now_rfc3339  # noqa: PLC0415
    from shopsync.fleet.app import make_app  # noqa: PLC0415
    from shopsync.fleet.dispatch import queue_upload  # noqa: PLC0415
    from shopsync.fleet.targets import fleet_target  # noqa: PLC0415
    from shopsync.jobs.upload import check_strict  # noqa: PLC0415
    from shopsync.platforms import connect  # noqa: PLC0415

    _check_outputs(
        wait=wait,
        failed=failed,
        report=report,
        rejects=rejects,
        metrics=metrics,
        succeeded=succeeded,
    )
    settings = _settings(ctx)
    settings.require_credentials()
    target = fleet_target(settings)
    catalog = open_catalog(ctx, files, settings.platform)
    if strict:
        check_strict(catalog, rejects)
    app = make_app(target.broker_url)
    started = time.monotonic()
    started_at = now_rfc3339()

    if wait:
        _follow_earlier(app, target, _run_output(ctx, as_json), "products")
    platform = connect(settings)  # for its batch size and --refresh: nothing is sent
    rejects_file = RejectsFile(rejects, catalog.header_map) if rejects else None
    try:
        run = queue_upload(
            catalog, target, app, platform, force=force, refresh=refresh, rejects=rejects_file
        )
    finally:
        platform.close()
        if rejects_file is not None:
            if rejects_file.count:
                rejects_file.close()
            else:
                rejects_file.discard()
    for error in run.first_errors:
        click.echo(f"{error.row.file}:{error.row.line}: {localized(error.message)}", err=True)
    _say(
        as_json,
        _(
            "Queued {batches} batches ({items} products) as run {run_id}; "
            "{unchanged} unchanged, {rejected} rejected."
        ).format(
            batches=run.batches,
            items=run.items,
            run_id=run.run_id,
            unchanged=run.unchanged,
            rejected=run.rejected,
        ),
    )
    code = ExitCode.INPUT_REJECTED if run.rejected else ExitCode.OK
    counts = {"queued": run.items, "unchanged": run.unchanged, "rejected": run.rejected}
    outputs: dict[str, str] = {}
    if rejects_file is not None and rejects_file.count:
        outputs["rejects"] = str(rejects)
    if wait:
        final = _follow(
            app,
            target,
            run.run_id,
            _run_output(ctx, as_json),
            "products",
            unchanged=run.unchanged,
            rejected=run.rejected,
        )
        _say(
            as_json,
            _(
                "Done: {created} created, {updated} updated, {failed} failed, "
                "{unchanged} unchanged, {rejected} rejected, in {seconds:.1f}s "
                "({batches} batches, {attempts} claims)."
            ).format(
                created=final.created,
                updated=final.updated,
                failed=final.failed,
                unchanged=run.unchanged,
                rejected=run.rejected,
                seconds=time.monotonic() - started,
                batches=final.batches,
                attempts=final.attempts,
            ),
        )
        counts.update(created=final.created, updated=final.updated, failed=final.failed)
        written = _write_failed(
            target,
            run.run_id,
            failed or settings.data_dir / "runs" / run.run_id / "failed.csv",
            named=failed is not None,
        )
        if written is not None:
            outputs["failed"] = str(written)
        if succeeded is not None:
            _write_succeeded(target, run.run_id, succeeded)
            outputs["succeeded"] = str(succeeded)
        if final.failed:
            code = ExitCode.ITEMS_FAILED
    _finish(
        ctx,
        command="upload",
        wait=wait,
        run_id=run.run_id,
        profile=target.profile,
        started_at=started_at,
        counts=counts,
        files=files,
        outputs=outputs,
        code=int(code),
        report=report,
        as_json=as_json,
        metrics=metrics,
        duration=time.monotonic() - started,
    )


def _say(as_json: bool, line: str) -> None:
    """A line of a queued run's own output: stdout, or stderr with ``--json`` (stdout then
    holds the JSON document alone)."""
    click.echo(line, err=as_json)


def _follow(
    app: Celery,
    target: FleetTarget,
    keys_or_run: str | list[str],
    output: Any,
    unit: str,
    *,
    unchanged: int = 0,
    rejected: int = 0,
) -> RunProgress:
    """Wait for a queued run (``--wait``) with a plain run's progress view: live on a
    terminal, a line every few seconds elsewhere, nothing with ``--quiet``. Items are the
    settled batches' (whoever sent them), with what planning found unchanged or invalid."""
    from shopsync.fleet.dispatch import follow  # noqa: PLC0415
    from shopsync.jobs.base import Progress  # noqa: PLC0415
    from shopsync.sync.report import RunCounts  # noqa: PLC0415
    from shopsync.ui.console import RunView  # noqa: PLC0415

    started = time.monotonic()
    latest: list[RunProgress] = []

    def progress() -> Progress:
        seen = latest[-1] if latest else None
        return Progress(
            counts=RunCounts(
                created=seen.created if seen else 0,
                updated=seen.updated if seen else 0,
                failed=seen.failed if seen else 0,
                unchanged=unchanged,
                rejected=rejected,
            ),
            bytes_read=0,
            bytes_total=0,
            elapsed=time.monotonic() - started,
            throttled_for=0.0,
            planned=(seen.items if seen else 0) + unchanged + rejected,
            unit=unit,
        )

    def seen_now(now: RunProgress) -> None:
        latest[:] = [now]

    with RunView(output, progress):
        return follow(app, target, keys_or_run, on_progress=seen_now)


def _follow_earlier(app: Celery, target: FleetTarget, output: Any, unit: str) -> None:
    """Queue an earlier run's pending batches again and wait for them (``--wait``)."""
    from shopsync.fleet.dispatch import requeue_pending  # noqa: PLC0415

    earlier = requeue_pending(app, target)
    if earlier:
        click.echo(
            _("Waiting for {count} batches of an earlier run first.").format(count=len(earlier)),
            err=True,
        )
        _follow(app, target, earlier, output, unit)


def _write_succeeded(target: FleetTarget, run_id: str, path: Path) -> None:
    """A queued run's succeeded file, as a plain run writes it (``sku``, ``product_id``,
    ``action``), from the shared ledger."""
    from shopsync.io.writers import SpooledRowsWriter  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    with PgLedger(target.ledger_url, target=target.namespace) as ledger:
        refused = {failure.sku for failure in ledger.failures(run_id)}
        settled = [(sku, kind) for sku, kind in ledger.settled_skus(run_id) if sku not in refused]
        products = ledger.get_many([sku for sku, kind in settled if kind == "product"])
    writer = SpooledRowsWriter(path)
    for sku, kind in settled:
        entry = products.get(sku) if kind == "product" else None
        writer.add(
            {
                "sku": sku,
                # A stock change names no product, as in a plain `stock` run.
                "product_id": entry.product_id if entry else None,
                "action": entry.outcome if entry else "updated",
            }
        )
    writer.close()


def _write_failed(
    target: FleetTarget,
    run_id: str,
    path: Path,
    *,
    named: bool,
    planned: Sequence[ItemFailure] = (),
    sent: bool = True,
) -> Path | None:
    """The failed file of a queued run, from the shared ledger: where it was written, if
    anything was refused (or the path was named: then even empty, as a plain run does).
    ``planned``: items refused while planning (a stock file's unknown SKUs), first;
    ``sent`` False: the workers' are not all known yet (no ``--wait``), so none are read."""
    from shopsync.io.writers import SpooledRowsWriter  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    refused = list(planned)
    if sent:
        with PgLedger(target.ledger_url, target=target.namespace) as ledger:
            refused += ledger.failures(run_id)
    if not refused and not named:
        return None
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    writer = SpooledRowsWriter(path, trailing=("error_code", "error_message"))
    for item in refused:
        writer.add(
            {**item.cells, "error_code": item.code, "error_message": localized(item.message)}
        )
    writer.close()
    if refused:
        click.echo(
            _("Refused by the platform: {count} rows, in {path}").format(
                count=len(refused), path=path
            ),
            err=True,
        )
    return path


def queue_stock(
    ctx: click.Context,
    stock_file: StockFile,
    files: tuple[Path, ...],
    *,
    wait: bool,
    cas: bool,
    force: bool,
    rejects: Path | None,
    failed: Path | None = None,
    report: Path | None = None,
    as_json: bool = False,
    metrics: Path | None = None,
) -> None:
    """``stock FILES --queue [--wait]``: plan into the shared ledger, queue, and follow.

    Planned as a lone ``stock`` run would send it (the same batches and keys, SKUs no
    product has looked up and refused); with ``--wait`` it ends as that run does: the
    refused items in the failed file, ``--report``, ``--json``, and its exit code.
    """
    require_fleet_extra()

    from shopsync.domain.timefmt import now_rfc3339  # noqa: PLC0415
    from shopsync.fleet.app import enqueue, make_app  # noqa: PLC0415
    from shopsync.fleet.dispatch import QueueingStockJob  # noqa: PLC0415
    from shopsync.fleet.targets import fleet_target  # noqa: PLC0415
    from shopsync.jobs.base import exit_code_for  # noqa: PLC0415
    from shopsync.jobs.stock import StockOptions  # noqa: PLC0415
    from shopsync.platforms import connect  # noqa: PLC0415
    from shopsync.sync.report import RunCounts  # noqa: PLC0415

    _check_outputs(wait=wait, failed=failed, report=report, rejects=rejects, metrics=metrics)
    settings = _settings(ctx)
    settings.require_credentials()
    target = fleet_target(settings)
    app = make_app(target.broker_url)
    started = time.monotonic()
    started_at = now_rfc3339()

    if wait:
        _follow_earlier(app, target, _run_output(ctx, as_json), "counts")
    # For its capabilities, batch size and the lookup of SKUs the ledger has not seen:
    # no inventory request is sent from here.
    platform = connect(settings)
    try:
        job = QueueingStockJob(
            stock_file,
            target,
            platform,
            lambda key, first: enqueue(app, target.profile, key, first=first),
            options=StockOptions(cas=cas, force=force, batch_size=settings.batch_size),
            rejects=rejects,
        )
        planned = job.run()
    finally:
        platform.close()
    for error in job.rejected_sample[:5]:
        click.echo(f"{error.row.file}:{error.row.line}: {localized(error.message)}", err=True)
    counts = RunCounts(**planned.counts)
    _say(
        as_json,
        _(
            "Queued {batches} batches ({items} counts) as run {run_id}; "
            "{unchanged} unchanged, {unknown} unknown SKUs, {rejected} rejected."
        ).format(
            batches=job.queued_batches,
            items=job.queued_items,
            run_id=job.run_id,
            unchanged=counts.unchanged,
            unknown=len(job.refused),
            rejected=counts.rejected,
        ),
    )
    outputs = {name: path for name, path in planned.outputs.items() if name == "rejects"}
    if wait:
        final = _follow(
            app,
            target,
            job.run_id,
            _run_output(ctx, as_json),
            "counts",
            unchanged=counts.unchanged,
            rejected=counts.rejected,
        )
        counts.updated = final.updated
        counts.failed += final.failed
        _say(
            as_json,
            _(
                "Done: {updated} updated, {failed} failed, {unchanged} unchanged, "
                "{rejected} rejected, in {seconds:.1f}s ({batches} batches, {attempts} claims)."
            ).format(
                updated=counts.updated,
                failed=counts.failed,
                unchanged=counts.unchanged,
                rejected=counts.rejected,
                seconds=time.monotonic() - started,
                batches=final.batches,
                attempts=final.attempts,
            ),
        )
    # Unknown SKUs are known once planned: their failed file is written with or
    # without --wait (with it, the workers' refused items too).
    written = _write_failed(
        target,
        job.run_id,
        failed or settings.data_dir / "runs" / job.run_id / "failed.csv",
        named=failed is not None,
        planned=job.refused,
        sent=wait,
    )
    if written is not None:
        outputs["failed"] = str(written)
    code = exit_code_for(counts)
    _finish(
        ctx,
        command="stock",
        wait=wait,
        run_id=job.run_id,
        profile=target.profile,
        started_at=started_at,
        counts={"queued": job.queued_items, **counts.as_dict()},
        files=files,
        outputs=outputs,
        code=int(code),
        report=report,
        as_json=as_json,
        metrics=metrics,
        duration=time.monotonic() - started,
    )


def _check_outputs(
    *,
    wait: bool,
    failed: Path | None,
    report: Path | None,
    rejects: Path | None,
    metrics: Path | None,
    succeeded: Path | None = None,
) -> None:
    """Refuse, before anything is planned, outputs a queued run cannot write."""
    from shopsync.catalog.records import check_output_path  # noqa: PLC0415

    if failed is not None and not wait:
        raise UsageError(
            N_(
                "--failed with --queue needs --wait: the refused items are known "
                "once the workers have sent them."
            ),
            hint=N_("Add --wait, or read them later with `shopsync fleet status`."),
        )
    if succeeded is not None and not wait:
        raise UsageError(
            N_(
                "--succeeded with --queue needs --wait: what went through is known "
                "once the workers have sent it."
            ),
            hint=N_("Add --wait."),
        )
    if metrics is not None and not wait:
        raise UsageError(
            N_(
                "--metrics-file with --queue needs --wait: the run's outcome is known "
                "once the workers have sent it."
            ),
            hint=N_("Add --wait."),
        )
    for option, named in (
        ("--failed", failed),
        ("--report", report),
        ("--rejects", rejects),
        ("--metrics-file", metrics),
        ("--succeeded", succeeded),
    ):
        if named is not None:
            check_output_path(named, option)


def _finish(
    ctx: click.Context,
    *,
    command: str,
    wait: bool,
    run_id: str,
    profile: str,
    started_at: str,
    counts: dict[str, int],
    files: tuple[Path, ...],
    outputs: dict[str, str],
    code: int,
    report: Path | None,
    as_json: bool,
    metrics: Path | None,
    duration: float,
) -> None:
    """End a queued ``command`` run (``upload``, ``stock``): its report (``--report``,
    ``--json``), its metrics (as a plain run's, so the same alerts watch it) and exit code."""
    import json  # noqa: PLC0415

    from shopsync.domain.timefmt import now_rfc3339  # noqa: PLC0415
    from shopsync.io.writers import write_json  # noqa: PLC0415
    from shopsync.state.metrics import write_metrics  # noqa: PLC0415
    from shopsync.sync.report import RunReport  # noqa: PLC0415

    document = RunReport(
        run_id=run_id,
        command=f"{command} --queue" + (" --wait" if wait else ""),
        profile=profile,
        started_at=started_at,
        finished_at=now_rfc3339(),
        counts=counts,
        files=[str(path) for path in files],
        outputs=outputs,
        exit_code=code,
    ).to_json()
    if report is not None:
        write_json(report, document)
    if metrics is not None:
        write_metrics(
            metrics,
            command=command,
            profile=profile,
            succeeded=code == 0,
            exit_code=code,
            duration=duration,
            items={name: value for name, value in counts.items() if name != "queued"},
            traffic=None,  # sent by the workers, on their machines
        )
    if as_json:
        click.echo(json.dumps(document, ensure_ascii=False))
    if code:
        ctx.exit(code)


COMMANDS = [worker_command, fleet_group, ledger_group]
