"""Issue 12, "The model": each adapter's own rules are checked at plan time.

A row valid by the catalog's rules that the configured platform would refuse is a
rejected row (file, line, the column as the file names it), counted as rejected and
written to the rejects file, and never sent. The generic adapter declares the rule its
model lacks (an image URL names a host); the Shopee adapter's ``check_product`` (title
length, weight, images, category) is wired through the same hook.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from shopsync.catalog.records import Catalog, validate
from shopsync.domain.models import Product, RowError, ValidRow
from shopsync.errors import ExitCode
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.base import Platform
from shopsync.platforms.generic import GenericPlatform
from shopsync.platforms.medusa import MedusaPlatform
from shopsync.platforms.shopee import ShopeePlatform
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from test_platform_shopee import IMAGES, _calls, _settings
from test_sync import settings_for


def _target(platform: Platform, tmp_path: Path) -> Target:
    return Target(platform=platform, ledger_dir=tmp_path / "ledger", namespace="t|x", profile="t")


def _rejects(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def test_generic_rule_refuses_an_image_without_a_host() -> None:
    platform = GenericPlatform.__new__(GenericPlatform)  # check_product needs no connection
    good = Product.model_validate(
        {"sku": "A", "title": "A", "price": "1", "images": ["https://img.example/a.jpg"]}
    )
    assert platform.check_product(good) == []
    for url in ("https:///a.jpg", "https://?x", "https://host:99999/a.jpg"):
        bad = good.model_copy(update={"images": [url]})
        assert platform.check_product(bad) == [
            ("images", f"{url} is not an absolute https:// URL with a host name")
        ]


@pytest.fixture
def shopee() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="shopee")) as handle:
        yield handle


def test_shopee_rules_reject_rows_at_plan_time(shopee: SandboxHandle, tmp_path: Path) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "SKU,Title,Price,Stock,Weight,Images\n"
        "T-1,Teapot,19.90,5,0.4,https://img.example/a.png\n"
        "T-2,Teapot without weight,19.90,5,,https://img.example/a.png\n"
        f"T-3,{'T' * 121},19.90,5,0.4,https://img.example/a.png\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    with connect(
        _settings(shopee, tmp_path / "data"), sleep=lambda _s: None, image_source=IMAGES.get
    ) as platform:
        assert isinstance(platform, ShopeePlatform)
        job = UploadJob(
            Catalog([catalog]),
            _target(platform, tmp_path),
            JobOptions(batch_size=10, workers=1),
            Outputs(rejects=rejects, default_dir=tmp_path),
        )
        report = job.run()
    assert (report.counts["created"], report.counts["rejected"]) == (1, 2)
    assert report.exit_code == ExitCode.INPUT_REJECTED
    assert _calls(shopee, "product/add_item") == 1  # the refused rows never left
    assert [(row["SKU"], row["error"]) for row in _rejects(rejects)] == [
        (
            "T-2",
            f"{catalog}:3: Weight: is required on Shopee (logistics price by weight)",
        ),
        ("T-3", f"{catalog}:4: Title: must be at most 120 characters on Shopee"),
    ]


def test_validate_checks_the_platform_rules_it_is_given(
    sandbox: SandboxHandle, tmp_path: Path
) -> None:
    # validate() with a catalog a job gave its platform's rules (as --strict does):
    # the rule's row error is listed like the model's, by column.
    catalog_path = tmp_path / "catalog.csv"
    catalog_path.write_text(
        "sku,title,price,image\nA,A,1.00,https://img.example/a.jpg\nB,B,1.00,https:///b.jpg\n",
        encoding="utf-8",
    )
    with GenericPlatform.from_settings(
        settings_for(sandbox, tmp_path / "data"), disk_cache=False
    ) as platform:
        catalog = Catalog([catalog_path])
        catalog.constraints = platform.check_product
        found = validate(catalog, jobs=2)  # the rules run in this process, not in workers
    assert [(e.row.line, e.message) for e in found.errors] == [
        (3, "image: https:///b.jpg is not an absolute https:// URL with a host name")
    ]


def test_a_product_with_variants_is_checked_once_grouped(tmp_path: Path) -> None:
    # The rule sees the assembled product; its first row carries the reason, the
    # group's other rows say they are not used, as for a product the model refuses.
    path = tmp_path / "variants.csv"
    path.write_text(
        "handle,sku,title,price,images,option:Size\n"
        "mug,MUG-S,Mug,5.00,https:///mug.jpg,S\n"
        "mug,MUG-L,,6.00,,L\n"
        "cup,CUP-S,Cup,4.00,https://img.example/cup.jpg,S\n",
        encoding="utf-8",
    )
    catalog = Catalog([path])
    catalog.constraints = GenericPlatform.__new__(GenericPlatform).check_product
    outcomes = list(catalog)
    errors = [(o.row.line, o.message) for o in outcomes if not isinstance(o, ValidRow)]
    assert errors == [
        (2, "images: https:///mug.jpg is not an absolute https:// URL with a host name"),
        (3, "handle: not used: this product's first row (line 2) is refused"),
    ]
    assert [o.product.sku for o in outcomes if isinstance(o, ValidRow)] == ["CUP-S"]
    assert (catalog.stats.rows, catalog.stats.invalid) == (3, 2)


def test_a_long_title_is_the_generic_apis_rule_not_the_models(tmp_path: Path) -> None:
    # Issue 12: the generic API's limits live in its adapter, so a platform with larger
    # ones is not held to them. The model takes 300 characters; generic refuses them with
    # the message the model gave; Medusa (no title limit of its own) takes the row.
    title = "T" * 300
    assert Product.model_validate({"sku": "A-1", "title": title, "price": "1"}).title == title
    path = tmp_path / "long.csv"
    path.write_text(f"sku,title,price\nA-1,{title},1.00\n", encoding="utf-8")

    (refused,) = Catalog([path], constraints=GenericPlatform.product_constraints)
    assert isinstance(refused, RowError)
    assert [(e.column, e.message) for e in refused.errors] == [
        ("title", "is longer than 255 characters")
    ]
    medusa = MedusaPlatform.__new__(MedusaPlatform)  # check_product needs no connection
    (accepted,) = Catalog([path], constraints=medusa.check_product)
    assert isinstance(accepted, ValidRow)
    assert accepted.product.title == title
