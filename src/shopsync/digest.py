"""Canonical JSON and content digests: equal content, equal text, equal hash.

Used for the ledger's content hashes and for idempotency keys, so it lives in a leaf
module that imports nothing of shopsync's.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import partial
from typing import Any

canonical_json = partial(
    json.dumps, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
)
"""JSON with sorted keys and no spaces (decimals, should any get here, as strings)."""


def hash_text(text: str) -> str:
    """The short digest shopsync stores for a canonical JSON text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def canonical_body(body: Mapping[str, Any]) -> tuple[str, str]:
    """``(canonical JSON, its digest)`` of a product body: both are kept in the ledger."""
    text = canonical_json(body)
    return text, hash_text(text)


def content_hash(body: Mapping[str, Any]) -> str:
    """A short, stable digest of a product's API body (sorted keys, decimals as strings)."""
    return hash_text(canonical_json(body))
