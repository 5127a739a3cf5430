"""The Shopify adapter against the Shopify sandbox dialect (issue 14).

In the spirit of the adapter contract suite (issue 12): create, update only changed
fields, unchanged sends nothing, lookup, stock set/delta/CAS, orders paging, an
ambiguous failure reconciled exactly once, THROTTLED in both forms, and outages.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from graphql import parse, validate

from shopify_support import (
    load_schema,
    products_per_sku,
    shopify_platform,
    shopify_sandbox,
    shopify_settings,
    target_for,
    upload,
    write_catalog,
)
from shopsync.catalog.records import Catalog
from shopsync.errors import ConfigError, PlatformError
from shopsync.jobs.base import JobOptions, Outputs
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import Platform, StockChange
from shopsync.platforms.shopify import documents
from shopsync.platforms.shopify.adapter import MAX_BATCH, ShopifyPlatform
from shopsync.sandbox.dialects.shopify.app import CostBucket
from shopsync.sandbox.faults import FaultInjector
from test_http_support import FakeTime

__all__ = ["shopify_platform", "shopify_sandbox"]

VERSIONS = ["2026-07", "2025-10"]


@pytest.mark.parametrize("version", VERSIONS)
def test_every_document_the_adapter_sends_validates_against_shopifys_schema(
    version: str,
) -> None:
    schema = load_schema(version)
    problems = {
        label: [error.message for error in validate(schema, parse(document))]
        for label, document in documents.all_documents(version, MAX_BATCH)
    }
    assert {label: found for label, found in problems.items() if found} == {}
    assert len(problems) == 3 * MAX_BATCH + 22


def test_settings_from_the_environment_give_the_shops_origin(tmp_path: Path) -> None:
    from shopsync.config import load_settings  # noqa: PLC0415
    from shopsync.platforms import platform_settings  # noqa: PLC0415

    settings = load_settings(
        config_dir=tmp_path,
        environ={
            "SHOPSYNC_PLATFORM": "shopify",
            "SHOPSYNC_SHOP": "My-Store.myshopify.com",
            "SHOPSYNC_ACCESS_TOKEN": "shpat_canary",
        },
        platform_settings=platform_settings,
    )
    assert settings.get("shop") == "my-store"
    assert settings.base_url == "https://my-store.myshopify.com"
    assert settings.sources["base_url"] == "derived from shop"
    assert settings.get("api_version") == "2026-07"
    rows = {name: (value, source) for name, value, source in settings.describe()}
    assert rows["access_token"][0] == "*** (set)"
    assert settings.secret_values() == ["shpat_canary"]


def test_no_credentials_is_a_configuration_error(shopify_sandbox, tmp_path: Path) -> None:
    from shopsync.platforms import connect  # noqa: PLC0415

    handle = shopify_sandbox()
    settings = shopify_settings(handle, tmp_path, SHOPSYNC_CLIENT_ID="", SHOPSYNC_CLIENT_SECRET="")
    with pytest.raises(ConfigError, match="no Shopify credentials"):
        connect(settings, disk_cache=False)


def test_create_then_nothing_then_only_the_changed_field(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    assert isinstance(platform, Platform)
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 25)

    first = upload(target, catalog, tmp_path)
    assert (first.counts["created"], first.counts["failed"]) == (25, 0)
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    stats = handle.stats()
    assert stats["graphql_fields"]["productSet"] == 25
    assert stats["write_requests"] == 3  # 10 + 10 + 5 aliased productSets, one request each
    shop = handle.app.shop  # type: ignore[attr-defined]
    first_product = next(p for p in shop.products.values() if p.variants[0].sku == skus[0])
    assert shop.stock[(first_product.variants[0].number, 1)] == 5

    second = upload(target, catalog, tmp_path)
    assert second.counts["unchanged"] == 25
    assert handle.stats()["write_requests"] == 3  # nothing sent

    # Someone edits a title in the Shopify admin; the file changes one price only.
    first_product.title = "Edited in the admin"
    catalog.write_text(
        catalog.read_text(encoding="utf-8").replace(
            f"{skus[0]},Item {skus[0]},9.90", f"{skus[0]},Item {skus[0]},12.00"
        ),
        encoding="utf-8",
    )
    third = upload(target, catalog, tmp_path)
    assert (third.counts["updated"], third.counts["unchanged"]) == (1, 24)
    assert first_product.title == "Edited in the admin"  # the title was not sent
    assert first_product.variants[0].price == "12.00"
    assert shop.stock[(first_product.variants[0].number, 1)] == 5  # nor the stock
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)


def test_user_errors_come_back_per_item_with_the_catalogs_field(
    shopify_sandbox, shopify_platform
) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415
    from shopsync.platforms import ProductUpdate  # noqa: PLC0415

    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    good = Product.model_validate({"sku": "OK-1", "title": "Fine", "price": "5.00"})
    gone = ProductUpdate("gid://shopify/Product/999", good, fields=frozenset({"title"}))
    result = platform.write_products([good], [gone])
    assert result.created[0].ok
    assert result.created[0].product_id is not None
    missing = result.updated[0]
    assert (missing.ok, missing.code, missing.outcome.name) == (
        False,
        "PRODUCT_DOES_NOT_EXIST",
        "NOT_FOUND",
    )


def test_lookup_keeps_exact_case_sensitive_matches_and_reports_a_shared_sku(
    shopify_sandbox, shopify_platform
) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415

    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    make = lambda sku: Product.model_validate({"sku": sku, "title": sku, "price": "3.00"})  # noqa: E731
    platform.write_products([make("CUP-1"), make("cup-1")])
    found = platform.lookup_skus(["CUP-1", "NOPE"])
    assert list(found) == ["CUP-1"]
    assert found["CUP-1"].fields["price"] == "3.00"
    assert found["CUP-1"].fields["stock"] == 0

    platform.write_products([make("TWIN"), make("TWIN")])  # SKUs may repeat on Shopify
    with pytest.raises(PlatformError, match="'TWIN' is on 2 Shopify products"):
        platform.lookup_skus(["TWIN"])
    third = platform.write_products([make("TWIN")]).created[0]
    assert (third.ok, third.code, third.field) == (False, "SKU_NOT_UNIQUE", "sku")
    assert products_per_sku(handle)["TWIN"] == 2  # not a third


@pytest.mark.parametrize("version", VERSIONS)
def test_stock_set_cas_and_delta(version: str, shopify_sandbox, shopify_platform) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415

    load_schema(version)
    handle = shopify_sandbox()
    platform = shopify_platform(handle, SHOPSYNC_API_VERSION=version)
    products = [
        Product.model_validate({"sku": f"ST-{n}", "title": "T", "price": "1.00", "stock": 10})
        for n in range(3)
    ]
    platform.write_products(products)
    results = platform.update_inventory(
        [
            StockChange("ST-0", stock=4),
            StockChange("ST-1", stock=7, expected=10),
            StockChange("ST-2", delta=-3),
            StockChange("GHOST", stock=1),
        ]
    )
    assert [(r.ok, r.stock) for r in results[:3]] == [(True, 4), (True, 7), (True, 7)]
    assert (results[3].ok, results[3].outcome.name) == (False, "NOT_FOUND")

    stale = platform.update_inventory(
        [StockChange("ST-0", stock=9, expected=10), StockChange("ST-1", stock=8)]
    )
    assert (stale[0].ok, stale[0].outcome.name, stale[0].stock) == (False, "CONFLICT", 4)
    # Shopify applies a call all or nothing: the good change was sent again and applied.
    assert (stale[1].ok, stale[1].stock) == (True, 8)
    assert platform.lookup_skus(["ST-1"])["ST-1"].fields["stock"] == 8


def test_an_inventory_batch_resent_with_its_key_applies_once(
    shopify_sandbox, shopify_platform
) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415

    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    platform.write_products(
        [Product.model_validate({"sku": "D-1", "title": "D", "price": "1.00", "stock": 10})]
    )
    change = [StockChange("D-1", delta=-2)]
    platform.update_inventory(change, idempotency_key="k-1")
    platform.update_inventory(change, idempotency_key="k-1")  # a resumed run, same batch
    assert platform.lookup_skus(["D-1"])["D-1"].fields["stock"] == 8
    assert handle.stats()["idempotent_replays"] == 1


def test_orders_page_by_update_oldest_first(shopify_sandbox, shopify_platform) -> None:
    handle = shopify_sandbox(orders=30, seed=4)
    platform = shopify_platform(handle)
    orders = list(platform.iter_orders(page_size=7))
    assert len(orders) == 30
    assert [o.updated_at for o in orders] == sorted(o.updated_at for o in orders)
    assert len({o.order_id for o in orders}) == 30
    assert all(o.order_id.startswith("gid://shopify/Order/") for o in orders)
    assert handle.stats()["graphql_fields"]["orders"] == 5  # 7+7+7+7+2
    assert platform.get_order(orders[0].order_id) == orders[0]
    assert platform.get_order("gid://shopify/Order/99999") is None

    from datetime import datetime  # noqa: PLC0415

    middle = orders[15].updated_at
    since = datetime.fromisoformat(middle.replace("Z", "+00:00"))
    later = list(platform.iter_orders(updated_since=since))
    assert [o.order_id for o in later] == [o.order_id for o in orders if o.updated_at >= middle]


def test_a_lost_productset_answer_is_reconciled_by_sku_exactly_once(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    platform.check_auth()  # the token and the location before the faults start
    platform._location()
    handle.app.faults = FaultInjector(replace(handle.config, drop_after_commit_rate=0.4, seed=1))
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 60)
    target = target_for(platform, tmp_path)
    for _ in range(6):
        job = UploadJob(
            Catalog([catalog]),
            target,
            JobOptions(batch_size=10, workers=2),
            Outputs(default_dir=tmp_path),
        )
        try:
            job.run()
            break
        except PlatformError:
            continue
    assert handle.stats()["faults"]["drop_after_commit"] > 0
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)


@pytest.mark.parametrize("status", [200, 429])
def test_throttled_in_either_form_is_waited_out_and_nothing_is_lost(
    status: int, shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    fake = FakeTime(start=1000.0)
    handle = shopify_sandbox(rate=10.0)  # a 200-point bucket, 10 points/s back
    bucket = CostBucket(10.0, clock=fake.clock)
    assert bucket.take(190)  # another app of the shop spent it: shopsync cannot know
    handle.app.bucket = bucket  # type: ignore[attr-defined]
    handle.app.throttle_status = status  # type: ignore[attr-defined]
    platform = shopify_platform(
        handle, options={"clock": fake.clock, "sleep": fake.sleep, "jitter": lambda cap: cap}
    )
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 40)
    report = upload(target_for(platform, tmp_path), catalog, tmp_path, workers=1)
    assert (report.counts["created"], report.counts["failed"]) == (40, 0)
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    assert handle.stats()["rate_limited"] >= 1
    assert platform.stats()["throttled"] == handle.stats()["rate_limited"]
    assert fake.sleeps  # it waited, on the injected clock


def test_an_outage_stops_the_run_and_the_next_run_finishes_it(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle, options={"sleep": lambda s: None})
    platform.check_auth()
    platform._location()
    handle.app.faults = FaultInjector(replace(handle.config, fault_rate=1.0))
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 15)
    target = target_for(platform, tmp_path)
    with pytest.raises(PlatformError):
        upload(target, catalog, tmp_path)
    handle.app.faults = FaultInjector(replace(handle.config, fault_rate=0.0))
    report = upload(target, catalog, tmp_path)
    assert report.counts["failed"] == 0
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)


def test_a_custom_app_token_works_and_a_wrong_one_is_refused(
    shopify_sandbox, shopify_platform
) -> None:
    from shopsync.errors import AuthError  # noqa: PLC0415

    handle = shopify_sandbox()
    oauth = shopify_platform(handle)
    status = oauth.check_auth()
    assert status.client_id == handle.client_id
    assert set(ShopifyPlatform.required_scopes) <= set(status.granted_scopes or ())
    token = oauth.client.token().value
    static = shopify_platform(
        handle, SHOPSYNC_ACCESS_TOKEN=token, SHOPSYNC_CLIENT_ID="", SHOPSYNC_CLIENT_SECRET=""
    )
    assert static.check_auth().expires_in == float("inf")
    wrong = shopify_platform(
        handle,
        SHOPSYNC_ACCESS_TOKEN="shpat_wrong",
        SHOPSYNC_CLIENT_ID="",
        SHOPSYNC_CLIENT_SECRET="",
    )
    with pytest.raises(AuthError, match="rejected the access token"):
        wrong.lookup_skus(["X"])


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    import os  # noqa: PLC0415

    for name in list(os.environ):
        if name.startswith("SHOPSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "shopify")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_upload_sandbox_speaks_shopify_when_the_profile_says_so(cli_env: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from shopsync.cli import cli  # noqa: PLC0415

    catalog = cli_env / "catalog.csv"
    write_catalog(catalog, 12)
    result = CliRunner().invoke(cli, ["--quiet", "upload", str(catalog), "--sandbox"])
    assert result.exit_code == 0, result.output
    again = CliRunner().invoke(cli, ["upload", str(catalog), "--sandbox"])
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 12 unchanged" in again.output


def test_auth_check_reports_shopifys_scopes(shopify_sandbox, cli_env: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from shopsync.cli import cli  # noqa: PLC0415

    handle = shopify_sandbox()
    env = {
        "SHOPSYNC_SHOP": "sandbox",
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": handle.client_secret,
    }
    result = CliRunner().invoke(cli, ["auth", "check"], env=env)
    assert result.exit_code == 0, result.output
    assert f"got a token from {handle.base_url}/admin/oauth/access_token" in result.output
    assert "write_inventory write_products" in result.output
    assert handle.client_secret not in result.output


def test_a_product_already_in_the_shop_is_adopted_not_duplicated(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415

    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 12, price="7.00")
    # Made in the Shopify admin before shopsync ever ran (no ledger knows them).
    made = platform.write_products(
        [Product.model_validate({"sku": s, "title": "Admin", "price": "1.00"}) for s in skus[:3]]
    )
    report = upload(target_for(platform, tmp_path), catalog, tmp_path)
    assert (report.counts["created"], report.counts["updated"], report.counts["failed"]) == (
        9,
        3,
        0,
    )
    assert products_per_sku(handle) == dict.fromkeys(skus, 1)
    shop = handle.app.shop  # type: ignore[attr-defined]
    adopted = {p.variants[0].sku: p for p in shop.products.values()}
    assert [adopted[s].variants[0].price for s in skus[:3]] == ["7.00"] * 3
    assert {f"gid://shopify/Product/{adopted[s].number}" for s in skus[:3]} == {
        r.product_id for r in made.created
    }


def test_a_5xx_to_a_productset_is_an_unknown_outcome_settled_by_lookup(
    shopify_sandbox, shopify_platform
) -> None:
    from shopsync.domain.models import Product  # noqa: PLC0415
    from shopsync.errors import AmbiguousWriteError  # noqa: PLC0415

    handle = shopify_sandbox()
    platform = shopify_platform(handle, options={"sleep": lambda s: None})
    platform._location()
    item = Product.model_validate({"sku": "F-1", "title": "F", "price": "2.00"})
    existing = platform._existing
    platform._existing = lambda creates: {}  # type: ignore[method-assign]
    handle.app.faults = FaultInjector(replace(handle.config, fault_rate=1.0, seed=3))
    try:
        with pytest.raises(AmbiguousWriteError, match="may or may not have been applied"):
            platform.write_products([item])
    finally:
        platform._existing = existing  # type: ignore[method-assign]
    statuses = handle.stats()["requests"]["POST /graphql.json"]
    # 503s (not processed) were retried; the first 500 or 502 was not: it might have
    # been applied, and only a lookup can tell.
    assert statuses.get("500", 0) + statuses.get("502", 0) == 1
    assert set(statuses) <= {"200", "500", "502", "503"}


VARIANT_HEADER = "handle,sku,title,price,stock,option:Size,option:Colour"


def variant_rows(price_of_tee_m_red: str = "10.00", extra: str = "") -> str:
    rows = [VARIANT_HEADER]
    for number, handle in enumerate(("tee", "cap")):
        first = True
        for size in ("S", "M"):
            for colour in ("Red", "Blue"):
                sku = f"{handle}-{size}-{colour}".upper()
                price = price_of_tee_m_red if sku == "TEE-M-RED" else f"{10 + number}.00"
                rows.append(
                    f"{handle},{sku},{handle.title() if first else ''},{price},5,{size},{colour}"
                )
                first = False
    return "\n".join(rows) + "\n" + extra


def test_products_with_variants_keep_every_variant_when_one_changes(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    assert platform.capabilities.variants
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "variants.csv"
    catalog.write_text(variant_rows(), encoding="utf-8")
    first = upload(target, catalog, tmp_path)
    assert first.counts["failed"] == 0
    shop = handle.app.shop  # type: ignore[attr-defined]
    by_handle = {p.handle: p for p in shop.products.values()}
    assert sorted(by_handle) == ["cap", "tee"]
    tee = by_handle["tee"]
    assert tee.options == [("Size", ["S", "M"]), ("Colour", ["Red", "Blue"])]
    assert [v.sku for v in tee.variants] == ["TEE-S-RED", "TEE-S-BLUE", "TEE-M-RED", "TEE-M-BLUE"]
    numbers = [v.number for v in tee.variants]

    # One variant's price changes and a size is added: productSet replaces the list, so
    # the three variants the engine does not send must come back from Shopify's copy.
    catalog.write_text(
        variant_rows("12.50", extra="tee,TEE-L-RED,,10.00,2,L,Red\n"), encoding="utf-8"
    )
    second = upload(target, catalog, tmp_path)
    assert (second.counts["updated"], second.counts["failed"]) == (1, 0)
    assert [v.sku for v in tee.variants] == [
        "TEE-S-RED",
        "TEE-S-BLUE",
        "TEE-M-RED",
        "TEE-M-BLUE",
        "TEE-L-RED",
    ]
    assert [v.number for v in tee.variants][:4] == numbers  # the same variants, kept
    assert [v.price for v in tee.variants] == ["10.00", "10.00", "12.50", "10.00", "10.00"]
    assert tee.options == [("Size", ["S", "M", "L"]), ("Colour", ["Red", "Blue"])]
    assert shop.stock[(tee.variants[4].number, 1)] == 2
    assert products_per_sku(handle) == dict.fromkeys(products_per_sku(handle), 1)
    assert len(shop.products) == 2
    third = upload(target, catalog, tmp_path)
    assert third.counts["unchanged"] == 2
