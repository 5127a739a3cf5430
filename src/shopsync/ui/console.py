"""What a person sees: rich tables and progress on a terminal, plain lines elsewhere.

Only this module imports rich. Off a terminal (cron, CI, a pipe) output is plain text,
one fact per line in the ``file:line: column: message`` shape that editors and grep
understand, and with no colour or box drawing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from shopsync.i18n import N_, _, localized, ngettext

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Literal

    from shopsync.catalog.records import ValidationReport
    from shopsync.domain.models import RowError
    from shopsync.io.readers import OpenedFile
    from shopsync.jobs.base import Progress
    from shopsync.jobs.orders import OrderEvent
    from shopsync.jobs.plan import PlanResult
    from shopsync.platforms.base import RemoteOrder, RemoteProduct
    from shopsync.sync.report import RunCounts, RunReport

_DELIMITER_NAMES = {
    ",": N_("comma-separated"),
    ";": N_("semicolon-separated"),
    "\t": N_("tab-separated"),
}


class _Console(Console):
    """A rich Console that leaves a closed pipe to the CLI.

    rich's own answer to EPIPE is to exit 1 on the spot; the CLI ends such a run quietly
    with the exit code of a closed pipe (cli/main.py), so the error is passed on.
    """

    def on_broken_pipe(self) -> None:
        raise BrokenPipeError


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
        self.out = _Console(file=stdout or sys.stdout, highlight=False, soft_wrap=True)
        self.err = _Console(file=stderr or sys.stderr, highlight=False, soft_wrap=True)
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
        self.err.print(Text(_("Warning: {text}").format(text=localized(text)), style="yellow"))

    def notice(self, text: str) -> None:
        """A notice on stderr: worth knowing, not a problem (not with --quiet)."""
        if not self.quiet:
            self.err.print(Text(_("Notice: {text}").format(text=localized(text))))


def show_empty_inputs(output: Output, empty: Sequence[OpenedFile], *, files: int) -> None:
    """Say which input files held no rows (an empty nightly export is not an error)."""
    for opened in empty:
        below = opened.format in ("csv", "tsv")
        if len(empty) == files:
            text = (
                _("{file} has no rows below its header: nothing to do.")
                if below
                else _("{file} has no rows: nothing to do.")
            )
        else:
            text = (
                _("{file} has no rows below its header: nothing to do for it.")
                if below
                else _("{file} has no rows: nothing to do for it.")
            )
        output.notice(text.format(file=opened.name))


def describe_file(opened: OpenedFile) -> str:
    """``products.csv: CSV, utf-8 (valid UTF-8), comma-separated``, for --verbose."""
    parts = [
        opened.format.upper(),
        f"{opened.detected.encoding} ({localized(opened.detected.reason)})",
    ]
    if opened.delimiter:
        named = _DELIMITER_NAMES.get(opened.delimiter)
        parts.append(
            _(named)
            if named
            else _("{delimiter}-separated").format(delimiter=repr(opened.delimiter))
        )
    if opened.decimal_comma:
        parts.append(_("decimal comma"))
    return f"{opened.name}: " + ", ".join(parts)


def show_validation(output: Output, report: ValidationReport) -> None:
    """Print what ``shopsync validate`` found: file details, warnings, errors, summary."""
    if output.verbose:
        for opened in report.files:
            output.line(describe_file(opened))
    for warning in report.warnings:
        output.warn(f"{warning.file}: {localized(warning.message)}")
    if report.errors and not output.quiet:
        if output.is_terminal:
            _error_table(output, report)
        else:
            for error in report.errors:
                for text in error_lines(error):
                    output.line(text)
        if report.errors_dropped:
            output.line(
                ngettext(
                    "... and {count} more rejected row (all of them are in --rejects and --json).",
                    "... and {count} more rejected rows (all of them are in --rejects and --json).",
                    report.errors_dropped,
                ).format(count=report.errors_dropped)
            )
    stats = report.stats
    counted = ngettext(
        "{rows} row: {valid} valid, {invalid} invalid",
        "{rows} rows: {valid} valid, {invalid} invalid",
        stats.rows,
    ).format(rows=stats.rows, valid=stats.valid, invalid=stats.invalid)
    if stats.skipped:
        counted += _(", {skipped} empty (skipped)").format(skipped=stats.skipped)
    output.line(
        ngettext(
            "{counted} in {files} file.", "{counted} in {files} files.", len(report.files)
        ).format(counted=counted, files=len(report.files))
    )
    if report.rejects_path:
        output.line(_rejects_line(report))


def _rejects_line(report: ValidationReport) -> str:
    if any(opened.format == "xlsx" for opened in report.files):
        text = _("Rejected rows written to {path} ({count}), as CSV (rows from a workbook too).")
    else:
        text = _("Rejected rows written to {path} ({count}).")
    return text.format(path=report.rejects_path, count=report.rejects_written)


def error_lines(error: RowError) -> list[str]:
    """``file:line: column: message (value: 'x')``, one line per field error of a row."""
    lines = []
    for field_error in error.errors:
        location = f"{error.row.file}:{error.row.line}"
        column = f" {field_error.column}:" if field_error.column else ""
        value = (
            _(" (value: {value})").format(value=repr(field_error.value))
            if field_error.value
            else ""
        )
        lines.append(f"{location}:{column} {localized(field_error.message)}{value}")
    return lines


def show_rejected_sample(
    output: Output, sample: Sequence[RowError], rejected: int, rejects_path: str | None
) -> None:
    """The first rejected rows of a run and why, as ``validate`` lists them (not --quiet)."""
    if output.quiet or not sample:
        return
    for error in sample:
        for text in error_lines(error):
            output.line(text)
    if rejected > len(sample):
        more = rejected - len(sample)
        if rejects_path:
            text = ngettext(
                "... and {count} more rejected row (all of them are in {path}).",
                "... and {count} more rejected rows (all of them are in {path}).",
                more,
            )
        else:
            text = ngettext(
                "... and {count} more rejected row.", "... and {count} more rejected rows.", more
            )
        output.line(text.format(count=more, path=rejects_path))


def _error_table(output: Output, report: ValidationReport) -> None:
    table = Table(title=_("Rejected rows"), title_justify="left", show_lines=False)
    table.add_column(_("Location"), no_wrap=True)
    table.add_column(_("Column"), no_wrap=True)
    table.add_column(_("Value"), overflow="fold", max_width=30)
    table.add_column(_("Problem"), overflow="fold")
    for error in report.errors:
        for field_error in error.errors:
            table.add_row(
                f"{error.row.file}:{error.row.line}",
                field_error.column,
                Text(field_error.value),
                Text(localized(field_error.message)),
            )
    output.out.print(table)


# -- plan ---------------------------------------------------------------------------


def _short(value: object, limit: int = 60) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def show_plan(output: Output, result: PlanResult) -> None:
    """Print a plan the way terraform does: what would be created, changed, left alone."""
    counts = result.counts
    if not output.quiet:
        for change in result.creates:
            output.line(
                _("+ create {sku}  ({file}:{line})").format(
                    sku=change.sku, file=change.row.file, line=change.row.line
                )
            )
        if counts.created > len(result.creates):
            more = counts.created - len(result.creates)
            output.line(_("  ... and {count} more to create").format(count=more))
        for change in result.updates:
            product_id = change.entry.product_id if change.entry else "?"
            output.line(
                _("~ update {sku} [{product_id}]  ({file}:{line})").format(
                    sku=change.sku,
                    product_id=product_id,
                    file=change.row.file,
                    line=change.row.line,
                )
            )
            for name, before, after in change.diff():
                output.line(f"    {name}: {_short(before)!s} -> {_short(after)!s}")
        if counts.updated > len(result.updates):
            more = counts.updated - len(result.updates)
            output.line(_("  ... and {count} more to update").format(count=more))
        for error in result.rejected[:10]:
            output.line(
                _("! rejected {file}:{line}: {message}").format(
                    file=error.row.file, line=error.row.line, message=localized(error.message)
                )
            )
        for key, sku in result.kept_variants[:10]:
            output.line(
                _("= keep variant {sku} of {key}: not in the file, left on the platform").format(
                    sku=sku, key=key
                )
            )
        for removal in result.deletes:
            output.line(
                _("- remove {sku} [{product_id}]  (not in the catalog)").format(
                    sku=removal.sku, product_id=removal.product_id
                )
            )
    for warning in result.warnings:
        output.warn(localized(warning))
    removing = _("{count} to remove, ").format(count=len(result.deletes)) if result.deletes else ""
    output.line(
        _(
            "Plan: {created} to create, {updated} to update, {removing}"
            "{unchanged} unchanged, {rejected} rejected."
        ).format(
            created=counts.created,
            updated=counts.updated,
            removing=removing,
            unchanged=counts.unchanged,
            rejected=counts.rejected,
        )
    )
    if result.rejects_path:
        output.line(_("Rejected rows written to {path}.").format(path=result.rejects_path))
    if result.plan_path:
        output.line(
            _("Plan written to {path}; apply it with: shopsync apply PLAN.").format(
                path=result.plan_path
            )
        )


# -- a run in progress -----------------------------------------------------------------


def _done_text(counts: RunCounts) -> str:
    return _(
        "created {created}, updated {updated}, unchanged {unchanged}, "
        "failed {failed}, rejected {rejected}"
    ).format(
        created=counts.created,
        updated=counts.updated,
        unchanged=counts.unchanged,
        failed=counts.failed,
        rejected=counts.rejected,
    )


def _how_far(progress: Progress) -> str:
    """``250 of 5000 products, 5%``; while the count pass runs, ``250 products``."""
    unit = _(progress.unit)
    if progress.planned is None:
        return _("{done} {unit}").format(done=progress.done, unit=unit)
    share = 100 * progress.done // progress.planned if progress.planned else 100
    return _("{done} of {planned} {unit}, {share}%").format(
        done=progress.done, planned=progress.planned, unit=unit, share=min(share, 100)
    )


def _rate(progress: Progress) -> float:
    return progress.done / progress.elapsed if progress.elapsed > 0 else 0.0


def _eta(progress: Progress, label: str) -> str:
    """Time left at the speed so far, by items (not bytes); empty until it means something."""
    planned, done = progress.planned, progress.done
    if planned is None or not done or done >= planned or progress.elapsed < 1:
        return ""
    return f"{label}{_seconds(progress.elapsed * (planned - done) / done)}"


class RunView:
    """Shows a run while it goes: a live rich view on a terminal, a line every few seconds
    elsewhere, nothing with ``--quiet``. Use as a context manager around the run.
    """

    def __init__(
        self,
        output: Output,
        progress: Callable[[], Progress],
        *,
        interval: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``progress`` is polled from a background thread; ``interval`` is for plain lines."""
        self.output = output
        self.progress = progress
        self.interval = interval
        self.clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Any = None

    def __enter__(self) -> RunView:
        if self.output.quiet:
            return self
        if self.output.is_terminal:
            self._start_live()
        else:
            self._thread = threading.Thread(target=self._plain_loop, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()

    def _plain_loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.output.line(self.plain_line(self.progress()))

    @staticmethod
    def plain_line(progress: Progress) -> str:
        """One progress line for logs: items done of items planned, time, speed, counts."""
        counts = progress.counts
        waiting = (
            _(", waiting {seconds:.1f}s for the platform's rate limit").format(
                seconds=progress.throttled_for
            )
            if progress.throttled_for > 0
            else ""
        )
        return _(
            "progress: {how_far}, {elapsed} elapsed{eta}, {rate:.0f}/s ({done}){waiting}"
        ).format(
            how_far=_how_far(progress),
            elapsed=_seconds(progress.elapsed),
            eta=_eta(progress, _(", ETA ")),
            rate=_rate(progress),
            done=_done_text(counts),
            waiting=waiting,
        )

    def _start_live(self) -> None:
        from rich.live import Live  # noqa: PLC0415 - only on a terminal

        self._live = Live(
            self._render(),
            console=self.output.out,
            refresh_per_second=4,
            transient=False,
            get_renderable=self._render,
        )
        self._live.start()

    def _render(self) -> Any:
        from rich.progress_bar import ProgressBar  # noqa: PLC0415
        from rich.table import Table as Grid  # noqa: PLC0415

        progress = self.progress()
        counts = progress.counts
        grid = Grid.grid(padding=(0, 1))
        grid.add_column()
        grid.add_column()
        # Until the count pass is in, the bar pulses: bytes read are not items done.
        planned = max(progress.planned, 1) if progress.planned is not None else None
        grid.add_row(
            ProgressBar(total=planned, completed=min(progress.done, planned or 0), width=40),
            Text(
                _("{how_far}  {elapsed} elapsed{eta}  {rate:.0f} {unit}/s").format(
                    how_far=_how_far(progress),
                    elapsed=_seconds(progress.elapsed),
                    eta=_eta(progress, _("  ETA ")),
                    rate=_rate(progress),
                    unit=_(progress.unit),
                )
            ),
        )
        status = Text(
            _("created {created}  updated {updated}  unchanged {unchanged}  ").format(
                created=counts.created, updated=counts.updated, unchanged=counts.unchanged
            )
        )
        status.append(
            _("failed {count}").format(count=counts.failed), style="red" if counts.failed else ""
        )
        status.append(
            _("  rejected {count}").format(count=counts.rejected),
            style="yellow" if counts.rejected else "",
        )
        grid.add_row(Text(""), status)
        if progress.throttled_for > 0:
            grid.add_row(
                Text(""),
                Text(
                    _("platform rate limit: waiting {seconds:.1f}s").format(
                        seconds=progress.throttled_for
                    ),
                    style="yellow",
                ),
            )
        return grid


def show_run_summary(output: Output, report: RunReport, elapsed: float) -> None:
    """The end of a run: a table on a terminal, one line elsewhere (and with --quiet)."""
    counts = report.counts
    traffic = report.to_json()
    done = sum(
        counts.get(name, 0) for name in ("created", "updated", "unchanged", "failed", "unconfirmed")
    )
    rate = done / elapsed if elapsed > 0 else 0.0
    if output.is_terminal and not output.quiet:
        table = Table(title=_("Run {run_id}").format(run_id=report.run_id), title_justify="left")
        for heading in (
            N_("created"),
            N_("updated"),
            N_("unchanged"),
            N_("failed"),
            N_("rejected"),
        ):
            table.add_column(_(heading), justify="right")
        table.add_row(
            *(
                str(counts.get(name, 0))
                for name in ("created", "updated", "unchanged", "failed", "rejected")
            )
        )
        output.out.print(table)
    numbers = {name: counts.get(name, 0) for name in _COUNT_NAMES}
    if report.command == "stock":
        done_text = _(
            "{updated} counts changed, {unchanged} unchanged, {failed} failed, {rejected} rejected"
        ).format(**numbers)
        unit = _("SKUs")
    else:
        done_text = _(
            "{created} created, {updated} updated, {unchanged} unchanged, {failed} failed, "
            "{rejected} rejected"
        ).format(**numbers)
        unit = _("products")
    if counts.get("skipped"):
        done_text += _(", {count} empty rows skipped").format(count=counts["skipped"])
    if counts.get("removed"):
        done_text += _(", {count} removed (--prune)").format(count=counts["removed"])
    if counts.get("unconfirmed"):
        done_text += _(", {count} accepted but not live (--verify)").format(
            count=counts["unconfirmed"]
        )
    ended = (
        _("Done in {elapsed} ({rate:.0f} {unit}/s)")
        if report.error is None
        else _("Stopped in {elapsed} ({rate:.0f} {unit}/s)")
    ).format(elapsed=_seconds(elapsed), rate=rate, unit=unit)
    output.line(
        _("{ended}: {done}; {requests} requests, {retries} retries, {throttled} throttled.").format(
            ended=ended,
            done=done_text,
            requests=traffic["requests"],
            retries=traffic["retries"],
            throttled=traffic["throttled"],
        )
    )
    labels = {
        "rejects": N_("Rejected rows written to {path}."),
        "failed": N_("Refused rows written to {path}."),
        "succeeded": N_("Sent products written to {path}."),
    }
    for name, path in report.outputs.items():
        label = labels.get(name)
        if label is None:
            output.line(_("{name} written to {path}.").format(name=name, path=path))
        else:
            output.line(_(label).format(path=path))


_COUNT_NAMES = ("created", "updated", "unchanged", "failed", "rejected")


def _seconds(elapsed: float) -> str:
    """``0.04s``, ``2.5s``, ``1m05s``: enough digits to mean something at every scale."""
    if elapsed < 1:
        return _("{seconds:.2f}s").format(seconds=elapsed)
    if elapsed < 60:
        return _("{seconds:.1f}s").format(seconds=elapsed)
    minutes, seconds = divmod(round(elapsed), 60)
    return _("{minutes}m{seconds:02d}s").format(minutes=minutes, seconds=seconds)


# -- orders ----------------------------------------------------------------------------


def _order_cells(order: RemoteOrder) -> tuple[str, str, str, str, str, str]:
    buyer = order.buyer_name or ""
    if order.buyer_country:
        buyer = f"{buyer} ({order.buyer_country})" if buyer else order.buyer_country
    items = sum(line.quantity for line in order.lines)
    return (
        order.order_id,
        order.status,
        order.updated_at,
        f"{order.total} {order.currency}",
        str(items),
        buyer,
    )


def show_orders(output: Output, orders: Sequence[RemoteOrder], fmt: str) -> None:
    """Print an order listing: ``json`` (one array), ``csv`` (header and rows), or ``table``.

    ``table`` is a rich table on a terminal and aligned plain columns elsewhere (no
    header, so ``wc -l`` counts orders). JSON and CSV are written to the stream as is,
    never through rich, so they stay exact; CSV cells are formula-safe.
    """
    import csv  # noqa: PLC0415 - only commands that list orders need these
    import json  # noqa: PLC0415

    from shopsync.io.writers import safe_cell  # noqa: PLC0415
    from shopsync.jobs.orders import ORDER_COLUMNS, order_row, order_to_json  # noqa: PLC0415

    stream = output.out.file
    if fmt == "json":
        stream.write(
            json.dumps([order_to_json(o) for o in orders], ensure_ascii=False, indent=2) + "\n"
        )
    elif fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(ORDER_COLUMNS)
        for order in orders:
            row = order_row(order)
            writer.writerow([safe_cell(row[name]) for name in ORDER_COLUMNS])
    elif output.is_terminal:
        table = Table(show_lines=False, box=None, header_style="bold")
        for name, justify in _ORDER_TABLE_COLUMNS:
            table.add_column(_(name), justify=justify, no_wrap=name != "Buyer")
        for order in orders:
            cells = _order_cells(order)
            table.add_row(*(Text(cell) for cell in cells))
        output.out.print(table)
    else:
        lines = [_order_cells(order) for order in orders]
        widths = [max((len(line[i]) for line in lines), default=0) for i in range(6)]
        for line in lines:
            padded = [
                cell.rjust(width) if justify == "right" else cell.ljust(width)
                for cell, width, (_name, justify) in zip(
                    line, widths, _ORDER_TABLE_COLUMNS, strict=True
                )
            ]
            output.line("  ".join(padded).rstrip())
    stream.flush()


PRODUCT_COLUMNS = ("sku", "product_id", "title", "price", "stock", "updated_at")
"""The columns of ``products list --format csv`` and of its table."""


def _product_row(product: RemoteProduct) -> dict[str, Any]:
    fields = product.fields
    return {
        "sku": product.sku,
        "product_id": product.product_id,
        "title": fields.get("title"),
        "price": fields.get("price"),
        "stock": fields.get("stock"),
        "updated_at": product.updated_at,
    }


def show_products(output: Output, products: Sequence[RemoteProduct], fmt: str) -> None:
    """Print products as the platform holds them: ``json`` (an array of every field),
    ``csv`` (:data:`PRODUCT_COLUMNS`, formula-safe), or a ``table`` (no header off a
    terminal, so ``wc -l`` counts products)."""
    import csv  # noqa: PLC0415 - only commands that list products need these
    import json  # noqa: PLC0415

    from shopsync.io.writers import safe_cell  # noqa: PLC0415

    stream = output.out.file
    if fmt == "json":
        documents = [
            {
                "sku": p.sku,
                "product_id": p.product_id,
                "version": p.version,
                "updated_at": p.updated_at,
                "fields": dict(p.fields),
            }
            for p in products
        ]
        stream.write(json.dumps(documents, ensure_ascii=False, indent=2, default=str) + "\n")
    elif fmt == "csv":
        writer = csv.writer(stream)
        writer.writerow(PRODUCT_COLUMNS)
        for product in products:
            cells = _product_row(product)
            writer.writerow(
                [safe_cell("" if cells[n] is None else str(cells[n])) for n in PRODUCT_COLUMNS]
            )
    else:
        rows = [
            tuple("" if value is None else str(value) for value in _product_row(p).values())
            for p in products
        ]
        if output.is_terminal:
            table = Table(show_lines=False, box=None, header_style="bold")
            for name in PRODUCT_COLUMNS:
                table.add_column(name, justify="right" if name in ("price", "stock") else "left")
            for row in rows:
                table.add_row(*(Text(cell) for cell in row))
            output.out.print(table)
        else:
            widths = [
                max((len(row[i]) for row in rows), default=0) for i in range(len(PRODUCT_COLUMNS))
            ]
            for row in rows:
                output.line(
                    "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                )
    stream.flush()


_ORDER_TABLE_COLUMNS: tuple[tuple[str, Literal["left", "right"]], ...] = (
    (N_("Order"), "left"),
    (N_("Status"), "left"),
    (N_("Updated"), "left"),
    (N_("Total"), "right"),
    (N_("Items"), "right"),
    (N_("Buyer"), "left"),
)


def show_orders_summary(output: Output, count: int, *, cached_age: float | None) -> None:
    """``12 orders.`` on stderr, saying when the answer came from the cache (not --quiet)."""
    if output.quiet:
        return
    text = ngettext("{count} order.", "{count} orders.", count).format(count=count)
    if cached_age is not None:
        text += _(" From the cache ({age:.0f}s old; --no-cache to ask the platform).").format(
            age=cached_age
        )
    output.err.print(Text(text))


class OrderEventPrinter:
    """Prints a watch's events as they come, one line each, flushed at once.

    ``json``: JSON Lines, ``{"event", "previous_status", "order"}``. ``csv``: a header,
    then ``event``, ``previous_status`` and the listing's columns. Otherwise:
    ``UPDATED_AT  new     ORDER_ID  STATUS  TOTAL CURRENCY, N items, BUYER`` or
    ``UPDATED_AT  status  ORDER_ID  STATUS  (was PREVIOUS)``.
    """

    def __init__(self, output: Output, fmt: str) -> None:
        """Prints the CSV header at once, so a consumer knows the columns before events."""
        import csv  # noqa: PLC0415 - only a watch needs it

        from shopsync.jobs.orders import ORDER_COLUMNS  # noqa: PLC0415

        self.output = output
        self.fmt = fmt
        self.counts = {"new": 0, "status": 0}
        self._columns = ("event", "previous_status", *ORDER_COLUMNS)
        self._csv = csv.writer(output.out.file) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(self._columns)
            output.out.file.flush()

    def __call__(self, event: OrderEvent) -> None:
        """Print one event."""
        import json  # noqa: PLC0415

        from shopsync.io.writers import safe_cell  # noqa: PLC0415
        from shopsync.jobs.orders import order_row  # noqa: PLC0415

        self.counts[event.kind] += 1
        stream = self.output.out.file
        if self.fmt == "json":
            stream.write(json.dumps(event.to_json(), ensure_ascii=False) + "\n")
        elif self._csv is not None:
            row = {"event": event.kind, "previous_status": event.previous_status or ""}
            row.update(order_row(event.order))
            self._csv.writerow([safe_cell(row[name]) for name in self._columns])
        else:
            self.output.line(self.plain_line(event))
        # A pipe is block-buffered: without this, `| grep paid` would see lines minutes late.
        stream.flush()

    @staticmethod
    def plain_line(event: OrderEvent) -> str:
        """The one-line text form of an event."""
        order = event.order
        if event.kind == "new":
            order_id, status, _updated, total, items, buyer = _order_cells(order)
            detail = ngettext("{total}, {count} item", "{total}, {count} items", int(items))
            detail = detail.format(total=total, count=items)
            detail += f", {buyer}" if buyer else ""
        else:
            order_id, status = order.order_id, order.status
            detail = (
                _("(was {status})").format(status=event.previous_status)
                if event.previous_status
                else ""
            )
        return f"{order.updated_at}  {event.kind:<6}  {order_id}  {status:<9}  {detail}".rstrip()


def show_watch_start(output: Output, target: str, interval: float) -> None:
    """``Watching orders at TARGET every 30s; Ctrl-C to stop.`` on stderr (not --quiet)."""
    if not output.quiet:
        output.err.print(
            Text(
                _("Watching orders at {target} every {interval:g}s; Ctrl-C to stop.").format(
                    target=target, interval=interval
                )
            )
        )


def show_watch_stopped(output: Output, printer: OrderEventPrinter, polls: int) -> None:
    """The ``Stopped`` line on stderr: how many polls, new orders and status changes."""
    output.err.print(
        Text(
            ngettext(
                "Stopped after {polls} poll: {new} new, {status} status changes.",
                "Stopped after {polls} polls: {new} new, {status} status changes.",
                polls,
            ).format(polls=polls, new=printer.counts["new"], status=printer.counts["status"])
        )
    )
