"""The Shopee Open Platform v2 adapter: signed calls, rotating tokens kept per shop,
images through the media space, items, stock, orders (issue 17)."""

from shopsync.platforms.shopee.adapter import (
    HOSTS,
    SETTINGS,
    ShopeePlatform,
    authorisation_url,
    endpoint_of,
)

__all__ = ["HOSTS", "SETTINGS", "ShopeePlatform", "authorisation_url", "endpoint_of"]
