"""Issue 13's loose ends: a resumed ``--force`` batch is the request it was, and a variant
kept on the platform is remembered by the ledger across its product's next update.

Against the real sandbox on loopback; the batch bodies are recorded on the wire.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from shopsync.catalog.records import Catalog
from shopsync.errors import PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.plan import plan
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.faults import FaultInjector
from shopsync.state.ledger import Ledger
from test_generic_variants import Wire, upload, variants_of
from test_sync import settings_for
from test_variants import rows, write_csv


@pytest.fixture
def platforms() -> Iterator[list[GenericPlatform]]:
    made: list[GenericPlatform] = []
    yield made
    for platform in made:
        platform.close()


def connect(
    sandbox: SandboxHandle, tmp_path: Path, made: list[GenericPlatform], **overrides: object
) -> tuple[Target, Wire]:
    settings = settings_for(sandbox, tmp_path / "data", rate=2000.0, burst=200, **overrides)
    platform = GenericPlatform.from_settings(
        settings, disk_cache=False, trust_idempotency_keys=True
    )
    made.append(platform)
    platform.check_auth()  # the token comes before any fault
    target = Target(
        platform=platform,
        ledger_dir=settings.ledger_dir(),
        namespace=f"test|{sandbox.base_url}",
        profile="test",
    )
    return target, Wire(platform)


def without_blue_caps(body: list[list[str]]) -> list[list[str]]:
    return [row for row in body if not (row[0] == "cap" and row[6] == "Blue")]


def test_a_resumed_forced_batch_sends_the_request_it_first_sent(
    sandbox: SandboxHandle, tmp_path: Path, platforms: list[GenericPlatform]
) -> None:
    target, wire = connect(sandbox, tmp_path, platforms, max_attempts=1)
    path = write_csv(tmp_path / "a.csv", rows())
    assert upload(target, path, tmp_path).counts["created"] == 3
    # Every request from here is applied, then its connection cut unanswered.
    sandbox.app.faults = FaultInjector(replace(sandbox.config, drop_after_commit_rate=1.0))
    with pytest.raises(PlatformError):
        upload(target, path, tmp_path, force=True)
    with Ledger(target.ledger_dir) as ledger:
        (pending,) = ledger.pending_batches()
    assert [item.get("forced") for item in pending.request["updates"]] == [True] * 3
    forced_request = wire.batches[-1]
    assert [len(item["variants"]) for item in forced_request["update"]] == [4, 4, 4]

    sandbox.app.faults = FaultInjector(sandbox.config)
    report = upload(target, path, tmp_path)
    assert (report.counts["resumed"], report.counts["failed"]) == (3, 0)
    assert wire.batches[-1] == forced_request  # the same body under the same key
    assert sandbox.stats()["idempotent_replays"] == 1
    with Ledger(target.ledger_dir) as ledger:
        assert ledger.pending_batches() == []


def test_a_kept_variant_is_remembered_after_its_products_next_update(
    sandbox: SandboxHandle, tmp_path: Path, platforms: list[GenericPlatform]
) -> None:
    target, wire = connect(sandbox, tmp_path, platforms)
    upload(target, write_csv(tmp_path / "a.csv", rows()), tmp_path)
    # The cap loses its blue ones and its red S costs more: an update that keeps them.
    changed = write_csv(tmp_path / "b.csv", without_blue_caps(rows(price={"CAP-S-RED": "21.00"})))
    report = upload(target, changed, tmp_path)
    assert report.counts["updated"] == 1
    assert set(variants_of(sandbox, "CAP-S-RED")) == {
        "CAP-S-RED",
        "CAP-S-BLUE",
        "CAP-M-RED",
        "CAP-M-BLUE",
    }
    with Ledger(target.ledger_dir) as ledger:
        entry = ledger.get("cap")
    assert entry is not None
    assert [v["sku"] for v in entry.body["variants"]] == [
        "CAP-S-RED",
        "CAP-M-RED",
        "CAP-S-BLUE",
        "CAP-M-BLUE",
    ]
    assert [v["price"] for v in entry.body["variants"]] == ["21.00", "12.00", "12.00", "12.00"]

    # The next plan still reports them, and changes nothing.
    result = plan(Catalog([changed]), target, JobOptions(), Outputs())
    assert result.kept_variants == [("cap", "CAP-S-BLUE"), ("cap", "CAP-M-BLUE")]
    assert (result.counts.updated, result.counts.unchanged) == (0, 3)

    # And removing them, asked for, removes them on the platform.
    wire.batches.clear()
    removed = upload(target, changed, tmp_path, remove_missing_variants=True)
    assert removed.counts["updated"] == 1
    (batch,) = wire.batches
    assert batch["update"][0]["remove_variants"] == ["CAP-S-BLUE", "CAP-M-BLUE"]
    assert set(variants_of(sandbox, "CAP-S-RED")) == {"CAP-S-RED", "CAP-M-RED"}
