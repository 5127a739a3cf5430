"""Variation families (issue 16): a product with variants is a parent listing and a child
per variant, linked by ``child_parent_sku_relationship`` under one ``variation_theme``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from shopsync.catalog.records import Catalog
from shopsync.domain.models import Product
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.amazon import AmazonPlatform
from shopsync.platforms.base import AcceptedWrite, ItemCode, ProductUpdate
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from test_platform_amazon import Recorder, _settings, _validator, needs_specs

MARKET = "ATVPDKIKX0DER"


@pytest.fixture
def amazon() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="amazon")) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        yield handle


@pytest.fixture
def platform(amazon: SandboxHandle, tmp_path: Path) -> Iterator[AmazonPlatform]:
    adapter = connect(_settings(amazon, tmp_path), sleep=lambda _s: None, disk_cache=False)
    assert isinstance(adapter, AmazonPlatform)
    with adapter:
        yield adapter


def _tee(**changes: Any) -> Product:
    variants = [
        {"sku": "TEE-S-RED", "option_values": {"Size": "S", "Color": "Red"}, "price": "15.00",
         "stock": 4, "barcode": "4006381333931"},
        {"sku": "TEE-M-RED", "option_values": {"Size": "M", "Color": "Red"}, "price": "16.00",
         "stock": 2, "image": "https://img.example/m-red.jpg"},
    ]  # fmt: skip
    for sku, fields in changes.pop("variant_changes", {}).items():
        variants = [{**v, **fields} if v["sku"] == sku else v for v in variants]
    return Product.model_validate(
        {"handle": "TEE", "title": "Cotton tee", "brand": "Yixing", "options": ["Size", "Color"],
         "images": ["https://img.example/tee.jpg"], "variants": variants, **changes}
    )  # fmt: skip


def _calls(handle: SandboxHandle, operation: str) -> int:
    counts = handle.stats()["requests"]
    return sum(sum(v.values()) for k, v in counts.items() if k.endswith(" " + operation))


def _attributes(handle: SandboxHandle, sku: str) -> dict[str, Any]:
    row = handle.store.product(sku)
    assert row is not None, sku
    attributes: dict[str, Any] = row.values["attributes"]
    return attributes


def test_a_product_with_variants_is_a_parent_and_a_child_per_variant(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    assert platform.capabilities.variants
    (result,) = platform.write_products([_tee()]).created
    assert (result.sku, result.ok, result.product_id, result.item_code) == (
        "TEE-S-RED", True, "TEE", ItemCode.ACCEPTED,
    )  # fmt: skip
    assert _calls(amazon, "putListingsItem") == 3
    parent = _attributes(amazon, "TEE")
    assert parent["parentage_level"] == [{"value": "parent", "marketplace_id": MARKET}]
    assert parent["variation_theme"] == [{"name": "SIZE/COLOR"}]
    assert parent["item_name"][0]["value"] == "Cotton tee"
    assert not {"purchasable_offer", "fulfillment_availability", "condition_type"} & set(parent)
    assert amazon.store.product("TEE").values["productType"] == "HOME"  # type: ignore[union-attr]
    small = _attributes(amazon, "TEE-S-RED")
    assert small["parentage_level"] == [{"value": "child", "marketplace_id": MARKET}]
    assert small["child_parent_sku_relationship"] == [
        {"child_relationship_type": "variation", "parent_sku": "TEE", "marketplace_id": MARKET}
    ]
    assert small["variation_theme"] == [{"name": "SIZE/COLOR"}]
    assert small["size"][0]["value"] == "S"
    assert small["color"][0]["value"] == "Red"
    assert small["item_name"][0]["value"] == "Cotton tee (S, Red)"
    assert small["purchasable_offer"][0]["our_price"] == [{"schedule": [{"value_with_tax": 15.0}]}]
    assert small["fulfillment_availability"][0]["quantity"] == 4
    assert small["externally_assigned_product_identifier"][0]["value"] == "4006381333931"
    medium = _attributes(amazon, "TEE-M-RED")
    assert medium["main_product_image_locator"][0]["media_location"] == (
        "https://img.example/m-red.jpg"
    )
    assert medium["other_product_image_locator_1"][0]["media_location"] == (
        "https://img.example/tee.jpg"
    )
    # Read back: the family is live, found by its first variant's SKU under its handle.
    assert platform.confirm_writes([AcceptedWrite(_tee())])[0].ok
    assert platform.lookup_skus(["TEE-S-RED"])["TEE-S-RED"].product_id == "TEE"


def test_a_variants_price_change_puts_that_child_alone(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    platform.write_products([_tee()])
    changed = _tee(variant_changes={"TEE-M-RED": {"price": "18.00"}})
    only_changed = changed.model_copy(update={"variants": [changed.variants[1]]})
    update = ProductUpdate(
        "TEE", only_changed, frozenset({"variants"}), variants_before=tuple(
            v.model_dump(mode="json") for v in _tee().variants
        ),
    )  # fmt: skip
    (result,) = platform.write_products([], [update]).updated
    assert result.ok
    assert _calls(amazon, "putListingsItem") == 4  # 3, then the one child
    assert _calls(amazon, "patchListingsItem") == 0
    price = _attributes(amazon, "TEE-M-RED")["purchasable_offer"][0]["our_price"]
    assert price == [{"schedule": [{"value_with_tax": 18.0}]}]


def test_a_title_change_patches_the_parent_and_every_child(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    platform.write_products([_tee()])
    update = ProductUpdate(
        "TEE", _tee(title="Linen tee"), frozenset({"title"}),
        variants_before=tuple(v.model_dump(mode="json") for v in _tee().variants),
    )  # fmt: skip
    (result,) = platform.write_products([], [update]).updated
    assert result.ok
    assert _calls(amazon, "patchListingsItem") == 3
    assert _attributes(amazon, "TEE")["item_name"][0]["value"] == "Linen tee"
    assert _attributes(amazon, "TEE-M-RED")["item_name"][0]["value"] == "Linen tee (M, Red)"
    assert _attributes(amazon, "TEE-M-RED")["purchasable_offer"]  # the rest untouched


def test_a_child_lost_after_accepted_makes_the_family_not_live(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    amazon.app.lose_skus = {"TEE-M-RED"}  # type: ignore[attr-defined]
    platform.write_products([_tee()])
    (result,) = platform.confirm_writes([AcceptedWrite(_tee())])
    assert (result.ok, result.item_code, result.code) == (False, ItemCode.ACCEPTED, "NOT_LIVE")
    assert result.sku == "TEE-S-RED"
    assert result.message == "TEE-M-RED: accepted, not live: Amazon has no listing"


def test_a_family_in_a_feed_is_one_message_per_listing(
    amazon: SandboxHandle, tmp_path: Path
) -> None:
    adapter = connect(
        _settings(amazon, tmp_path, feed_threshold=1), sleep=lambda _s: None, disk_cache=False
    )
    assert isinstance(adapter, AmazonPlatform)
    with adapter:
        (result,) = adapter.write_products([_tee()], idempotency_key="family").created
    assert (result.ok, result.product_id, result.item_code) == (True, "TEE", ItemCode.ACCEPTED)
    assert _calls(amazon, "putListingsItem") == 0
    assert amazon.stats()["feeds_created"] == 1
    assert _attributes(amazon, "TEE-S-RED")["child_parent_sku_relationship"][0]["parent_sku"] == (
        "TEE"
    )


def test_an_upload_of_a_variant_file_creates_the_family_once(
    amazon: SandboxHandle, platform: AmazonPlatform, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "handle,sku,title,price,stock,option:Size,option:Color\n"
        "TEE,TEE-S,Cotton tee,15.00,4,S,Red\n"
        "TEE,TEE-M,Cotton tee,16.00,2,M,Red\n",
        encoding="utf-8",
    )
    target = Target(platform, tmp_path / "ledger", "t", "t")

    def run() -> dict[str, int]:
        job = UploadJob(Catalog([catalog]), target, JobOptions(verify_timeout=0), Outputs())
        report = job.run()
        assert report.exit_code == 0, report.error
        return report.counts

    assert run()["created"] == 1
    assert amazon.store.product_counts() == (3, 0)
    puts = _calls(amazon, "putListingsItem")
    assert run()["unchanged"] == 1
    assert _calls(amazon, "putListingsItem") == puts


@needs_specs
def test_family_requests_validate_against_the_listings_model(
    amazon: SandboxHandle, platform: AmazonPlatform
) -> None:
    recorder = Recorder(platform)
    platform.write_products([_tee()])
    puts = [q for q, _r in recorder.exchanges if q.method == "PUT"]
    assert len(puts) == 3
    for request in puts:
        _validator("listingsItems_2021-08-01.json", "ListingsItemPutRequest").validate(
            json.loads(request.body or b"{}")
        )


def test_the_example_file_uploads_as_documented(
    amazon: SandboxHandle, platform: AmazonPlatform, tmp_path: Path
) -> None:
    example = Path(__file__).resolve().parents[1] / "examples" / "amazon-products.csv"
    target = Target(platform, tmp_path / "ledger", "t", "t")
    report = UploadJob(Catalog([example]), target, JobOptions(verify_timeout=0), Outputs()).run()
    assert (report.exit_code, report.counts["created"], report.counts["rejected"]) == (0, 2, 0)
    assert amazon.store.product_counts() == (4, 0)  # TP-1, and TEE with its two children
    bullets = _attributes(amazon, "TP-1")["bullet_point"]
    assert [b["value"] for b in bullets] == ["Handmade", "Purple clay", "300 ml"]
    assert amazon.store.product("TEE").values["productType"] == "SHIRT"  # type: ignore[union-attr]
