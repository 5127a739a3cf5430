"""Shopify's bulk path (issue 14): staged uploads, bulkOperationRunMutation with productSet,
polling, the result file mapped back to the items; chosen by the size of the change or
forced; one operation at a time; an operation in flight when shopsync was killed is
polled by the next run, never submitted twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shopify_support import (
    products_per_sku,
    schema_path,
    shopify_platform,
    shopify_sandbox,
    target_for,
    upload,
    write_catalog,
)
from shopsync.platforms.base import BulkWrites
from shopsync.sandbox import SandboxHandle
from test_platform_shopify import cli_env

__all__ = ["cli_env", "shopify_platform", "shopify_sandbox"]

SHOPSYNC = [sys.executable, "-m", "shopsync"]


def _fields(handle: SandboxHandle) -> dict[str, int]:
    return dict(handle.stats()["graphql_fields"])


@pytest.mark.parametrize("version", ["2026-07", "2025-10"])
def test_bulk_always_creates_then_updates_each_product_once(
    version: str, shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    schema_path(version)
    handle = shopify_sandbox()
    platform = shopify_platform(handle, SHOPSYNC_BULK="always", SHOPSYNC_API_VERSION=version)
    assert platform.capabilities.bulk == BulkWrites(10_000, 0)
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 30)
    report = upload(target, catalog, tmp_path)
    assert (report.counts["created"], report.counts["failed"]) == (30, 0)
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    stats = handle.stats()
    assert (stats["bulk_operations"], stats["staged_uploads"]) == (1, 1)
    fields = _fields(handle)
    assert fields.get("productSet", 0) == 0  # no productSet outside the operation
    assert fields["bulkOperationRunMutation"] == fields["stagedUploadsCreate"] == 1
    shop = handle.app.shop  # type: ignore[attr-defined]
    assert {
        p.variants[0].sku: shop.stock[(p.variants[0].number, 1)] for p in shop.products.values()
    } == dict.fromkeys(skus, 5)
    requests = handle.stats()["requests_total"]
    assert upload(target, catalog, tmp_path).counts["unchanged"] == 30
    assert handle.stats()["requests_total"] == requests

    write_catalog(catalog, 30, price="12.50")
    report = upload(target, catalog, tmp_path)
    assert (report.counts["updated"], report.counts["failed"]) == (30, 0)
    assert handle.stats()["bulk_operations"] == 2
    assert {p.variants[0].price for p in shop.products.values()} == {"12.50"}
    assert len(shop.products) == 30


def test_auto_goes_in_bulk_from_the_threshold_and_never_means_never(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle, SHOPSYNC_BULK_THRESHOLD="20")
    assert platform.capabilities.bulk == BulkWrites(10_000, 20)
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "catalog.csv"
    write_catalog(catalog, 19)
    assert upload(target, catalog, tmp_path).counts["created"] == 19
    assert handle.stats()["bulk_operations"] == 0
    assert handle.stats()["write_requests"] == 2  # batches of 10 and 9, as before
    assert _fields(handle)["productSet"] == 19
    skus = write_catalog(catalog, 45)  # 26 new: past the threshold
    report = upload(target, catalog, tmp_path)
    assert (report.counts["created"], report.counts["unchanged"]) == (26, 19)
    assert handle.stats()["bulk_operations"] == 1
    assert _fields(handle)["productSet"] == 19  # the 26 went in the bulk operation
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    never = shopify_platform(handle, SHOPSYNC_BULK="never")
    assert never.capabilities.bulk is None


def test_one_bulk_mutation_at_a_time_a_second_waits_for_the_first(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    import threading  # noqa: PLC0415

    handle = shopify_sandbox()
    handle.app.bulk.lines_per_second = 100.0  # type: ignore[attr-defined]
    first = shopify_platform(handle, SHOPSYNC_BULK="always")
    second = shopify_platform(handle, SHOPSYNC_BULK="always", SHOPSYNC_PROFILE="other")
    first_catalog = tmp_path / "first.csv"
    first_skus = write_catalog(first_catalog, 60)
    second_catalog = tmp_path / "second.csv"
    second_catalog.write_text(
        "sku,title,price,stock\n" + "".join(f"OT-{n},Other {n},3.00,1\n" for n in range(5)),
        encoding="utf-8",
    )
    reports = {}
    running = threading.Thread(
        target=lambda: reports.setdefault(
            "first", upload(target_for(first, tmp_path / "a"), first_catalog, tmp_path / "a")
        )
    )
    running.start()
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    deadline = time.monotonic() + 30
    while not any(op.status == "RUNNING" for op in bulk.operations.values()):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    reports["second"] = upload(target_for(second, tmp_path / "b"), second_catalog, tmp_path / "b")
    running.join(30)
    assert reports["first"].counts["created"] == 60
    assert reports["second"].counts["created"] == 5
    assert handle.stats()["bulk_operations"] == 2
    assert handle.stats()["bulk_refused_in_progress"] == 0  # it waited, it was not refused
    [one, two] = sorted(bulk.operations.values(), key=lambda op: op.number)
    assert one.objects == 60 and two.objects == 5
    counts = products_per_sku(handle)
    assert counts == dict.fromkeys([*first_skus, *(f"OT-{n}" for n in range(5))], 1)


@pytest.mark.slow
def test_an_operation_in_flight_when_killed_is_polled_by_the_next_run_not_sent_again(
    shopify_sandbox, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    bulk.lines_per_second = 200.0  # 300 lines: about 1.5 s running
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 300)
    env = {
        **os.environ,
        "SHOPSYNC_PLATFORM": "shopify",
        "SHOPSYNC_SHOP": "sandbox",
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": handle.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_BULK": "always",
        "HOME": str(tmp_path),
    }
    run = subprocess.Popen(
        [*SHOPSYNC, "-q", "upload", str(catalog)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while not any(op.objects >= 50 for op in bulk.operations.values()):
        assert run.poll() is None, run.stderr.read() if run.stderr else ""
        assert time.monotonic() < deadline
        time.sleep(0.005)
    run.send_signal(signal.SIGKILL)
    run.wait()
    [operation] = bulk.operations.values()
    assert operation.status == "RUNNING"  # killed while Shopify still works on it
    journal = list((tmp_path / "data" / "shopify-bulk").glob("*.json"))
    [entry] = json.loads(journal[0].read_text(encoding="utf-8")).values()
    assert entry["operation_id"] == f"gid://shopify/BulkOperation/{operation.number}"
    lookups = _fields(handle)["productVariants"]

    again = subprocess.run(
        [*SHOPSYNC, "-q", "upload", "--json", str(catalog)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0, again.stderr.decode()
    counts = json.loads(again.stdout)["counts"]
    assert counts["created"] + counts["unchanged"] == 300
    assert counts["failed"] == 0
    assert handle.stats()["bulk_operations"] == 1  # polled, not submitted again
    assert _fields(handle)["productVariants"] == lookups  # and not looked up either
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    assert json.loads(journal[0].read_text(encoding="utf-8")) == {}


def test_upload_bulk_and_no_bulk_flags(shopify_sandbox, cli_env: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from shopsync.cli import cli  # noqa: PLC0415

    handle = shopify_sandbox()
    env = {
        "SHOPSYNC_SHOP": "sandbox",
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": handle.client_secret,
        "SHOPSYNC_BULK_THRESHOLD": "10",
    }
    catalog = cli_env / "catalog.csv"
    write_catalog(catalog, 3)
    result = CliRunner().invoke(cli, ["-q", "upload", "--bulk", str(catalog)], env=env)
    assert result.exit_code == 0, result.output
    assert handle.stats()["bulk_operations"] == 1  # three products, in bulk: forced
    write_catalog(catalog, 30)
    result = CliRunner().invoke(cli, ["-q", "upload", "--no-bulk", str(catalog)], env=env)
    assert result.exit_code == 0, result.output
    assert handle.stats()["bulk_operations"] == 1  # 27: past the threshold, but not in bulk
    assert len(products_per_sku(handle)) == 30
    generic = CliRunner().invoke(
        cli, ["upload", "--bulk", str(catalog)], env={"SHOPSYNC_PLATFORM": "generic"}
    )
    assert generic.exit_code == 2, generic.output
    assert "The generic platform has no setting(s) bulk." in generic.output


def test_a_large_bulk_batch_adopts_products_the_shop_has_through_a_bulk_query(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox(rate=2000.0)
    catalog = tmp_path / "catalog.csv"
    made_elsewhere = write_catalog(catalog, 2)  # by a run whose ledger is gone
    assert (
        upload(target_for(shopify_platform(handle), tmp_path / "old"), catalog, tmp_path).counts[
            "created"
        ]
        == 2
    )
    lookups = _fields(handle).get("productVariants", 0)
    skus = write_catalog(catalog, 600)
    platform = shopify_platform(handle, SHOPSYNC_BULK="always")
    report = upload(target_for(platform, tmp_path / "new"), catalog, tmp_path)
    assert report.counts["failed"] == 0
    assert report.counts["created"] == 598
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    kinds = sorted(op.kind for op in bulk.operations.values())
    # One export instead of a lookup per 125 SKUs; one operation for the 598 creates, and
    # (bulk = always) one for the follow-up updates of the two adopted products.
    assert kinds == ["MUTATION", "MUTATION", "QUERY"]
    assert sorted(op.objects for op in bulk.operations.values() if op.kind == "MUTATION") == [
        2,
        598,
    ]
    assert _fields(handle).get("productVariants", 0) == lookups
    assert set(made_elsewhere) <= set(skus)


def test_a_lines_user_error_comes_back_to_its_item(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle, SHOPSYNC_BULK="always")
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 20)
    upload(target, catalog, tmp_path)
    shop = handle.app.shop  # type: ignore[attr-defined]
    [gone] = [n for n, p in shop.products.items() if p.variants[0].sku == "SH-00007"]
    with shop.lock:
        del shop.products[gone]  # deleted in the admin since
    write_catalog(catalog, 20, price="11.00")
    report = upload(target, catalog, tmp_path)
    # Its line answered PRODUCT_DOES_NOT_EXIST: the engine made it again (a follow-up).
    counts = report.counts
    assert (counts["updated"], counts["created"], counts["failed"]) == (19, 1, 0)
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    [update] = [op for op in bulk.operations.values() if op.objects == 20 and op.number > 1]
    answer = json.loads(update.lines[7])
    assert answer["data"]["productSet"]["userErrors"][0]["code"] == "PRODUCT_DOES_NOT_EXIST"
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    assert {p.variants[0].price for p in shop.products.values()} == {"11.00"}


def test_an_operation_that_fails_midway_is_finished_by_the_next_run(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    bulk.fail_after = 5
    platform = shopify_platform(handle, SHOPSYNC_BULK="always")
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 20)
    first = upload(target, catalog, tmp_path)
    # Five lines answered (partialDataUrl): created; the other fifteen: no answer, failed.
    assert (first.counts["created"], first.counts["failed"]) == (5, 15)
    bulk.fail_after = None
    second = upload(target, catalog, tmp_path)
    assert (second.counts["created"], second.counts["unchanged"]) == (15, 5)
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    assert [op.status for op in sorted(bulk.operations.values(), key=lambda op: op.number)] == [
        "FAILED",
        "COMPLETED",
    ]
    assert platform._bulk.journal._load() == {}  # nothing left to poll
