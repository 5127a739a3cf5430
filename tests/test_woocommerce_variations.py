"""Variable products on WooCommerce (issue 19): a parent of type ``variable`` filed under the
handle, its options as attributes used for variations, each variant a variation sent
through ``/products/{id}/variations/batch``; only changed fields; kept or removed variants;
stock per variation; a lost answer to a variations create reconciled by SKU. Driven
through the upload and stock jobs, as a user's commands run, and read back with
WooCommerce's own client and checked against its REST reference's property tables.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.suite import seed_for_first_draws
from shopsync.catalog.records import Catalog
from shopsync.domain.models import Product
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.stock import StockFile, StockJob, StockOptions
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.woocommerce import WooCommercePlatform
from shopsync.platforms.woocommerce.mapping import product_body, variation_body
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.faults import Fault
from shopsync.sync.report import RunReport
from test_platform_woocommerce import _client, _properties, _settings

HEADER = ["handle", "sku", "title", "price", "compare_at_price", "stock", "option:Size"]
TEE = [
    ["tee", "TEE-S", "Tee", "10.00", "15.00", "3", "S"],
    ["tee", "TEE-M", "Tee", "10.00", "", "4", "M"],
    ["tee", "TEE-L", "Tee", "12.00", "", "5", "L"],
]
MUG = ["", "MUG-1", "Mug", "9.90", "", "5", ""]


@pytest.fixture
def woo() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="woocommerce", rate=1000, burst=1000)) as handle:
        yield handle


class Shop:
    """The adapter on ``woo``, every write request's path and body kept, and the jobs."""

    def __init__(self, woo: SandboxHandle, tmp_path: Path) -> None:
        adapter = connect(_settings(woo, tmp_path / "data"), sleep=lambda _s: None)
        assert isinstance(adapter, WooCommercePlatform)
        self.woo = woo
        self.platform = adapter
        self.tmp_path = tmp_path
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self.target = Target(
            platform=adapter,
            ledger_dir=tmp_path / "ledger",
            namespace=f"t|{woo.base_url}",
            profile="t",
        )
        request = adapter.client.request

        def recording(method: str, path: str, **kwargs: Any) -> Any:
            if method == "POST":
                self.posts.append((path.removeprefix("/wp-json/wc/v3/"), kwargs.get("json")))
            return request(method, path, **kwargs)

        adapter.client.request = recording  # type: ignore[method-assign]

    def upload(self, rows: list[list[str]], **options: Any) -> RunReport:
        path = self.tmp_path / f"catalog-{len(self.posts)}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(rows)
        self.posts.clear()
        job = UploadJob(
            Catalog([path]),
            self.target,
            JobOptions(batch_size=100, workers=1, **options),
            Outputs(default_dir=self.tmp_path, failed=self.tmp_path / "failed.csv"),
        )
        return job.run()

    def variations(self, handle: str) -> dict[str, dict[str, Any]]:
        """The parent's variations, read with WooCommerce's own client, by SKU."""
        api = _client(self.woo)
        [parent] = api.get("products", params={"sku": handle}).json()
        listed = api.get(f"products/{parent['id']}/variations", params={"per_page": 100})
        return {v["sku"]: v for v in listed.json()}


def _parent(shop: Shop, handle: str = "tee") -> str:
    """The id of the variable product filed under ``handle``."""
    row = shop.woo.store.product_by_sku(handle)
    assert row is not None
    return row.product_id


@pytest.fixture
def shop(woo: SandboxHandle, tmp_path: Path) -> Iterator[Shop]:
    made = Shop(woo, tmp_path)
    with made.platform:
        yield made


def test_a_variable_product_is_a_parent_and_its_variations(shop: Shop) -> None:
    report = shop.upload([*TEE, MUG])
    assert (report.exit_code, report.counts["created"]) == (0, 2)
    # One products batch (the parent and the mug), one variations batch.
    assert [path for path, _ in shop.posts] == [
        "products/batch",
        f"products/{_parent(shop)}/variations/batch",
    ]
    parent = next(p for p in shop.posts[0][1]["create"] if p["sku"] == "tee")
    assert parent == {
        "sku": "tee",
        "type": "variable",
        "name": "Tee",
        "attributes": [
            {"name": "Size", "options": ["S", "M", "L"], "visible": True, "variation": True}
        ],
    }
    created = shop.posts[1][1]["create"]
    # The first variant last: finding it means the product's other creates were made.
    assert [v["sku"] for v in created] == ["TEE-M", "TEE-L", "TEE-S"]
    assert created[2] == {
        "sku": "TEE-S",
        "regular_price": "15.00",  # the compare-at ("was") price
        "sale_price": "10.00",
        "manage_stock": True,
        "stock_quantity": 3,
        "attributes": [{"name": "Size", "option": "S"}],
    }
    held = shop.variations("tee")
    assert {sku: (v["regular_price"], v["sale_price"], v["price"], v["stock_quantity"])
            for sku, v in held.items()} == {
        "TEE-S": ("15.00", "10.00", "10.00", 3),
        "TEE-M": ("10.00", "", "10.00", 4),
        "TEE-L": ("12.00", "", "12.00", 5),
    }  # fmt: skip
    assert shop.woo.stats()["variations_stored"] == 3
    again = shop.upload([*TEE, MUG])
    assert again.counts["unchanged"] == 2
    assert shop.posts == []


def test_an_update_sends_only_the_changed_variation_fields(shop: Shop) -> None:
    shop.upload(TEE)
    ids = {sku: v["id"] for sku, v in shop.variations("tee").items()}
    # The file changes TEE-M's price only: one variation's price pair is sent, nothing else.
    changed = [TEE[0], [*TEE[1][:3], "11.00", *TEE[1][4:]], TEE[2]]
    report = shop.upload(changed)
    assert (report.counts["updated"], report.counts["unchanged"]) == (1, 0)
    assert shop.posts == [
        (
            f"products/{_parent(shop)}/variations/batch",
            {"update": [{"id": ids["TEE-M"], "regular_price": "11.00", "sale_price": ""}]},
        )
    ]
    assert shop.variations("tee")["TEE-M"]["regular_price"] == "11.00"
    # A new title is the parent's alone: one products batch, the variations not even read.
    retitled = [[*row[:2], "Cotton tee", *row[3:]] for row in changed]
    reads = shop.woo.stats()["requests"].get("GET /wp-json/wc/v3/products/{id}/variations", {})
    assert shop.upload(retitled).counts["updated"] == 1
    assert shop.posts == [
        ("products/batch", {"update": [{"id": int(_parent(shop)), "name": "Cotton tee"}]})
    ]
    assert (
        shop.woo.stats()["requests"].get("GET /wp-json/wc/v3/products/{id}/variations", {}) == reads
    )


def test_a_dropped_variant_is_kept_unless_asked_and_a_new_one_extends_the_options(
    shop: Shop,
) -> None:
    shop.upload(TEE)
    parent_id = _parent(shop)
    large = shop.variations("tee")["TEE-L"]["id"]
    kept = shop.upload(TEE[:2])  # TEE-L's row is gone: kept on the shop, nothing sent
    assert (kept.counts["unchanged"], shop.posts) == (1, [])
    assert sorted(shop.variations("tee")) == ["TEE-L", "TEE-M", "TEE-S"]
    removed = shop.upload(TEE[:2], remove_missing_variants=True)
    assert removed.counts["updated"] == 1
    assert shop.posts == [  # the parent's Size attribute loses L, and the variation goes
        ("products/batch", {"update": [{"id": int(parent_id), "attributes": [
            {"name": "Size", "options": ["S", "M"], "visible": True, "variation": True}]}]}),
        (f"products/{parent_id}/variations/batch", {"delete": [large]}),
    ]  # fmt: skip
    assert sorted(shop.variations("tee")) == ["TEE-M", "TEE-S"]
    # A new size: the parent's Size attribute gains it (a variation's value must be one of
    # its parent's), then the variation is created; the others are not sent.
    report = shop.upload([*TEE[:2], ["tee", "TEE-XL", "Tee", "13.00", "", "2", "XL"]])
    assert report.counts["updated"] == 1
    assert shop.posts == [
        ("products/batch", {"update": [{"id": int(parent_id), "attributes": [
            {"name": "Size", "options": ["S", "M", "XL"], "visible": True, "variation": True}]}]}),
        (f"products/{parent_id}/variations/batch", {"create": [{
            "sku": "TEE-XL", "regular_price": "13.00", "sale_price": "", "manage_stock": True,
            "stock_quantity": 2, "attributes": [{"name": "Size", "option": "XL"}]}]}),
    ]  # fmt: skip
    assert sorted(shop.variations("tee")) == ["TEE-M", "TEE-S", "TEE-XL"]


def test_stock_is_set_per_variation(shop: Shop, tmp_path: Path) -> None:
    shop.upload([*TEE, MUG])
    stock = tmp_path / "stock.csv"
    stock.write_text("sku,stock\nTEE-M,9\nMUG-1,1\nTEE-S,0\n", encoding="utf-8")
    shop.posts.clear()
    job = StockJob(
        StockFile([stock]),
        shop.target,
        StockOptions(batch_size=100, workers=1),
        Outputs(failed=tmp_path / "stock-failed.csv"),
    )
    report = job.run()
    assert report.counts["updated"] == 3
    held = shop.variations("tee")
    assert (held["TEE-M"]["stock_quantity"], held["TEE-S"]["stock_quantity"]) == (9, 0)
    assert held["TEE-L"]["stock_quantity"] == 5
    assert shop.woo.store.product_by_sku("MUG-1").values["stock"] == 1  # type: ignore[union-attr]
    # One request for the products, one for the parent's variations.
    assert sorted(path for path, _ in shop.posts) == sorted(
        ["products/batch", f"products/{_parent(shop)}/variations/batch"]
    )


def test_a_lost_answer_to_a_variations_create_is_reconciled_by_lookup(shop: Shop) -> None:
    # The variations batch is applied and its answer cut; the adapter reads the parent's
    # variations back and sends nothing again: each variant once, and the run succeeds.
    pattern = [None, Fault.DROP_AFTER_COMMIT, *[None] * 10]
    shop.woo.configure_faults(
        drop_after_commit_rate=0.05,
        seed=seed_for_first_draws(pattern, drop_after_commit_rate=0.05),
    )
    report = shop.upload(TEE)
    assert shop.woo.stats()["faults"]["drop_after_commit"] == 1
    assert (report.exit_code, report.counts["created"]) == (0, 1)
    assert shop.woo.stats()["variations_stored"] == 3
    assert shop.woo.store.next_sequence("woocommerce_post") - 1 == 4  # parent + 3, once each
    assert [path.rsplit("/", 1)[-1] for path, _ in shop.posts] == ["batch", "batch"]


def test_the_adapter_writes_only_documented_variation_properties() -> None:
    _, products = _properties("products.md", "Product properties")
    _, variations = _properties("product-variations.md", "Product variation properties")
    _, attributes = _properties("products.md", "Product - Attributes properties")
    _, chosen = _properties("product-variations.md", "Product variation - Attributes properties")
    variant = {"sku": "TEE-S", "price": "5.00", "compare_at_price": "7.00", "stock": 2,
               "barcode": "690123", "weight_kg": "0.2", "image": "https://img.example/s.jpg",
               "option_values": {"Size": "S"}}  # fmt: skip
    tee = Product.model_validate({"handle": "tee", "title": "Tee", "options": ["Size"],
                                  "brand": "Acme", "attributes": {"fit": "slim"},
                                  "variants": [variant]})  # fmt: skip
    parent = product_body(tee, None)
    variation = variation_body(tee.variants[0], tee.options, None)
    assert set(parent) <= products, set(parent) - products
    assert set(variation) <= variations, set(variation) - variations
    assert all(set(a) <= attributes for a in parent["attributes"])
    assert all(set(a) <= chosen for a in variation["attributes"])
