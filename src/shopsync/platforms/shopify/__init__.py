"""The Shopify adapter (Admin GraphQL API): see :mod:`shopsync.platforms.shopify.adapter`."""

from shopsync.platforms.shopify.adapter import ShopifyPlatform

__all__ = ["ShopifyPlatform"]
