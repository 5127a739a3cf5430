"""Canonical JSON and content digests: equal content, equal text, equal hash.

Used for the ledger's content hashes and for idempotency keys, so it lives in a leaf
module that imports nothing of shopsync's.
"""

from __future__ import annotations

import hashlib
import json

# One encoder for every call: json.dumps with options builds a new JSONEncoder each time,
# a fifth of the cost of encoding a product body. encode() keeps no state between calls.
canonical_json = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode
"""JSON with sorted keys and no spaces (decimals, should any get here, as strings)."""


def hash_text(text: str) -> str:
    """The short digest shopsync stores for a canonical JSON text."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


compact_json = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
"""JSON with no spaces, keys in the order given (non-ASCII characters as they are)."""
