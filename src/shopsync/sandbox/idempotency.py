"""Idempotency keys, dialect-neutral: fingerprints of requests, keys being processed, and
answers kept for replay (in the store). A dialect decides which requests carry a key and
how a refusal reads; this module decides what "the same request" means."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shopsync.sandbox.store import StoredReply

if TYPE_CHECKING:
    from shopsync.sandbox.config import SandboxConfig
    from shopsync.sandbox.store import Store
    from shopsync.sandbox.wire import Reply


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


class KeyReused(Exception):
    """The key was used before with another request (another fingerprint)."""


class KeyInFlight(Exception):
    """A request with this key is still being processed."""


class IdempotencyKeys:
    """Keys being processed (in memory) and the answers kept for them (in the store).

    :meth:`begin` either gives the kept answer to replay, or reserves the key for this
    request; :meth:`keep` stores the answer inside the request's transaction, and
    :meth:`release` frees the reservation whatever happened. How each outcome reads on
    the wire (status, code, replay header) is the dialect's business.
    """

    def __init__(self, store: Store, config: SandboxConfig) -> None:
        self.store = store
        self.config = config
        self._in_flight: dict[tuple[str, str], str] = {}
        self._saves = 0

    @property
    def in_flight(self) -> int:
        """How many keys are reserved right now."""
        return len(self._in_flight)

    def begin(
        self, client_id: str, key: str, method: str, path: str, payload: Any
    ) -> StoredReply | Reservation:
        """The answer kept for ``key``, or a reservation of it for this request.

        Raises :class:`KeyReused` if the key belongs to another request, and
        :class:`KeyInFlight` if its first request has not finished.
        """
        fingerprint = request_fingerprint(method, path, payload)
        slot = (client_id, key)
        now = self.config.clock()
        stored = self.store.stored_reply(*slot, not_before=now - self.config.idempotency_ttl)
        pending = self._in_flight.get(slot)
        seen = stored.fingerprint if stored is not None else pending
        if seen is not None and seen != fingerprint:
            raise KeyReused(key)
        if stored is not None:
            return stored
        if pending is not None:
            raise KeyInFlight(key)
        self._in_flight[slot] = fingerprint
        return Reservation(slot, fingerprint)

    def keep(self, reservation: Reservation, reply: Reply) -> None:
        """Store ``reply`` as the answer to the reserved key (call inside the transaction)."""
        now = self.config.clock()
        stored = StoredReply(
            reservation.fingerprint, reply.status, reply.stored_headers(), reply.body
        )
        self.store.save_reply(*reservation.slot, stored, now)
        self._saves += 1
        if self._saves % 1000 == 0:
            self.purge()

    def release(self, reservation: Reservation) -> None:
        """Free the reservation (the request finished, or failed before its answer)."""
        self._in_flight.pop(reservation.slot, None)

    def purge(self) -> None:
        """Forget kept answers older than the configured lifetime."""
        self.store.purge_replies(self.config.clock() - self.config.idempotency_ttl)
