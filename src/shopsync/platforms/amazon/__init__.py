"""The Amazon Selling Partner API adapter (issue 16)."""

from shopsync.platforms.amazon.adapter import SETTINGS, AmazonPlatform

__all__ = ["SETTINGS", "AmazonPlatform"]
