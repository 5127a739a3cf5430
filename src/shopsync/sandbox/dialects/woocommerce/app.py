"""The WooCommerce dialect's ASGI application, over the sandbox's shared core.

Every request under ``/wp-json/wc/v3/`` goes, in this order, through: the fault draw
(reset / 5xx / slow / commit-then-drop, from the core); the host's WAF (WooCommerce has no
rate limit of its own: a host's firewall answers 429 with ``Retry-After`` and an HTML
page); the route; authentication as ``WC_REST_Authentication`` does it (HTTP Basic or
``consumer_key``/``consumer_secret`` in the query, or one-legged OAuth 1.0a in the query:
HMAC-SHA1 or HMAC-SHA256 with the key ``consumer_secret&``, a timestamp within 15 minutes,
a nonce used once); then the handler. Refusals are WordPress's ``{code, message, data:
{status}}`` with that status; a batch answers 200 with an ``error`` per refused item.

Products and variations share the core store's products table (both are posts in
WordPress, so their SKUs are unique across both and their ids come from one sequence);
``kind`` tells them apart. One WooCommerce failure is reproduced on demand: a create that
is applied and then answered as an error with ``id: 0`` (an image that failed to sideload
after the product was saved), at :attr:`WooCommerceApp.created_error_rate`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import random
import re
import secrets
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.woocommerce import (
    application_password_of,
    consumer_key_of,
    consumer_secret_of,
)
from shopsync.sandbox.ratelimit import RateLimiter
from shopsync.sandbox.store import ProductRow, Store
from shopsync.sandbox.wire import Reply

logger = logging.getLogger("shopsync.sandbox.woocommerce")


def _unavailable(status: int) -> Reply:
    """An injected fault as a web server in front of WordPress answers it: an HTML page."""
    reply = Reply(status, b"<html><body><h1>Service unavailable</h1></body></html>")
    reply.content_type = "text/html; charset=UTF-8"
    return reply


PREFIX = "/wp-json/wc/v3/"
MEDIA_PREFIX = "/wp-json/wp/v2/"
"""WordPress's own REST API: the media library, which consumer keys do not open (an
application password, HTTP Basic, does)."""
MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
TIMESTAMP_WINDOW = 15 * 60
"""Seconds an OAuth timestamp stays acceptable (authentication.md: "a 15 minute window")."""
MAX_PER_PAGE = 100
WAF_RETRY_AFTER = 1
WAF_PAGE = b"<html><head><title>429 Too Many Requests</title></head><body>Slow down</body></html>"
PRODUCT_TYPES = frozenset({"simple", "grouped", "external", "variable"})
POST_STATUSES = frozenset({"draft", "pending", "private", "publish"})
ORDER_STATUS = {
    "pending": "pending",
    "paid": "processing",
    "shipped": "completed",
    "delivered": "completed",
    "cancelled": "cancelled",
    "refunded": "refunded",
}
"""The core order generator's statuses as WooCommerce's (which has no "shipped")."""
IMAGE_ERROR = "woocommerce_product_image_upload_error"
_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = tuple(
    (method, re.compile(pattern), name)
    for method, pattern, name in (
        ("GET", r"products", "list_products"),
        ("POST", r"products", "create_product"),
        ("POST", r"products/batch", "batch_products"),
        ("GET", r"products/(?P<id>\d+)", "get_product"),
        ("PUT", r"products/(?P<id>\d+)", "update_product"),
        ("GET", r"products/(?P<parent>\d+)/variations", "list_variations"),
        ("POST", r"products/(?P<parent>\d+)/variations/batch", "batch_variations"),
        ("GET", r"orders", "list_orders"),
        ("GET", r"orders/(?P<id>\d+)", "get_order"),
    )
)
_MEDIA_ROUTES: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("GET", re.compile("media"), "list_media"),
    ("POST", re.compile("media"), "upload_media"),
)
_WRITES = frozenset(
    {"create_product", "batch_products", "update_product", "batch_variations", "upload_media"}
)


class WooError(Exception):
    """A refusal: WordPress's ``{code, message, data: {status}}``."""

    def __init__(self, code: str, message: str, status: int, **data: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.data = data

    def body(self) -> dict[str, Any]:
        """The error object, as the answer (or a batch item's ``error``) carries it."""
        return {"code": self.code, "message": self.message, "data": {"status": self.status}}


def _invalid(name: str, why: str) -> WooError:
    error = WooError("rest_invalid_param", f"Invalid parameter(s): {name}", 400)
    error.data = {"params": {name: why}}
    return error


def oauth_encode(text: str) -> str:
    """RFC 3986 percent-encoding, as RFC 5849 §3.6 asks (only unreserved characters stay)."""
    return quote(text, safe="~")


def oauth_signature(
    method: str, url: str, params: dict[str, str], secret: str, algorithm: str
) -> str:
    """The one-legged OAuth 1.0a signature of a request (RFC 5849 §3.4), keyed ``secret&``."""
    pairs = sorted(
        (oauth_encode(k), oauth_encode(v)) for k, v in params.items() if k != "oauth_signature"
    )
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), oauth_encode(url), oauth_encode(normalized)))
    digest = hashlib.sha256 if algorithm == "HMAC-SHA256" else hashlib.sha1
    mac = hmac.new((secret + "&").encode("utf-8"), base.encode("utf-8"), digest).digest()
    return base64.b64encode(mac).decode("ascii")


def _stamp(epoch: float) -> str:
    """WordPress's date-time: ``2017-03-23T17:01:14``, no zone (GMT, or the site's: UTC)."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _wp_date(rfc3339: str) -> str:
    return rfc3339.replace("Z", "").split(".")[0].split("+")[0]


def _price_text(value: Any, name: str) -> str:
    if not isinstance(value, str):
        raise _invalid(name, f"{name} is not of type string.")
    if value == "":
        return ""
    try:
        price = Decimal(value)
    except InvalidOperation:
        raise _invalid(name, f"{name} is not a number.") from None
    if not price.is_finite() or price < 0:
        raise _invalid(name, f"{name} must be a number of zero or more.")
    return value


class WooCommerceApp(DialectApp):
    """The ASGI application, with its store, WAF limiter, fault injector and counters."""

    def __init__(self, config: SandboxConfig, store: Store | None = None) -> None:
        super().__init__(config, store, unique_skus=True)
        self.limiter = RateLimiter(config.rate, config.burst)
        self.consumer_key = consumer_key_of(config)
        self.consumer_secret = consumer_secret_of(config)
        self.created_error_rate = 0.0
        """Fraction of creates applied and then answered ``{"id": 0, "error": ...}``."""
        self.created_errors = 0
        """Creates answered as errors so far."""
        self._created_error_rng = random.Random(f"{config.seed}:created-error")  # noqa: S311
        self.nonces: dict[str, float] = {}
        """OAuth nonces seen, with their timestamps (each may be used once)."""
        self.auth_schemes: dict[str, int] = {}
        """Requests authenticated, by scheme (``basic``, ``query``, ``oauth``), for tests."""
        self._handlers: dict[str, Callable[[Request, dict[str, str], Any], Reply]] = {
            "list_products": self._list_products,
            "create_product": self._create_product,
            "batch_products": self._batch_products,
            "get_product": self._get_product,
            "update_product": self._update_product,
            "list_variations": self._list_variations,
            "batch_variations": self._batch_variations,
            "list_orders": self._list_orders,
            "get_order": self._get_order,
            "list_media": self._list_media,
            "upload_media": self._upload_media,
        }
        self.media: dict[int, dict[str, Any]] = {}
        """The media library's attachments, by id (posts: ids from the products' sequence)."""
        self.wp_username, self.application_password = application_password_of(config)

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Faults, the WAF, the route, authentication, the handler, the stats."""
        if await self.served_by_core(scope, receive, send):
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        route = self._route(scope["method"], path)
        label = f"{scope['method']} {route[0] if route else PREFIX + '(unknown)'}"
        write = route is not None and route[1] in _WRITES
        await self.answer_with_faults(
            scope,
            receive,
            send,
            label=label,
            write=write,
            answer=lambda: self._answer(request, route),
            fault_reply=_unavailable,
            reply_send=lambda: self._with_request_id(send),
        )

    @staticmethod
    def _with_request_id(send: Send) -> Send:
        request_id = uuid.uuid4().hex

        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    @staticmethod
    def _route(method: str, path: str) -> tuple[str, str, dict[str, str]] | None:
        """``(the path as stats show it, handler name, path arguments)``, or None."""
        for prefix, routes in ((PREFIX, _ROUTES), (MEDIA_PREFIX, _MEDIA_ROUTES)):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix) :].rstrip("/")
            for verb, pattern, name in routes:
                match = pattern.fullmatch(rest)
                if match and verb == method:
                    return prefix + re.sub(r"\d+", "{id}", rest), name, match.groupdict()
        return None

    def stats_snapshot(self) -> dict[str, Any]:
        """The core's counters, plus what the shop holds and how requests authenticated."""
        snapshot = self.stats.snapshot()
        products = variations = 0
        for row in self._rows():
            if row.values.get("kind") == "variation":
                variations += 1
            else:
                products += 1
        snapshot.update(
            products_stored=products,
            variations_stored=variations,
            products_archived=self.store.product_counts()[1],
            orders_stored=self.store.order_count(),
            auth_schemes=dict(self.auth_schemes),
            created_errors=self.created_errors,
            in_flight=0,
            seed=self.config.seed,
        )
        return snapshot

    def reset(self) -> None:
        """Empty the shop and zero the counters and the WAF's buckets."""
        self.store.reset()
        self.stats.reset()
        self.limiter.reset()
        self.nonces.clear()
        self.auth_schemes.clear()
        self.media.clear()
        self.created_errors = 0

    # -- request handling ----------------------------------------------------------------

    async def _answer(
        self, request: Request, route: tuple[str, str, dict[str, str]] | None
    ) -> Reply:
        if not self.limiter.acquire(
            "waf:" + (request.client.host if request.client else "")
        ).allowed:
            self.stats.rate_limited()
            # A host's firewall, not WordPress: an HTML page, not WooCommerce's JSON.
            return Reply(
                429, WAF_PAGE, "text/html; charset=UTF-8", [("Retry-After", str(WAF_RETRY_AFTER))]
            )
        try:
            if route is None:
                raise WooError(
                    "rest_no_route", "No route was found matching the URL and request method.", 404
                )
            _shown, name, arguments = route
            body: Any = None
            if name in ("list_media", "upload_media"):
                self._authenticate_user(request)
                body = await request.body() if name == "upload_media" else None
                with self.store.transaction():
                    return self._handlers[name](request, arguments, body)
            self._authenticate(request, name)
            if request.method in ("POST", "PUT"):
                raw = await request.body()
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    raise WooError("rest_invalid_json", "Invalid JSON body passed.", 400) from None
                if not isinstance(body, dict):
                    raise WooError("rest_invalid_json", "Invalid JSON body passed.", 400)
            with self.store.transaction():
                return self._handlers[name](request, arguments, body)
        except WooError as error:
            out = error.body()
            out["data"].update(error.data)
            return Reply.json(error.status, out)

    def _authenticate(self, request: Request, name: str) -> None:
        query = dict(request.query_params)
        header = request.headers.get("authorization", "")
        if header.lower().startswith("basic "):
            try:
                key, _, secret = base64.b64decode(header[6:]).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                key = secret = ""
            self._check_key(key, secret, "basic")
        elif "consumer_key" in query:
            self._check_key(query["consumer_key"], query.get("consumer_secret", ""), "query")
        elif "oauth_consumer_key" in query:
            self._check_oauth(request, query)
        else:
            verb = {"GET": "view", "POST": "create", "PUT": "edit"}.get(request.method, "view")
            what = "list resources" if verb == "view" else f"{verb} resources"
            raise WooError(f"woocommerce_rest_cannot_{verb}", f"Sorry, you cannot {what}.", 401)
        del name

    def _check_key(self, key: str, secret: str, scheme: str) -> None:
        if not hmac.compare_digest(key, self.consumer_key):
            raise WooError("woocommerce_rest_authentication_error", "Consumer key is invalid.", 401)
        if not hmac.compare_digest(secret, self.consumer_secret):
            raise WooError(
                "woocommerce_rest_authentication_error", "Consumer secret is invalid.", 401
            )
        self.auth_schemes[scheme] = self.auth_schemes.get(scheme, 0) + 1

    def _check_oauth(self, request: Request, query: dict[str, str]) -> None:
        def refuse(message: str) -> WooError:
            return WooError("woocommerce_rest_authentication_error", message, 401)

        required = (
            "oauth_consumer_key",
            "oauth_timestamp",
            "oauth_nonce",
            "oauth_signature",
            "oauth_signature_method",
        )
        missing = [name for name in required if not query.get(name)]
        if missing:
            raise refuse(f"{missing[0]} parameter is missing.")
        if not hmac.compare_digest(query["oauth_consumer_key"], self.consumer_key):
            raise refuse("Consumer key is invalid.")
        method = query["oauth_signature_method"]
        if method not in ("HMAC-SHA1", "HMAC-SHA256"):
            raise refuse("Invalid signature - signature method is invalid.")
        url = f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}"
        expected = oauth_signature(request.method, url, query, self.consumer_secret, method)
        given = query["oauth_signature"].replace(" ", "+")
        if not hmac.compare_digest(expected, given):
            raise refuse("Invalid signature - provided signature does not match.")
        raw = query["oauth_timestamp"]
        now = self.config.clock()
        if not raw.isdigit() or abs(int(raw) - now) > TIMESTAMP_WINDOW:
            raise refuse("Invalid timestamp.")
        for nonce, seen in list(self.nonces.items()):
            if seen < now - TIMESTAMP_WINDOW:
                del self.nonces[nonce]
        nonce = query["oauth_nonce"]
        if nonce in self.nonces:
            raise refuse("Invalid nonce - nonce has already been used.")
        self.nonces[nonce] = float(raw)
        self.auth_schemes["oauth"] = self.auth_schemes.get("oauth", 0) + 1

    # -- products ------------------------------------------------------------------------

    def _rows(self) -> list[ProductRow]:
        rows: list[ProductRow] = []
        after = 0
        while True:
            page = self.store.list_products(after, 500)
            if not page:
                return rows
            rows.extend(page)
            after = page[-1].id

    def _next_id(self) -> int:
        # Products and variations are posts: one id sequence for both.
        return self.store.next_sequence("woocommerce_post") + 100

    def _values(  # noqa: PLR0912, PLR0915 - one check per documented property
        self, body: dict[str, Any], *, variation: bool
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        strings: tuple[str, ...] = ("description", "sku", "weight")
        if not variation:
            strings += ("name", "short_description", "slug")
        for name in strings:
            if name in body:
                if not isinstance(body[name], str):
                    raise _invalid(name, f"{name} is not of type string.")
                values[name] = body[name]
        if "name" in values:
            values["title"] = values["name"]  # the core store's name for it (stats, tests)
        for name in ("regular_price", "sale_price"):
            if name in body:
                values[name] = _price_text(body[name], name)
        if not variation and "type" in body:
            if body["type"] not in PRODUCT_TYPES:
                raise _invalid("type", "type is not one of simple, grouped, external, variable.")
            values["type"] = body["type"]
        if "status" in body:
            if body["status"] not in POST_STATUSES:
                raise _invalid("status", "status is not one of draft, pending, private, publish.")
            values["status"] = body["status"]
        if "manage_stock" in body:
            if not isinstance(body["manage_stock"], bool):
                raise _invalid("manage_stock", "manage_stock is not of type boolean.")
            values["manage_stock"] = body["manage_stock"]
        if "stock_quantity" in body:
            quantity = body["stock_quantity"]
            if quantity is not None and (
                isinstance(quantity, bool) or not isinstance(quantity, int)
            ):
                raise _invalid("stock_quantity", "stock_quantity is not of type integer.")
            values["stock"] = quantity or 0
        if "categories" in body:
            categories = body["categories"]
            if not isinstance(categories, list) or not all(
                isinstance(c, dict) and isinstance(c.get("id"), int) for c in categories
            ):
                raise _invalid("categories", "categories must be a list of {id}.")
            values["categories"] = [{"id": c["id"]} for c in categories]
        if "meta_data" in body:
            meta = body["meta_data"]
            if not isinstance(meta, list) or not all(
                isinstance(m, dict) and isinstance(m.get("key"), str) for m in meta
            ):
                raise _invalid("meta_data", "meta_data must be a list of {key, value}.")
            values["meta_data"] = [{"key": m["key"], "value": m.get("value")} for m in meta]
        if "attributes" in body:
            attributes = body["attributes"]
            if not isinstance(attributes, list) or not all(isinstance(a, dict) for a in attributes):
                raise _invalid("attributes", "attributes must be a list of objects.")
            values["attributes"] = attributes
        if variation and "image" in body:
            values["image"] = self._image(body["image"], "image")
        if not variation and "images" in body:
            images = body["images"]
            if not isinstance(images, list):
                raise _invalid("images", "images is not of type array.")
            values["images"] = [self._image(i, "images") for i in images]
        return values

    def _image(self, image: Any, name: str) -> dict[str, Any]:
        if not isinstance(image, dict) or not (
            isinstance(image.get("src"), str) or isinstance(image.get("id"), int)
        ):
            raise _invalid(name, f"{name} must be objects with a src URL or a media id.")
        src = image.get("src") or ""
        if src and not src.startswith(("http://", "https://")):
            raise WooError(IMAGE_ERROR, f"Error getting remote image {src}.", 400)
        if not src:
            media = self.media.get(int(image.get("id") or 0))
            if media is None:
                raise WooError(
                    "woocommerce_product_invalid_image_id",
                    f"#{image.get('id')} is an invalid image ID.",
                    400,
                )
            src = media["source_url"]
        return {
            "id": image.get("id") or self._next_id(),
            "src": src,
            "name": image.get("name", ""),
            "alt": image.get("alt", ""),
        }

    def _sku_taken(self, sku: str, own_id: str | None) -> bool:
        row = self.store.product_by_sku(sku)
        return row is not None and row.product_id != own_id

    def _insert(self, values: dict[str, Any], kind: str, parent: int = 0) -> ProductRow:
        sku = values.get("sku", "")
        if sku and self._sku_taken(sku, None):
            raise WooError("product_invalid_sku", "Invalid or duplicated SKU.", 400)
        product_id = str(self._next_id())
        stamp = _stamp(self.config.clock())
        stored = {
            "kind": kind,
            "parent_id": parent,
            "type": "simple" if kind == "product" else "variation",
            "status": "publish",
            "regular_price": "",
            "sale_price": "",
            "manage_stock": False,
            "stock": 0,
            **values,
        }
        # The core store keeps SKUs unique, and WooCommerce allows any number of empty ones.
        stored["sku"] = sku or f"\u0000{product_id}"
        stored["woo_sku"] = sku
        stored["price"] = stored["sale_price"] or stored["regular_price"] or "0"
        row = ProductRow(0, product_id, 1, stamp + "Z", stamp + "Z", stored)
        self.store.insert_products([row])
        if kind == "variation":
            self._relink(parent, add=int(product_id))
        return row

    def _relink(self, parent_id: int, *, add: int | None = None, drop: int | None = None) -> None:
        """Keep the parent's list of variation ids (WordPress's children of a post)."""
        parent = self.store.product(str(parent_id))
        if parent is None:
            return
        ids = [i for i in parent.values.get("variation_ids") or [] if i != drop]
        if add is not None:
            ids.append(add)
        parent.values["variation_ids"] = ids
        self.store.update_products([parent])

    def _variations_of(self, parent: ProductRow) -> list[ProductRow]:
        rows = (self.store.product(str(i)) for i in parent.values.get("variation_ids") or [])
        return [r for r in rows if r is not None and r.values.get("kind") == "variation"]

    def _apply(self, row: ProductRow, values: dict[str, Any]) -> ProductRow:
        sku = values.get("sku")
        if sku is not None:
            if sku and self._sku_taken(sku, row.product_id):
                raise WooError("product_invalid_sku", "Invalid or duplicated SKU.", 400)
            values["woo_sku"] = sku
            values["sku"] = sku or f"\u0000{row.product_id}"
        row.values.update(values)
        row.values["price"] = row.values.get("sale_price") or row.values.get("regular_price") or "0"
        row.version += 1
        row.updated_at = _stamp(self.config.clock()) + "Z"
        self.store.update_products([row])
        return row

    def _product_row(
        self, product_id: Any, *, kind: str = "product", parent: int = 0
    ) -> ProductRow:
        if isinstance(product_id, bool) or not isinstance(product_id, (int, str)):
            raise WooError(f"woocommerce_rest_{kind}_invalid_id", "Invalid ID.", 400)
        row = self.store.product(str(product_id))
        if (
            row is None
            or row.values.get("kind") != kind
            or (kind == "variation" and row.values.get("parent_id") != parent)
        ):
            raise WooError(f"woocommerce_rest_{kind}_invalid_id", "Invalid ID.", 400)
        return row

    def _created(self, row: ProductRow) -> dict[str, Any]:
        """A create's answer: the object, or (the injected fault) an error with id 0."""
        if (
            self.created_error_rate > 0
            and self._created_error_rng.random() < self.created_error_rate
        ):
            self.created_errors += 1
            src = (row.values.get("images") or [{}])[0].get("src") or "https://img.example/1.jpg"
            error = WooError(
                IMAGE_ERROR,
                f"Error getting remote image {src}. Error: cURL error 28: Operation timed out.",
                400,
            )
            return {"id": 0, "error": error.body()}
        return self._json(row)

    def _batch(  # noqa: PLR0912 - create, update and delete, each item on its own
        self, body: dict[str, Any], parent: ProductRow | None
    ) -> dict[str, Any]:
        lists = {name: body.get(name) or [] for name in ("create", "update", "delete")}
        for name, items in lists.items():
            if not isinstance(items, list):
                raise _invalid(name, f"{name} is not of type array.")
        total = sum(len(items) for items in lists.values())
        if total > self.config.max_batch:
            raise WooError(
                "woocommerce_rest_request_entity_too_large",
                f"Unable to accept more than {self.config.max_batch} items for this request.",
                413,
            )
        kind = "product" if parent is None else "variation"
        parent_id = 0 if parent is None else int(parent.product_id)
        out: dict[str, Any] = {}
        if lists["create"]:
            out["create"] = []
            for item in lists["create"]:
                try:
                    with self.store.savepoint():
                        if not isinstance(item, dict):
                            raise WooError(
                                "rest_invalid_param", "Invalid parameter(s): create", 400
                            )
                        row = self._insert(
                            self._values(item, variation=parent is not None), kind, parent_id
                        )
                    out["create"].append(self._created(row))
                except WooError as error:
                    out["create"].append({"id": 0, "error": error.body()})
        if lists["update"]:
            out["update"] = []
            for item in lists["update"]:
                given = item.get("id") if isinstance(item, dict) else None
                try:
                    with self.store.savepoint():
                        row = self._product_row(given, kind=kind, parent=parent_id)
                        assert isinstance(item, dict)
                        values = self._values(item, variation=parent is not None)
                        out["update"].append(self._json(self._apply(row, values)))
                except WooError as error:
                    out["update"].append({"id": given or 0, "error": error.body()})
        if lists["delete"]:
            out["delete"] = []
            for given in lists["delete"]:
                try:
                    row = self._product_row(given, kind=kind, parent=parent_id)
                    shown = self._json(row)
                    self.store.archive_product(row.product_id, _stamp(self.config.clock()) + "Z")
                    if parent is not None:
                        self._relink(parent_id, drop=int(row.product_id))
                    out["delete"].append(shown)
                except WooError as error:
                    out["delete"].append({"id": given or 0, "error": error.body()})
        return out

    def _batch_products(self, _request: Request, _args: dict[str, str], body: Any) -> Reply:
        return Reply.json(200, self._batch(body, None))

    def _batch_variations(self, _request: Request, args: dict[str, str], body: Any) -> Reply:
        parent = self._product_row(args["parent"])
        if parent.values.get("type") != "variable":
            raise WooError("woocommerce_rest_product_invalid_id", "Invalid ID.", 400)
        answer = self._batch(body, parent)
        return Reply.json(200, answer)

    def _create_product(self, _request: Request, _args: dict[str, str], body: Any) -> Reply:
        row = self._insert(self._values(body, variation=False), "product")
        return Reply.json(201, self._json(row))

    def _update_product(self, _request: Request, args: dict[str, str], body: Any) -> Reply:
        row = self._product_row(args["id"])
        return Reply.json(200, self._json(self._apply(row, self._values(body, variation=False))))

    def _get_product(self, _request: Request, args: dict[str, str], _body: Any) -> Reply:
        return Reply.json(200, self._json(self._product_row(args["id"])))

    def _list_products(self, request: Request, _args: dict[str, str], _body: Any) -> Reply:
        query = request.query_params
        sku = query.get("sku")
        if sku is not None:
            wanted = [s for s in sku.split(",") if s]
            # WooCommerce's products controller searches variations too when given a SKU
            # (post_type product and product_variation): a variation answers with its
            # parent_id, as a product object.
            rows = list(self.store.products_by_skus(wanted).values())
        else:
            rows = [r for r in self._rows() if r.values.get("kind") == "product"]
        since = query.get("modified_after")
        if since:
            rows = [r for r in rows if _wp_date(r.updated_at) > _wp_date(since)]
        rows.sort(key=lambda r: int(r.product_id), reverse=query.get("order", "desc") == "desc")
        return self._page(request, rows, self._product_json)

    def _list_variations(self, request: Request, args: dict[str, str], _body: Any) -> Reply:
        parent = self._product_row(args["parent"])
        rows = self._variations_of(parent)
        rows.sort(
            key=lambda r: int(r.product_id),
            reverse=request.query_params.get("order", "desc") == "desc",
        )
        return self._page(request, rows, self._json)

    def _page(
        self, request: Request, rows: list[Any], shape: Callable[[Any], dict[str, Any]]
    ) -> Reply:
        query = request.query_params
        try:
            page = int(query.get("page", "1"))
            per_page = int(query.get("per_page", "10"))
        except ValueError:
            raise _invalid("page", "page and per_page are integers.") from None
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise _invalid("per_page", f"per_page must be between 1 ({MAX_PER_PAGE} at most).")
        if page < 1:
            raise _invalid("page", "page must be greater than or equal to 1")
        total = len(rows)
        pages = math.ceil(total / per_page)
        if total and page > pages:
            raise WooError(
                "rest_post_invalid_page_number",
                "The page number requested is larger than the number of pages available.",
                400,
            )
        chosen = rows[(page - 1) * per_page : page * per_page]
        base = f"{request.url.scheme}://{request.headers.get('host', '')}{request.url.path}"
        kept = {
            k: v
            for k, v in query.items()
            if not k.startswith("oauth_") and k not in ("page", "consumer_key", "consumer_secret")
        }
        links = []
        if page > 1:
            links.append(f'<{base}?{urlencode({**kept, "page": page - 1})}>; rel="prev"')
        if page < pages:
            links.append(f'<{base}?{urlencode({**kept, "page": page + 1})}>; rel="next"')
        headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
        if links:
            headers.append(("Link", ", ".join(links)))
        return Reply.json(200, [shape(r) for r in chosen], headers)

    def _product_json(self, row: ProductRow) -> dict[str, Any]:
        """A row as the products endpoint shows it: a variation as a product object
        (type ``variation``, its parent's id and name)."""
        if row.values.get("kind") != "variation":
            return self._json(row)
        shown = self._json(row)
        shown.pop("image", None)
        parent = self.store.product(str(row.values.get("parent_id")))
        image = row.values.get("image")
        return {
            **shown,
            "name": "" if parent is None else parent.values.get("name", ""),
            "type": "variation",
            "parent_id": int(row.values.get("parent_id") or 0),
            "images": [image] if image else [],
            "variations": [],
        }

    def _json(self, row: ProductRow) -> dict[str, Any]:
        values = row.values
        created = _wp_date(row.created_at)
        modified = _wp_date(row.updated_at)
        manage = bool(values.get("manage_stock"))
        stock = values.get("stock", 0) if manage else None
        common: dict[str, Any] = {
            "id": int(row.product_id),
            "date_created": created,
            "date_created_gmt": created,
            "date_modified": modified,
            "date_modified_gmt": modified,
            "description": values.get("description", ""),
            "sku": values.get("woo_sku", ""),
            "price": values.get("sale_price") or values.get("regular_price") or "",
            "regular_price": values.get("regular_price", ""),
            "sale_price": values.get("sale_price", ""),
            "status": values.get("status", "publish"),
            "manage_stock": manage,
            "stock_quantity": stock,
            "stock_status": "outofstock" if manage and not stock else "instock",
            "weight": values.get("weight", ""),
            "attributes": values.get("attributes", []),
            "meta_data": values.get("meta_data", []),
        }
        if values.get("kind") == "variation":
            return {**common, "image": values.get("image"), "permalink": ""}
        variations = list(values.get("variation_ids") or [])
        return {
            **common,
            "name": values.get("name", "Product"),
            "slug": values.get("slug")
            or re.sub(r"[^a-z0-9]+", "-", values.get("name", "product").lower()).strip("-"),
            "permalink": f"https://shop.example/product/{row.product_id}/",
            "type": values.get("type", "simple"),
            "short_description": values.get("short_description", ""),
            "categories": values.get("categories", []),
            "images": values.get("images", []),
            "variations": variations,
            "parent_id": 0,
        }

    # -- the media library (WordPress's /wp/v2/media) -------------------------------------

    def _authenticate_user(self, request: Request) -> None:
        """An application password (WordPress 5.6+), HTTP Basic: a user, not a REST key."""
        header = request.headers.get("authorization", "")
        if not header.lower().startswith("basic "):
            raise WooError(
                "rest_cannot_create",
                "Sorry, you are not allowed to create posts as this user.",
                401,
            )
        try:
            user, _, password = base64.b64decode(header[6:]).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        if not hmac.compare_digest(user, self.wp_username):
            raise WooError("invalid_username", "Unknown username.", 401)
        # WordPress ignores the spaces it shows application passwords with.
        if not hmac.compare_digest(
            password.replace(" ", ""), self.application_password.replace(" ", "")
        ):
            raise WooError(
                "incorrect_password",
                "The provided password is an invalid application password.",
                401,
            )
        self.auth_schemes["application_password"] = (
            self.auth_schemes.get("application_password", 0) + 1
        )

    def _list_media(self, request: Request, _args: dict[str, str], _body: Any) -> Reply:
        slugs = {s for s in (request.query_params.get("slug") or "").split(",") if s}
        rows = [m for m in self.media.values() if not slugs or m["slug"] in slugs]
        rows.sort(
            key=lambda m: int(m["id"]), reverse=request.query_params.get("order", "desc") == "desc"
        )
        return self._page(request, rows, dict)

    def _upload_media(self, request: Request, _args: dict[str, str], body: Any) -> Reply:
        """A file as multipart/form-data (field ``file``) or as the raw body with a
        ``Content-Disposition`` naming it, as WordPress takes either."""
        content_type = request.headers.get("content-type", "")
        raw: bytes = body or b""
        filename = ""
        kind = content_type.split(";")[0].strip().lower()
        if kind == "multipart/form-data":
            filename, kind, raw = _multipart_file(content_type, raw)
        else:
            disposition = request.headers.get("content-disposition", "")
            match = re.search(r'filename="?([^";]+)"?', disposition)
            if not match:
                raise WooError(
                    "rest_upload_no_content_disposition", "No Content-Disposition supplied.", 400
                )
            filename = match.group(1)
        if not raw:
            raise WooError("rest_upload_no_data", "No data supplied.", 400)
        if kind not in MEDIA_TYPES:
            raise WooError(
                "rest_upload_sideload_error",
                "Sorry, you are not allowed to upload this file type.",
                500,
            )
        media_id = self._next_id()
        stem = re.sub(r"[^a-z0-9]+", "-", filename.rsplit(".", 1)[0].lower()).strip("-") or "image"
        slug = request.query_params.get("slug") or stem
        stamp = _stamp(self.config.clock())
        item = {
            "id": media_id,
            "date": stamp,
            "date_gmt": stamp,
            "slug": slug,
            "status": "inherit",
            "type": "attachment",
            "title": {"rendered": request.query_params.get("title") or stem},
            "media_type": "image",
            "mime_type": kind,
            "source_url": f"https://shop.example/wp-content/uploads/{media_id}/{filename}",
            "media_details": {"filesize": len(raw), "file": filename},
        }
        self.media[media_id] = item
        return Reply.json(201, item)

    # -- orders --------------------------------------------------------------------------

    def _list_orders(self, request: Request, _args: dict[str, str], _body: Any) -> Reply:
        query = request.query_params
        orders = self.store.orders_page(updated_since=None, status=None, after=None, limit=10**9)
        since = query.get("modified_after")
        if since:
            orders = [o for o in orders if _wp_date(o["updated_at"]) > _wp_date(since)]
        statuses = {s for s in (query.get("status") or "any").split(",") if s}
        if "any" not in statuses:
            orders = [o for o in orders if ORDER_STATUS.get(o["status"], "pending") in statuses]
        orderby = query.get("orderby", "date")
        if orderby not in ("id", "date"):
            raise _invalid("orderby", "orderby is not one of date, id, include, title, slug.")
        descending = query.get("order", "desc") == "desc"
        if orderby == "id":
            orders.sort(key=_order_number, reverse=descending)
        else:
            orders.sort(key=lambda o: (o["created_at"], _order_number(o)), reverse=descending)
        return self._page(request, orders, self._order_json)

    def _get_order(self, _request: Request, args: dict[str, str], _body: Any) -> Reply:
        order = self.store.order(f"ord_{int(args['id']):08d}")
        if order is None:
            raise WooError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", 404)
        return Reply.json(200, self._order_json(order))

    def _order_json(self, order: dict[str, Any]) -> dict[str, Any]:
        number = _order_number(order)
        buyer = order.get("buyer") or {}
        first, _, last = str(buyer.get("name") or "").partition(" ")
        skus = [line["sku"] for line in order.get("lines") or []]
        rows = self.store.products_by_skus(skus)
        lines = []
        for position, line in enumerate(order.get("lines") or [], start=1):
            row = rows.get(line["sku"])
            variation = row is not None and row.values.get("kind") == "variation"
            product_id = 0 if row is None else int(row.product_id)
            subtotal = Decimal(line["unit_price"]) * int(line["quantity"])
            lines.append(
                {
                    "id": number * 100 + position,
                    "name": line["sku"] if row is None else row.values.get("name", line["sku"]),
                    "product_id": int(row.values["parent_id"]) if variation and row else product_id,
                    "variation_id": product_id if variation else 0,
                    "quantity": int(line["quantity"]),
                    "tax_class": "",
                    "subtotal": f"{subtotal:.2f}",
                    "total": f"{subtotal:.2f}",
                    "sku": line["sku"],
                    "price": float(Decimal(line["unit_price"])),
                }
            )
        created = _wp_date(order["created_at"])
        modified = _wp_date(order["updated_at"])
        return {
            "id": number,
            "parent_id": 0,
            "number": str(number),
            "order_key": "wc_order_" + hashlib.sha256(order["order_id"].encode()).hexdigest()[:13],
            "created_via": "checkout",
            "status": ORDER_STATUS.get(order["status"], "pending"),
            "currency": order.get("currency", "CNY"),
            "date_created": created,
            "date_created_gmt": created,
            "date_modified": modified,
            "date_modified_gmt": modified,
            "total": order.get("total", "0.00"),
            "customer_id": 0,
            "billing": {
                "first_name": first,
                "last_name": last,
                "country": buyer.get("country", ""),
            },
            "line_items": lines,
            "meta_data": [],
        }


def _multipart_file(content_type: str, raw: bytes) -> tuple[str, str, bytes]:
    """``(filename, content type, bytes)`` of the ``file`` part of a multipart body."""
    match = re.search(r"boundary=\"?([^\";]+)\"?", content_type)
    if not match:
        raise WooError("rest_upload_no_data", "No data supplied.", 400)
    for part in raw.split(b"--" + match.group(1).encode("latin-1")):
        head, _, data = part.partition(b"\r\n\r\n")
        text = head.decode("utf-8", "replace")
        if 'name="file"' not in text:
            continue
        name = re.search(r'filename="([^"]*)"', text)
        kind = re.search(r"content-type:\s*([^\r\n;]+)", text, flags=re.IGNORECASE)
        return (
            name.group(1) if name else "",
            kind.group(1).strip().lower() if kind else "",
            data.removesuffix(b"\r\n"),
        )
    raise WooError("rest_upload_no_data", "No data supplied.", 400)


def _order_number(order: dict[str, Any]) -> int:
    return int(str(order["order_id"]).removeprefix("ord_"))


def new_nonce() -> str:
    """A nonce as a client would make one (for tests that sign by hand)."""
    return secrets.token_hex(16)
