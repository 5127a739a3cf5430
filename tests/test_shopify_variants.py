"""Shopify products with variants: productSet replaces the variant list whole, so what an
update leaves out is deleted. A variant the file drops is kept unless removal was asked
for (``--remove-missing-variants`` / ``--prune``), and a count sold since the last run is
never sent back over."""

from __future__ import annotations

from pathlib import Path

from shopify_support import (
    products_per_sku,
    shopify_platform,
    shopify_sandbox,
    target_for,
    upload,
)

__all__ = ["shopify_platform", "shopify_sandbox"]

HEADER = "handle,sku,title,price,stock,option:Size,option:Colour"
TEE = [
    ("TEE-S-RED", "S", "Red"),
    ("TEE-S-BLUE", "S", "Blue"),
    ("TEE-M-RED", "M", "Red"),
    ("TEE-M-BLUE", "M", "Blue"),
]


def tee_rows(*, leave_out: tuple[str, ...] = (), prices: dict[str, str] | None = None) -> str:
    lines = [HEADER]
    first = True
    for sku, size, colour in TEE:
        if sku in leave_out:
            continue
        price = (prices or {}).get(sku, "10.00")
        lines.append(f"tee,{sku},{'Tee' if first else ''},{price},5,{size},{colour}")
        first = False
    return "\n".join(lines) + "\n"


def _tee(handle):  # type: ignore[no-untyped-def]
    shop = handle.app.shop
    [tee] = [p for p in shop.products.values() if p.handle == "tee"]
    return shop, tee


def test_a_dropped_variant_is_kept_by_default_and_removed_when_asked(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    target = target_for(shopify_platform(handle), tmp_path)
    catalog = tmp_path / "tee.csv"
    catalog.write_text(tee_rows(), encoding="utf-8")
    assert upload(target, catalog, tmp_path).counts["created"] == 1
    shop, tee = _tee(handle)
    numbers = {v.sku: v.number for v in tee.variants}
    shop.stock[(numbers["TEE-M-RED"], 1)] = 2  # sold three in the shop since

    catalog.write_text(tee_rows(leave_out=("TEE-S-BLUE",)), encoding="utf-8")
    writes = handle.stats()["write_requests"]
    kept = upload(target, catalog, tmp_path)
    assert kept.counts["unchanged"] == 1
    assert handle.stats()["write_requests"] == writes  # nothing to send
    assert [v.sku for v in tee.variants] == [sku for sku, _, _ in TEE]

    removing = upload(target, catalog, tmp_path, remove_missing_variants=True)
    assert (removing.counts["updated"], removing.counts["failed"]) == (1, 0)
    assert handle.stats()["write_requests"] == writes + 1  # one productSet
    _, tee = _tee(handle)
    assert [v.sku for v in tee.variants] == ["TEE-S-RED", "TEE-M-RED", "TEE-M-BLUE"]
    assert [v.number for v in tee.variants] == [
        numbers["TEE-S-RED"],
        numbers["TEE-M-RED"],
        numbers["TEE-M-BLUE"],
    ]  # the same variants, not new ones
    assert shop.stock[(numbers["TEE-M-RED"], 1)] == 2  # the sold count was not sent over
    assert (numbers["TEE-S-BLUE"], 1) not in shop.stock
    assert tee.options == [("Size", ["S", "M"]), ("Colour", ["Red", "Blue"])]
    assert products_per_sku(handle) == dict.fromkeys(products_per_sku(handle), 1)
    again = upload(target, catalog, tmp_path, remove_missing_variants=True)
    assert again.counts["unchanged"] == 1
    assert handle.stats()["write_requests"] == writes + 1


def test_removing_every_variant_of_one_option_value_drops_that_value(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    target = target_for(shopify_platform(handle), tmp_path)
    catalog = tmp_path / "tee.csv"
    catalog.write_text(tee_rows(), encoding="utf-8")
    upload(target, catalog, tmp_path)
    catalog.write_text(tee_rows(leave_out=("TEE-S-BLUE", "TEE-M-BLUE")), encoding="utf-8")
    report = upload(target, catalog, tmp_path, prune=True)
    assert (report.counts["updated"], report.counts["failed"]) == (1, 0)
    _, tee = _tee(handle)
    assert [v.sku for v in tee.variants] == ["TEE-S-RED", "TEE-M-RED"]
    assert tee.options == [("Size", ["S", "M"]), ("Colour", ["Red"])]


def test_a_price_change_does_not_send_a_count_sales_moved(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    target = target_for(shopify_platform(handle), tmp_path)
    catalog = tmp_path / "tee.csv"
    catalog.write_text(tee_rows(), encoding="utf-8")
    upload(target, catalog, tmp_path)
    shop, tee = _tee(handle)
    numbers = {v.sku: v.number for v in tee.variants}
    shop.stock[(numbers["TEE-M-RED"], 1)] = 1  # sold four since the upload
    catalog.write_text(tee_rows(prices={"TEE-M-RED": "12.50"}), encoding="utf-8")
    report = upload(target, catalog, tmp_path)
    assert (report.counts["updated"], report.counts["failed"]) == (1, 0)
    _, tee = _tee(handle)
    assert [v.price for v in tee.variants] == ["10.00", "10.00", "12.50", "10.00"]
    assert shop.stock[(numbers["TEE-M-RED"], 1)] == 1


def test_prune_deletes_a_product_the_file_no_longer_lists(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    platform = shopify_platform(handle)
    assert platform.capabilities.removal == "delete"
    target = target_for(platform, tmp_path)
    catalog = tmp_path / "shop.csv"
    single = ",SOCK,Sock,4.00,9,,\n"
    catalog.write_text(tee_rows() + single, encoding="utf-8")
    assert upload(target, catalog, tmp_path).counts["created"] == 2
    catalog.write_text(tee_rows(), encoding="utf-8")
    report = upload(target, catalog, tmp_path, prune=True)
    assert (report.counts["unchanged"], report.counts["failed"]) == (1, 0)
    assert sorted(p.handle for p in handle.app.shop.products.values()) == ["tee"]
    assert "SOCK" not in products_per_sku(handle)
    # Gone already (deleted in the admin, say): NOT_FOUND, not a failure of the run.
    [result] = platform.delete_products(["gid://shopify/Product/999"])
    assert (result.ok, result.item_code.value) == (False, "not_found")
