"""Medusa v2 (open source, Node.js on PostgreSQL): the adapter, its wire and its mapping."""

from shopsync.platforms.medusa.adapter import MedusaPlatform

__all__ = ["MedusaPlatform"]
