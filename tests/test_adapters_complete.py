"""Every registered adapter has every member of the Platform protocol the core calls.

The protocol grows (check_product, upload_image, delete_products came with issues 12, 13
and 21); an adapter missing one would fail only when a run reaches that call.
"""

from __future__ import annotations

import pytest

from shopsync import platforms
from shopsync.platforms.base import Platform

MEMBERS = sorted(
    name
    for name in {*vars(Platform), *getattr(Platform, "__annotations__", {})}
    if not name.startswith("_")
)


@pytest.mark.parametrize("name", sorted(platforms.REGISTRY))
def test_the_adapter_has_every_member_of_the_protocol(name: str) -> None:
    adapter = platforms.adapter_class(name)
    missing = [
        member
        for member in MEMBERS
        if not hasattr(adapter, member) and member not in getattr(adapter, "__annotations__", {})
    ]
    # Instance attributes set in __init__ (a client's name...) are not on the class.
    missing = [m for m in missing if m not in {"name", "max_batch_size", "capabilities"}]
    assert missing == [], f"{name} lacks {missing}"
    assert hasattr(adapter, "name") or "name" in getattr(adapter, "__annotations__", {})


def test_the_protocol_names_the_members_the_core_calls() -> None:
    assert {"write_products", "lookup_skus", "check_product", "delete_products"} <= set(MEMBERS)
