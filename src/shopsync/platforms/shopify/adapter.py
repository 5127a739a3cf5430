"""The Shopify adapter: products by ``productSet``, stock by ``inventorySetQuantities`` and
``inventoryAdjustQuantities``, orders by ``orders(sortKey: UPDATED_AT)``, over Shopify's
Admin GraphQL API (``/admin/api/{version}/graphql.json``).

What it declares, and why (see :class:`~shopsync.platforms.base.Capabilities`):

* ``productSet`` takes no idempotency key, so keys are ``ignored``: a product write whose
  answer was lost is not resent blindly; the engine looks its SKUs up first
  (``productVariants(query: "sku:...")``) and sends only what is not there.
* SKUs are not unique on Shopify. A lookup keeps exact, case-sensitive matches; a SKU on
  two products is reported as an error, never guessed.
* A batch is up to :data:`MAX_BATCH` aliased ``productSet`` mutations in one request
  (12 cost points each); the client's limiter spends points, following the bucket.
* Stock: set, compare-and-set and deltas, at one location (the ``location`` setting or
  the shop's primary one). From 2026-04 the inventory mutations carry
  ``@idempotent(key:)``, so a lost answer is resent under the same key.
* Large changes go as bulk operations (``capabilities.bulk``, the ``bulk`` and
  ``bulk_threshold`` settings): a batch of more than :data:`MAX_BATCH` items is one
  ``bulkOperationRunMutation`` of productSet, settled by its key across crashes
  (:mod:`~shopsync.platforms.shopify.bulk`). From the engine's side every write still
  returns its results (``async_writes`` is false): the adapter polls.
* Local images are files of the shop's Files (staged upload, ``fileCreate``), named by
  id; removal is ``productDelete``.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from shopsync.config import Setting, Settings, parse_text
from shopsync.domain.images import MIB, ImageLimits
from shopsync.domain.models import Product
from shopsync.errors import APIError, ConfigError, PlatformError, ScopeError
from shopsync.http.auth import OAuthTokens
from shopsync.http.client import ApiResponse, HttpClient
from shopsync.i18n import N_, nN_
from shopsync.platforms.base import (
    AuthStatus,
    BatchResult,
    BulkWrites,
    Capabilities,
    ClientBacked,
    ErrorScope,
    ItemCode,
    ItemResult,
    OrderLine,
    ProductUpdate,
    RemoteImage,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    default_error_scope,
    derive_idempotency_key,
)
from shopsync.platforms.shopify import documents
from shopsync.platforms.shopify.bulk import BulkJournal, BulkWriter, upload_form
from shopsync.platforms.shopify.mapping import (
    PRODUCT_LEVEL,
    VARIANT_LEVEL,
    constraint_errors,
    money,
    option_inputs,
    product_input,
    remote_product,
)
from shopsync.platforms.shopify.wire import client_from_settings

MAX_BATCH = 10
"""productSet mutations per request: 120 points, well under Shopify's 1,000 per query."""
LOOKUP_CHUNK = 20
ADOPT_CHUNK = 125
"""SKUs per adoption lookup: twice as many variants, Shopify's 250 a page at most."""
ADOPT_BY_EXPORT_FROM = 500
"""Creates from which the adoption lookup is a bulk query of every variant instead."""
LOOKUP_PAGE = 50
ORDERS_PAGE = 25
PRODUCTS_PAGE = 50
DEFAULT_VERSION = "2026-07"
SUPPORTED_VERSIONS = ("2025-10", "2026-01", "2026-04", "2026-07")
REQUIRED_SCOPES = ("write_products", "write_inventory", "read_orders", "read_locations")
"""What shopsync asks a Shopify app for (README, Shopify section)."""

_ITEM_CODES = {
    "PRODUCT_DOES_NOT_EXIST": ItemCode.NOT_FOUND,
    "NOT_FOUND": ItemCode.NOT_FOUND,
    "PRODUCT_VARIANT_DOES_NOT_EXIST": ItemCode.NOT_FOUND,
    "INVALID_INVENTORY_ITEM": ItemCode.NOT_FOUND,
    "CHANGE_FROM_QUANTITY_STALE": ItemCode.CONFLICT,
    "COMPARE_QUANTITY_STALE": ItemCode.CONFLICT,
}
_SHOPIFY_TO_CATALOG = {shopify: name for name, shopify in PRODUCT_LEVEL.items()} | {
    "sku": "sku",
    "price": "price",
    "barcode": "barcode",
    "inventoryQuantities": "stock",
    "inventoryItem": "weight_kg",
    "quantity": "stock",
    "delta": "delta",
    "changeFromQuantity": "stock",
    "compareQuantity": "stock",
}
_ALL_FIELDS = frozenset(PRODUCT_LEVEL) | VARIANT_LEVEL


def parse_shop(value: Any) -> str:
    """``my-store`` from ``my-store``, ``my-store.myshopify.com`` or its https URL."""
    text = parse_text(value).lower().removeprefix("https://").rstrip("/")
    text = text.removesuffix(".myshopify.com")
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", text):
        raise ValueError("must be a shop name such as my-store or my-store.myshopify.com")
    return text


def _shop_origin(shop: str) -> dict[str, str]:
    return {"base_url": f"https://{shop}.myshopify.com"}


def parse_api_version(value: Any) -> str:
    """An Admin API version shopsync supports."""
    text = parse_text(value)
    if text not in SUPPORTED_VERSIONS:
        raise ValueError(f"must be one of {', '.join(SUPPORTED_VERSIONS)}")
    return text


IMAGE_LIMITS = ImageLimits(max_bytes=20 * MIB, max_width=4472, max_height=4472)
"""What Shopify takes as a product image: 20 MB and 20 megapixels (4,472 px square)."""
BULK_MODES = ("auto", "always", "never")
BULK_THRESHOLD = 100
"""Creates and updates from which a run goes in bulk (``bulk = auto``): where the bulk
path's fixed cost (a staged upload, a submission, polls) is below what productSet costs
those products at a standard plan's 100 points/s (benchmarks/shopify_bulk.py)."""
BULK_BATCH = 10_000
"""Products per bulk operation: about 5 MB of JSONL, far under Shopify's 100 MB a file."""


def parse_bulk(value: Any) -> str:
    """``auto``, ``always`` or ``never`` (``--bulk`` / ``--no-bulk`` give true / false)."""
    if isinstance(value, bool):
        return "always" if value else "never"
    text = parse_text(value).lower()
    text = {"true": "always", "on": "always", "false": "never", "off": "never"}.get(text, text)
    if text not in BULK_MODES:
        raise ValueError("must be auto, always or never")
    return text


def parse_count(value: Any) -> int:
    """A whole number, at least 1."""
    number = int(parse_text(str(value)))
    if number < 1:
        raise ValueError("must be at least 1")
    return number


SHOPIFY_SETTINGS: tuple[Setting, ...] = (
    Setting(
        "shop",
        parse_shop,
        help="the shop: my-store or my-store.myshopify.com (gives base_url)",
        required=True,
        implies=_shop_origin,
    ),
    Setting("access_token", parse_text, secret=True, help="a custom app's Admin API token"),
    Setting("client_id", parse_text, help="the app's client id (client-credentials grant)"),
    Setting("client_secret", parse_text, secret=True, help="the app's client secret"),
    Setting(
        "client_secret_env",
        parse_text,
        help="name of an environment variable with the client secret",
    ),
    Setting("api_version", parse_api_version, DEFAULT_VERSION, help="Admin API version"),
    Setting("location", parse_text, help="stock location, by name or gid (default: primary)"),
    Setting(
        "bulk",
        parse_bulk,
        "auto",
        help="bulk operations: auto (from bulk_threshold changes), always or never",
    ),
    Setting(
        "bulk_threshold",
        parse_count,
        BULK_THRESHOLD,
        help="creates and updates from which `bulk = auto` uses bulk operations",
    ),
)


@dataclass
class _Group:
    """One inventory mutation of a document and the changes (by position) it carries."""

    call: documents.InventoryCall
    positions: list[int]
    body: dict[str, Any]


class ShopifyPlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for a Shopify shop."""

    name = "shopify"
    max_batch_size = MAX_BATCH
    settings: tuple[Setting, ...] = SHOPIFY_SETTINGS
    required_scopes = REQUIRED_SCOPES

    def __init__(
        self,
        client: HttpClient,
        *,
        namespace: str,
        api_version: str = DEFAULT_VERSION,
        location: str | None = None,
        bulk: str = "auto",
        bulk_threshold: int = BULK_THRESHOLD,
        bulk_batch_size: int = BULK_BATCH,
        bulk_journal: Path | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.api_version = api_version
        self.keyed_inventory = api_version >= documents.IDEMPOTENT_FROM
        self.capabilities = Capabilities(
            max_batch_size=MAX_BATCH,
            idempotency_keys="ignored",
            lookup_by_sku=True,
            unique_skus=False,
            stock_set=True,
            stock_cas=True,
            stock_delta=True,
            async_writes=False,
            variants=True,
            removal="delete",
            images=IMAGE_LIMITS,
            bulk=None
            if bulk == "never"
            else BulkWrites(bulk_batch_size, 0 if bulk == "always" else bulk_threshold),
        )
        self.bulk_batch_size = bulk_batch_size
        self._bulk = BulkWriter(client, self._graphql, BulkJournal(bulk_journal), sleep=sleep)
        self._path = f"/admin/api/{api_version}/graphql.json"
        self._location_setting = location
        self._location_id: str | None = None
        self._items: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> ShopifyPlatform:
        """The adapter for ``settings``; ``client_options`` go to :func:`client_from_settings`."""
        client_options.pop("trust_idempotency_keys", None)  # productSet has no keys to trust
        if not settings.get("access_token") and not (settings.client_id and settings.client_secret):
            raise ConfigError(
                N_("Profile {profile} has no Shopify credentials.").format(
                    profile=repr(settings.profile)
                ),
                hint=N_(
                    "Set access_token (SHOPSYNC_ACCESS_TOKEN), or client_id and client_secret "
                    "(SHOPSYNC_CLIENT_ID, SHOPSYNC_CLIENT_SECRET)."
                ),
            )
        sleep = client_options.get("sleep", time.sleep)
        disk = client_options.get("disk_cache", True)
        client = client_from_settings(settings, **client_options)
        return cls(
            client,
            namespace=f"{settings.profile}|{settings.base_url}",
            api_version=str(settings.get("api_version") or DEFAULT_VERSION),
            location=settings.get("location"),
            bulk=str(settings.get("bulk") or "auto"),
            bulk_threshold=int(settings.get("bulk_threshold") or BULK_THRESHOLD),
            bulk_journal=_journal_path(settings) if disk else None,
            sleep=sleep,
        )

    # -- the seam ------------------------------------------------------------------------

    def error_scope(self, error: Exception) -> ErrorScope:
        """A query too costly for one request is the batch's fault; the rest as usual."""
        if isinstance(error, APIError) and error.code == "MAX_COST_EXCEEDED":
            return ErrorScope.BATCH
        return default_error_scope(error)

    def raw_code(self, code: ItemCode, operation: str) -> str | None:
        """Shopify's code for an outcome the core settles itself (a SKU not found)."""
        if code is ItemCode.NOT_FOUND:
            return (
                "INVALID_INVENTORY_ITEM" if operation == "inventory" else "PRODUCT_DOES_NOT_EXIST"
            )
        return None

    def check_product(self, product: Product) -> list[tuple[str, str]]:
        """Shopify's own rules ``product`` breaks, as ``(field, message)`` (plan time)."""
        return constraint_errors(product)

    # -- GraphQL -------------------------------------------------------------------------

    def _graphql(
        self,
        document: str,
        variables: Mapping[str, Any],
        *,
        cost: float,
        retry_ambiguous: bool = True,
    ) -> tuple[dict[str, Any], ApiResponse]:
        text = json.dumps(
            {"query": document, "variables": variables},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        response = self.client.request(
            "POST", self._path, json_text=text, retry_ambiguous=retry_ambiguous, cost=cost
        )
        body = response.body if isinstance(response.body, dict) else {}
        errors = body.get("errors")
        if errors:
            raise _graphql_error(errors, response)
        data = body.get("data")
        return (data if isinstance(data, dict) else {}), response

    def _location(self) -> str:
        """The location stock is kept at: the setting's, or the shop's primary one."""
        with self._lock:
            if self._location_id is not None:
                return self._location_id
        wanted = self._location_setting
        if wanted and wanted.startswith("gid://"):
            data, _ = self._graphql(documents.LOCATION_BY_ID, {"id": wanted}, cost=2)
            found = data.get("location")
        elif wanted:
            name = wanted.replace('"', '\\"')
            data, _ = self._graphql(documents.LOCATION_BY_NAME, {"q": f'name:"{name}"'}, cost=12)
            nodes = (data.get("locations") or {}).get("nodes") or []
            found = next((n for n in nodes if n.get("name") == wanted), None)
        else:
            data, _ = self._graphql(documents.PRIMARY_LOCATION, {}, cost=2)
            found = data.get("location")
        if not isinstance(found, dict) or not found.get("id"):
            raise ConfigError(
                N_("The Shopify shop has no location {location}.").format(location=repr(wanted))
                if wanted
                else N_("The Shopify shop reported no primary location."),
                hint=N_("Set `location` to a location's name or gid (Settings → Locations)."),
            )
        with self._lock:
            self._location_id = str(found["id"])
            return self._location_id

    # -- products ------------------------------------------------------------------------

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """Aliased ``productSet`` mutations, one per item; or, for a bulk batch (more than
        :data:`MAX_BATCH` items, or any with ``bulk = always``), one bulk operation (see
        :mod:`~shopsync.platforms.shopify.bulk`). See :meth:`Platform.write_products`.

        ``idempotency_key`` is not sent (productSet takes none): an ambiguous failure of
        the productSet path is raised as :class:`~shopsync.errors.AmbiguousWriteError` for
        the engine to reconcile; the bulk path settles a resent batch by that key itself.
        """
        count = len(creates) + len(updates)
        bulk = self.capabilities.settles_by_key(count)
        most = self.bulk_batch_size if bulk else MAX_BATCH
        if count > most:
            raise ValueError(f"a batch holds at most {most} items")
        if not count:
            return BatchResult()
        if bulk:
            key = idempotency_key or derive_idempotency_key(
                self.namespace, "bulk", [p.sku for p in creates] + [u.sku for u in updates]
            )
            return self._write_bulk(creates, updates, key)
        existing = self._existing(creates)
        sent = [p for p in creates if p.sku not in existing]
        inputs, answered = self._set_inputs(sent, updates)
        if inputs:
            # Aliases stay by position; a position settled above is left out of the document.
            positions = sorted(inputs)
            variables: dict[str, Any] = {}
            for k, n in enumerate(positions):
                variables[f"p{k}"], variables[f"i{k}"] = inputs[n]
            data, response = self._graphql(
                documents.product_set(len(positions)),
                variables,
                cost=documents.PRODUCT_SET_COST * len(positions),
                retry_ambiguous=False,
            )
            skus = [p.sku for p in sent] + [u.sku for u in updates]
            for k, n in enumerate(positions):
                answered[n] = _set_result(data.get(f"p{k}"), skus[n], response)
        results = iter(answered[n] for n in sorted(answered))
        created = [existing.get(p.sku) or next(results) for p in creates]
        return BatchResult(created=created, updated=list(results))

    def _set_inputs(
        self, creates: Sequence[Product], updates: Sequence[ProductUpdate]
    ) -> tuple[dict[int, tuple[dict[str, Any], dict[str, Any] | None]], dict[int, ItemResult]]:
        """``(input, identifier)`` of productSet by position (creates, then updates), and
        the items settled without a write (a product with variants no longer there)."""
        wants_stock = bool(creates) or any(
            u.fields is None or bool({"stock", "variants"} & u.fields) for u in updates
        )
        location = self._location() if wants_stock else None
        inputs: dict[int, tuple[dict[str, Any], dict[str, Any] | None]] = {}
        for n, product in enumerate(creates):
            inputs[n] = (product_input(product, location), None)
        answered: dict[int, ItemResult] = {}
        for n, update in enumerate(updates, start=len(creates)):
            fields = update.fields if update.fields is not None else _ALL_FIELDS
            body = product_input(update.product, location, fields)
            if _has_variants(update) and "variants" in body:
                held = self._held_variants(update.product_id)
                if held is None:
                    answered[n] = _failed(
                        update.sku,
                        ItemCode.NOT_FOUND,
                        "PRODUCT_DOES_NOT_EXIST",
                        "the product is no longer on Shopify",
                        None,
                        None,
                    )
                    continue
                body = _complete_variants(body, update, held)
            inputs[n] = (body, {"id": update.product_id})
        return inputs, answered

    def _write_bulk(
        self, creates: Sequence[Product], updates: Sequence[ProductUpdate], key: str
    ) -> BatchResult:
        """The batch as one bulk operation; a batch a killed run submitted is polled, not
        submitted again (the bulk journal knows it by ``key``)."""
        skus = [p.sku for p in creates] + [u.sku for u in updates]
        settled: dict[int, ItemResult] = {}

        def lines() -> tuple[list[int], list[dict[str, Any]]]:
            existing = self._existing(creates)
            fresh = [n for n, p in enumerate(creates) if p.sku not in existing]
            settled.update(
                {n: existing[creates[n].sku] for n in range(len(creates)) if n not in fresh}
            )
            inputs, answered = self._set_inputs([creates[n] for n in fresh], updates)
            # _set_inputs numbers the fresh creates 0.., then the updates: back to the batch's.
            batch_position = [*fresh, *range(len(creates), len(creates) + len(updates))]
            settled.update({batch_position[n]: r for n, r in answered.items()})
            positions = [batch_position[n] for n in sorted(inputs)]
            variables = [
                {"input": inputs[n][0], "identifier": inputs[n][1]} for n in sorted(inputs)
            ]
            return positions, variables

        answers = self._bulk.run(key, lines)
        for n, payload in answers.items():
            settled[n] = _bulk_result(payload, skus[n])
        unanswered = [n for n in range(len(creates)) if n not in settled]
        if unanswered:  # resumed: creates adopted when the operation was submitted
            existing = self._existing([creates[n] for n in unanswered])
            settled.update(
                {n: existing[creates[n].sku] for n in unanswered if creates[n].sku in existing}
            )
        results = [
            settled.get(n)
            or _failed(
                skus[n],
                ItemCode.UNKNOWN_OUTCOME,
                "NO_ANSWER",
                "Shopify's bulk operation gave no answer for this item; run again to settle it",
                None,
                None,
            )
            for n in range(len(skus))
        ]
        return BatchResult(created=results[: len(creates)], updated=results[len(creates) :])

    def _held_variants(self, product_id: str) -> _Held | None:
        """The options and variants (id, SKU, option values) Shopify holds for a product,
        or None if it has no such product."""
        variants: list[dict[str, Any]] = []
        options: list[tuple[str, list[str]]] = []
        after: str | None = None
        while True:
            data, _ = self._graphql(
                documents.PRODUCT_VARIANTS,
                {"id": product_id, "n": 100, "after": after},
                cost=2 + 100 * 2,
            )
            product = data.get("product")
            if not isinstance(product, dict):
                return None
            options = [
                (str(o.get("name")), [str(v) for v in o.get("values") or []])
                for o in product.get("options") or []
                if isinstance(o, dict)
            ]
            page = _dict(product.get("variants"))
            variants.extend(v for v in page.get("nodes") or [] if isinstance(v, dict))
            info = _dict(page.get("pageInfo"))
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return _Held(options, variants)
            after = str(info["endCursor"])

    def _existing(self, creates: Sequence[Product]) -> dict[str, ItemResult]:
        """Creates whose SKU a Shopify product holds already (made in the admin, or by a
        run whose ledger is gone): ``EXISTS`` with that product, for the engine to update
        it, since Shopify would take a second product with the same SKU without a word.
        A SKU on two products already is refused, named, never guessed."""
        if not creates:
            return {}
        unique = list(dict.fromkeys(p.sku for p in creates))
        owners: dict[str, set[str]] = {}
        if len(unique) >= ADOPT_BY_EXPORT_FROM:
            # Many SKUs: one bulk query exports every variant's SKU, out of the cost bucket
            # (lookups of 125 SKUs cost 252 points each: 20 s a thousand at 100 points/s).
            wanted = set(unique)
            for node in self._bulk.query(documents.VARIANT_SKUS):
                product = _dict(node.get("product"))
                if node.get("sku") in wanted and product.get("id"):
                    owners.setdefault(str(node["sku"]), set()).add(str(product["id"]))
            unique = []
        for start in range(0, len(unique), ADOPT_CHUNK):
            skus = unique[start : start + ADOPT_CHUNK]
            wanted = set(skus)
            query = " OR ".join('sku:"' + sku.replace('"', '\\"') + '"' for sku in skus)
            size = 2 * len(skus)
            data, _ = self._graphql(documents.ADOPT_LOOKUP, {"q": query, "n": size}, cost=2 + size)
            for node in (data.get("productVariants") or {}).get("nodes") or []:
                product = _dict(_dict(node).get("product"))
                if node.get("sku") in wanted and product.get("id"):
                    owners.setdefault(str(node["sku"]), set()).add(str(product["id"]))
        found: dict[str, ItemResult] = {}
        for sku, products in owners.items():
            if len(products) == 1:
                found[sku] = ItemResult(
                    sku=sku,
                    ok=False,
                    product_id=next(iter(products)),
                    code="SKU_TAKEN",
                    message="a Shopify product has this SKU already",
                    item_code=ItemCode.EXISTS,
                )
            else:
                found[sku] = _failed(
                    sku,
                    ItemCode.REFUSED,
                    "SKU_NOT_UNIQUE",
                    f"{len(products)} Shopify products have this SKU "
                    f"({', '.join(sorted(products))}); give each its own SKU in the Shopify "
                    "admin, then run again",
                    None,
                    None,
                    field="sku",
                )
        return found

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """``productVariants(query: "sku:..")``, exact matches only; a SKU on two products
        raises :class:`~shopsync.errors.PlatformError` naming them."""
        found: dict[str, RemoteProduct] = {}
        unique = list(dict.fromkeys(skus))
        for start in range(0, len(unique), LOOKUP_CHUNK):
            chunk = unique[start : start + LOOKUP_CHUNK]
            wanted = set(chunk)
            owners: dict[str, dict[str, RemoteProduct]] = {}
            items: dict[str, str] = {}
            query = " OR ".join('sku:"' + sku.replace('"', '\\"') + '"' for sku in chunk)
            for node in self._pages(
                documents.LOOKUP_SKUS, {"q": query}, "productVariants", LOOKUP_PAGE
            ):
                sku = node.get("sku")
                product: dict[str, Any] = _dict(node.get("product"))
                if sku not in wanted or not product.get("id"):
                    continue  # Shopify's search matched loosely (case, prefix): not this SKU
                owners.setdefault(sku, {})[str(product["id"])] = remote_product(node, product)
                item = (node.get("inventoryItem") or {}).get("id")
                if item:
                    items[sku] = str(item)
            for sku, products in owners.items():
                if len(products) > 1:
                    raise PlatformError(
                        N_(
                            "The SKU {sku} is on {count} Shopify products ({products}); "
                            "shopsync cannot tell which one the file means."
                        ).format(
                            sku=repr(sku), count=len(products), products=", ".join(sorted(products))
                        ),
                        hint=N_(
                            "Give each product its own SKU in the Shopify admin (or remove "
                            "the duplicate), then run again."
                        ),
                    )
                found[sku] = next(iter(products.values()))
            with self._lock:
                self._items.update(items)
        return found

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Aliased ``productDelete`` mutations, :data:`MAX_BATCH` a request; a product
        already gone is :attr:`ItemCode.NOT_FOUND`. Shopify deletes (its orders keep
        their lines), so ``capabilities.removal`` is ``delete``."""
        results: list[ItemResult] = []
        for start in range(0, len(product_ids), MAX_BATCH):
            chunk = list(product_ids[start : start + MAX_BATCH])
            data, response = self._graphql(
                documents.product_delete(len(chunk)),
                {f"d{n}": product_id for n, product_id in enumerate(chunk)},
                cost=documents.PRODUCT_DELETE_COST * len(chunk),
            )
            for n, product_id in enumerate(chunk):
                payload = _dict(data.get(f"d{n}"))
                errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
                if payload.get("deletedProductId") and not errors:
                    results.append(
                        ItemResult(
                            product_id,
                            ok=True,
                            product_id=product_id,
                            http_status=response.status,
                            request_id=response.request_id,
                        )
                    )
                    continue
                # productDelete's userErrors carry no code: a product Shopify does not
                # hold is the error it gives for an id (the field named is the id).
                error = errors[0] if errors else {}
                gone = error.get("field") in (["id"], ["input", "id"])
                result = _failed(
                    product_id,
                    ItemCode.NOT_FOUND if gone else ItemCode.ERROR,
                    "PRODUCT_DOES_NOT_EXIST" if gone else "NOT_DELETED",
                    str(error.get("message") or "Shopify deleted nothing"),
                    response,
                    None,
                )
                result.product_id = product_id
                results.append(result)
        return results

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """A local image as a file of the shop's Files: staged (``stagedUploadsCreate``,
        ``IMAGE``), POSTed to the target, then ``fileCreate``; the file's id is what
        products name it by (productSet ``files``), so each content is uploaded once."""
        data, _ = self._graphql(
            documents.STAGED_UPLOADS,
            {
                "input": [
                    {
                        "resource": "IMAGE",
                        "filename": filename,
                        "mimeType": content_type,
                        "httpMethod": "POST",
                        "fileSize": str(len(content)),
                    }
                ]
            },
            cost=11,
        )
        payload = _dict(data.get("stagedUploadsCreate"))
        targets = payload.get("stagedTargets") or []
        if not targets:
            errors = payload.get("userErrors") or [{"message": "no target"}]
            raise APIError(
                f"Shopify gave no upload target for {filename!r}: {errors[0].get('message')}",
                code="STAGED_UPLOAD_REFUSED",
            )
        target = targets[0]
        parameters = {str(p["name"]): str(p["value"]) for p in target.get("parameters") or []}
        upload_form(self.client, str(target["url"]), parameters, filename, content, content_type)
        data, _ = self._graphql(
            documents.FILE_CREATE,
            {
                "files": [
                    {
                        "originalSource": str(target["resourceUrl"]),
                        "contentType": "IMAGE",
                        "filename": f"{content_hash[:12]}-{filename}",
                    }
                ]
            },
            cost=11,
        )
        created = _dict(data.get("fileCreate"))
        files = created.get("files") or []
        errors = created.get("userErrors") or []
        if errors or not files or not _dict(files[0]).get("id"):
            message = "; ".join(str(e.get("message")) for e in errors) or "no file"
            raise APIError(
                f"Shopify did not take the image {filename!r}: {message}",
                code=str((errors[0] if errors else {}).get("code") or "FILE_REFUSED"),
            )
        return RemoteImage(image_id=str(files[0]["id"]))

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Every product (its first variant), page by page."""
        size = max(1, min(page_size, PRODUCTS_PAGE))
        for product in self._pages(documents.PRODUCTS_PAGE, {}, "products", size):
            variants = (product.get("variants") or {}).get("nodes") or [{}]
            yield remote_product(variants[0], product)

    def _pages(
        self, document: str, variables: Mapping[str, Any], root: str, size: int
    ) -> Iterator[dict[str, Any]]:
        after: str | None = None
        while True:
            data, _ = self._graphql(
                document, {**variables, "n": size, "after": after}, cost=2 + size * 3
            )
            page = data.get(root) or {}
            for node in page.get("nodes") or []:
                if isinstance(node, dict):
                    yield node
            info = page.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return
            after = str(info["endCursor"])

    # -- inventory -----------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """Stock changes at the location, all-or-nothing per mutation as Shopify applies
        them: changes refused for their own reason fail, the others go again at once."""
        if len(changes) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} items")
        if not changes:
            return []
        location = self._location()
        with self._lock:
            unknown = [c.sku for c in changes if c.sku not in self._items]
        if unknown:
            self.lookup_skus(unknown)
        key = idempotency_key or derive_idempotency_key(
            self.namespace, "inventory", [c.to_api() for c in changes]
        )
        results: list[ItemResult | None] = [None] * len(changes)
        with self._lock:
            items = dict(self._items)
        pending = []
        for n, change in enumerate(changes):
            if change.sku in items:
                pending.append(n)
            else:
                results[n] = _failed(
                    change.sku,
                    ItemCode.NOT_FOUND,
                    "NOT_FOUND",
                    "no variant with this SKU on Shopify",
                    None,
                    key,
                )
        for attempt in range(3):
            if not pending:
                break
            pending = self._send_inventory(changes, pending, items, location, key, attempt, results)
        return [
            r
            if r is not None
            else _failed(
                changes[n].sku,
                ItemCode.ERROR,
                "NOT_APPLIED",
                "Shopify applied none of this call",
                None,
                key,
            )
            for n, r in enumerate(results)
        ]

    def _send_inventory(
        self,
        changes: Sequence[StockChange],
        pending: list[int],
        items: Mapping[str, str],
        location: str,
        key: str,
        attempt: int,
        results: list[ItemResult | None],
    ) -> list[int]:
        groups = self._groups(changes, pending, items, location)
        variables: dict[str, Any] = {}
        for group in groups:
            variables[group.call.alias] = group.body
            if self.keyed_inventory:
                variables[group.call.alias + "_key"] = derive_idempotency_key(
                    self.namespace, "inventory", group.call.alias, f"{key}:{attempt}"
                )
        data, response = self._graphql(
            documents.inventory([g.call for g in groups], self.api_version),
            variables,
            cost=12 * len(groups),
            retry_ambiguous=self.keyed_inventory,
        )
        again: list[int] = []
        conflicts: list[int] = []
        for group in groups:
            payload = data.get(group.call.alias) or {}
            errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
            if not errors:
                after = {
                    str((c.get("item") or {}).get("id")): c.get("quantityAfterChange")
                    for c in (payload.get("inventoryAdjustmentGroup") or {}).get("changes") or []
                }
                for n in group.positions:
                    stock = after.get(items[changes[n].sku])
                    results[n] = ItemResult(
                        sku=changes[n].sku,
                        ok=True,
                        http_status=response.status,
                        request_id=response.request_id,
                        idempotency_key=key,
                        stock=stock if isinstance(stock, int) else changes[n].stock,
                        item_code=ItemCode.OK,
                    )
                continue
            by_position = _errors_by_position(errors)
            general = by_position.pop(None, [])
            for index, n in enumerate(group.positions):
                matching = by_position.get(index) or general
                if not matching:
                    again.append(n)  # Shopify applied nothing of this call: send it again
                    continue
                error = matching[0]
                code = str(error.get("code") or "USER_ERROR")
                item_code = _ITEM_CODES.get(code, ItemCode.INVALID)
                results[n] = _failed(
                    changes[n].sku,
                    item_code,
                    code,
                    str(error.get("message")),
                    response,
                    key,
                    field=_catalog_field(error.get("field")),
                )
                if item_code is ItemCode.CONFLICT:
                    conflicts.append(n)
        if conflicts:
            self._current_counts(changes, conflicts, items, location, results)
        return again

    def _groups(
        self,
        changes: Sequence[StockChange],
        positions: Sequence[int],
        items: Mapping[str, str],
        location: str,
    ) -> list[_Group]:
        """The mutations that carry ``positions``: sets and deltas apart; before 2026-04
        compare-and-set and plain sets apart too (a flag per call), and a delta that
        must compare becomes the set it implies."""
        buckets: dict[str, _Group] = {}
        for n in positions:
            change = changes[n]
            item = items[change.sku]
            delta = change.delta is not None
            entry: dict[str, Any] = {"inventoryItemId": item, "locationId": location}
            if self.keyed_inventory:
                alias = "d0" if delta else "s0"
                if delta:
                    entry["delta"] = change.delta
                else:
                    entry["quantity"] = change.stock
                entry["changeFromQuantity"] = change.expected
            else:
                if delta and change.expected is not None:
                    assert change.delta is not None
                    delta = False
                    entry["quantity"] = change.expected + change.delta
                elif delta:
                    entry["delta"] = change.delta
                else:
                    entry["quantity"] = change.stock
                alias = "d0" if delta else ("s0" if change.expected is not None else "s1")
                if not delta and change.expected is not None:
                    entry["compareQuantity"] = change.expected
            group = buckets.get(alias)
            if group is None:
                list_name = "changes" if delta else "quantities"
                body: dict[str, Any] = {"name": "available", "reason": "correction", list_name: []}
                if alias == "s1":
                    body["ignoreCompareQuantity"] = True
                group = buckets[alias] = _Group(documents.InventoryCall(alias, delta), [], body)
            group.positions.append(n)
            group.body["changes" if delta else "quantities"].append(entry)
        return list(buckets.values())

    def _current_counts(
        self,
        changes: Sequence[StockChange],
        positions: Sequence[int],
        items: Mapping[str, str],
        location: str,
        results: list[ItemResult | None],
    ) -> None:
        """Put the count Shopify holds on each compare-and-set conflict."""
        variables: dict[str, Any] = {"loc": location}
        for k, n in enumerate(positions):
            variables[f"i{k}"] = items[changes[n].sku]
        data, _ = self._graphql(
            documents.stock_counts(len(positions)), variables, cost=3 * len(positions)
        )
        for k, n in enumerate(positions):
            level = (data.get(f"c{k}") or {}).get("inventoryLevel") or {}
            quantities = level.get("quantities") or [{}]
            current = quantities[0].get("quantity")
            result = results[n]
            if result is not None and isinstance(current, int):
                result.stock = current

    # -- orders --------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``orders(query: "updated_at:>='T'", sortKey: UPDATED_AT)``, oldest update first."""
        query = None
        if updated_since is not None:
            if updated_since.tzinfo is None:
                updated_since = updated_since.replace(tzinfo=timezone.utc)
            stamp = updated_since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            query = f"updated_at:>='{stamp}'"
        size = max(1, min(page_size, ORDERS_PAGE))
        for node in self._pages(documents.ORDERS_PAGE, {"q": query}, "orders", size):
            order = _order(node)
            if status is None or order.status == status:
                yield order

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``order(id:)``, or None."""
        data, _ = self._graphql(documents.ORDER, {"id": order_id}, cost=30)
        node = data.get("order")
        return _order(node) if isinstance(node, dict) else None

    # -- the rest ------------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """A new token (client credentials) or the custom app's, and the scopes Shopify
        reports for the app; never exposes the token."""
        credentials = self.client.credentials
        expires_in = math.inf
        token_url = "a custom app's access token"  # noqa: S105 - words, not a secret
        client_id = "(custom app)"
        if isinstance(credentials, OAuthTokens):
            token = self.client.token(fresh=True)
            expires_in = max(0.0, token.expires_at - credentials.now())
            token_url = credentials.token_url
            client_id = credentials.client_id
        data, _ = self._graphql(documents.AUTH_CHECK, {}, cost=3)
        installation = data.get("currentAppInstallation") or {}
        scopes = frozenset(
            str(s.get("handle")) for s in installation.get("accessScopes") or [] if s.get("handle")
        )
        return AuthStatus(
            token_url=token_url,
            client_id=client_id,
            granted_scopes=scopes if installation else None,
            expires_in=expires_in,
        )


def _journal_path(settings: Settings) -> Path:
    """Where the bulk journal of this profile and shop lives (beside the ledgers)."""
    assert settings.base_url
    digest = hashlib.sha256(settings.base_url.encode("utf-8")).hexdigest()[:16]
    return settings.data_dir / "shopify-bulk" / f"{settings.profile}-{digest}.json"


@dataclass(frozen=True)
class _Held:
    """What Shopify holds of one product: its options and its variants' ids, SKUs, values."""

    options: list[tuple[str, list[str]]]
    variants: list[dict[str, Any]]


def _has_variants(update: ProductUpdate) -> bool:
    """Whether the update is of a product with variants: it carries some, removes some, or
    the ledger knew some (an update that only removes variants carries none)."""
    return bool(update.product.variants or update.removed_variants or update.variants_before)


def _complete_variants(body: dict[str, Any], update: ProductUpdate, held: _Held) -> dict[str, Any]:
    """``body`` with the whole variant list productSet must be given, since it deletes what
    the list leaves out: the variants the update carries (new or changed, matched to
    Shopify's by SKU), every other variant Shopify holds (by id), except those the update
    removes; and the options those variants use.

    A changed variant whose count the file did not change is sent without
    ``inventoryQuantities``, so a count that sales moved since the last run stays."""
    product = update.product
    given = {v["sku"]: v for v in body["variants"]} if product.variants else {}
    before = {str(v.get("sku")): v for v in update.variants_before}
    stocks = {v.sku: v.stock for v in product.variants}
    removed = set(update.removed_variants) - set(given)
    complete: list[dict[str, Any]] = []
    for variant in held.variants:
        sku = str(variant.get("sku"))
        if sku in removed:
            continue
        sent = given.pop(sku, None)
        if sent is not None:
            if sku in before and before[sku].get("stock") == stocks.get(sku):
                sent = {k: v for k, v in sent.items() if k != "inventoryQuantities"}
            complete.append({**sent, "id": variant["id"]})
            continue
        complete.append(
            {
                "id": variant["id"],
                "optionValues": [
                    {"optionName": o.get("name"), "name": o.get("value")}
                    for o in variant.get("selectedOptions") or []
                ],
            }
        )
    complete.extend(given.values())  # new variants
    return {**body, "variants": complete, "productOptions": _used_options(complete, product, held)}


def _used_options(
    variants: list[dict[str, Any]], product: Product, held: _Held
) -> list[dict[str, Any]]:
    """``productOptions`` for ``variants``: Shopify's options and values in their order,
    then the file's new ones, each value kept only while a variant uses it."""
    used: dict[str, set[str]] = {}
    for variant in variants:
        for value in variant.get("optionValues") or []:
            used.setdefault(str(value.get("optionName")), set()).add(str(value.get("name")))
    merged: list[tuple[str, list[str]]] = [
        (str(o["name"]), [str(v["name"]) for v in o["values"]])
        for o in option_inputs(product, held.options)
    ]
    if not product.variants:  # an update that only removes: Shopify's options alone
        merged = held.options
    return [
        {"name": name, "values": [{"name": v} for v in values if v in used[name]]}
        for name, values in merged
        if name in used
    ]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _graphql_error(errors: Any, response: ApiResponse) -> Exception:
    items = errors if isinstance(errors, list) else [{"message": str(errors)}]
    first = items[0] if items and isinstance(items[0], dict) else {}
    extensions = _dict(first.get("extensions"))
    code = str(extensions.get("code") or "GRAPHQL_ERROR")
    messages = "; ".join(str(e.get("message")) for e in items[:3] if isinstance(e, dict))
    trace = f" [request id {response.request_id}]" if response.request_id else ""
    if code == "ACCESS_DENIED":
        needed = sorted(
            {
                scope
                for e in items
                if isinstance(e, dict)
                for scope in re.findall(
                    r"`([a-z_]+)`",
                    str(_dict(e.get("extensions")).get("requiredAccess") or e.get("message")),
                )
            }
        )
        if needed:
            names = " and ".join(needed)
            return ScopeError(
                nN_(
                    "The Shopify app lacks the {names} access scope this needs "
                    "(Shopify denied access: {messages}).{trace}",
                    "The Shopify app lacks the {names} access scopes this needs "
                    "(Shopify denied access: {messages}).{trace}",
                    len(needed),
                ).format(names=names, messages=messages, trace=trace),
                hint=N_(
                    "Add {names} to the app's Admin API access scopes (Shopify admin: Settings "
                    "→ Apps and sales channels → Develop apps → the app → Configuration), install "
                    "the app again and use its new access token; the README's Shopify section "
                    "lists every scope shopsync uses."
                ).format(names=names),
            )
        return ScopeError(
            N_("Shopify denied access: {messages}.{trace}").format(messages=messages, trace=trace),
            hint=N_("Grant the app the scopes in the README's Shopify section."),
        )
    return APIError(
        f"Shopify refused the request ({code}): {messages}{trace}",
        status=response.status,
        code=code,
        request_id=response.request_id,
    )


def _catalog_field(path: Any) -> str | None:
    """The catalog's field for a userError's input path (``["input","variants","0","price"]``)."""
    if not isinstance(path, list):
        return None
    for part in reversed([str(p) for p in path]):
        if part in _SHOPIFY_TO_CATALOG:
            return _SHOPIFY_TO_CATALOG[part]
    return None


def _errors_by_position(errors: list[dict[str, Any]]) -> dict[int | None, list[dict[str, Any]]]:
    found: dict[int | None, list[dict[str, Any]]] = {}
    for error in errors:
        field = error.get("field")
        path: list[Any] = field if isinstance(field, list) else []
        index = int(path[2]) if len(path) > 2 and str(path[2]).isdigit() else None
        found.setdefault(index, []).append(error)
    return found


def _bulk_result(payload: Mapping[str, Any], sku: str) -> ItemResult:
    """One line of a bulk operation's results as the item's result."""
    errors = payload.get("errors")
    if errors:
        first = errors[0] if isinstance(errors, list) and errors else {}
        return _failed(
            sku,
            ItemCode.INVALID,
            "GRAPHQL_ERROR",
            str(first.get("message") if isinstance(first, dict) else first),
            None,
            None,
        )
    return _set_result(payload, sku, None)


def _set_result(payload: Any, sku: str, response: ApiResponse | None) -> ItemResult:
    if not isinstance(payload, dict):
        return _failed(
            sku,
            ItemCode.ERROR,
            "NO_ANSWER",
            "Shopify answered nothing for this item",
            response,
            None,
        )
    errors = [e for e in payload.get("userErrors") or [] if isinstance(e, dict)]
    if errors:
        error = errors[0]
        code = str(error.get("code") or "USER_ERROR")
        message = "; ".join(str(e.get("message")) for e in errors[:3])
        return _failed(
            sku,
            _ITEM_CODES.get(code, ItemCode.INVALID),
            code,
            message,
            response,
            None,
            field=_catalog_field(error.get("field")),
        )
    product = _dict(payload.get("product"))
    return ItemResult(
        sku=sku,
        ok=True,
        product_id=str(product.get("id") or "") or None,
        http_status=response.status if response else None,
        request_id=response.request_id if response else None,
        item_code=ItemCode.OK,
    )


def _failed(
    sku: str,
    item_code: ItemCode,
    code: str,
    message: str,
    response: ApiResponse | None,
    key: str | None,
    *,
    field: str | None = None,
) -> ItemResult:
    return ItemResult(
        sku=sku,
        ok=False,
        code=code,
        message=message,
        field=field,
        http_status=response.status if response else None,
        request_id=response.request_id if response else None,
        idempotency_key=key,
        item_code=item_code,
    )


def _order_status(node: Mapping[str, Any]) -> str:
    if node.get("cancelledAt"):
        return "cancelled"
    financial = node.get("displayFinancialStatus")
    if financial in ("REFUNDED", "PARTIALLY_REFUNDED"):
        return "refunded"
    if node.get("displayFulfillmentStatus") == "FULFILLED":
        return "shipped"
    if financial == "PAID":
        return "paid"
    return "pending"


def _order(node: Mapping[str, Any]) -> RemoteOrder:
    total = ((node.get("totalPriceSet") or {}).get("shopMoney")) or {}
    lines = tuple(
        OrderLine(
            sku=str(line.get("sku") or ""),
            quantity=int(line.get("quantity") or 0),
            unit_price=money(
                ((line.get("originalUnitPriceSet") or {}).get("shopMoney") or {}).get("amount")
            ),
        )
        for line in ((node.get("lineItems") or {}).get("nodes") or [])
        if isinstance(line, dict)
    )
    customer = node.get("customer") or {}
    address = node.get("shippingAddress") or {}
    return RemoteOrder(
        order_id=str(node.get("id") or ""),
        status=_order_status(node),
        created_at=str(node.get("createdAt") or ""),
        updated_at=str(node.get("updatedAt") or ""),
        currency=str(total.get("currencyCode") or node.get("currencyCode") or ""),
        total=money(total.get("amount")),
        lines=lines,
        buyer_name=customer.get("displayName"),
        buyer_country=address.get("countryCodeV2"),
    )
