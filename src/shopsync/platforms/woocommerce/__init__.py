"""The WooCommerce REST API v3 adapter: REST API keys (Basic over HTTPS, OAuth 1.0a over
HTTP), simple and variable products in batches of 100, stock, orders by modification date
(issue 19)."""

from shopsync.platforms.woocommerce.adapter import SETTINGS, WooCommercePlatform

__all__ = ["SETTINGS", "WooCommercePlatform"]
