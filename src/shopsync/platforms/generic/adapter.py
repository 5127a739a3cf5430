"""The adapter for the generic platform API (``docs/platform-api.md``, v2).

A product with variants goes out as API v2 describes it (§2a): ``handle``, ``options``
and ``variants`` on create; on update only the variants that are new or changed, and
``remove_variants`` when the planner removes some. Single-variant products are sent as
v1 sent them, byte for byte.

Writes go to the batch endpoints with a content-derived ``Idempotency-Key``. The
contract promises that the platform honours keys, but a client cannot tell a platform
that keeps the promise from one that does not, so by default the adapter declares key
handling ``unknown``: an ambiguous failure (a timeout or reset after the request left)
is not retried blindly but raised, and the engine reconciles by looking the batch's
SKUs up (``GET /products?sku=``) before sending anything again.
``trust_idempotency_keys=True`` declares keys ``honoured``: the HTTP client then retries
with the same key and the platform replays its first answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from shopsync.config import CLIENT_CREDENTIALS_SETTINGS, Setting, Settings
from shopsync.domain.images import MIB, ImageLimits
from shopsync.domain.models import VARIANT_FIELDS, VARIANT_LEVEL_FIELDS, Product, Variant
from shopsync.errors import APIError
from shopsync.http.auth import ClientCredentials
from shopsync.http.client import ApiResponse, HttpClient
from shopsync.http.redact import redacting_logger
from shopsync.platforms.base import (
    AuthStatus,
    BatchResult,
    Capabilities,
    ClientBacked,
    ErrorScope,
    ItemCode,
    ItemResult,
    KeyHandling,
    OrderLine,
    ProductProblem,
    ProductUpdate,
    RemoteImage,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    default_error_scope,
    derive_idempotency_key,
)
from shopsync.platforms.generic.rules import json_schema, product_problems
from shopsync.platforms.generic.wire import client_from_settings

log = redacting_logger(__name__)

MAX_BATCH = 100
IMAGE_LIMITS = ImageLimits(max_bytes=20 * MIB, max_width=10_000, max_height=10_000)
"""What ``POST /media`` takes (docs/platform-api.md §3): JPEG, PNG, GIF, WebP."""
_SERVER_FIELDS = frozenset({"product_id", "created_at", "updated_at", "version"})

_KEY_HANDLING: dict[bool | None, KeyHandling] = {
    None: "unknown",
    True: "honoured",
    False: "ignored",
}

# The API's item error codes (platform-api.md §4), as the core knows them.
_ITEM_CODES: dict[str, ItemCode] = {
    "SKU_EXISTS": ItemCode.EXISTS,
    "HANDLE_EXISTS": ItemCode.EXISTS,
    "NOT_FOUND": ItemCode.NOT_FOUND,
    "SKU_NOT_FOUND": ItemCode.NOT_FOUND,
    "VALIDATION_ERROR": ItemCode.INVALID,
    "STOCK_NEGATIVE": ItemCode.INVALID,
    "STOCK_CONFLICT": ItemCode.CONFLICT,
}


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class GenericPlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for the generic API, over an HttpClient."""

    name = "generic"
    max_batch_size = MAX_BATCH
    settings: tuple[Setting, ...] = CLIENT_CREDENTIALS_SETTINGS
    """OAuth2 client credentials: the generic API's only way in."""
    image_limits: ImageLimits | None = IMAGE_LIMITS
    """What plan checks local images against, known without connecting."""
    capabilities = Capabilities(
        max_batch_size=MAX_BATCH,
        lookup_by_sku=True,
        variants=True,
        images=IMAGE_LIMITS,
        removal="archive",
    )
    """What any connection can do (a plan reads it without connecting); an instance
    declares the rest, with its key handling."""

    def __init__(
        self, client: HttpClient, *, namespace: str, trust_idempotency_keys: bool | None = None
    ) -> None:
        """``trust_idempotency_keys``: None (unknown, the default), True or False."""
        self.client = client
        self.namespace = namespace
        self.capabilities = Capabilities(
            max_batch_size=MAX_BATCH,
            idempotency_keys=_KEY_HANDLING[trust_idempotency_keys],
            lookup_by_sku=True,
            unique_skus=True,
            stock_set=True,
            stock_cas=True,
            stock_delta=True,
            removal="archive",
            images=IMAGE_LIMITS,
            variants=True,
        )

    @property
    def trust_idempotency_keys(self) -> bool:
        """Whether an ambiguous write is resent with the same key (keys ``honoured``)."""
        return self.capabilities.keys_guaranteed

    def error_scope(self, error: Exception) -> ErrorScope:
        """How far an error of this API reaches (the default rule: 4xx to a batch, ...)."""
        return default_error_scope(error)

    product_constraints = staticmethod(product_problems)
    """The generic API's rules (:mod:`shopsync.platforms.generic.rules`), known without
    connecting: ``validate`` and ``plan`` check them too."""

    product_schema = staticmethod(json_schema)
    """The model's JSON Schema with these rules added, for ``shopsync schema``."""

    def check_product(self, product: Product) -> list[ProductProblem]:
        """The generic API's rules that ``product`` breaks (platform-api.md §2): SKU
        pattern, text lengths, https images naming a host, counts, prices in cents."""
        return product_problems(product)

    def raw_code(self, code: ItemCode, operation: str) -> str | None:
        """This API's error code for ``code`` in ``operation`` (``products``, ``inventory``)."""
        if code is ItemCode.NOT_FOUND:
            return "SKU_NOT_FOUND" if operation == "inventory" else "NOT_FOUND"
        for raw, known in _ITEM_CODES.items():
            if known is code:
                return raw
        return None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        trust_idempotency_keys: bool | None = None,
        **client_options: Any,
    ) -> GenericPlatform:
        """The adapter for ``settings``; ``client_options`` go to :func:`client_from_settings`."""
        client = client_from_settings(settings, **client_options)
        return cls(
            client,
            namespace=f"{settings.profile}|{settings.base_url}",
            trust_idempotency_keys=trust_idempotency_keys,
        )

    # -- products ----------------------------------------------------------------------

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """``POST /products/batch``; see :meth:`Platform.write_products`."""
        if len(creates) + len(updates) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} items")
        if not creates and not updates:
            return BatchResult()
        # A create item is the product's API body, which the product keeps encoded (it
        # was encoded once to hash it): the request is put together from those texts.
        create_texts = [product.api_json for product in creates]
        update_bodies = [_update_body(update) for update in updates]
        update_text = json.dumps(update_bodies, ensure_ascii=False, separators=(",", ":"))
        skus = [p.sku for p in creates] + [u.sku for u in updates]
        text = '{"create":[' + ",".join(create_texts) + '],"update":' + update_text + "}"
        key = idempotency_key or derive_idempotency_key(
            self.namespace, "POST /products/batch", text
        )
        # Without keys known to be honoured, an ambiguous failure is raised
        # (AmbiguousWriteError), not resent: the engine reconciles by lookup.
        response = self.client.request(
            "POST",
            "/products/batch",
            json_text=text,
            idempotency_key=key,
            retry_ambiguous=self.trust_idempotency_keys,
        )
        answer = _dict(response.body)
        created = _results(answer.get("create"), len(creates), response, "create")
        updated = _results(answer.get("update"), len(updates), response, "update")
        # The platform's own sku is authoritative only if it answered one.
        fixed = [_with_sku(r, skus[n]) for n, r in enumerate(created)]
        upd = [_with_sku(r, u.sku) for r, u in zip(updated, updates, strict=True)]
        return BatchResult(created=fixed, updated=upd)

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """``GET /products?sku=...`` in chunks of 100."""
        found: dict[str, RemoteProduct] = {}
        unique = list(dict.fromkeys(skus))
        for chunk in _chunks(unique, MAX_BATCH):
            response = self.client.request("GET", "/products", params={"sku": ",".join(chunk)})
            for item in _dict(response.body).get("items") or []:
                product = _remote_product(item)
                if product is not None:
                    # Found by a variant's SKU (v2), the product is that SKU's.
                    matched = item.get("matched_variant")
                    found[matched if isinstance(matched, str) else product.sku] = product
        return found

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """``DELETE /products/{id}`` for each id: the generic API archives the product
        (platform-api.md §2); a 404 is :attr:`ItemCode.NOT_FOUND`."""
        results: list[ItemResult] = []
        for product_id in product_ids:
            try:
                self.client.request("DELETE", f"/products/{product_id}")
            except APIError as error:
                if error.status != 404:
                    raise
                results.append(
                    ItemResult(
                        product_id,
                        ok=False,
                        product_id=product_id,
                        code="NOT_FOUND",
                        message=error.message,
                        http_status=404,
                        item_code=ItemCode.NOT_FOUND,
                    )
                )
                continue
            results.append(ItemResult(product_id, ok=True, product_id=product_id))
        return results

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """``POST /media?filename=`` with the file as the body; see :meth:`Platform.upload_image`.

        The key is the content's: a resend after a lost answer replays the first upload,
        and the API answers one image for one content in any case.
        """
        key = derive_idempotency_key(self.namespace, "POST /media", content_hash)
        response = self.client.request(
            "POST",
            "/media",
            params={"filename": filename},
            content=content,
            content_type=content_type,
            idempotency_key=key,
        )
        answer = _dict(response.body)
        url, media_id = _str_or_none(answer.get("url")), _str_or_none(answer.get("media_id"))
        if url is None and media_id is None:
            raise APIError(
                "The platform answered an image upload without a URL or an id.",
                status=response.status,
            )
        return RemoteImage(url=url, image_id=media_id)

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """``GET /products?cursor=...`` until ``next_cursor`` is null."""
        for item in self._pages("/products", {"limit": str(min(page_size, MAX_BATCH))}):
            product = _remote_product(item)
            if product is not None:
                yield product

    def get_product(self, product_id: str) -> RemoteProduct | None:
        """``GET /products/{id}``, or None on 404."""
        try:
            response = self.client.request("GET", f"/products/{product_id}")
        except APIError as error:
            if error.status == 404:
                return None
            raise
        return _remote_product(response.body)

    # -- inventory ---------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """``POST /inventory/batch``; see :meth:`Platform.update_inventory`.

        Without keys known to be honoured, an ambiguous failure is raised
        (AmbiguousWriteError), not resent: the stock sync decides what is safe to repeat
        (a delta is not).
        """
        if len(changes) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} items")
        if not changes:
            return []
        body = {"updates": [change.to_api() for change in changes]}
        key = idempotency_key or derive_idempotency_key(
            self.namespace, "POST /inventory/batch", body
        )
        response = self.client.request(
            "POST",
            "/inventory/batch",
            json=body,
            idempotency_key=key,
            retry_ambiguous=self.trust_idempotency_keys,
        )
        results = _results(_dict(response.body).get("results"), len(changes), response, "results")
        return [_with_sku(r, c.sku) for r, c in zip(results, changes, strict=True)]

    # -- orders ------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``GET /orders`` page by page, oldest update first."""
        params = {"limit": str(min(page_size, MAX_BATCH))}
        if updated_since is not None:
            if updated_since.tzinfo is None:
                updated_since = updated_since.replace(tzinfo=timezone.utc)
            params["updated_since"] = updated_since.isoformat().replace("+00:00", "Z")
        if status:
            params["status"] = status
        for item in self._pages("/orders", params):
            yield _order(item)

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``GET /orders/{id}``, or None on 404."""
        try:
            response = self.client.request("GET", f"/orders/{order_id}")
        except APIError as error:
            if error.status == 404:
                return None
            raise
        return _order(_dict(response.body))

    # -- the rest ----------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """Fetch a new token and report its scopes; never exposes the token.

        A new one, not the cached one: the point is to prove the credentials work now.
        """
        token = self.client.token(fresh=True)
        credentials = self.client.credentials
        assert isinstance(credentials, ClientCredentials)
        return AuthStatus(
            token_url=credentials.token_url,
            client_id=credentials.client_id,
            granted_scopes=frozenset(token.scope.split()) if token.scope else None,
            expires_in=max(0.0, token.expires_at - credentials.now()),
        )

    def _pages(self, path: str, params: dict[str, str]) -> Iterator[Mapping[str, Any]]:
        cursor: str | None = None
        while True:
            query = dict(params)
            if cursor:
                query["cursor"] = cursor
            answer = _dict(self.client.request("GET", path, params=query).body)
            for item in answer.get("items") or []:
                if isinstance(item, dict):
                    yield item
            next_cursor = answer.get("next_cursor")
            if not next_cursor or next_cursor == cursor:
                return
            cursor = str(next_cursor)


def _update_body(update: ProductUpdate) -> dict[str, Any]:
    """The batch ``update`` item: v1's for a single-variant product; for one with
    variants, the variants the engine sends (new or changed ones) and the removals."""
    product = update.product
    body = update.to_api()
    if product.handle is None:
        return body
    for name in VARIANT_LEVEL_FIELDS:  # per variant in v2, never the product's own
        body.pop(name, None)
    fields = update.fields
    body.pop("variants", None)
    if (fields is None or "variants" in fields) and product.variants:
        # Only the variants the engine hands over (new or changed), and of a changed
        # one only its changed fields: the platform keeps the rest as it is.
        before = {str(v.get("sku")): v for v in update.variants_before}
        body["variants"] = [_variant_change(v, before.get(v.sku)) for v in product.variants]
    if fields is None or "options" in fields:
        body["options"] = list(product.options)
    if update.removed_variants:
        body["remove_variants"] = list(update.removed_variants)
    return body


def _variant_change(variant: Variant, before: Mapping[str, Any] | None) -> dict[str, Any]:
    """A new variant whole; a known one as its SKU and the fields that differ from
    ``before`` (``null`` for one the file no longer gives, which clears it)."""
    after = variant.model_dump(mode="json", exclude_none=True)
    if before is None:
        return after
    changed = {
        name: after.get(name)
        for name in VARIANT_FIELDS
        if name != "sku" and after.get(name) != before.get(name)
    }
    return {"sku": variant.sku, **changed}


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _results(raw: Any, expected: int, response: ApiResponse, name: str) -> list[ItemResult]:
    items = raw if isinstance(raw, list) else []
    if len(items) != expected:
        raise APIError(
            f"The platform answered {len(items)} {name} results for {expected} items; "
            "the batch's outcome cannot be matched to its items.",
            status=response.status,
            request_id=response.request_id,
        )
    return [_item_result(_dict(item), response) for item in items]


def _item_result(item: Mapping[str, Any], response: ApiResponse) -> ItemResult:
    ok = item.get("status") == "ok"
    error = _dict(item.get("error"))
    stock = item.get("stock")
    if stock is None:
        stock = error.get("current_stock", error.get("stock"))
    code = None if ok else _str_or_none(error.get("code")) or "UNKNOWN"
    return ItemResult(
        sku=str(item.get("sku", "")),
        ok=ok,
        product_id=_str_or_none(item.get("product_id") or error.get("product_id")),
        code=code,
        message=None if ok else _str_or_none(error.get("message")),
        field=None if ok else _str_or_none(error.get("field")),
        http_status=response.status,
        request_id=response.request_id,
        idempotency_key=response.idempotency_key,
        replayed=response.replayed,
        stock=stock if isinstance(stock, int) and not isinstance(stock, bool) else None,
        item_code=ItemCode.OK if code is None else _ITEM_CODES.get(code, ItemCode.REFUSED),
    )


def _with_sku(result: ItemResult, sku: str) -> ItemResult:
    return result if result.sku == sku else replace(result, sku=sku)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _remote_product(item: Any) -> RemoteProduct | None:
    if not isinstance(item, dict) or "product_id" not in item or "sku" not in item:
        return None
    version = item.get("version")
    return RemoteProduct(
        product_id=str(item["product_id"]),
        sku=str(item["sku"]),
        fields={k: v for k, v in item.items() if k not in _SERVER_FIELDS},
        version=version if isinstance(version, int) else None,
        updated_at=_str_or_none(item.get("updated_at")),
    )


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _order(item: Mapping[str, Any]) -> RemoteOrder:
    buyer = _dict(item.get("buyer"))
    lines = tuple(
        OrderLine(
            sku=str(line.get("sku", "")),
            quantity=int(line.get("quantity", 0)),
            unit_price=_decimal(line.get("unit_price", "0")),
        )
        for line in item.get("lines") or []
        if isinstance(line, dict)
    )
    return RemoteOrder(
        order_id=str(item.get("order_id", "")),
        status=str(item.get("status", "")),
        created_at=str(item.get("created_at", "")),
        updated_at=str(item.get("updated_at", "")),
        currency=str(item.get("currency", "")),
        total=_decimal(item.get("total", "0")),
        lines=lines,
        buyer_name=_str_or_none(buyer.get("name")),
        buyer_country=_str_or_none(buyer.get("country")),
    )
