"""Taobao and Tmall through the Taobao Open Platform (TOP): the adapter, its signing, its
wire and its mapping of products to items."""

from shopsync.platforms.taobao.adapter import TaobaoPlatform

__all__ = ["TaobaoPlatform"]
