"""Products with variants uploaded to the generic API v2 (docs/platform-api.md §2a).

Against the sandbox: a 3-product × 4-variant CSV goes up in one request; one variant's
new price, an added size and a dropped colour reach the shop as exactly those changes
(the batch bodies on the wire and the stored products say so); stock is set by a
variant's SKU; and with the sandbox ignoring keys and losing answers after commit, each
product is still created once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shopsync.catalog.records import Catalog
from shopsync.cli import cli
from shopsync.errors import PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.plan import plan
from shopsync.jobs.stock import StockFile, StockJob, StockOptions
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.base import Capabilities
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.faults import FaultInjector
from shopsync.sync.report import RunReport
from test_sync import settings_for
from test_variants import PRODUCTS, rows, write_csv


class Wire:
    """The generic platform, with every ``POST /products/batch`` body it sends kept."""

    def __init__(self, platform: GenericPlatform) -> None:
        self.batches: list[dict[str, Any]] = []
        request = platform.client.request

        def recording(method: str, path: str, **kwargs: Any) -> Any:
            if path == "/products/batch":
                self.batches.append(json.loads(kwargs["json_text"]))
            return request(method, path, **kwargs)

        platform.client.request = recording  # type: ignore[method-assign]


@pytest.fixture
def connect(
    tmp_path: Path,
) -> Iterator[Callable[..., tuple[Target, GenericPlatform, Wire]]]:
    platforms: list[GenericPlatform] = []

    def make(
        handle: SandboxHandle, trust_idempotency_keys: bool | None = None
    ) -> tuple[Target, GenericPlatform, Wire]:
        settings = settings_for(handle, tmp_path / "data", rate=2000.0, burst=200)
        platform = GenericPlatform.from_settings(
            settings, disk_cache=False, trust_idempotency_keys=trust_idempotency_keys
        )
        platforms.append(platform)
        platform.check_auth()  # the token comes before any fault
        target = Target(
            platform=platform,
            ledger_dir=settings.ledger_dir(),
            namespace=f"test|{handle.base_url}",
            profile="test",
        )
        return target, platform, Wire(platform)

    yield make
    for platform in platforms:
        platform.close()


def upload(target: Target, path: Path, tmp_path: Path, **options: Any) -> RunReport:
    job = UploadJob(
        Catalog([path]),
        target,
        JobOptions(batch_size=50, workers=2, **options),
        Outputs(default_dir=tmp_path),
    )
    return job.run()


def stored(handle: SandboxHandle, sku: str) -> dict[str, Any]:
    """The product that holds ``sku`` (a variant's), as the store keeps it."""
    rows_found = handle.store.products_with_skus([sku])[sku]
    assert len(rows_found) == 1
    return rows_found[0].to_json()


def variants_of(handle: SandboxHandle, sku: str) -> dict[str, dict[str, Any]]:
    return {v["sku"]: v for v in stored(handle, sku)["variants"]}


def variant(sku: str, size: str, colour: str, price: str, stock: int = 5) -> dict[str, Any]:
    """A variant as the client sends it (nothing left unset: it goes whole)."""
    return {
        "sku": sku,
        "option_values": {"Size": size, "Colour": colour},
        "price": price,
        "stock": stock,
    }


def changed_rows() -> list[list[str]]:
    """TEE-M-RED costs 19.00, hoodie gains size L in red, cap loses its blue ones."""
    body = rows(price={"TEE-M-RED": "19.00"})
    body.append(["hoodie", "HOODIE-L-RED", "", "11.00", "5", "L", "Red"])
    return [row for row in body if not (row[0] == "cap" and row[6] == "Blue")]


def test_variants_go_up_and_change_exactly_as_the_file_does(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
) -> None:
    target, _platform, wire = connect(sandbox)
    first = upload(target, write_csv(tmp_path / "a.csv", rows()), tmp_path)
    assert (first.counts["created"], first.counts["failed"], first.exit_code) == (3, 0, 0)
    assert sandbox.stats()["write_requests"] == 1
    assert sandbox.stats()["products_stored"] == 3
    created = wire.batches[0]["create"]
    assert [p["handle"] for p in created] == list(PRODUCTS)
    assert all("sku" not in p and "price" not in p for p in created)  # per variant
    tee = stored(sandbox, "TEE-M-BLUE")
    assert (tee["handle"], tee["options"], tee["version"]) == ("tee", ["Size", "Colour"], 1)
    assert [v["sku"] for v in tee["variants"]] == [
        "TEE-S-RED",
        "TEE-S-BLUE",
        "TEE-M-RED",
        "TEE-M-BLUE",
    ]
    assert tee["variants"][0] == {
        "sku": "TEE-S-RED",
        "option_values": {"Size": "S", "Colour": "Red"},
        "price": "10.00",
        "compare_at_price": None,
        "stock": 5,
        "barcode": None,
        "weight_kg": None,
        "image": None,
    }

    again = upload(target, tmp_path / "a.csv", tmp_path)
    assert again.counts["unchanged"] == 3
    assert sandbox.stats()["write_requests"] == 1  # a re-run sends no write

    # One price, one size added, one colour gone (kept, by default): two updates that
    # carry exactly the new or changed variants, in one request.
    changed = write_csv(tmp_path / "b.csv", changed_rows())
    second = upload(target, changed, tmp_path)
    assert (second.counts["updated"], second.counts["unchanged"]) == (2, 1)
    assert sandbox.stats()["write_requests"] == 2
    tee_id, hoodie_id, cap_id = (
        stored(sandbox, f"{h.upper()}-S-RED")["product_id"] for h in PRODUCTS
    )
    assert wire.batches[1] == {
        "create": [],
        "update": [
            # A known variant: its changed field alone (a count sold since stays).
            {"product_id": tee_id, "variants": [{"sku": "TEE-M-RED", "price": "19.00"}]},
            {"product_id": hoodie_id, "variants": [variant("HOODIE-L-RED", "L", "Red", "11.00")]},
        ],
    }
    assert variants_of(sandbox, "TEE-S-RED")["TEE-M-RED"]["price"] == "19.00"
    assert {sku: v["price"] for sku, v in variants_of(sandbox, "TEE-S-RED").items()} == {
        "TEE-S-RED": "10.00",
        "TEE-S-BLUE": "10.00",
        "TEE-M-RED": "19.00",
        "TEE-M-BLUE": "10.00",
    }
    assert list(variants_of(sandbox, "HOODIE-S-RED"))[-1] == "HOODIE-L-RED"
    cap = stored(sandbox, "CAP-S-RED")
    assert (len(cap["variants"]), cap["version"]) == (4, 1)  # kept: untouched

    assert upload(target, changed, tmp_path).counts["unchanged"] == 3
    assert sandbox.stats()["write_requests"] == 2

    # Asked for, the removal is one update of the cap naming the two SKUs, nothing more.
    removing = upload(target, changed, tmp_path, remove_missing_variants=True)
    assert (removing.counts["updated"], removing.counts["unchanged"]) == (1, 2)
    assert wire.batches[2] == {
        "create": [],
        "update": [{"product_id": cap_id, "remove_variants": ["CAP-S-BLUE", "CAP-M-BLUE"]}],
    }
    cap = stored(sandbox, "CAP-S-RED")
    assert ([v["sku"] for v in cap["variants"]], cap["version"]) == (["CAP-S-RED", "CAP-M-RED"], 2)
    assert sandbox.store.products_with_skus(["CAP-S-BLUE"]) == {}
    assert upload(target, changed, tmp_path, remove_missing_variants=True).counts["unchanged"] == 3
    assert sandbox.stats()["write_requests"] == 3
    assert sandbox.stats()["products_stored"] == 3


def test_stock_is_set_by_a_variants_sku(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
) -> None:
    target, _platform, _wire = connect(sandbox)
    upload(target, write_csv(tmp_path / "a.csv", rows()), tmp_path)
    counts = tmp_path / "stock.csv"
    counts.write_text("sku,stock\nTEE-M-BLUE,42\nCAP-S-RED,0\n", encoding="utf-8")
    report = StockJob(
        StockFile([counts]),
        target,
        StockOptions(batch_size=50, workers=1),
        Outputs(failed=tmp_path / "failed.csv"),
    ).run()
    assert (report.counts["updated"], report.counts["failed"], report.exit_code) == (2, 0, 0)
    assert {sku: v["stock"] for sku, v in variants_of(sandbox, "TEE-S-RED").items()} == {
        "TEE-S-RED": 5,
        "TEE-S-BLUE": 5,
        "TEE-M-RED": 5,
        "TEE-M-BLUE": 42,
    }
    assert variants_of(sandbox, "CAP-S-RED")["CAP-S-RED"]["stock"] == 0
    assert stored(sandbox, "TEE-S-RED")["version"] == 2


def scattered_catalog(path: Path, products: int) -> list[str]:
    """``products`` products of 4 variants each; their handles."""
    lines = ["handle,sku,title,price,stock,option:Size,option:Colour"]
    handles = [f"p{n:03d}" for n in range(products)]
    for handle in handles:
        for size in ("S", "M"):
            for colour in ("Red", "Blue"):
                lines.append(
                    f"{handle},{handle}-{size}-{colour},Item {handle},9.90,3,{size},{colour}"
                )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return handles


def test_each_product_with_variants_is_created_once_when_answers_are_lost(
    make_sandbox: Callable[..., SandboxHandle],
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
) -> None:
    # Keys ignored and duplicate SKUs and handles let in: a blind resend would make a
    # second product; a lookup by the first variant's SKU finds the first one.
    handle = make_sandbox(ignore_idempotency_keys=True, allow_duplicate_skus=True)
    target, _platform, _wire = connect(handle)
    handles = scattered_catalog(tmp_path / "catalog.csv", 120)
    handle.app.faults = FaultInjector(replace(handle.config, drop_after_commit_rate=0.4, seed=5))
    reports: list[RunReport] = []
    for _ in range(6):
        job = UploadJob(
            Catalog([tmp_path / "catalog.csv"]),
            target,
            JobOptions(batch_size=10, workers=2),
            Outputs(default_dir=tmp_path),
        )
        try:
            reports.append(job.run())
            break
        except PlatformError:
            reports.append(job.report)
    assert reports[-1].exit_code == 0
    assert handle.stats()["faults"]["drop_after_commit"] >= 3
    found = handle.store.products_with_skus(f"{h}-S-Red" for h in handles)
    assert {sku: len(rows_found) for sku, rows_found in found.items()} == {
        f"{h}-S-Red": 1 for h in handles
    }
    assert handle.stats()["products_stored"] == 120


def test_several_variants_for_a_platform_without_them_are_refused_when_planned(
    tmp_path: Path,
) -> None:
    body = rows()
    body.append(["mug", "MUG-1", "Mug", "5.00", "2", "One", "White"])  # one variant: fine
    path = write_csv(tmp_path / "a.csv", body)
    target = Target(
        platform=None,
        ledger_dir=tmp_path / "ledger",
        namespace="test|none",
        profile="test",
        capabilities=Capabilities(max_batch_size=50, variants=False),
        platform_name="shopee",
    )
    result = plan(Catalog([path]), target, JobOptions(), Outputs(rejects=tmp_path / "rej.csv"))
    assert (result.counts.created, result.counts.rejected) == (1, 3)
    assert [(e.row.file, e.row.line, e.errors[0].column) for e in result.rejected] == [
        (str(path), 2, "handle"),
        (str(path), 6, "handle"),
        (str(path), 10, "handle"),
    ]
    assert result.rejected[0].errors[0].message == (
        "product tee has 4 variants (TEE-S-RED, TEE-S-BLUE, TEE-M-RED, TEE-M-BLUE) and the "
        "shopee platform takes none; give each variant its own row without a handle, or "
        "upload to a platform with variants"
    )


def test_compare_at_price_is_read_as_sellers_write_prices(tmp_path: Path) -> None:
    path = tmp_path / "was.csv"
    path.write_text(
        "handle,sku,title,price,compare_at_price,option:Size\n"
        "tee,TEE-S,Tee,￥39.00,￥59.00,S\n"
        "tee,TEE-M,,39,1,299.00,M\n".replace("1,299.00", '"1,299.00"'),
        encoding="utf-8",
    )
    (valid,) = [outcome for outcome in Catalog([path]) if not hasattr(outcome, "errors")]
    product = valid.product  # type: ignore[union-attr]
    assert [str(v.compare_at_price) for v in product.variants] == ["59.00", "1299.00"]
    assert product.currency == "CNY"


def test_refresh_reads_a_product_with_variants_by_its_first_variants_sku(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
    api_for: Callable[..., Any],
) -> None:
    target, _platform, wire = connect(sandbox)
    path = write_csv(tmp_path / "a.csv", rows())
    upload(target, path, tmp_path)
    # Edited on the platform: one variant's price, and a stock count moved by a sale.
    tee_id = stored(sandbox, "TEE-S-RED")["product_id"]
    api = api_for(sandbox)
    edit = api.patch(
        f"/products/{tee_id}",
        json={"variants": [variant("TEE-M-RED", "M", "Red", "99.00", stock=1)]},
    )
    assert edit.status_code == 200, edit.text
    assert plan(Catalog([path]), target, JobOptions(), Outputs()).counts.updated == 0
    refreshed = plan(Catalog([path]), target, JobOptions(refresh=True), Outputs())
    assert (refreshed.counts.updated, refreshed.counts.unchanged) == (1, 2)
    # The price goes back; the stock a sale moved is the platform's business.
    assert refreshed.updates[0].diff() == [("variant TEE-M-RED price", "99.00", "10.00")]
    report = upload(target, path, tmp_path, refresh=True)
    assert report.counts["updated"] == 1
    assert wire.batches[-1]["update"] == [
        {"product_id": tee_id, "variants": [{"sku": "TEE-M-RED", "price": "10.00"}]}
    ]
    assert variants_of(sandbox, "TEE-M-RED")["TEE-M-RED"]["stock"] == 1


def test_remove_missing_variants_is_a_flag_of_plan_and_upload(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_BASE_URL", "SHOPSYNC_CLIENT_ID", "SHOPSYNC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG", "SHOPSYNC_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    first = write_csv(tmp_path / "a.csv", rows())
    assert runner.invoke(cli, ["upload", str(first), "--sandbox"]).exit_code == 0
    changed = write_csv(tmp_path / "b.csv", changed_rows())

    kept = runner.invoke(cli, ["plan", str(changed), "--sandbox", "--json"])
    assert kept.exit_code == 0, kept.output
    document = json.loads(kept.stdout)
    assert document["kept_variants"] == [
        {"product": "cap", "sku": "CAP-S-BLUE"},
        {"product": "cap", "sku": "CAP-M-BLUE"},
    ]
    assert document["counts"]["update"] == 2

    removing = runner.invoke(
        cli, ["plan", str(changed), "--sandbox", "--json", "--remove-missing-variants"]
    )
    document = json.loads(removing.stdout)
    assert (document["kept_variants"], document["counts"]["update"]) == ([], 3)
    cap = next(u for u in document["updates"] if u["sku"] == "cap")
    assert cap["changes"] == [
        {"field": "variant CAP-S-BLUE", "before": "present", "after": "removed"},
        {"field": "variant CAP-M-BLUE", "before": "present", "after": "removed"},
    ]
    sent = runner.invoke(
        cli, ["upload", str(changed), "--sandbox", "--remove-missing-variants", "--json"]
    )
    assert sent.exit_code == 0, sent.output
    assert json.loads(sent.stdout)["counts"]["updated"] == 3
    again = runner.invoke(
        cli, ["plan", str(changed), "--sandbox", "--json", "--remove-missing-variants"]
    )
    assert json.loads(again.stdout)["counts"] == {
        "create": 0,
        "update": 0,
        "unchanged": 3,
        "rejected": 0,
        "delete": 0,
    }


def test_force_sends_every_variant_whole(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
) -> None:
    target, _platform, wire = connect(sandbox)
    path = write_csv(tmp_path / "a.csv", rows())
    upload(target, path, tmp_path)
    forced = upload(target, path, tmp_path, force=True)
    assert (forced.counts["updated"], forced.counts["failed"]) == (3, 0)
    sent = wire.batches[-1]["update"]
    assert [len(item["variants"]) for item in sent] == [4, 4, 4]
    assert sent[0]["variants"][0] == variant("TEE-S-RED", "S", "Red", "10.00")
