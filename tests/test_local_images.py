"""Issue 13, local image files: checked by content at plan time, uploaded once per content.

Against the real sandbox on loopback: the request counts are the sandbox's own stats,
the product bodies what its store holds.
"""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shopsync.catalog.images import LocalImages, dimensions, sniff_type
from shopsync.catalog.records import Catalog, validate
from shopsync.domain.images import ImageLimits, local_ref, parse_local_ref
from shopsync.domain.models import Product, RowError, ValidRow
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.state.ledger import Ledger
from test_sync import settings_for


def png(width: int, height: int, seed: int = 0) -> bytes:
    """A valid PNG of ``width``×``height`` grey pixels (``seed`` changes its content)."""
    raw = b"".join(b"\x00" + bytes([seed % 256]) * width for _ in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def jpeg(width: int, height: int) -> bytes:
    """The header of a JPEG: an EXIF-sized APP1 segment, then its frame header."""
    app1 = b"\xff\xe1" + struct.pack(">H", 2 + 3000) + b"E" * 3000
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, height, width, 1) + b"\x01\x11\x00"
    return b"\xff\xd8" + app1 + sof + b"\xff\xd9"


def write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "images"])
        for sku, images in rows:
            writer.writerow([sku, f"Item {sku}", "9.90", images])


def outcomes(catalog: Catalog) -> list[ValidRow[Product] | RowError]:
    return list(catalog)


# -- the check, at plan time ------------------------------------------------------------


def test_types_are_read_from_content_with_their_size(tmp_path: Path) -> None:
    assert sniff_type(png(3, 2)[:32]) == "image/png"
    assert sniff_type(b"GIF89a" + struct.pack("<HH", 7, 5)) == "image/gif"
    assert sniff_type(b"RIFF\x00\x00\x00\x00WEBPVP8X") == "image/webp"
    assert sniff_type(b"just text, named .jpg") is None
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg(640, 480))
    with path.open("rb") as file:
        assert dimensions("image/jpeg", file.read(32), file) == (640, 480)
    with (tmp_path / "p.png").open("wb") as file:
        file.write(png(3, 2))
    with (tmp_path / "p.png").open("rb") as file:
        assert dimensions("image/png", file.read(32), file) == (3, 2)


def test_a_checked_image_becomes_what_was_written_plus_its_content_hash(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    content = png(4, 4)
    (tmp_path / "images" / "red.png").write_bytes(content)
    write_csv(tmp_path / "c.csv", [("A-1", "images/red.png|https://cdn.example.com/b.jpg")])
    (valid,) = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(valid, ValidRow)
    digest = hashlib.sha256(content).hexdigest()
    ref = local_ref("images/red.png", digest)
    assert valid.product.images == [ref, "https://cdn.example.com/b.jpg"]
    assert parse_local_ref(ref) == ("images/red.png", digest)
    assert valid.product.image_files == {ref: str(tmp_path / "images" / "red.png")}
    assert json.loads(valid.product.api_json)["images"][0] == ref


def test_a_text_file_named_jpg_is_a_row_error(tmp_path: Path) -> None:
    (tmp_path / "fake.jpg").write_text("not an image at all", encoding="utf-8")
    write_csv(tmp_path / "c.csv", [("A-1", "fake.jpg")])
    (error,) = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(error, RowError)
    assert error.message == (
        "images: image 'fake.jpg' is not a JPEG, PNG, GIF or WebP image (its content says "
        "so, whatever its name)"
    )


def test_a_missing_file_is_named_as_the_seller_wrote_it(tmp_path: Path) -> None:
    write_csv(tmp_path / "c.csv", [("A-1", r"images\gone.jpg")])
    (error,) = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(error, RowError)
    assert error.errors[0].column == "images"
    assert error.errors[0].value == r"images\gone.jpg"
    assert error.message == (
        f"images: image 'images\\\\gone.jpg' was not found (looked for "
        f"{tmp_path / 'images' / 'gone.jpg'}; for bare names, --images-from DIR)"
    )


def test_windows_separators_and_drive_paths_resolve_beside_the_input(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png(2, 2))
    write_csv(
        tmp_path / "c.csv",
        [("A-1", r"images\a.png"), ("A-2", r"C:\Users\li\Desktop\shop\images\a.png")],
    )
    first, second = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(first, ValidRow) and isinstance(second, ValidRow)
    assert list(first.product.image_files.values()) == [str(tmp_path / "images" / "a.png")]
    assert list(second.product.image_files.values()) == [str(tmp_path / "images" / "a.png")]
    assert first.product.images[0].startswith("images\\a.png#sha256=")


def test_images_from_resolves_bare_names(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "a.png").write_bytes(png(2, 2))
    write_csv(tmp_path / "c.csv", [("A-1", "a.png"), ("A-2", "b.png")])
    valid, error = outcomes(Catalog([tmp_path / "c.csv"], images_from=photos))
    assert isinstance(valid, ValidRow)
    assert list(valid.product.image_files.values()) == [str(photos / "a.png")]
    assert isinstance(error, RowError)
    assert error.message == f"images: image 'b.png' was not found in --images-from {photos}"


def test_platform_limits_are_row_errors(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(png(300, 20))
    (tmp_path / "a.gif").write_bytes(b"GIF89a" + struct.pack("<HH", 7, 5) + b"\x00" * 20)
    write_csv(tmp_path / "c.csv", [("A-1", "big.png"), ("A-2", "a.gif")])
    catalog = Catalog([tmp_path / "c.csv"])
    limits = ImageLimits(content_types=frozenset({"image/png"}), max_width=200)
    catalog.use_image_limits(limits, "generic")
    big, gif = outcomes(catalog)
    assert isinstance(big, RowError) and isinstance(gif, RowError)
    assert big.message == (
        "images: image 'big.png' is 300×20 pixels; the generic platform takes 1×1 to 200×10000"
    )
    assert gif.message == (
        "images: image 'a.gif' is a GIF image, which the generic platform does not take "
        "(it takes PNG)"
    )
    catalog.use_image_limits(None, "urls-only")
    (first, _) = outcomes(catalog)
    assert isinstance(first, RowError)
    assert "the urls-only platform takes image URLs only" in first.message


def test_validate_in_worker_processes_checks_images_too(tmp_path: Path) -> None:
    (tmp_path / "ok.png").write_bytes(png(2, 2))
    (tmp_path / "fake.jpg").write_text("text", encoding="utf-8")
    write_csv(tmp_path / "c.csv", [("A-1", "ok.png"), ("A-2", "fake.jpg"), ("A-3", "no.png")])
    found = validate(Catalog([tmp_path / "c.csv"]), jobs=2)
    assert [(e.row.line, e.errors[0].value) for e in found.errors] == [
        (3, "fake.jpg"),
        (4, "no.png"),
    ]


def test_a_checked_file_is_read_once_however_many_rows_name_it(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(2, 2))
    images = LocalImages()
    reads: list[Path] = []
    original = images._read

    def counting(path: Path, size: int) -> Any:
        reads.append(path)
        return original(path, size)

    images._read = counting  # type: ignore[method-assign]
    product = Product.model_validate({"sku": "A", "title": "t", "price": "1", "images": "a.png"})
    for _ in range(50):
        assert not isinstance(images.check(product, tmp_path / "c.csv", "images"), tuple)
    assert reads == [tmp_path / "a.png"]


# -- uploads, once per content ----------------------------------------------------------


@pytest.fixture
def target(sandbox: SandboxHandle, tmp_path: Path) -> Iterator[Target]:
    settings = settings_for(sandbox, tmp_path / "data", rate=2000.0, burst=200)
    platform = GenericPlatform.from_settings(settings, disk_cache=False)
    yield Target(
        platform=platform,
        ledger_dir=settings.ledger_dir(),
        namespace=f"test|{sandbox.base_url}",
        profile="test",
    )
    platform.close()


def upload(target: Target, path: Path, tmp_path: Path, **catalog: Any) -> dict[str, int]:
    job = UploadJob(
        Catalog([path], **catalog),
        target,
        JobOptions(batch_size=10, workers=4),
        Outputs(default_dir=tmp_path),
    )
    return dict(job.run().counts)


def uploads(sandbox: SandboxHandle) -> dict[str, int]:
    requests: dict[str, dict[str, int]] = sandbox.stats()["requests"]
    return requests.get("POST /media", {})


def stored_images(sandbox: SandboxHandle, sku: str) -> list[str]:
    row = sandbox.store.product_by_sku(sku)
    assert row is not None
    images: list[str] = row.to_json()["images"]
    return images


def test_an_image_used_by_50_products_is_uploaded_once_and_not_again(
    sandbox: SandboxHandle, target: Target, tmp_path: Path
) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "shared.png").write_bytes(png(8, 8))
    write_csv(tmp_path / "c.csv", [(f"S-{n:02d}", r"images\shared.png") for n in range(50)])
    counts = upload(target, tmp_path / "c.csv", tmp_path)
    assert counts["created"] == 50
    assert uploads(sandbox) == {"201": 1}
    url = stored_images(sandbox, "S-00")[0]
    assert url.startswith("https://media.sandbox.shopsync.invalid/med_")
    assert url.endswith("/shared.png")
    assert {stored_images(sandbox, f"S-{n:02d}")[0] for n in range(50)} == {url}
    with Ledger(target.ledger_dir) as ledger:
        entry = ledger.get("S-00")
    assert entry is not None
    assert "#sha256=" in entry.body["images"][0]  # the hash covers the content, not the URL

    writes = sandbox.stats()["write_requests"]
    again = upload(target, tmp_path / "c.csv", tmp_path)
    assert again["unchanged"] == 50
    assert sandbox.stats()["write_requests"] == writes  # no upload, no product write
    assert uploads(sandbox) == {"201": 1}


def test_a_changed_image_is_uploaded_again_and_its_product_updated(
    sandbox: SandboxHandle, target: Target, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png(4, 4, seed=1))
    write_csv(tmp_path / "c.csv", [("C-1", "a.png"), ("C-2", "https://cdn.example.com/x.jpg")])
    upload(target, tmp_path / "c.csv", tmp_path)
    first = stored_images(sandbox, "C-1")
    (tmp_path / "a.png").write_bytes(png(4, 4, seed=2))
    counts = upload(target, tmp_path / "c.csv", tmp_path)
    assert (counts["updated"], counts["unchanged"]) == (1, 1)
    assert uploads(sandbox) == {"201": 2}
    second = stored_images(sandbox, "C-1")
    assert second != first and second[0].endswith("/a.png")
    assert stored_images(sandbox, "C-2") == ["https://cdn.example.com/x.jpg"]


def test_an_image_refused_at_upload_fails_only_its_product(
    sandbox: SandboxHandle, target: Target, tmp_path: Path
) -> None:
    (tmp_path / "ok.png").write_bytes(png(2, 2))
    (tmp_path / "gone.png").write_bytes(png(3, 3))
    write_csv(tmp_path / "c.csv", [("F-1", "ok.png"), ("F-2", "gone.png")])
    catalog = Catalog([tmp_path / "c.csv"])
    job = UploadJob(catalog, target, JobOptions(batch_size=10, workers=1), Outputs())
    original = catalog.images.check

    def then_removed(product: Product, path: Path, *columns: str) -> Any:
        checked = original(product, path, *columns)
        if product.sku == "F-2":
            (tmp_path / "gone.png").write_bytes(b"changed after the check")
        return checked

    catalog.images.check = then_removed  # type: ignore[method-assign]
    failed = tmp_path / "failed.csv"
    job.outputs = Outputs(failed=failed)
    report = job.run()
    assert (report.counts["created"], report.counts["failed"]) == (1, 1)
    rows = list(csv.DictReader(failed.open(encoding="utf-8-sig")))
    assert [(row["sku"], row["error_code"]) for row in rows] == [("F-2", "IMAGE_CHANGED")]
    assert sandbox.store.product_by_sku("F-2") is None


def test_media_endpoint_refuses_a_body_that_is_not_its_type(
    sandbox: SandboxHandle, api_for: Callable[..., Any]
) -> None:
    api = api_for(sandbox)
    answer = api.post("/media?filename=a.jpg", data=b"text", headers={"Content-Type": "image/jpeg"})
    assert (answer.status_code, answer.json()["code"]) == (422, "NOT_AN_IMAGE")
    answer = api.post("/media", data=png(1, 1), headers={"Content-Type": "text/plain"})
    assert (answer.status_code, answer.json()["code"]) == (415, "UNSUPPORTED_MEDIA_TYPE")
    first = api.post("/media?filename=p.png", data=png(1, 1), headers={"Content-Type": "image/png"})
    again = api.post("/media?filename=q.png", data=png(1, 1), headers={"Content-Type": "image/png"})
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["media_id"] == first.json()["media_id"]


def test_a_ledger_of_format_1_gains_the_image_table(tmp_path: Path) -> None:
    with Ledger(tmp_path / "l"):
        pass
    db = sqlite3.connect(tmp_path / "l" / "ledger.sqlite3")
    db.execute("DROP TABLE image")
    db.execute("PRAGMA user_version=1")
    db.commit()
    db.close()
    with Ledger(tmp_path / "l") as ledger:
        assert ledger.image("0" * 64) is None
        ledger.record_image(
            "0" * 64, "https://x.example/a.png", url="https://x.example/a.png", image_id=None
        )
        assert ledger.image("0" * 64) == "https://x.example/a.png"
    db = sqlite3.connect(tmp_path / "l" / "ledger.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 2
    db.close()


def test_a_product_with_variants_has_its_images_checked_and_all_its_rows_refused(
    tmp_path: Path,
) -> None:
    (tmp_path / "c.csv").write_text(
        "handle,sku,title,price,option:Size,images\n"
        "TEE,TEE-S,Tee,10,S,images/gone.png\n"
        "TEE,TEE-M,Tee,10,M,images/gone.png\n",
        encoding="utf-8",
    )
    first, second = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(first, RowError) and isinstance(second, RowError)
    assert (first.row.line, first.errors[0].column) == (2, "images")
    assert "was not found" in first.message
    assert second.message == "handle: not used: this product's first row (line 2) is refused"


def test_a_product_with_variants_carries_its_checked_images(tmp_path: Path) -> None:
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.png").write_bytes(png(2, 2))
    (tmp_path / "c.csv").write_text(
        "handle,sku,title,price,option:Size,images\n"
        "TEE,TEE-S,Tee,10,S,images/a.png\n"
        "TEE,TEE-M,Tee,10,M,images/a.png\n",
        encoding="utf-8",
    )
    (valid,) = outcomes(Catalog([tmp_path / "c.csv"]))
    assert isinstance(valid, ValidRow)
    assert [variant.sku for variant in valid.product.variants] == ["TEE-S", "TEE-M"]
    assert list(valid.product.image_files.values()) == [str(tmp_path / "images" / "a.png")]
