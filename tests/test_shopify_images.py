"""Shopify: local image files go up through stagedUploadsCreate (IMAGE), a POST of the
staged form and fileCreate; products name the file by its id in productSet's ``files``,
and each content is uploaded once, whatever products use it."""

from __future__ import annotations

import csv
from pathlib import Path

from shopify_support import shopify_platform, shopify_sandbox, target_for, upload
from test_local_images import png

__all__ = ["shopify_platform", "shopify_sandbox"]


def _catalog(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "images"])
        for sku, images in rows:
            writer.writerow([sku, f"Item {sku}", "9.90", images])


def test_a_local_image_is_uploaded_once_and_named_by_its_file_id(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    assert platform.capabilities.images is not None
    target = target_for(platform, tmp_path)
    (tmp_path / "images").mkdir()
    red = png(8, 8, seed=1)
    (tmp_path / "images" / "red.png").write_bytes(red)
    (tmp_path / "images" / "red-copy.png").write_bytes(red)  # the same content
    url = "https://cdn.example.com/b.jpg"
    catalog = tmp_path / "catalog.csv"
    _catalog(
        catalog,
        [("IM-1", f"images/red.png|{url}"), ("IM-2", "images/red-copy.png"), ("IM-3", url)],
    )
    report = upload(target, catalog, tmp_path)
    assert (report.counts["created"], report.counts["failed"]) == (3, 0)
    bulk = handle.app.bulk  # type: ignore[attr-defined]
    assert handle.stats()["staged_uploads"] == 1  # one content, one upload
    [(file_id, source)] = bulk.files.items()
    staged = source.split("/_staged/files/", 1)[1]
    assert bulk.read_file(staged) == red  # the bytes, as they were on disk
    files = {p.variants[0].sku: p.files for p in handle.app.shop.products.values()}  # type: ignore[attr-defined]
    assert files == {"IM-1": [file_id, url], "IM-2": [file_id], "IM-3": [url]}

    # Unchanged files: nothing uploaded, nothing sent. A new content: one more upload.
    requests = handle.stats()["requests_total"]
    assert upload(target, catalog, tmp_path).counts["unchanged"] == 3
    assert handle.stats()["requests_total"] == requests
    (tmp_path / "images" / "red-copy.png").write_bytes(png(8, 8, seed=2))
    again = upload(target, catalog, tmp_path)
    assert (again.counts["updated"], again.counts["unchanged"]) == (1, 2)
    assert handle.stats()["staged_uploads"] == 2
    [new_id] = set(bulk.files) - {file_id}
    files = {p.variants[0].sku: p.files for p in handle.app.shop.products.values()}  # type: ignore[attr-defined]
    assert files == {"IM-1": [file_id, url], "IM-2": [new_id], "IM-3": [url]}


def test_an_image_shopify_does_not_take_is_a_row_error_before_anything_is_sent(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    target = target_for(shopify_platform(handle), tmp_path)
    (tmp_path / "huge.png").write_bytes(png(5000, 1))  # wider than Shopify's 4,472 px
    catalog = tmp_path / "catalog.csv"
    _catalog(catalog, [("IM-9", "huge.png")])
    report = upload(target, catalog, tmp_path)
    assert (report.counts["rejected"], report.counts["created"]) == (1, 0)
    assert handle.stats()["staged_uploads"] == 0
