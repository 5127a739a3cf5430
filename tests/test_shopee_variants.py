"""Products with variants on Shopee: one item, its options as tier variations, its variants
as models (Variant-management.md), through the jobs a seller runs, against the dialect.

Exact outcomes from the sandbox: the calls it counted by path, the models it stores; a
price change of one variant is one ``update_price`` naming that model alone.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shopsync.catalog.records import Catalog
from shopsync.errors import AmbiguousWriteError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.stock import StockFile, StockJob, StockOptions
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.shopee import ShopeePlatform
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.store import ProductRow
from shopsync.sync.report import RunReport
from test_platform_shopee import IMAGES, _calls, _settings

COLUMNS = ["handle", "sku", "title", "price", "stock", "weight_kg", "images"]
RED, BLUE = "https://img.example/a.png", "https://img.example/b.jpg"


def variant_rows(handle: str, *, price: str = "49.00", images: bool = True) -> list[dict[str, str]]:
    """One product of 2 colours × 3 sizes, each colour with its image."""
    out = []
    for colour, code, image in (("红色", "RED", RED), ("蓝色", "BLU", BLUE)):
        for size in ("S", "M", "L"):
            out.append(
                {
                    "handle": handle,
                    "sku": f"{handle}-{code}-{size}",
                    "title": "纯棉T恤 Cotton tee" if not out else "",
                    "price": price,
                    "stock": "10",
                    "weight_kg": "0.3",
                    "images": RED if not out else "",
                    "option:颜色": colour,
                    "option:尺码": size,
                    "variant_image": image if images else "",
                }
            )
    return out


class Seller:
    """A Shopee shop in the sandbox, and uploads and stock syncs as the commands run them."""

    def __init__(self, sandbox: SandboxHandle, tmp_path: Path, images: dict[str, bytes]) -> None:
        self.sandbox = sandbox
        self.tmp_path = tmp_path
        self.platform = ShopeePlatform.from_settings(
            dataclasses.replace(_settings(sandbox, tmp_path / "data"), rate=2000.0, burst=200),
            sleep=lambda _s: None,
            image_source=images.__getitem__,
        )
        self.target = Target(
            platform=self.platform,
            ledger_dir=tmp_path / "data" / "ledger",
            namespace=f"test|{sandbox.base_url}",
            profile="test",
        )
        self.files = 0

    def upload(self, rows: list[dict[str, str]], **options: Any) -> RunReport:
        self.files += 1
        path = self.tmp_path / f"catalog-{self.files}.csv"
        with path.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        job = UploadJob(
            Catalog([path]),
            self.target,
            JobOptions(batch_size=1, workers=2, **options),
            Outputs(default_dir=self.tmp_path, rejects=self.tmp_path / "rejects.csv"),
        )
        return job.run()

    def stock(self, lines: dict[str, int]) -> RunReport:
        self.files += 1
        path = self.tmp_path / f"stock-{self.files}.csv"
        path.write_text(
            "sku,stock\n" + "".join(f"{sku},{n}\n" for sku, n in lines.items()), encoding="utf-8"
        )
        job = StockJob(
            StockFile([path]),
            self.target,
            StockOptions(batch_size=10, workers=1),
            Outputs(failed=self.tmp_path / "stock-failed.csv"),
        )
        return job.run()

    def items(self, handle: str) -> list[ProductRow]:
        """Every stored item whose item_sku is ``handle`` (a duplicate shows as two)."""
        rows = self.sandbox.store.products_with_skus([f"handle:{handle}", handle])
        unique = {row.product_id: row for found in rows.values() for row in found}
        return [
            row
            for row in unique.values()
            if row.values.get("handle", row.values.get("sku")) == handle
        ]

    def models(self, handle: str) -> dict[str, dict[str, Any]]:
        [item] = self.items(handle)
        return {model["sku"]: model for model in item.values["variants"]}


@pytest.fixture
def shopee() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="shopee")) as handle:
        yield handle


@pytest.fixture
def seller(shopee: SandboxHandle, tmp_path: Path) -> Iterator[Seller]:
    made = Seller(shopee, tmp_path, IMAGES)
    made.platform.check_auth()
    yield made
    made.platform.close()


def test_a_product_with_variants_is_one_item_with_tiers_and_models(
    shopee: SandboxHandle, seller: Seller
) -> None:
    report = seller.upload(variant_rows("TEE"))
    assert (report.exit_code, report.counts["created"]) == (0, 1)
    [item] = seller.items("TEE")
    tiers = item.values["tier_variation"]
    assert [t["name"] for t in tiers] == ["颜色", "尺码"]
    assert [o["option"] for o in tiers[0]["option_list"]] == ["红色", "蓝色"]
    assert [o["option"] for o in tiers[1]["option_list"]] == ["S", "M", "L"]
    # The first tier's options carry the colours' images: two files, two uploads.
    assert all("image" in o for o in tiers[0]["option_list"])
    assert _calls(shopee, "media_space/upload_image") == 2
    models = seller.models("TEE")
    assert sorted(models) == sorted(row["sku"] for row in variant_rows("TEE"))
    assert models["TEE-BLU-M"]["tier_index"] == [1, 1]
    assert {m["price"] for m in models.values()} == {"49.00"}
    assert {m["stock"] for m in models.values()} == {10}
    assert (_calls(shopee, "product/add_item"), _calls(shopee, "product/init_tier_variation")) == (
        1,
        1,
    )
    # Read back, it is the file's product: a second run sends nothing, --refresh neither.
    before = shopee.stats()["requests_total"]
    assert seller.upload(variant_rows("TEE")).counts["unchanged"] == 1
    assert shopee.stats()["requests_total"] == before
    seller.target = dataclasses.replace(seller.target, ledger_dir=seller.tmp_path / "lost")
    writes = shopee.stats()["write_requests"]
    assert seller.upload(variant_rows("TEE"), refresh=True).counts["unchanged"] == 1
    assert shopee.stats()["write_requests"] == writes


def test_a_price_change_of_one_model_sends_only_that_model(
    shopee: SandboxHandle, seller: Seller
) -> None:
    seller.upload(variant_rows("TEE"))
    models = seller.models("TEE")
    rows = variant_rows("TEE")
    rows[4]["price"] = "55.50"  # 蓝色 M
    sent: list[dict[str, Any]] = []
    post = seller.platform._post

    def recording(call: str, body: Any, *, ambiguous_ok: bool) -> dict[str, Any]:
        sent.append({"call": call, **json.loads(json.dumps(body, default=str))})
        return post(call, body, ambiguous_ok=ambiguous_ok)

    seller.platform._post = recording  # type: ignore[method-assign]
    report = seller.upload(rows)
    assert (report.counts["updated"], report.counts["unchanged"]) == (1, 0)
    assert sent == [
        {
            "call": "product/update_price",
            "item_id": int(seller.items("TEE")[0].product_id),
            "price_list": [
                {"model_id": models["TEE-BLU-M"]["model_id"], "original_price": "55.50"}
            ],
        }
    ]
    after = seller.models("TEE")
    assert after["TEE-BLU-M"]["price"] == "55.50"
    assert {sku: m["price"] for sku, m in after.items() if sku != "TEE-BLU-M"} == {
        sku: "49.00" for sku in after if sku != "TEE-BLU-M"
    }


def test_an_added_size_and_a_removed_colour(shopee: SandboxHandle, seller: Seller) -> None:
    seller.upload(variant_rows("TEE"))
    before = seller.models("TEE")
    rows = variant_rows("TEE")
    xl = {**rows[2], "sku": "TEE-RED-XL", "option:尺码": "XL", "title": ""}
    rows = [*rows[:3], xl]  # red S M L XL; no blue
    report = seller.upload(rows, remove_missing_variants=True)
    assert report.counts["updated"] == 1
    [item] = seller.items("TEE")
    tiers = item.values["tier_variation"]
    assert [o["option"] for o in tiers[0]["option_list"]] == ["红色"]
    assert [o["option"] for o in tiers[1]["option_list"]] == ["S", "M", "L", "XL"]
    models = seller.models("TEE")
    assert sorted(models) == ["TEE-RED-L", "TEE-RED-M", "TEE-RED-S", "TEE-RED-XL"]
    # The models kept are the same models (ids, stock), not made anew.
    assert {sku: models[sku]["model_id"] for sku in models if sku in before} == {
        sku: before[sku]["model_id"] for sku in models if sku in before
    }
    assert models["TEE-RED-XL"]["tier_index"] == [0, 3]
    assert _calls(shopee, "product/add_model") == 1
    assert _calls(shopee, "product/init_tier_variation") == 1


def test_stock_by_a_variants_sku_sets_that_model(shopee: SandboxHandle, seller: Seller) -> None:
    seller.upload(variant_rows("TEE"))
    report = seller.stock({"TEE-RED-S": 3, "TEE-BLU-L": 0})
    assert report.counts["updated"] == 2
    models = seller.models("TEE")
    assert {sku: m["stock"] for sku, m in models.items()} == {
        **dict.fromkeys(models, 10),
        "TEE-RED-S": 3,
        "TEE-BLU-L": 0,
    }
    assert _calls(shopee, "product/update_stock") == 2  # a batch is one change (max_batch_size)


def _third_option(rows: list[dict[str, str]]) -> None:
    for number, row in enumerate(rows):
        row["option:款式"] = f"A{number}"


def _one_colour_without_image(rows: list[dict[str, str]]) -> None:
    for row in rows[3:]:
        row["variant_image"] = ""


def _two_images_for_red(rows: list[dict[str, str]]) -> None:
    rows[1]["variant_image"] = BLUE


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_third_option, "at most 2 variation tiers"),
        (_one_colour_without_image, "every option of the first tier"),
        (_two_images_for_red, "one image per 颜色 (红色)"),
    ],
)
def test_shopees_variant_rules_are_row_errors_at_plan_time(
    shopee: SandboxHandle,
    seller: Seller,
    change: Callable[[list[dict[str, str]]], None],
    message: str,
) -> None:
    rows = variant_rows("TEE")
    change(rows)
    writes = shopee.stats()["write_requests"]
    report = seller.upload(rows)
    assert (report.counts["created"], report.counts["rejected"]) == (0, 6)  # the product's rows
    assert shopee.stats()["write_requests"] == writes
    with (seller.tmp_path / "rejects.csv").open(encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert len(rejected) == 6
    assert message in rejected[0]["error"]


def test_a_lost_add_item_answer_makes_one_item_with_its_models(
    shopee: SandboxHandle, tmp_path: Path
) -> None:
    seller = Seller(shopee, tmp_path, IMAGES)
    with seller.platform:
        seller.platform.check_auth()
        for url in (RED, BLUE):
            seller.platform.image_id_for(url)
        seller.platform._logistics()
        shopee.configure_faults(drop_after_commit_rate=1.0)
        product = Catalog.model.model_validate(
            {
                "handle": "TEE",
                "title": "Tee",
                "images": [RED],
                "weight_kg": "0.3",
                "options": ["颜色"],
                "variants": [
                    {"sku": "T-R", "price": "9.00", "option_values": {"颜色": "红"}},
                    {"sku": "T-B", "price": "9.00", "option_values": {"颜色": "蓝"}},
                ],
            }
        )
        with pytest.raises(AmbiguousWriteError):
            seller.platform.write_products([product])
        shopee.configure_faults(drop_after_commit_rate=0.0)
        # The item is there without models: not found by its first variant's SKU, so the
        # engine sends it again, and the adapter finishes that item instead of a second.
        assert seller.platform.lookup_skus(["T-R"]) == {}
        (result,) = seller.platform.write_products([product]).created
        assert result.ok
        [item] = seller.items("TEE")
        assert result.product_id == item.product_id
        assert sorted(seller.models("TEE")) == ["T-B", "T-R"]
        assert _calls(shopee, "product/add_item") == 1
        found = seller.platform.lookup_skus(["T-R", "T-B"])
        assert {sku: f.product_id for sku, f in found.items()} == dict.fromkeys(
            ["T-R", "T-B"], item.product_id
        )


def test_the_dialect_refuses_what_shopees_guide_refuses(seller: Seller) -> None:
    from shopsync.errors import APIError  # noqa: PLC0415

    seller.upload(variant_rows("TEE"))
    item_id = int(seller.items("TEE")[0].product_id)
    tier = {"name": "颜色", "option_list": [{"option": "红"}]}
    model = {"tier_index": [0], "original_price": "1.00", "model_sku": "X", "normal_stock": 1}
    cases = [
        ([tier, {**tier, "name": "b"}, {**tier, "name": "c"}], [model], "1 to 2 tiers"),
        ([tier], [{**model, "tier_index": [1]}], "not overflow"),
        ([tier, {"name": "尺码", "option_list": [{"option": "S", "image": {"image_id": "x"}}]}],
         [{**model, "tier_index": [0, 0]}], "first tier"),
    ]  # fmt: skip
    for tiers, models, message in cases:
        body = {"item_id": item_id, "tier_variation": tiers, "model": models}
        with pytest.raises(APIError, match=message):
            seller.platform._post("product/init_tier_variation", body, ambiguous_ok=True)
    assert len(seller.models("TEE")) == 6  # nothing refused changed the item


# -- local image files -------------------------------------------------------------------


def test_local_image_files_go_through_the_media_space_once(
    shopee: SandboxHandle, seller: Seller
) -> None:
    from test_local_images import jpeg, png  # noqa: PLC0415

    folder = seller.tmp_path / "img"
    folder.mkdir()
    (folder / "pot.png").write_bytes(png(8, 8))
    (folder / "lid.jpg").write_bytes(jpeg(8, 8))
    (folder / "copy.png").write_bytes(png(8, 8))  # the same content as pot.png
    row = {"title": "紫砂壶 Teapot", "price": "88.00", "stock": "4", "weight_kg": "0.6"}
    rows = [
        {"sku": "POT-1", **row, "images": "img/pot.png|img/lid.jpg"},
        {"sku": "POT-2", **row, "images": "img/copy.png"},
    ]
    report = seller.upload(rows)
    assert (report.exit_code, report.counts["created"]) == (0, 2)
    assert _calls(shopee, "media_space/upload_image") == 2  # two contents, three files
    stored = {
        sku: found[0].values
        for sku, found in shopee.store.products_with_skus(["POT-1", "POT-2"]).items()
    }
    assert stored["POT-2"]["image_id_list"] == stored["POT-1"]["image_id_list"][:1]
    assert set(shopee.app.images.values()) == {  # type: ignore[attr-defined]
        hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in ("pot.png", "lid.jpg")
    }
    # A changed title sends the item again, not its unchanged images.
    rows[0]["title"] = "紫砂壶 Yixing teapot"
    assert seller.upload(rows).counts["updated"] == 1
    assert _calls(shopee, "media_space/upload_image") == 2


def test_an_image_shopee_does_not_take_is_a_row_error(
    shopee: SandboxHandle, seller: Seller
) -> None:
    from test_local_images import png  # noqa: PLC0415

    (seller.tmp_path / "big.png").write_bytes(png(8, 8) + b"\x00" * (10 * 1024 * 1024))
    rows = [{"sku": "BIG-1", "title": "Big", "price": "1.00", "stock": "1", "weight_kg": "0.1",
             "images": "big.png"}]  # fmt: skip
    report = seller.upload(rows)
    assert (report.counts["created"], report.counts["rejected"]) == (0, 1)
    assert _calls(shopee, "media_space/upload_image") == 0


def test_variant_image_files_become_the_first_tiers_option_images_uploaded_once(
    shopee: SandboxHandle, seller: Seller
) -> None:
    from test_local_images import png  # noqa: PLC0415

    (seller.tmp_path / "red.png").write_bytes(png(20, 20, seed=1))
    (seller.tmp_path / "blue.png").write_bytes(png(20, 20, seed=2))
    rows = variant_rows("TEE")
    for row in rows:
        row["variant_image"] = "red.png" if "-RED-" in row["sku"] else "blue.png"
        row["images"] = "red.png" if row["images"] else ""
    report = seller.upload(rows)
    assert (report.exit_code, report.counts["created"]) == (0, 1)
    # Two files (the product's own photo is the red one): two uploads, not six.
    assert _calls(shopee, "media_space/upload_image") == 2
    [item] = seller.items("TEE")
    options = item.values["tier_variation"][0]["option_list"]
    ids = [option["image"]["image_id"] for option in options]
    assert len(set(ids)) == 2 and item.values["image_id_list"] == ids[:1]
    assert seller.upload(rows).counts["unchanged"] == 1
    assert _calls(shopee, "media_space/upload_image") == 2
