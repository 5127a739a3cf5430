"""Issue 11 item 7: counts add up to the rows read, however often a run was cut short.

Runs are killed at arbitrary batch boundaries (a batch is applied on the platform and
then the run dies, leaving it pending in the ledger, as a second Ctrl-C does), then run
again. The run that finishes must account for every row exactly once.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shopsync.catalog.records import Catalog
from shopsync.domain.models import Product
from shopsync.errors import PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.base import BatchResult, ProductUpdate
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sync.report import RunReport
from test_sync import settings_for

_examples = itertools.count()


class Killed(PlatformError):
    """The run died right after a batch was applied: its answer never arrived."""


class KilledAfter:
    """The generic platform, killing the run after its ``writes``-th write was applied."""

    def __init__(self, inner: GenericPlatform, writes: int | None) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch_size = inner.max_batch_size
        self.capabilities = inner.capabilities
        self.left = writes

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        result = self.inner.write_products(creates, updates, idempotency_key=idempotency_key)
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                raise Killed("killed")
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def write_catalog(path: Path, prefix: str, rows: int, invalid: set[int]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price"])
        for n in range(rows):
            writer.writerow([f"{prefix}-{n:04d}", f"Item {n}", "-1" if n in invalid else "9.90"])


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.integers(1, 160),
    batch_size=st.integers(1, 40),
    kills=st.lists(st.integers(1, 6), max_size=3),
    invalid=st.sets(st.integers(0, 159), max_size=5),
    workers=st.integers(1, 3),
)
def test_counts_add_up_to_the_rows_read_after_any_interruption(
    sandbox: SandboxHandle,
    tmp_path: Path,
    rows: int,
    batch_size: int,
    kills: list[int],
    invalid: set[int],
    workers: int,
) -> None:
    example = next(_examples)
    prefix = f"IC{example}"
    folder = tmp_path / prefix
    folder.mkdir()
    invalid = {n for n in invalid if n < rows}
    write_catalog(folder / "catalog.csv", prefix, rows, invalid)
    config = settings_for(sandbox, folder / "data", batch_size=batch_size)
    inner = GenericPlatform.from_settings(config, disk_cache=False)
    try:
        reports: list[RunReport] = []
        for kill in [*kills, None]:
            platform = KilledAfter(inner, kill)
            target = Target(
                platform=platform,  # type: ignore[arg-type]
                ledger_dir=config.ledger_dir(),
                namespace=f"test|{prefix}",
                profile="test",
            )
            job = UploadJob(
                Catalog([folder / "catalog.csv"]),
                target,
                JobOptions(batch_size=batch_size, workers=workers),
                Outputs(default_dir=folder),
            )
            try:
                reports.append(job.run())
            except Killed:
                reports.append(job.report)
                counts = job.report.counts
                # Cut short, a run never counts more than it read.
                assert (
                    sum(counts[k] for k in ("created", "updated", "unchanged", "failed"))
                    + (counts["rejected"])
                    <= rows
                )
        final = reports[-1].counts
        assert reports[-1].exit_code in (0, 3)
        assert (
            final["created"]
            + final["updated"]
            + final["unchanged"]
            + final["failed"]
            + (final["rejected"])
            == rows
        )
        assert (final["rejected"], final["failed"], final["updated"]) == (len(invalid), 0, 0)
        stored = sandbox.store.products_with_skus(f"{prefix}-{n:04d}" for n in range(rows))
        assert sum(len(found) for found in stored.values()) == rows - len(invalid)
    finally:
        inner.close()
