"""Shopify: the dialect answers ACCESS_DENIED for a root field the token's scopes do not
reach (as Shopify does: HTTP 200, the field null), and the adapter's error names the scope
the app lacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from shopify_support import shopify_platform, shopify_sandbox, target_for, upload, write_catalog
from shopsync.errors import ScopeError
from shopsync.platforms import StockChange
from shopsync.sandbox.dialects.shopify.app import SHOPIFY_SCOPES

__all__ = ["shopify_platform", "shopify_sandbox"]


def _without(*scopes: str) -> tuple[str, ...]:
    return tuple(s for s in SHOPIFY_SCOPES if s not in scopes)


def test_a_token_without_write_products_uploads_nothing_and_says_which_scope(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox()
    token = handle.issue_token(_without("write_products"))
    platform = shopify_platform(
        handle, SHOPSYNC_ACCESS_TOKEN=token, SHOPSYNC_CLIENT_ID="", SHOPSYNC_CLIENT_SECRET=""
    )
    catalog = tmp_path / "catalog.csv"
    write_catalog(catalog, 3)
    with pytest.raises(ScopeError, match="lacks the write_products access scope") as raised:
        upload(target_for(platform, tmp_path), catalog, tmp_path)
    assert "Configuration" in (raised.value.hint or "")
    assert handle.app.shop.products == {}  # type: ignore[attr-defined]
    assert token not in str(raised.value)


def test_stock_and_orders_name_write_inventory_and_read_orders(
    shopify_sandbox, shopify_platform, tmp_path: Path
) -> None:
    handle = shopify_sandbox(orders=3)
    full = shopify_platform(handle)
    catalog = tmp_path / "catalog.csv"
    write_catalog(catalog, 2)
    upload(target_for(full, tmp_path), catalog, tmp_path)
    token = handle.issue_token(_without("write_inventory", "read_orders"))
    limited = shopify_platform(
        handle, SHOPSYNC_ACCESS_TOKEN=token, SHOPSYNC_CLIENT_ID="", SHOPSYNC_CLIENT_SECRET=""
    )
    assert set(limited.lookup_skus(["SH-00000"])) == {"SH-00000"}  # read_products: granted
    with pytest.raises(ScopeError, match="lacks the write_inventory access scope"):
        limited.update_inventory([StockChange("SH-00000", 7)])
    with pytest.raises(ScopeError, match="lacks the read_orders access scope"):
        list(limited.iter_orders())
    assert len(list(full.iter_orders())) == 3
    # write_products reaches read_products: a token of the write scope alone can look up.
    writer = shopify_platform(
        handle,
        SHOPSYNC_ACCESS_TOKEN=handle.issue_token(("write_products", "read_locations")),
        SHOPSYNC_CLIENT_ID="",
        SHOPSYNC_CLIENT_SECRET="",
    )
    assert set(writer.lookup_skus(["SH-00001"])) == {"SH-00001"}
