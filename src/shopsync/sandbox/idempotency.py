"""Idempotency keys, dialect-neutral: fingerprints of requests, keys being processed, and
answers kept for replay (in the store). A dialect decides which requests carry a key and
how a refusal reads; this module decides what "the same request" means."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Reservation:
    """An idempotency key being processed: its slot and the fingerprint of its request."""

    slot: tuple[str, str]
    fingerprint: str


def _mark_decimal(value: object) -> object:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    raise TypeError(type(value).__name__)


# Built once: json.dumps with options builds a new encoder for every call.
_canonical = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_mark_decimal
).encode


def request_fingerprint(method: str, path: str, payload: Any) -> str:
    """What makes two requests under one key "the same request": method, path and body."""
    # "The same body" means the same JSON value: key order and whitespace do not matter,
    # and a number stays distinct from a string holding the same digits.
    digest = hashlib.sha256(f"{method} {path}\n".encode())
    digest.update(_canonical(payload).encode("utf-8"))
    return digest.hexdigest()
