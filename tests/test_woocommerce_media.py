"""Local image files on WooCommerce (issue 19): uploaded to WordPress's media library
(``POST /wp-json/wp/v2/media``, an application password: REST API keys do not open it)
once per content, named by media id in products and variations. Against the dialect on
loopback; counts are the sandbox's own.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.suite import seed_for_first_draws
from shopsync.catalog.records import Catalog
from shopsync.errors import AuthError, UsageError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.woocommerce import WooCommercePlatform
from shopsync.platforms.woocommerce.auth import ApplicationPasswordAuth
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.faults import Fault
from shopsync.sync.report import RunReport
from test_local_images import png
from test_platform_woocommerce import _settings

UPLOAD = "POST /wp-json/wp/v2/media"


@pytest.fixture
def woo() -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="woocommerce", rate=1000, burst=1000)) as handle:
        yield handle


def _media_settings(woo: SandboxHandle) -> dict[str, str]:
    given = woo.client_settings()
    return {
        "wp_username": given["wp_username"],
        "wp_application_password": given["wp_application_password"],
    }


@pytest.fixture
def platform(woo: SandboxHandle, tmp_path: Path) -> Iterator[WooCommercePlatform]:
    adapter = connect(
        _settings(woo, tmp_path / "data", **_media_settings(woo)), sleep=lambda _s: None
    )
    assert isinstance(adapter, WooCommercePlatform)
    with adapter:
        yield adapter


def _upload(platform: WooCommercePlatform, woo: SandboxHandle, tmp_path: Path,
            rows: list[tuple[str, str]]) -> RunReport:  # fmt: skip
    path = tmp_path / "catalog.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "images"])
        writer.writerows([sku, f"Item {sku}", "9.90", images] for sku, images in rows)
    target = Target(platform=platform, ledger_dir=tmp_path / "ledger",
                    namespace=f"t|{woo.base_url}", profile="t")  # fmt: skip
    job = UploadJob(
        Catalog([path]),
        target,
        JobOptions(batch_size=100, workers=2),
        Outputs(default_dir=tmp_path, failed=tmp_path / "failed.csv"),
    )
    return job.run()


def _uploads(woo: SandboxHandle) -> dict[str, int]:
    return dict(woo.stats()["requests"].get(UPLOAD, {}))


def test_a_file_is_uploaded_once_and_named_by_its_media_id(
    woo: SandboxHandle, platform: WooCommercePlatform, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png(8, 8, seed=1))
    (tmp_path / "b.png").write_bytes(png(8, 8, seed=2))
    rows = [(f"P{n}", "a.png") for n in range(5)] + [
        ("Q1", "b.png;https://img.example/q.jpg"),
    ]
    report = _upload(platform, woo, tmp_path, rows)
    assert (report.exit_code, report.counts["created"]) == (0, 6)
    assert _uploads(woo) == {"201": 2}  # one per content, however many products use it
    media = {m["slug"]: m for m in woo.app.media.values()}  # type: ignore[attr-defined]
    digest = hashlib.sha256(png(8, 8, seed=1)).hexdigest()
    first = media[f"shopsync-{digest[:32]}"]
    assert first["mime_type"] == "image/png"
    product = woo.store.product_by_sku("P3")
    assert product is not None
    assert [(i["id"], i["src"]) for i in product.values["images"]] == [
        (first["id"], first["source_url"])
    ]
    q1 = woo.store.product_by_sku("Q1")
    assert q1 is not None
    assert [i["src"] for i in q1.values["images"]][1] == "https://img.example/q.jpg"
    assert woo.stats()["auth_schemes"]["application_password"] == 4  # 2 slug looks, 2 posts
    requests = woo.stats()["requests_total"]
    assert _upload(platform, woo, tmp_path, rows).counts["unchanged"] == 6
    assert woo.stats()["requests_total"] == requests


def test_the_same_content_is_found_by_its_slug_not_uploaded_again(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    # A ledger lost (or a run killed before it recorded the upload): the library is
    # asked first, by the content's slug.
    content = png(4, 4, seed=3)
    digest = hashlib.sha256(content).hexdigest()
    args: dict[str, Any] = {
        "filename": "c.png",
        "content_type": "image/png",
        "content_hash": digest,
    }
    first = platform.upload_image(content, **args)
    again = platform.upload_image(content, **args)
    assert first == again and first.image_id is not None and first.url is None
    assert _uploads(woo) == {"201": 1}


def test_a_lost_upload_answer_is_found_by_its_slug(
    woo: SandboxHandle, platform: WooCommercePlatform
) -> None:
    content = png(4, 4, seed=4)
    pattern = [None, Fault.DROP_AFTER_COMMIT, *[None] * 5]  # the look-up, then the upload
    woo.configure_faults(
        drop_after_commit_rate=0.05, seed=seed_for_first_draws(pattern, drop_after_commit_rate=0.05)
    )
    image = platform.upload_image(content, filename="d.png", content_type="image/png",
                                  content_hash=hashlib.sha256(content).hexdigest())  # fmt: skip
    assert _uploads(woo) == {"dropped": 1}  # sent once, never again
    assert image.image_id is not None
    assert int(image.image_id) in woo.app.media  # type: ignore[attr-defined]


def test_without_an_application_password_local_files_are_row_errors(
    woo: SandboxHandle, tmp_path: Path
) -> None:
    adapter = connect(_settings(woo, tmp_path / "data"), sleep=lambda _s: None)
    assert isinstance(adapter, WooCommercePlatform)
    assert adapter.capabilities.images is None
    (tmp_path / "a.png").write_bytes(png(8, 8))
    with adapter:
        report = _upload(
            adapter, woo, tmp_path, [("P1", "a.png"), ("P2", "https://img.example/2.jpg")]
        )
    assert (report.counts["created"], report.counts["rejected"]) == (1, 1)
    assert _uploads(woo) == {}


def test_an_application_password_never_goes_over_plain_http_beyond_loopback() -> None:
    with pytest.raises(UsageError, match="HTTPS"):
        ApplicationPasswordAuth("http://shop.example", "admin", "abcd efgh ijkl mnop qrst uvwx")
    ApplicationPasswordAuth("https://shop.example", "admin", "abcd efgh ijkl mnop qrst uvwx")


def test_a_wrong_application_password_is_an_auth_error_naming_the_setting(
    woo: SandboxHandle, tmp_path: Path
) -> None:
    settings = _settings(woo, tmp_path, wp_username="shopsync", wp_application_password="nope nope")
    adapter = connect(settings, sleep=lambda _s: None)
    assert isinstance(adapter, WooCommercePlatform)
    with adapter, pytest.raises(AuthError) as caught:
        adapter.upload_image(
            b"x", filename="x.png", content_type="image/png", content_hash="0" * 64
        )
    assert "wp_application_password" in str(caught.value)
    assert "nope" not in str(caught.value) + (caught.value.hint or "")
