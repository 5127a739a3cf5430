"""What the engine knows about a platform: the :class:`Platform` protocol and its result types.

Adapters (the generic API of docs/platform-api.md first; Shopify, WooCommerce... later)
implement :class:`Platform`. The types here say nothing about HTTP or URLs: an item
result carries the HTTP status and request id only so that a failure report can be
traced at the platform's support desk.

What the core decides by, it reads from three things an adapter supplies, never from a
platform's wire: the :class:`Capabilities` it declares, the normalised :class:`ItemCode`
of each item's outcome, and the :class:`ErrorScope` of a failure (this item, this batch,
the platform). The platform's own error code rides along on :attr:`ItemResult.code`, for
the failed file and for messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import Enum
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

from shopsync.domain.digest import canonical_json
from shopsync.domain.images import ImageLimits
from shopsync.domain.models import Product
from shopsync.errors import APIError, AuthError

if TYPE_CHECKING:  # typing.Self is 3.11+; annotations are not evaluated at run time
    from typing_extensions import Self

    from shopsync.http.client import HttpClient

ProductProblem = tuple[str, str] | tuple[str, str, str]
"""One of a platform's own rules a product breaks: ``(field, message)``, the field named
as :class:`~shopsync.domain.models.Product` names it (``title``, ``images``,
``attr:NAME`` for an attribute), the message a phrase after the column's name; or
``(field, value, message)`` where the value shown is not the product's own attribute
(an option value, a ``PLATFORM:FIELD`` cell)."""

ProductCheck = Callable[[Product], Sequence[ProductProblem]]
"""An adapter's :meth:`Platform.check_product`: its rules, checked at plan time."""

KeyHandling = Literal["honoured", "ignored", "unknown"]
"""Whether a platform applies a write it has seen before under the same idempotency key
once (``honoured``), applies it again (``ignored``), or cannot be known to do either."""


RemovalKind = Literal["archive", "delete"]
"""How a platform removes a product (:attr:`Capabilities.removal`)."""


@dataclass(frozen=True)
class BulkWrites:
    """A platform's bulk path (:attr:`Capabilities.bulk`): a batch of more than
    ``max_batch_size`` items (or any batch, where ``threshold`` is 0) is written as one
    bulk operation, which the adapter settles by the batch's key when a run that was
    killed left it pending: it polls the operation it submitted rather than submit again,
    so the engine does not look such a batch up before sending it again."""

    batch_size: int
    """Items per bulk batch, at most."""
    threshold: int
    """A run sends bulk batches once this many creates and updates are planned (0: every
    batch goes in bulk); a smaller change goes as usual batches."""


@dataclass(frozen=True)
class Capabilities:
    """What a platform can do, as its adapter declares it; the core picks its path by these.

    The engine batches at most :attr:`max_batch_size` items; resends an ambiguous write
    with the same key only where :attr:`idempotency_keys` is ``honoured`` and otherwise
    reconciles by :attr:`lookup_by_sku` before sending anything again; lets a stock sync
    use compare-and-set only with :attr:`stock_cas` and deltas only with
    :attr:`stock_delta`.
    """

    max_batch_size: int
    """Items per write request, at most."""
    idempotency_keys: KeyHandling = "unknown"
    lookup_by_sku: bool = False
    """Products can be looked up by SKU (:meth:`Platform.lookup_skus`)."""
    unique_skus: bool = True
    """The platform refuses a second product with a SKU it holds (an ``EXISTS`` answer)."""
    stock_set: bool = True
    """Stock counts can be set to a value."""
    stock_cas: bool = False
    """A stock change can carry the count it expects (compare-and-set)."""
    stock_delta: bool = False
    """Stock can be changed by a delta (add or subtract)."""
    async_writes: bool = False
    """Writes may be accepted now and applied later (queued submissions, feeds): such an
    item answers :attr:`ItemCode.ACCEPTED`, and the adapter's ``confirm_writes`` (see
    :func:`confirmer_of`) says later whether each was applied. The engine refuses an
    adapter that declares this without ``confirm_writes``."""
    variants: bool = False
    """Products can have variants (options under one parent)."""
    removal: RemovalKind | None = None
    """How :meth:`Platform.delete_products` removes a product: ``archive`` (kept, hidden,
    its SKU freed), ``delete`` (gone), or None (it cannot: ``--prune`` refuses)."""
    images: ImageLimits | None = None
    """Local image files can be uploaded (:meth:`Platform.upload_image`), within these
    limits; None: the platform takes image URLs only."""
    bulk: BulkWrites | None = None
    """Large changes go as bulk operations (see :class:`BulkWrites`); None: never."""

    @property
    def keys_guaranteed(self) -> bool:
        """True only where a resend under the same key is known to apply nothing twice."""
        return self.idempotency_keys == "honoured"

    def settles_by_key(self, items: int) -> bool:
        """Whether a batch of ``items`` goes in bulk, so its adapter settles a resend of it
        by its key (:class:`BulkWrites`)."""
        return self.bulk is not None and (items > self.max_batch_size or not self.bulk.threshold)


class ItemCode(str, Enum):
    """An item's outcome, normalised: what the core decides by (the raw code rides along)."""

    OK = "ok"
    EXISTS = "exists"
    """A create met a product with the SKU already (``ItemResult.product_id`` names it)."""
    NOT_FOUND = "not_found"
    """The product (for an update, a stock change) is not on the platform."""
    INVALID = "invalid"
    """The platform refused the item's content (a field, a rule)."""
    CONFLICT = "conflict"
    """A compare-and-set failed: the platform holds something else (``stock`` says what)."""
    UNKNOWN_OUTCOME = "unknown_outcome"
    """The write was sent and no answer came back: it may or may not have been applied."""
    REFUSED = "refused"
    """Refused for another reason (permissions, limits, the batch as a whole)."""
    ERROR = "error"
    """The platform failed (past all retries), or answered something unreadable."""
    ACCEPTED = "accepted"
    """Accepted and queued, not applied yet (``ok`` is true; only where
    :attr:`Capabilities.async_writes`): whether it was applied is learned by reading it
    back (``confirm_writes``). From ``confirm_writes``, with ``ok`` false: still not
    applied (``code`` the platform's reason, e.g. its issue codes)."""


class ErrorScope(str, Enum):
    """How far a failure reaches: the item alone, its batch, or the platform as a whole."""

    ITEM = "item"
    BATCH = "batch"
    """The batch was refused as a whole (too large, malformed): the next one may pass."""
    PLATFORM = "platform"
    """The platform cannot be used now (outage, auth): stop sending."""


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class ItemResult:
    """The outcome of one item of a batch (a product create/update or a stock change).

    ``ok`` with ``product_id`` on success; otherwise ``item_code`` (the normalised
    outcome the core decides by), ``code`` (the platform's own error code, for the failed
    file and messages), ``message``, ``field`` and ``scope``. ``stock`` is the count after
    an inventory change, or the current count on a ``CONFLICT``.
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
    item_code: ItemCode | None = None
    """None: ``OK`` if ``ok``, else ``REFUSED`` (see :attr:`outcome`)."""
    scope: ErrorScope = ErrorScope.ITEM

    @property
    def outcome(self) -> ItemCode:
        """The normalised outcome: :attr:`item_code`, or what ``ok`` implies without one."""
        if self.item_code is not None:
            return self.item_code
        return ItemCode.OK if self.ok else ItemCode.REFUSED


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
    ``removed_variants`` names the variants (by SKU) the update removes from the product:
    only those the planner was asked to remove (``--remove-missing-variants``).
    ``variants_before`` holds the variants' bodies as the platform last confirmed them
    (the ledger's), so an adapter can send only a variant's changed fields: a stock
    count the file did not change is not sent, as for a product without variants.
    """

    product_id: str
    product: Product
    fields: frozenset[str] | None = None
    removed_variants: tuple[str, ...] = ()
    variants_before: tuple[Mapping[str, Any], ...] = ()

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
class AcceptedWrite:
    """A write the platform accepted but may not have applied, to be confirmed.

    ``fields`` are the fields it sent (None: all of them): only those are compared with
    what the platform holds.
    """

    product: Product
    fields: frozenset[str] | None = None


WriteConfirmer = Callable[[Sequence[AcceptedWrite]], list[ItemResult]]
"""An adapter's ``confirm_writes``: one result per write, in order; ``ok`` if the
platform holds what was sent, else :attr:`ItemCode.ACCEPTED` with the reason."""


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
class RemoteImage:
    """An uploaded image as the platform holds it: a URL, an id, or both.

    :attr:`reference` is what a product body names it by (the URL where there is one).
    """

    url: str | None = None
    image_id: str | None = None

    @property
    def reference(self) -> str:
        """What goes in a product's ``images`` in place of the local file."""
        reference = self.url or self.image_id
        if not reference:
            raise ValueError("an uploaded image has a URL or an id")
        return reference


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

    Batches hold at most :attr:`max_batch_size` items (the same as
    ``capabilities.max_batch_size``). Writes take an optional
    ``idempotency_key``; without one the adapter derives it from the batch content
    (:func:`derive_idempotency_key`), so a resumed run repeats the same key.
    """

    name: str
    max_batch_size: int
    capabilities: Capabilities

    def error_scope(self, error: Exception) -> ErrorScope:
        """How far ``error``, raised by one of this platform's calls, reaches."""
        ...

    def check_product(self, product: Product) -> Sequence[ProductProblem]:
        """This platform's own rules that ``product`` breaks (title length, required
        fields, image rules...), beyond the catalog's; empty if none.

        Called at plan time for every row, so a product the platform would refuse is a
        row error (file, line, column), rejected before anything is sent. Pure and fast:
        no request, no state.
        """
        ...

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

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Remove products (archive or delete, as :attr:`Capabilities.removal` says); one
        result per id, input order (``ItemResult.sku`` holds the id). A product already
        gone is :attr:`ItemCode.NOT_FOUND`. Not called where ``removal`` is None."""
        ...

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """Put one image file on the platform's media store (where ``capabilities.images``).

        ``content_hash`` (SHA-256, hex) names the content: the same file uploaded twice,
        as after a lost answer, is one image on a platform that keys uploads by it.
        """
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


# Answers to a whole batch that retrying later may fix: timeout, conflict, throttled.
_TRANSIENT_REFUSALS = frozenset({408, 409, 429})


def default_error_scope(error: Exception) -> ErrorScope:
    """The scope of an error raised by a call, for adapters with no rule of their own.

    An HTTP 4xx answer to the batch as a whole (too large, malformed) is about the batch;
    an auth failure, a 5xx past all retries, a transport failure or anything else is
    about the platform.
    """
    if isinstance(error, AuthError):
        return ErrorScope.PLATFORM
    status = error.status if isinstance(error, APIError) else None
    if status is not None and 400 <= status < 500 and status not in _TRANSIENT_REFUSALS:
        return ErrorScope.BATCH
    return ErrorScope.PLATFORM


def error_scope_of(platform: object, error: Exception) -> ErrorScope:
    """``platform.error_scope(error)`` where the adapter has it, else the default rule."""
    rule = getattr(platform, "error_scope", None)
    return rule(error) if callable(rule) else default_error_scope(error)


def product_check_of(platform: object) -> ProductCheck | None:
    """``platform.check_product`` where the adapter has it (a stand-in may not)."""
    rule = getattr(platform, "check_product", None)
    return rule if callable(rule) else None


def confirmer_of(platform: object) -> WriteConfirmer | None:
    """``platform.confirm_writes`` where the adapter has it (those with async writes)."""
    rule = getattr(platform, "confirm_writes", None)
    return rule if callable(rule) else None


def capabilities_of(platform: object) -> Capabilities:
    """``platform.capabilities``; a stand-in without any gets the most cautious ones."""
    declared = getattr(platform, "capabilities", None)
    if isinstance(declared, Capabilities):
        return declared
    return Capabilities(max_batch_size=int(getattr(platform, "max_batch_size", 1)))


def error_code_of(error: Exception) -> str:
    """The code a failed file shows for an item failed by ``error`` (the platform's own)."""
    code = getattr(error, "code", None)
    if isinstance(code, str) and code:
        return code
    if isinstance(error, APIError) and error.status is not None:
        return f"HTTP_{error.status}"
    return type(error).__name__


def raw_code_of(platform: object, code: ItemCode, operation: str) -> str:
    """The platform's own code for ``code`` in ``operation`` (``products``, ``inventory``),
    for an outcome the core settles without asking (a SKU its lookup did not find): what
    the failed file would have shown had the platform answered. Default: the name."""
    rule = getattr(platform, "raw_code", None)
    raw = rule(code, operation) if callable(rule) else None
    return raw if isinstance(raw, str) and raw else code.name


class ClientBacked:
    """What every adapter over one :class:`~shopsync.http.client.HttpClient` (``self.client``)
    answers the same way: the pause a throttled answer imposed, the traffic counters, closing,
    and use as a context manager. Adapters that hold more (a token store, an image cache)
    extend :meth:`close` and :meth:`stats`."""

    client: HttpClient

    def throttle_wait(self) -> float:
        """Seconds left of the pause a throttled answer imposed on every worker."""
        return self.client.limiter.pause_remaining()

    def stats(self) -> dict[str, int]:
        """The client's traffic counters."""
        return self.client.stats.snapshot()

    def close(self) -> None:
        """Close the client."""
        self.client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
