"""The WooCommerce REST API v3 adapter (issue 19; specs/woocommerce/, platforms.md).

Mapping, one catalog product to one WooCommerce product (simple products: the variant
model of issue 13 is not on main yet, see the README's WooCommerce section; a variable
product's variations go to ``/products/{id}/variations/batch`` once it is):

| shopsync | WooCommerce |
|---|---|
| ``sku`` | ``sku`` (unique across products and variations; at most 100 characters) |
| ``title`` | ``name`` |
| ``description`` | ``description`` |
| ``price`` | ``regular_price`` (a decimal string) |
| ``stock`` | ``manage_stock: true`` and ``stock_quantity`` |
| ``weight_kg`` | ``weight`` (the shop's weight unit must be kg) |
| ``images`` | ``images: [{src}]`` (WooCommerce sideloads each URL into its media library) |
| ``category`` (a category id) | ``categories: [{id}]`` |
| ``brand``, ``attributes`` | ``attributes: [{name, options: [value], visible: true}]`` |
| ``barcode`` | ``meta_data: [{key: "_shopsync_barcode"}]`` |
| ``status`` | ``status``: ``publish`` or ``draft`` |

Writes go to ``POST /products/batch`` (creates and updates together, at most
:data:`MAX_BATCH` objects). A batch answers 200 with an ``error`` per refused item. Two of
those are not what they say: ``product_invalid_sku`` on a create usually means the SKU is
taken, so the SKU is looked up and the product answered ``EXISTS`` (the engine updates it);
and any other error on a create may come after WooCommerce saved the product (an image
that failed to sideload), so that SKU is looked up too and, if found, answered ``EXISTS``
as well: the engine then sends the file's content to it once more, never a second create.
A batch with creates is never resent blind (no idempotency keys): an answer lost is raised
as ambiguous, for the engine to reconcile by lookup.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from shopsync.config import Setting, Settings, int_between, parse_text
from shopsync.domain.models import Product
from shopsync.domain.timefmt import format_timestamp, parse_timestamp
from shopsync.errors import APIError, AuthError, UsageError
from shopsync.http.client import HttpClient
from shopsync.http.ratelimit import RateLimiter
from shopsync.http.redact import redacting_logger
from shopsync.http.retry import RetryPolicy, full_jitter
from shopsync.http.stats import ClientStats
from shopsync.http.transport import Transport
from shopsync.platforms.base import (
    AuthStatus,
    BatchResult,
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
)
from shopsync.platforms.woocommerce.auth import ConsumerKeyAuth
from shopsync.platforms.woocommerce.wire import WooCommerceWire

log = redacting_logger(__name__)

API = "/wp-json/wc/v3/"
MAX_BATCH = 100
"""Objects per batch request that WooCommerce accepts by default (a shop can raise it)."""
MAX_SKU = 100
"""Characters of a SKU (WooCommerce's product lookup table keeps 100)."""
PAGE = 100
INVALID_SKU = "product_invalid_sku"
NOT_FOUND = frozenset({"woocommerce_rest_product_invalid_id", "woocommerce_rest_invalid_id"})
BARCODE_KEY = "_shopsync_barcode"

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "consumer_key",
        parse_text,
        help="the REST API key's consumer key (ck_...)",
        required=True,
    ),
    Setting(
        "consumer_secret",
        parse_text,
        secret=True,
        help="the REST API key's consumer secret (cs_...)",
        required=True,
    ),
    Setting(
        "batch_limit",
        int_between(1, 1000),
        MAX_BATCH,
        help="objects the shop accepts per batch request (WooCommerce's default: 100)",
    ),
)


class WooCommercePlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for the WooCommerce REST API v3."""

    name = "woocommerce"
    max_batch_size = MAX_BATCH
    settings: tuple[Setting, ...] = SETTINGS

    def __init__(self, client: HttpClient, auth: ConsumerKeyAuth, *, batch_limit: int) -> None:
        self.client = client
        self.auth = auth
        self.max_batch_size = batch_limit
        self.capabilities = Capabilities(
            max_batch_size=batch_limit,
            idempotency_keys="ignored",
            lookup_by_sku=True,
            unique_skus=True,
            stock_set=True,
            stock_cas=False,
            stock_delta=False,
            variants=False,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        **_options: Any,
    ) -> WooCommercePlatform:
        """The adapter for ``settings`` (complete credentials); keywords are for tests."""
        settings.require_credentials()
        assert settings.base_url
        stats = ClientStats()
        auth = ConsumerKeyAuth(
            settings.base_url,
            str(settings.get("consumer_key")),
            str(settings.get("consumer_secret")),
            clock=wall_clock,
        )
        client = HttpClient(
            base_url=settings.base_url,
            wire=WooCommerceWire(),
            credentials=auth,
            limiter=RateLimiter(settings.rate, settings.burst, clock=clock, sleep=sleep),
            retry=RetryPolicy.from_settings(
                settings, stats=stats, clock=clock, sleep=sleep, jitter=jitter
            ),
            transport=Transport.from_settings(settings),
            timeout=settings.timeout,
            stats=stats,
            wall_clock=wall_clock,
        )
        return cls(client, auth, batch_limit=int(settings.get("batch_limit") or MAX_BATCH))

    def error_scope(self, error: Exception) -> ErrorScope:
        """The default rule: a 4xx to the batch (413: too many objects) is the batch's."""
        return default_error_scope(error)

    # -- products ------------------------------------------------------------------------

    def check_product(self, product: Product) -> list[tuple[str, str]]:
        """WooCommerce's rules a product breaks, as ``(field, message)``; empty if none.

        For plan time (issue 12's constraints seam), and checked again before a create.
        """
        problems: list[tuple[str, str]] = []
        if product.variants:
            # Until variable products are mapped: refused, never sent as a simple product.
            problems.append(("variants", "are not uploaded to WooCommerce by shopsync yet"))
            return problems
        if len(product.sku or "") > MAX_SKU:
            problems.append(("sku", f"must be at most {MAX_SKU} characters on WooCommerce"))
        if product.category and not product.category.strip().isdigit():
            problems.append(
                ("category", "must be a WooCommerce category id (a number, see Products > "
                 "Categories)")
            )  # fmt: skip
        return problems

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """One ``POST /products/batch`` with the creates and the updates (changed fields)."""
        created: list[ItemResult | None] = []
        sent: list[Product] = []
        body_creates: list[dict[str, Any]] = []
        for product in creates:
            problems = self.check_product(product)
            if problems:
                field, message = problems[0]
                created.append(_refused(product.sku, "invalid", f"{field} {message}", field))
                continue
            created.append(None)
            sent.append(product)
            body_creates.append(product_body(product, None))
        body_updates = [
            {"id": int(update.product_id), **product_body(update.product, update.fields)}
            for update in updates
        ]
        body: dict[str, Any] = {}
        if body_creates:
            body["create"] = body_creates
        if body_updates:
            body["update"] = body_updates
        answer: dict[str, Any] = {}
        if body:
            response = self.client.request(
                "POST", API + "products/batch", json=body, retry_ambiguous=not body_creates
            )
            answer = response.body if isinstance(response.body, dict) else {}
        created_answers = iter(self._create_results(sent, answer.get("create") or []))
        update_answers = answer.get("update") or []
        return BatchResult(
            created=[item if item is not None else next(created_answers) for item in created],
            updated=[
                _update_result(update, update_answers[i] if i < len(update_answers) else None)
                for i, update in enumerate(updates)
            ],
        )

    def _create_results(self, sent: Sequence[Product], answers: Sequence[Any]) -> list[ItemResult]:
        results: list[ItemResult] = []
        suspects: list[int] = []
        for position, product in enumerate(sent):
            item = answers[position] if position < len(answers) else None
            if isinstance(item, dict) and "error" not in item and item.get("id"):
                results.append(
                    ItemResult(
                        sku=product.sku, ok=True, product_id=str(item["id"]), item_code=ItemCode.OK
                    )
                )
                continue
            error = item.get("error") if isinstance(item, dict) else None
            code, message = _error_of(error, "WooCommerce answered no result for this item.")
            results.append(_refused(product.sku, code, message, None))
            suspects.append(position)
        if suspects:
            # A refused create may be taken (product_invalid_sku) or saved before the error
            # (an image that failed to sideload): what is on the platform says which.
            found = self.lookup_skus([sent[i].sku for i in suspects])
            for position in suspects:
                remote = found.get(sent[position].sku)
                if remote is None:
                    continue
                refused = results[position]
                log.info(
                    "create of %s answered %s, but WooCommerce holds it as product %s",
                    refused.sku,
                    refused.code,
                    remote.product_id,
                )
                results[position] = ItemResult(
                    sku=refused.sku,
                    ok=False,
                    product_id=remote.product_id,
                    code=refused.code,
                    message=refused.message,
                    reconciled=True,
                    item_code=ItemCode.EXISTS,
                )
        return results

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """Not served yet: ``capabilities.images`` is None, so a local image file is a row
        error at plan time ("takes image URLs only") and this is never reached."""
        raise UsageError("Uploading image files to WooCommerce is not supported yet; use URLs.")

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError("Removing products from WooCommerce is not supported yet.")

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """Products by SKU: ``GET /products?sku=`` for each (SKUs are unique)."""
        out: dict[str, RemoteProduct] = {}
        for sku in dict.fromkeys(skus):
            answer = self.client.request(
                "GET", API + "products", params={"sku": sku, "per_page": "1"}
            )
            for item in answer.body if isinstance(answer.body, list) else []:
                if isinstance(item, dict) and item.get("sku") == sku:
                    out[sku] = _remote(item)
        return out

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Every product, ``GET /products`` page by page, oldest id first."""
        for item in self._pages("products", {"orderby": "id", "order": "asc"}, page_size):
            yield _remote(item)

    def _pages(
        self, resource: str, params: Mapping[str, str], page_size: int
    ) -> Iterator[dict[str, Any]]:
        page = 1
        while True:
            query = {**params, "per_page": str(min(max(page_size, 1), PAGE)), "page": str(page)}
            answer = self.client.request("GET", API + resource, params=query)
            items = answer.body if isinstance(answer.body, list) else []
            yield from (item for item in items if isinstance(item, dict))
            pages = _int(
                answer.headers.get("X-WP-TotalPages") or answer.headers.get("x-wp-totalpages")
            )
            if not items or page >= pages:
                return
            page += 1

    # -- inventory -----------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """``stock_quantity`` set through ``POST /products/batch`` updates (no deltas, no
        compare-and-set: WooCommerce has neither)."""
        found = self.lookup_skus([c.sku for c in changes])
        results: list[ItemResult | None] = []
        updates: list[dict[str, Any]] = []
        for change in changes:
            remote = found.get(change.sku)
            if remote is None:
                results.append(
                    ItemResult(
                        sku=change.sku,
                        ok=False,
                        code="woocommerce_rest_product_invalid_id",
                        message=f"No WooCommerce product has SKU {change.sku}.",
                        item_code=ItemCode.NOT_FOUND,
                    )
                )
            elif change.stock is None or change.expected is not None:
                results.append(
                    _refused(
                        change.sku,
                        "unsupported",
                        "WooCommerce sets stock counts; it takes no deltas or expected counts.",
                        "stock",
                    )
                )
            else:
                results.append(None)
                updates.append(
                    {
                        "id": int(remote.product_id),
                        "manage_stock": True,
                        "stock_quantity": change.stock,
                    }
                )
        answers: list[Any] = []
        if updates:
            response = self.client.request("POST", API + "products/batch", json={"update": updates})
            body = response.body if isinstance(response.body, dict) else {}
            answers = list(body.get("update") or [])
        position = 0
        out: list[ItemResult] = []
        for change, result in zip(changes, results, strict=True):
            if result is not None:
                out.append(result)
                continue
            item = answers[position] if position < len(answers) else None
            sent = updates[position]
            position += 1
            if isinstance(item, dict) and "error" not in item:
                out.append(
                    ItemResult(
                        sku=change.sku,
                        ok=True,
                        product_id=str(sent["id"]),
                        stock=_int(item.get("stock_quantity"), int(sent["stock_quantity"])),
                        item_code=ItemCode.OK,
                    )
                )
                continue
            code, message = _error_of(
                item.get("error") if isinstance(item, dict) else None, "no result"
            )
            out.append(
                ItemResult(
                    sku=change.sku,
                    ok=False,
                    code=code,
                    message=message,
                    item_code=ItemCode.NOT_FOUND if code in NOT_FOUND else ItemCode.INVALID,
                    field="stock",
                )
            )
        return out

    # -- orders --------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``GET /orders?modified_after=…&dates_are_gmt=true`` by id (stable while orders
        change), then oldest update first."""
        params = {"orderby": "id", "order": "asc"}
        if updated_since is not None:
            moment = updated_since
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=timezone.utc)
            # WooCommerce compares whole seconds, and "after" is exclusive: a second back.
            params["modified_after"] = (
                moment.astimezone(timezone.utc).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%S")
            )
            params["dates_are_gmt"] = "true"
        if status:
            params["status"] = status
        orders = [_order(item) for item in self._pages("orders", params, page_size)]
        yield from sorted(orders, key=lambda o: (o.updated_at, int(o.order_id or 0)))

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``GET /orders/{id}``, or None."""
        if not order_id.isdigit():
            return None
        try:
            answer = self.client.request("GET", API + "orders/" + quote(order_id))
        except APIError as error:
            if error.status == 404:
                return None
            raise
        return _order(answer.body) if isinstance(answer.body, dict) else None

    # -- the rest ------------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """Read one product (the key works), then send an empty batch (it may write)."""
        self.client.request("GET", API + "products", params={"per_page": "1"})
        scopes = {"orders"}
        try:
            self.client.request("POST", API + "products/batch", json={"update": []})
            scopes |= {"products", "inventory"}
        except AuthError:
            pass  # a Read-only key: "The API key provided does not have write permissions."
        return AuthStatus(
            token_url=self.client.base_url + API.rstrip("/"),
            client_id=self.auth.consumer_key,
            granted_scopes=frozenset(scopes),
            expires_in=math.inf,
        )


def product_body(product: Product, fields: frozenset[str] | None) -> dict[str, Any]:
    """The WooCommerce product object for ``product``: every set field, or only ``fields``
    (shopsync's names) for an update."""
    wanted = set(product.model_fields_set | {"title", "price"}) if fields is None else set(fields)
    body: dict[str, Any] = {}
    if fields is None:
        body["sku"] = product.sku
        body["type"] = "simple"
    if "title" in wanted:
        body["name"] = product.title
    if "description" in wanted:
        body["description"] = product.description or ""
    if "price" in wanted:
        body["regular_price"] = str(product.price)
    if "stock" in wanted:
        body["manage_stock"] = True
        body["stock_quantity"] = product.stock
    if "weight_kg" in wanted:
        body["weight"] = "" if product.weight_kg is None else str(product.weight_kg)
    if "images" in wanted:
        body["images"] = [{"src": url} for url in product.images]
    if "category" in wanted and product.category and product.category.strip().isdigit():
        body["categories"] = [{"id": int(product.category)}]
    if "brand" in wanted or "attributes" in wanted:
        attributes = [{"name": "Brand", "options": [product.brand], "visible": True}]
        body["attributes"] = (attributes if product.brand else []) + [
            {"name": name, "options": [value], "visible": True}
            for name, value in product.attributes.items()
        ]
    if "barcode" in wanted:
        body["meta_data"] = [{"key": BARCODE_KEY, "value": product.barcode or ""}]
    if "status" in wanted:
        body["status"] = "publish" if product.status == "active" else "draft"
    return body


def _error_of(error: Any, default: str) -> tuple[str, str]:
    if isinstance(error, dict):
        return str(error.get("code") or "error"), str(error.get("message") or default)
    return "error", default


def _refused(sku: str, code: str, message: str, field: str | None) -> ItemResult:
    return ItemResult(
        sku=sku, ok=False, code=code, message=message, field=field, item_code=ItemCode.INVALID
    )


def _update_result(update: ProductUpdate, item: Any) -> ItemResult:
    if isinstance(item, dict) and "error" not in item:
        return ItemResult(
            sku=update.sku, ok=True, product_id=update.product_id, item_code=ItemCode.OK
        )
    code, message = _error_of(
        item.get("error") if isinstance(item, dict) else None,
        "WooCommerce answered no result for this item.",
    )
    return ItemResult(
        sku=update.sku,
        ok=False,
        product_id=update.product_id,
        code=code,
        message=message,
        item_code=ItemCode.NOT_FOUND if code in NOT_FOUND else ItemCode.INVALID,
    )


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value or 0))
    except InvalidOperation:
        return Decimal(0)


def _gmt(value: Any) -> str:
    """WordPress's GMT date-time (no zone) as RFC 3339 UTC, or ''."""
    if not isinstance(value, str) or not value:
        return ""
    moment = parse_timestamp(value if value.endswith("Z") or "+" in value else value + "Z")
    return "" if moment is None else format_timestamp(moment, digits=0)


def _remote(item: Mapping[str, Any]) -> RemoteProduct:
    fields: dict[str, Any] = {
        "title": item.get("name"),
        "price": str(_decimal(item.get("regular_price")).quantize(Decimal("0.01"))),
        "stock": item.get("stock_quantity") if item.get("manage_stock") else None,
        "description": item.get("description"),
    }
    return RemoteProduct(
        product_id=str(item.get("id")),
        sku=str(item.get("sku") or ""),
        fields=fields,
        updated_at=_gmt(item.get("date_modified_gmt")),
    )


def _order(item: Mapping[str, Any]) -> RemoteOrder:
    lines = tuple(
        OrderLine(
            sku=str(line.get("sku") or ""),
            quantity=_int(line.get("quantity")),
            unit_price=_decimal(line.get("price")).quantize(Decimal("0.01")),
        )
        for line in item.get("line_items") or []
        if isinstance(line, dict)
    )
    billing = item.get("billing") or {}
    name = " ".join(p for p in (billing.get("first_name"), billing.get("last_name")) if p)
    return RemoteOrder(
        order_id=str(item.get("id", "")),
        status=str(item.get("status", "")),
        created_at=_gmt(item.get("date_created_gmt")),
        updated_at=_gmt(item.get("date_modified_gmt")),
        currency=str(item.get("currency", "")),
        total=_decimal(item.get("total")).quantize(Decimal("0.01")),
        lines=lines,
        buyer_name=name or None,
        buyer_country=billing.get("country") or None,
    )


__all__ = ["SETTINGS", "WooCommercePlatform", "product_body"]
