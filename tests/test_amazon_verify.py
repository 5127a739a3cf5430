"""Verify after accept (issue 16): Amazon's ACCEPTED is queued, not live.

An upload holds each accepted listing pending until it reads the listing back buyable
with the price and quantity sent; the rest are "accepted, not live": counted apart, in
the failed file with Amazon's issue codes, exit code 9, and pending in the ledger so the
next run checks them again. The sandbox's clock and the engine's are one fake clock, so
the dialect's visibility delay and the bounded wait cost no time.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shopsync.catalog.records import Catalog
from shopsync.cli import cli
from shopsync.domain.models import SourceRow, ValidRow
from shopsync.errors import ExitCode
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.amazon import AmazonPlatform
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.state.ledger import Ledger
from shopsync.sync.engine import Engine, EngineOptions
from shopsync.sync.planner import Planner
from shopsync.sync.report import ItemOutcome
from test_platform_amazon import _product, _settings


class Clock:
    """One fake wall clock for the sandbox, the adapter and the engine's waits."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def amazon(clock: Clock) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="amazon", clock=clock)) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        handle.app.visibility_delay = 30.0  # type: ignore[attr-defined]
        yield handle


@pytest.fixture
def platform(amazon: SandboxHandle, clock: Clock, tmp_path: Path) -> Iterator[AmazonPlatform]:
    adapter = connect(
        _settings(amazon, tmp_path), sleep=lambda _s: None, disk_cache=False, wall_clock=clock
    )
    assert isinstance(adapter, AmazonPlatform)
    with adapter:
        yield adapter


def _calls(handle: SandboxHandle, operation: str) -> int:
    counts = handle.stats()["requests"]
    return sum(sum(v.values()) for k, v in counts.items() if k.endswith(" " + operation))


DEFAULTS: dict[str, Any] = {
    "workers": 1, "verify": True, "verify_timeout": 60.0, "verify_interval": 10.0,
}  # fmt: skip


def _run(
    platform: AmazonPlatform, ledger: Ledger, clock: Clock, skus: list[str], **options: Any
) -> tuple[list[ItemOutcome], Engine]:
    """One upload of ``skus`` through the engine, as UploadJob drives it."""
    outcomes: list[ItemOutcome] = []
    engine = Engine(
        platform,
        ledger,
        namespace="t",
        run_id="run",
        profile="t",
        options=EngineOptions(**{**DEFAULTS, **options}),
        on_outcome=outcomes.append,
        clock=clock,
        sleep=clock.sleep,
    )
    engine.resume_pending()
    rows = [ValidRow(SourceRow("catalog.csv", n + 2, {}), _product(s)) for n, s in enumerate(skus)]
    engine.apply(Planner(ledger).plan(rows))
    engine.confirm_accepted()
    return outcomes, engine


def _seen(outcomes: list[ItemOutcome]) -> list[tuple[str, str, str | None]]:
    return sorted((o.sku, o.action, o.code) for o in outcomes)


def _accepted_pending(ledger: Ledger) -> list[str]:
    return sorted(
        b.request["creates"][0]["body"]["sku"]
        for b in ledger.pending_batches()
        if b.request.get("accepted")
    )


def test_accepted_listings_are_held_until_live_and_the_rest_reported_not_live(
    amazon: SandboxHandle, platform: AmazonPlatform, clock: Clock, tmp_path: Path
) -> None:
    amazon.app.lose_skus = {"LOST-1"}  # type: ignore[attr-defined]
    amazon.app.suppress_skus = {"SUPP-1"}  # type: ignore[attr-defined]
    with Ledger(tmp_path / "ledger") as ledger:
        outcomes, engine = _run(platform, ledger, clock, ["LIVE-1", "LOST-1", "SUPP-1"])
        assert _seen(outcomes) == [
            ("LIVE-1", "created", None),
            ("LOST-1", "unconfirmed", "NOT_LIVE"),
            ("SUPP-1", "unconfirmed", "8541"),
        ]
        messages = {o.sku: o.message for o in outcomes}
        assert messages["LOST-1"] == "accepted, not live: Amazon has no listing"
        assert messages["SUPP-1"] == (
            "accepted, not live: Amazon reports 8541 The listing is not buyable: the detail "
            "page lacks required information."
        )
        counts = engine.snapshot()
        assert (counts.created, counts.unconfirmed, counts.failed) == (1, 2, 0)
        # Checked at 0, 10, 20 and 30 s (LIVE-1 applied after 30 s), then until the 60 s bound.
        assert clock.sleeps == [10.0] * 6
        assert _calls(amazon, "searchListingsItems") == 7
        # Only the live listing is trusted; the others stay pending, to be checked again.
        assert list(ledger.get_many(["LIVE-1", "LOST-1", "SUPP-1"])) == ["LIVE-1"]
        assert _accepted_pending(ledger) == ["LOST-1", "SUPP-1"]


def test_the_next_run_checks_them_again_and_resends_only_what_is_still_not_live(
    amazon: SandboxHandle, platform: AmazonPlatform, clock: Clock, tmp_path: Path
) -> None:
    amazon.app.lose_skus = {"LOST-1"}  # type: ignore[attr-defined]
    amazon.app.suppress_skus = {"SUPP-1"}  # type: ignore[attr-defined]
    skus = ["LIVE-1", "LOST-1", "SUPP-1"]
    with Ledger(tmp_path / "ledger") as ledger:
        _run(platform, ledger, clock, skus)
        amazon.app.lose_skus = set()  # type: ignore[attr-defined]
        puts = _calls(amazon, "putListingsItem")
        outcomes, engine = _run(platform, ledger, clock, skus)
        # LOST-1 was never applied: sent again, live 30 s later. SUPP-1 is still not
        # buyable: sent again (an upsert), reported again. LIVE-1 is not touched.
        assert _calls(amazon, "putListingsItem") - puts == 2
        assert _seen(outcomes) == [("LOST-1", "created", None), ("SUPP-1", "unconfirmed", "8541")]
        counts = engine.snapshot()
        assert (counts.created, counts.unchanged, counts.unconfirmed) == (1, 1, 1)
        assert _accepted_pending(ledger) == ["SUPP-1"]
        # Amazon clears the issue: the next run's check finds it live and sends nothing.
        amazon.app.suppress_skus = set()  # type: ignore[attr-defined]
        puts = _calls(amazon, "putListingsItem")
        outcomes, engine = _run(platform, ledger, clock, skus)
        assert _calls(amazon, "putListingsItem") == puts
        assert _seen(outcomes) == [("SUPP-1", "created", None)]
        counts = engine.snapshot()
        assert (counts.created, counts.unchanged, counts.unconfirmed) == (1, 2, 0)
        assert _accepted_pending(ledger) == []
        assert sorted(ledger.get_many(skus)) == skus


def test_an_update_is_confirmed_by_the_fields_it_sent(
    amazon: SandboxHandle, platform: AmazonPlatform, clock: Clock, tmp_path: Path
) -> None:
    with Ledger(tmp_path / "ledger") as ledger:
        _run(platform, ledger, clock, ["UP-1"])
        outcomes: list[ItemOutcome] = []
        engine = Engine(
            platform, ledger, namespace="t", run_id="r2", profile="t",
            options=EngineOptions(verify=True, verify_timeout=60.0), on_outcome=outcomes.append,
            clock=clock, sleep=clock.sleep,
        )  # fmt: skip
        row = ValidRow(SourceRow("catalog.csv", 2, {}), _product("UP-1", price="24.50"))
        engine.apply(Planner(ledger).plan([row]))
        assert outcomes == []  # held: the patch is queued for 30 s
        waiting = engine.snapshot()
        assert (waiting.accepted, waiting.updated, waiting.processed) == (1, 0, 1)  # progress
        assert engine.confirm_accepted() == 0
        done = engine.snapshot()
        assert (done.accepted, done.updated, done.processed) == (0, 1, 1)
        assert _seen(outcomes) == [("UP-1", "updated", None)]
        entry = ledger.get("UP-1")
        assert entry is not None
        assert entry.body["price"] == "24.50"


def test_no_verify_trusts_the_acceptance(
    amazon: SandboxHandle, platform: AmazonPlatform, clock: Clock, tmp_path: Path
) -> None:
    amazon.app.lose_skus = {"LOST-1"}  # type: ignore[attr-defined]
    with Ledger(tmp_path / "ledger") as ledger:
        outcomes, _engine = _run(platform, ledger, clock, ["LOST-1"], verify=False)
        assert _seen(outcomes) == [("LOST-1", "created", None)]
        assert clock.sleeps == []
        assert _calls(amazon, "searchListingsItems") == 0
        assert _accepted_pending(ledger) == []


def test_the_job_reports_not_live_in_the_failed_file_report_and_exit_code(
    amazon: SandboxHandle, platform: AmazonPlatform, tmp_path: Path
) -> None:
    amazon.app.visibility_delay = 0.0  # type: ignore[attr-defined]
    amazon.app.suppress_skus = {"SUPP-1"}  # type: ignore[attr-defined]
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,stock\nOK-1,Teapot,19.90,5\nSUPP-1,Cup,4.50,7\n", encoding="utf-8"
    )
    target = Target(platform, tmp_path / "ledger", "t", "t")
    failed, report = tmp_path / "failed.csv", tmp_path / "report.json"
    job = UploadJob(
        Catalog([catalog]),
        target,
        JobOptions(verify_timeout=0.0),
        Outputs(failed=failed, report=report),
    )
    result = job.run()
    assert result.exit_code == ExitCode.NOT_APPLIED == 9
    assert result.counts == {
        "created": 1, "updated": 0, "unchanged": 0, "failed": 0, "rejected": 0,
        "resumed": 0, "skipped": 0, "unconfirmed": 1,
    }  # fmt: skip
    assert json.loads(report.read_text(encoding="utf-8"))["counts"]["unconfirmed"] == 1
    with failed.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["sku"], r["price"], r["error_code"]) for r in rows] == [("SUPP-1", "4.50", "8541")]
    assert rows[0]["error_message"].startswith("accepted, not live: Amazon reports 8541 ")


def test_the_cli_switch(amazon: SandboxHandle, tmp_path: Path) -> None:
    amazon.app.visibility_delay = 0.0  # type: ignore[attr-defined]
    amazon.app.lose_skus = {"LOST-1"}  # type: ignore[attr-defined]
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("sku,title,price,stock\nLOST-1,Teapot,19.90,5\n", encoding="utf-8")
    env = {"SHOPSYNC_PLATFORM": "amazon", "SHOPSYNC_DATA_DIR": str(tmp_path / "data")}
    env.update({f"SHOPSYNC_{k.upper()}": v for k, v in amazon.client_settings().items()})
    env["SHOPSYNC_PRODUCT_TYPE"] = "HOME"
    checked = CliRunner().invoke(
        cli, ["upload", str(catalog), "--verify-timeout", "0", "--quiet"], env=env
    )
    assert checked.exit_code == 9, checked.output
    assert "1 accepted but not live (--verify)" in checked.output
    trusted = CliRunner().invoke(cli, ["upload", str(catalog), "--no-verify", "--quiet"], env=env)
    assert trusted.exit_code == 0, trusted.output
    assert "1 created" in trusted.output
