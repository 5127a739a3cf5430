"""Plan and upload against the sandbox: incremental, field-level, adoptive, resumable."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer

from shopsync.catalog.records import Catalog
from shopsync.config import Settings
from shopsync.domain.models import Product
from shopsync.errors import PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.plan import plan
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.base import BatchResult, ProductUpdate
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.faults import FaultInjector
from shopsync.state.ledger import Ledger
from shopsync.sync.report import RunReport

EXAMPLES = Path(__file__).parent.parent / "examples"


class RecordingPlatform:
    """The generic platform, noting every batch the engine hands it (not a transport mock)."""

    def __init__(self, inner: GenericPlatform) -> None:
        self.inner = inner
        self.name = inner.name
        self.max_batch_size = inner.max_batch_size
        self.batches: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        self.batches.append(([p.to_api() for p in creates], [u.to_api() for u in updates]))
        return self.inner.write_products(creates, updates, idempotency_key=idempotency_key)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def settings_for(handle: SandboxHandle, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "profile": "test",
        "base_url": handle.base_url,
        "token_url": f"{handle.base_url}/auth/token",
        "client_id": handle.client_id,
        "client_secret": handle.client_secret,
        "data_dir": data_dir,
        "rate": 500.0,
        "burst": 100,
        "batch_size": 50,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def connect(tmp_path: Path) -> Iterator[Callable[..., tuple[Target, RecordingPlatform]]]:
    platforms: list[GenericPlatform] = []

    def make(
        handle: SandboxHandle, *, trust_idempotency_keys: bool | None = None, **overrides: Any
    ) -> tuple[Target, RecordingPlatform]:
        settings = settings_for(handle, tmp_path / "data", **overrides)
        inner = GenericPlatform.from_settings(
            settings, disk_cache=False, trust_idempotency_keys=trust_idempotency_keys
        )
        platforms.append(inner)
        platform = RecordingPlatform(inner)
        target = Target(
            platform=platform,  # type: ignore[arg-type]
            ledger_dir=settings.ledger_dir(),
            namespace=f"test|{handle.base_url}",
            profile="test",
            audit_path=settings.audit_path,
        )
        return target, platform

    yield make
    for platform in platforms:
        platform.close()


def upload(target: Target, path: Path, tmp_path: Path, **options: Any) -> RunReport:
    job = UploadJob(
        Catalog([path]),
        target,
        JobOptions(**{"batch_size": 50, "workers": 4, **options}),
        Outputs(default_dir=tmp_path),
    )
    return job.run()


def rewrite_prices(source: Path, target: Path, count: int) -> list[str]:
    with source.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    changed = []
    for row in rows[:count]:
        row["price"] = f"{float(row['price']) + 1:.2f}"
        changed.append(row["sku"])
    with target.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return changed


def test_create_all_then_nothing_then_exactly_the_changed_prices(
    sandbox: SandboxHandle, connect: Callable[..., tuple[Target, RecordingPlatform]], tmp_path: Path
) -> None:
    target, platform = connect(sandbox)
    first = upload(target, EXAMPLES / "products.csv", tmp_path)
    assert first.counts["created"] == 200
    assert first.exit_code == 0
    assert sandbox.stats()["products_stored"] == 200

    writes_before = sandbox.stats()["write_requests"]
    second = upload(target, EXAMPLES / "products.csv", tmp_path)
    assert (second.counts["unchanged"], second.counts["created"], second.counts["updated"]) == (
        200,
        0,
        0,
    )
    assert sandbox.stats()["write_requests"] == writes_before

    changed_file = tmp_path / "changed.csv"
    changed = rewrite_prices(EXAMPLES / "products.csv", changed_file, 3)
    platform.batches.clear()
    third = upload(target, changed_file, tmp_path)
    assert third.counts["updated"] == 3
    assert third.counts["unchanged"] == 197
    (creates, updates), *_ = platform.batches
    assert creates == []
    assert [sorted(body) for body in updates] == [["price", "product_id"]] * 3
    prices = {o.product.sku: str(o.product.price) for o in Catalog([changed_file])}  # type: ignore[union-attr]
    for sku in changed:
        remote = sandbox.store.product_by_sku(sku)
        assert remote is not None
        assert remote.to_json()["price"] == prices[sku]


def test_plan_sends_nothing_and_shows_field_changes(
    sandbox: SandboxHandle, connect: Callable[..., tuple[Target, RecordingPlatform]], tmp_path: Path
) -> None:
    target, _ = connect(sandbox)
    fresh = plan(Catalog([EXAMPLES / "products.csv"]), target, JobOptions(), Outputs())
    assert (fresh.counts.created, fresh.counts.updated, fresh.has_changes) == (200, 0, True)
    assert sandbox.stats()["requests_total"] == 0

    upload(target, EXAMPLES / "products.csv", tmp_path)
    changed_file = tmp_path / "changed.csv"
    rewrite_prices(EXAMPLES / "products.csv", changed_file, 2)
    writes = sandbox.stats()["write_requests"]
    result = plan(Catalog([changed_file]), target, JobOptions(refresh=True), Outputs())
    assert (result.counts.created, result.counts.updated, result.counts.unchanged) == (0, 2, 198)
    assert sandbox.stats()["write_requests"] == writes
    [(name, before, after)] = result.updates[0].diff()
    assert name == "price"
    assert f"{float(before) + 1:.2f}" == after


def test_products_already_on_the_platform_are_adopted_not_duplicated(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, RecordingPlatform]],
    api_for: Callable[..., Any],
    tmp_path: Path,
) -> None:
    api = api_for(sandbox)
    made = api.post(
        "/products",
        json={"sku": "BKS-0000001", "title": "Old title", "price": "1.00", "stock": 7},
    )
    assert made.status_code == 201
    target, _ = connect(sandbox)
    report = upload(target, EXAMPLES / "products.csv", tmp_path)
    assert (report.counts["created"], report.counts["updated"], report.counts["failed"]) == (
        199,
        1,
        0,
    )
    assert sandbox.stats()["products_stored"] == 200
    remote = sandbox.store.product_by_sku("BKS-0000001")
    assert remote is not None
    assert remote.product_id == made.json()["product_id"]
    assert remote.values["title"] != "Old title"
    with Ledger(target.ledger_dir) as ledger:
        entry = ledger.get("BKS-0000001")
    assert entry is not None
    assert entry.product_id == made.json()["product_id"]


def test_a_product_deleted_on_the_platform_is_created_again_by_its_update(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, RecordingPlatform]],
    api_for: Callable[..., Any],
    tmp_path: Path,
) -> None:
    target, platform = connect(sandbox)
    assert upload(target, EXAMPLES / "products.csv", tmp_path).counts["created"] == 200
    changed_file = tmp_path / "changed.csv"
    first, second = rewrite_prices(EXAMPLES / "products.csv", changed_file, 2)
    with Ledger(target.ledger_dir) as ledger:
        gone = ledger.get(first)
    assert gone is not None
    assert api_for(sandbox).delete(f"/products/{gone.product_id}").status_code == 204

    platform.batches.clear()
    report = upload(target, changed_file, tmp_path)
    # The update of the deleted product is answered NOT_FOUND; what the file holds must
    # exist again, so it is created (a follow-up batch), and the other update goes as is.
    assert (report.counts["created"], report.counts["updated"], report.counts["failed"]) == (
        1,
        1,
        0,
    )
    assert [len(creates) for creates, _ in platform.batches] == [0, 1]
    remote = sandbox.store.product_by_sku(first)
    assert remote is not None and remote.product_id != gone.product_id
    prices = {o.product.sku: str(o.product.price) for o in Catalog([changed_file])}  # type: ignore[union-attr]
    assert remote.to_json()["price"] == prices[first]
    with Ledger(target.ledger_dir) as ledger:
        again = ledger.get(first)
        assert again is not None and again.product_id == remote.product_id
        assert ledger.get(second).outcome == "updated"  # type: ignore[union-attr]
    # The ledger now matches the platform: a third run sends nothing.
    writes = sandbox.stats()["write_requests"]
    assert upload(target, changed_file, tmp_path).counts["unchanged"] == 200
    assert sandbox.stats()["write_requests"] == writes


@pytest.mark.parametrize("keys", ["honoured", "unknown"])
def test_a_dropped_batch_is_resumed_with_its_key_after_a_failed_run(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, RecordingPlatform]],
    tmp_path: Path,
    keys: str,
) -> None:
    # Keys honoured: the batch is sent again with its key and the platform replays it.
    # Keys unknown (the default): its SKUs are looked up first, and nothing is resent.
    target, platform = connect(
        sandbox, max_attempts=1, trust_idempotency_keys=True if keys == "honoured" else None
    )
    platform.check_auth()  # the token is fetched before the faults start
    # From here on every request is applied and then its connection cut, unanswered.
    sandbox.app.faults = FaultInjector(replace(sandbox.config, drop_after_commit_rate=1.0))
    with pytest.raises(PlatformError):
        upload(target, EXAMPLES / "products.csv", tmp_path, workers=1)
    assert sandbox.stats()["products_stored"] == 50  # the first batch was applied
    with Ledger(target.ledger_dir) as ledger:
        assert len(ledger.pending_batches()) == 1
        assert len(ledger) == 0

    sandbox.app.faults = FaultInjector(sandbox.config)
    report = upload(target, EXAMPLES / "products.csv", tmp_path)
    stats = sandbox.stats()
    assert report.counts["resumed"] == 50
    assert stats["idempotent_replays"] == (1 if keys == "honoured" else 0)
    assert stats["products_stored"] == 200
    assert (report.counts["created"], report.counts["failed"]) == (200, 0)
    with Ledger(target.ledger_dir) as ledger:
        assert ledger.pending_batches() == []
        assert len(ledger) == 200


def test_refused_items_go_to_the_failed_file_re_feedable(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/auth/token", method="POST").respond_with_json(
        {"access_token": "tok-123456", "token_type": "Bearer", "expires_in": 3600}
    )
    httpserver.expect_request("/products/batch", method="POST").respond_with_json(
        {
            "create": [
                {"sku": "OK-1", "product_id": "p1", "status": "ok"},
                {
                    "sku": "BAD-1",
                    "status": "error",
                    "error": {"code": "VALIDATION", "message": "title is banned", "field": "title"},
                },
            ],
            "update": [],
        }
    )
    base = httpserver.url_for("").rstrip("/")
    settings = Settings(
        profile="test",
        base_url=base,
        token_url=f"{base}/auth/token",
        client_id="c",
        client_secret="s3cret-value",
        data_dir=tmp_path / "data",
        rate=100.0,
        burst=10,
    )
    platform = GenericPlatform.from_settings(settings, disk_cache=False)
    target = Target(platform, settings.ledger_dir(), f"test|{base}", "test", settings.audit_path)
    source = tmp_path / "two.csv"
    source.write_text(
        "sku,title,price,stock\nOK-1,Fine,10.00,1\nBAD-1,=Banned,11.00,2\n", encoding="utf-8"
    )
    failed = tmp_path / "failed.csv"
    succeeded = tmp_path / "succeeded.csv"
    job = UploadJob(
        Catalog([source]),
        target,
        JobOptions(),
        Outputs(failed=failed, succeeded=succeeded, report=tmp_path / "report.json"),
    )
    report = job.run()
    platform.close()
    assert (report.counts["created"], report.counts["failed"], report.exit_code) == (1, 1, 1)
    assert failed.read_text(encoding="utf-8").splitlines() == [
        "sku,title,price,stock,error_code,error_message",
        "BAD-1,'=Banned,11.00,2,VALIDATION,title: title is banned",
    ]
    assert succeeded.read_text(encoding="utf-8").splitlines() == [
        "sku,product_id,action",
        "OK-1,p1,created",
    ]
    (again,) = list(Catalog([failed]))
    assert again.product.title == "=Banned"  # type: ignore[union-attr]
    audit = [json.loads(line) for line in settings.audit_path.read_text().splitlines()]
    assert [(r["sku"], r["outcome"], r["code"]) for r in audit] == [
        ("OK-1", "ok", None),
        ("BAD-1", "error", "VALIDATION"),
    ]
    assert all(r["run_id"] == report.run_id for r in audit)
    document = json.loads((tmp_path / "report.json").read_text())
    assert document["exit_code"] == 1
    assert document["counts"]["failed"] == 1
    assert "s3cret-value" not in json.dumps(document) + settings.audit_path.read_text()
    assert "tok-123456" not in json.dumps(document) + settings.audit_path.read_text()
