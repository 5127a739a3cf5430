"""The generic platform API (docs/platform-api.md): the adapter, and what its wire says."""

from shopsync.platforms.generic.adapter import GenericPlatform

__all__ = ["GenericPlatform"]
