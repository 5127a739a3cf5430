"""What the engine knows about a platform: the :class:`Platform` protocol and its result types.

Adapters (the generic API of docs/platform-api.md first; Shopify, WooCommerce... later)
implement :class:`Platform`. The types here say nothing about HTTP or URLs: an item
result carries the HTTP status and request id only so that a failure report can be
traced at the platform's support desk.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from shopsync.domain.digest import canonical_json
from shopsync.domain.models import Product


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class ItemResult:
    """The outcome of one item of a batch (a product create/update or a stock change).

    ``ok`` with ``product_id`` on success; otherwise ``code`` (the platform's error code,
    e.g. ``SKU_EXISTS``, ``VALIDATION``), ``message`` and ``field``. ``stock`` is the
    count after an inventory change, or the current count on ``STOCK_CONFLICT``.
    ``replayed`` is true when the platform answered from its idempotency store (the
    batch had been applied before); ``reconciled`` when the outcome was learned by
    reading the platform's state back after an ambiguous failure.
    """

    sku: str
    ok: bool
    product_id: str | None = None
    code: str | None = None
    message: str | None = None
    field: str | None = None
    http_status: int | None = None
    request_id: str | None = None
    idempotency_key: str | None = None
    replayed: bool = False
    reconciled: bool = False
    stock: int | None = None


@dataclass(frozen=True)
class BatchResult:
    """Per-item results of one product batch, each list in input order."""

    created: list[ItemResult] = field(default_factory=list)
    updated: list[ItemResult] = field(default_factory=list)

    @property
    def items(self) -> list[ItemResult]:
        """Creates then updates."""
        return [*self.created, *self.updated]


@dataclass(frozen=True)
class ProductUpdate:
    """Change an existing product to ``product``'s content.

    ``fields`` limits the update to those fields (names as in the API); ``None`` sends
    every content field. The SKU identifies the item in results; it is never changed.
    """

    product_id: str
    product: Product
    fields: frozenset[str] | None = None

    @property
    def sku(self) -> str:
        """The product's SKU."""
        return self.product.sku

    def to_api(self) -> dict[str, Any]:
        """The batch ``update`` item: ``product_id`` plus the fields to change."""
        body = self.product.to_api()
        body.pop("sku", None)
        if self.fields is not None:
            body = {k: v for k, v in body.items() if k in self.fields}
        return {"product_id": self.product_id, **body}


@dataclass(frozen=True)
class RemoteProduct:
    """A product as the platform holds it.

    ``fields`` holds the content fields as the platform answered them (prices as
    decimal strings); server bookkeeping is in the other attributes.
    """

    product_id: str
    sku: str
    fields: Mapping[str, Any]
    version: int | None = None
    updated_at: str | None = None


@dataclass(frozen=True)
class StockChange:
    """One inventory change: set ``stock``, or add ``delta``; ``expected`` makes it a CAS."""

    sku: str
    stock: int | None = None
    delta: int | None = None
    expected: int | None = None

    def __post_init__(self) -> None:
        if (self.stock is None) == (self.delta is None):
            raise ValueError("a stock change sets either stock or delta, not both or neither")

    def to_api(self) -> dict[str, Any]:
        """The ``updates`` item of an inventory batch."""
        body: dict[str, Any] = {"sku": self.sku}
        if self.stock is not None:
            body["stock"] = self.stock
        if self.delta is not None:
            body["delta"] = self.delta
        if self.expected is not None:
            body["expected"] = self.expected
        return body


@dataclass(frozen=True)
class OrderLine:
    """One line of an order."""

    sku: str
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True)
class RemoteOrder:
    """An order as the platform reports it."""

    order_id: str
    status: str
    created_at: str
    updated_at: str
    currency: str
    total: Decimal
    lines: tuple[OrderLine, ...] = ()
    buyer_name: str | None = None
    buyer_country: str | None = None


@dataclass(frozen=True)
class AuthStatus:
    """What ``shopsync auth check`` reports: the token works, and which scopes it carries."""

    token_url: str
    client_id: str
    granted_scopes: frozenset[str] | None
    """Scopes the token endpoint reported; None if it did not say."""
    expires_in: float


@runtime_checkable
class Platform(Protocol):
    """A shop platform, as the engine sees it. Every method may raise ShopsyncError.

    Batches hold at most :attr:`max_batch_size` items. Writes take an optional
    ``idempotency_key``; without one the adapter derives it from the batch content
    (:func:`derive_idempotency_key`), so a resumed run repeats the same key.
    """

    name: str
    max_batch_size: int

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """Create and update products in one batch; one result per item, input order."""
        ...

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """The remote products for those ``skus`` that exist, by SKU (any number of SKUs)."""
        ...

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Every product, page by page."""
        ...

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """Apply stock changes in one batch; one result per change, input order."""
        ...

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """Orders updated since ``updated_since`` (oldest first), optionally of one status."""
        ...

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """One order, or None if there is no such order."""
        ...

    def check_auth(self) -> AuthStatus:
        """Fetch a new token and report what it allows (raises AuthError if refused)."""
        ...

    def stats(self) -> dict[str, int]:
        """Traffic counters for the run report (requests, retries, throttled, ...)."""
        ...

    def throttle_wait(self) -> float:
        """Seconds until the platform's rate limit lets requests go again (0: not waiting)."""
        ...

    def close(self) -> None:
        """Release connections and caches."""
        ...


def derive_idempotency_key(namespace: str, operation: str, body: Any, salt: str = "") -> str:
    """A deterministic ``Idempotency-Key`` for a write: same batch, same key.

    ``namespace`` names the target (profile and base URL) so two shops never share
    keys; ``operation`` the endpoint; ``body`` the exact request body; ``salt`` tells
    apart two deliberate, identical writes (two identical stock deltas on different
    days must both apply: pass e.g. the input file's digest or a run id there).
    """
    material = canonical_json({"ns": namespace, "op": operation, "body": body, "salt": salt})
    return "shopsync-" + hashlib.sha256(material.encode("utf-8")).hexdigest()
