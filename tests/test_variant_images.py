"""Issue 13, a variant's own image: checked like product images, uploaded once per content.

Against the real sandbox on loopback: uploads counted by the sandbox's stats, the batch
bodies recorded on the wire, the stored variants read from the sandbox's store.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

from shopsync.catalog.records import Catalog
from shopsync.domain.images import local_ref
from shopsync.domain.models import RowError, ValidRow
from shopsync.jobs.base import Target
from shopsync.platforms.generic import GenericPlatform
from shopsync.sandbox import SandboxHandle
from shopsync.state.ledger import Ledger
from test_generic_variants import Wire, connect, upload, variants_of
from test_local_images import png, uploads

__all__ = ["connect"]  # the fixture, used by name

HEADER = "handle,sku,title,price,option:Size,variant_image\n"


def write_tee(path: Path, images: dict[str, str], price_m: str = "10.00") -> None:
    """One T-shirt in sizes S, M, L; ``images`` gives each size's variant image cell."""
    lines = [HEADER]
    for size in ("S", "M", "L"):
        price = price_m if size == "M" else "10.00"
        lines.append(f"TEE,TEE-{size},Tee,{price},{size},{images.get(size, '')}\n")
    path.write_text("".join(lines), encoding="utf-8")


def test_a_variants_local_image_becomes_a_checked_reference(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    content = png(3, 3)
    (tmp_path / "img" / "s.png").write_bytes(content)
    write_tee(tmp_path / "c.csv", {"S": r"img\s.png", "M": "https://cdn.example.com/m.jpg"})
    (valid,) = list(Catalog([tmp_path / "c.csv"]))
    assert isinstance(valid, ValidRow)
    ref = local_ref(r"img\s.png", hashlib.sha256(content).hexdigest())
    assert [v.image for v in valid.product.variants] == [
        ref,
        "https://cdn.example.com/m.jpg",
        None,
    ]
    assert valid.product.image_files == {ref: str(tmp_path / "img" / "s.png")}
    # The product's hash covers the image's content:
    assert json.loads(valid.product.api_json)["variants"][0]["image"] == ref


def test_a_missing_variant_image_is_a_row_error_naming_its_column(tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text(
        "handle,sku,title,price,option:Size,SKU图片\n"
        "TEE,TEE-S,Tee,10,S,\n"
        "TEE,TEE-M,Tee,10,M,gone.png\n",
        encoding="utf-8",
    )
    first, second = list(Catalog([tmp_path / "c.csv"]))
    assert isinstance(first, RowError) and isinstance(second, RowError)
    (error,) = first.errors
    assert (error.column, error.value) == ("SKU图片", "gone.png")
    assert error.message == (
        f"variant TEE-M: image 'gone.png' was not found (looked for {tmp_path / 'gone.png'}; "
        "for bare names, --images-from DIR)"
    )


def test_a_variant_image_that_is_not_an_image_is_refused_by_content(tmp_path: Path) -> None:
    (tmp_path / "m.jpg").write_text("text", encoding="utf-8")
    write_tee(tmp_path / "c.csv", {"M": "m.jpg"})
    (error, *_rest) = list(Catalog([tmp_path / "c.csv"], images_from=tmp_path))
    assert isinstance(error, RowError)
    assert "variant TEE-M: image 'm.jpg' is not a JPEG, PNG, GIF or WebP" in error.message


def test_variant_images_are_uploaded_once_and_carried_on_the_platform(
    sandbox: SandboxHandle,
    connect: Callable[..., tuple[Target, GenericPlatform, Wire]],
    tmp_path: Path,
) -> None:
    target, _platform, wire = connect(sandbox)
    (tmp_path / "s.png").write_bytes(png(4, 4, seed=1))
    (tmp_path / "l.png").write_bytes(png(4, 4, seed=2))
    catalog = tmp_path / "c.csv"
    write_tee(catalog, {"S": "s.png", "M": "s.png", "L": "l.png"})
    report = upload(target, catalog, tmp_path)
    assert report.counts["created"] == 1
    assert uploads(sandbox) == {"201": 2}  # two contents, three variants
    stored = variants_of(sandbox, "TEE-S")
    url_s, url_l = stored["TEE-S"]["image"], stored["TEE-L"]["image"]
    assert url_s.startswith("https://media.sandbox.shopsync.invalid/med_")
    assert url_s.endswith("/s.png") and url_l.endswith("/l.png")
    assert stored["TEE-M"]["image"] == url_s
    with Ledger(target.ledger_dir) as ledger:
        entry = ledger.get("TEE")
    assert entry is not None
    assert all("#sha256=" in v["image"] for v in entry.body["variants"])

    writes = sandbox.stats()["write_requests"]
    assert upload(target, catalog, tmp_path).counts["unchanged"] == 1
    assert sandbox.stats()["write_requests"] == writes  # nothing sent, nothing uploaded

    # A new price for M: only its price goes, not its unchanged image.
    write_tee(catalog, {"S": "s.png", "M": "s.png", "L": "l.png"}, price_m="12.00")
    wire.batches.clear()
    assert upload(target, catalog, tmp_path).counts["updated"] == 1
    (batch,) = wire.batches
    (update,) = batch["update"]
    assert update["variants"] == [{"sku": "TEE-M", "price": "12.00"}]
    assert uploads(sandbox) == {"201": 2}

    # A new picture for L: uploaded, and L's image alone changes.
    (tmp_path / "l.png").write_bytes(png(4, 4, seed=3))
    wire.batches.clear()
    assert upload(target, catalog, tmp_path).counts["updated"] == 1
    assert uploads(sandbox) == {"201": 3}
    (batch,) = wire.batches
    (update,) = batch["update"]
    stored = variants_of(sandbox, "TEE-S")
    assert update["variants"] == [{"sku": "TEE-L", "image": stored["TEE-L"]["image"]}]
    assert stored["TEE-L"]["image"] != url_l
    assert stored["TEE-S"]["image"] == url_s
