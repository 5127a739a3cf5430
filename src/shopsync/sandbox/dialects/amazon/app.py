"""The Amazon dialect's ASGI application, over the sandbox's shared core.

Every SP-API call is checked as Amazon checks it, in this order: the fault draw (reset /
5xx / slow / commit-then-drop, from the core), the ``x-amz-access-token`` header (a token
the sandbox's Login with Amazon endpoint issued, unexpired), the operation's usage plan
(one token bucket per operation, rates from the models; every answer carries
``x-amzn-RateLimit-Limit``, a refusal is 429 ``QuotaExceeded``), then the call. Refusals
are Amazon's ``{"errors": [{code, message, details}]}``.

Listings live in the core store, keyed by SKU (Amazon's listings are). A put or patch
answers ``ACCEPTED`` and is *queued*: it becomes what a get answers only
:attr:`AmazonApp.visibility_delay` seconds later, and a submission whose SKU is in
:attr:`AmazonApp.lose_skus` (or drawn by :attr:`AmazonApp.lose_rate`) is accepted and
never applied, as Amazon sellers see happen.
"""

from __future__ import annotations

import json
import logging
import random
import re
import secrets
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from shopsync.errors import UsageError
from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.amazon import (
    DEMO_MARKETPLACE_ID,
    DEMO_REFRESH_TOKEN,
    DEMO_SELLER_ID,
    TOKEN_PATH,
)
from shopsync.sandbox.ratelimit import TokenBucket
from shopsync.sandbox.store import ProductRow, Store, TokenInfo
from shopsync.sandbox.timefmt import parse_rfc3339, rfc3339
from shopsync.sandbox.wire import Reply

logger = logging.getLogger("shopsync.sandbox.amazon")

LISTINGS = "/listings/2021-08-01/items/"
ORDERS = "/orders/v0/orders"
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "getListingsItem": (5.0, 10),
    "deleteListingsItem": (5.0, 5),
    "searchListingsItems": (5.0, 5),
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "searchOrders": (0.0056, 20),
    "getOrder2026": (0.5, 30),
}
"""Rate (requests per second) and burst of each operation, from the models' usage plans."""
FEEDS = "/feeds/2021-06-30/"
DOCUMENT_STORE = "/_amazon-documents/"
"""Where feed documents are uploaded and read: the sandbox's stand-in for the presigned
S3 URLs Amazon hands out (no access token, no faults, on the same loopback server)."""
LISTINGS_FEED = "JSON_LISTINGS_FEED"
ORDERS_2026 = "/orders/2026-01-01/orders"
FULFILLMENT_STATUS = {
    "pending": "PENDING",
    "paid": "UNSHIPPED",
    "shipped": "SHIPPED",
    "delivered": "SHIPPED",
    "cancelled": "CANCELLED",
    "refunded": "CANCELLED",
}
"""The sandbox's order statuses as Orders 2026-01-01 ``fulfillmentStatus`` values."""
WRITES = frozenset({"putListingsItem", "patchListingsItem", "deleteListingsItem"})
MAX_SEARCH_IDENTIFIERS = 20
MAX_ORDERS_PAGE = 100
ORDER_STATUS = {
    "pending": "Pending",
    "paid": "Unshipped",
    "shipped": "Shipped",
    "delivered": "Shipped",
    "cancelled": "Canceled",
    "refunded": "Canceled",
}
SUPPRESSED_ISSUE: dict[str, Any] = {
    "code": "8541",
    "message": "The listing is not buyable: the detail page lacks required information.",
    "severity": "ERROR",
    "categories": ["MISSING_ATTRIBUTE"],
    "marketplaceIds": [DEMO_MARKETPLACE_ID],
}
"""The issue a suppressed listing (:attr:`AmazonApp.suppress_skus`) carries."""
PATCH_PATH = re.compile(r"^/attributes/([a-z0-9_]+)$")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("must be a number") from None


def _seconds(text: str) -> float:
    value = _number(text)
    if not value >= 0 or value == float("inf"):
        raise ValueError("must be a number of seconds, 0 or more")
    return value


def _fraction(text: str) -> float:
    value = _number(text)
    if not 0 <= value <= 1:
        raise ValueError("must be a fraction between 0 and 1")
    return value


def _scale(text: str) -> float:
    value = _number(text)
    if not value > 0 or value == float("inf"):
        raise ValueError("must be a positive number")
    return value


def _skus(text: str) -> set[str]:
    return {sku.strip() for sku in text.split(",") if sku.strip()}


KNOBS: dict[str, Callable[[str], Any]] = {
    "usage_scale": _scale,
    "visibility_delay": _seconds,
    "lose_skus": _skus,
    "lose_rate": _fraction,
    "suppress_skus": _skus,
    "feed_delay": _seconds,
}
"""The dialect's own options (``SandboxConfig.dialect_options``), each read from text."""


class AmazonError(Exception):
    """A refusal in Amazon's envelope."""

    def __init__(self, status: int, code: str, message: str, details: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def reply(self) -> Reply:
        """The ``ErrorList`` answer."""
        error = {"code": self.code, "message": self.message, "details": self.details}
        return Reply.json(self.status, {"errors": [error]})


def _issue(code: str, message: str, attribute: str | None, category: str) -> dict[str, Any]:
    issue: dict[str, Any] = {
        "code": code,
        "message": message,
        "severity": "ERROR",
        "categories": [category],
    }
    if attribute is not None:
        issue["attributeNames"] = [attribute]
    return issue


def _first_value(attributes: dict[str, Any], name: str) -> dict[str, Any]:
    values = attributes.get(name)
    if isinstance(values, list) and values and isinstance(values[0], dict):
        return values[0]
    return {}


def price_of(attributes: dict[str, Any]) -> str | None:
    """The list price in ``purchasable_offer[0].our_price[0].schedule[0].value_with_tax``."""
    offer = _first_value(attributes, "purchasable_offer")
    prices = offer.get("our_price")
    if not isinstance(prices, list) or not prices or not isinstance(prices[0], dict):
        return None
    schedule = prices[0].get("schedule")
    if not isinstance(schedule, list) or not schedule or not isinstance(schedule[0], dict):
        return None
    value = schedule[0].get("value_with_tax")
    try:
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    except InvalidOperation:
        return None


def quantity_of(attributes: dict[str, Any]) -> int | None:
    """``fulfillment_availability[0].quantity``."""
    quantity = _first_value(attributes, "fulfillment_availability").get("quantity")
    return quantity if isinstance(quantity, int) and not isinstance(quantity, bool) else None


class AmazonApp(DialectApp):
    """The ASGI application, with its store, buckets, fault injector and counters."""

    def __init__(self, config: SandboxConfig, store: Store | None = None) -> None:
        super().__init__(config, store)
        self.usage_scale = 1.0
        """Multiplies every usage plan's rate (tests of many calls raise it)."""
        self.visibility_delay = 0.0
        """Seconds between ACCEPTED and the listing being what a get answers."""
        self.lose_skus: set[str] = set()
        """SKUs whose accepted submissions are never applied."""
        self.lose_rate = 0.0
        """Fraction of accepted submissions never applied (seeded)."""
        self.lost_submissions = 0
        self.feed_delay = 0.0
        """Seconds from ``createFeed`` until the feed is processed (``DONE``)."""
        self.feeds: dict[str, dict[str, Any]] = {}
        """Feeds by id: status, document ids, times."""
        self.documents: dict[str, dict[str, Any]] = {}
        """Feed documents by id: content type and the bytes uploaded (or the report)."""
        self.suppress_skus: set[str] = set()
        """SKUs whose listings are applied but not buyable: their summaries have no
        ``BUYABLE`` status and their issues hold :data:`SUPPRESSED_ISSUE`, as a listing
        Amazon suppressed (missing or refused content) reads."""
        self._configure(config.dialect_options)
        self._rng = random.Random(config.seed)  # noqa: S311 - fault draws, not secrets
        self._buckets: dict[str, TokenBucket] = {}
        self._routes: dict[str, Callable[[Request, dict[str, str], Any], Any]] = {
            "putListingsItem": self._put,
            "patchListingsItem": self._patch,
            "getListingsItem": self._get,
            "deleteListingsItem": self._delete,
            "searchListingsItems": self._search,
            "getOrders": self._get_orders,
            "getOrder": self._get_order,
            "getOrderItems": self._get_order_items,
            "createFeedDocument": self._create_feed_document,
            "createFeed": self._create_feed,
            "getFeed": self._get_feed,
            "getFeedDocument": self._get_feed_document,
            "searchOrders": self._search_orders,
            "getOrder2026": self._get_order_2026,
        }

    def _configure(self, options: Mapping[str, str]) -> None:
        """The knobs above from ``SandboxConfig.dialect_options`` (``sandbox serve
        --dialect-option NAME=VALUE``)."""
        for name, text in options.items():
            if name not in KNOBS:
                raise UsageError(
                    f"The amazon sandbox has no option {name!r}.",
                    hint=f"Its options: {', '.join(sorted(KNOBS))}.",
                )
            try:
                value = KNOBS[name](text)
            except ValueError as error:
                raise UsageError(f"The amazon sandbox option {name}={text!r} {error}.") from None
            setattr(self, name, value)

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Faults, checks, the call, the stats."""
        if await self.served_by_core(scope, receive, send):
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        request_id = str(uuid.uuid4())
        if path.startswith(DOCUMENT_STORE):
            reply = await self._document_store(request, path[len(DOCUMENT_STORE) :])
            self.stats.request(
                f"{scope['method']} {DOCUMENT_STORE}", str(reply.status), write=False
            )
            await reply.response()(scope, receive, send)
            return
        if path == TOKEN_PATH:
            reply = await self._token(request)
            self.stats.request(f"POST {TOKEN_PATH}", str(reply.status), write=False)
            await reply.response()(scope, receive, self._with_headers(send, request_id, None))
            return
        operation, params = _route(scope["method"], path)
        label = f"{scope['method']} {path if operation is None else operation}"
        write = operation in WRITES
        await self.answer_with_faults(
            scope,
            receive,
            send,
            label=label,
            write=write,
            answer=lambda: self._answer(request, operation, params),
            fault_reply=lambda status: AmazonError(
                status, "InternalFailure", "An injected fault."
            ).reply(),
            fault_send=self._with_headers(send, request_id, None),
            reply_send=lambda: self._with_headers(
                send, request_id, self._rate(operation) if operation is not None else None
            ),
        )

    @staticmethod
    def _with_headers(send: Send, request_id: str, limit: float | None) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-amzn-requestid", request_id.encode())]
                if limit is not None:
                    headers.append((b"x-amzn-ratelimit-limit", f"{limit:g}".encode()))
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    def stats_snapshot(self) -> dict[str, Any]:
        """The core's counters, plus what the shop holds and what was lost on purpose."""
        snapshot = self.stats.snapshot()
        live, archived = self.store.product_counts()
        snapshot.update(
            products_stored=live,
            products_archived=archived,
            orders_stored=self.store.order_count(),
            lost_submissions=self.lost_submissions,
            feeds_created=len(self.feeds),
            in_flight=0,
            seed=self.config.seed,
        )
        return snapshot

    def reset(self) -> None:
        """Empty the shop and zero the counters and buckets (tokens stay valid)."""
        self.store.reset()
        self.stats.reset()
        self._buckets.clear()
        self.lost_submissions = 0
        self.feeds.clear()
        self.documents.clear()

    # -- checks --------------------------------------------------------------------------

    def _rate(self, operation: str) -> float:
        # The rate the operation's bucket really refills at (what Amazon's header reports).
        bucket = self._buckets.get(operation)
        return bucket.rate if bucket is not None else USAGE_PLANS[operation][0] * self.usage_scale

    async def _answer(
        self, request: Request, operation: str | None, params: dict[str, str]
    ) -> Reply:
        try:
            if operation is None:
                raise AmazonError(404, "NotFound", "The requested resource was not found.")
            self._check_token(request)
            bucket = self._buckets.get(operation)
            if bucket is None:
                rate, burst = USAGE_PLANS[operation]
                bucket = TokenBucket(rate * self.usage_scale, burst, self.config.clock)
                self._buckets[operation] = bucket
            if not bucket.acquire().allowed:
                self.stats.rate_limited()
                raise AmazonError(
                    429, "QuotaExceeded", "You exceeded your quota for the requested resource."
                )
            body = await self._body(request)
            with self.store.transaction():
                status, answer = self._routes[operation](request, params, body)
        except AmazonError as error:
            return error.reply()
        return Reply.json(status, answer)

    def _check_token(self, request: Request) -> None:
        token = request.headers.get("x-amz-access-token", "")
        info = self.store.token(token) if token else None
        if info is None or info.client_id != f"lwa:{self.config.client_id}":
            raise AmazonError(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided is revoked, malformed or invalid.",
            )
        if info.expires_at <= self.config.clock():
            raise AmazonError(
                403,
                "Unauthorized",
                "Access to requested resource is denied.",
                "The access token you provided has expired.",
            )

    async def _body(self, request: Request) -> Any:
        if request.method not in ("PUT", "PATCH", "POST"):
            return None
        raw = await request.body()
        try:
            return json.loads(raw or b"null", parse_float=Decimal)
        except ValueError:
            raise AmazonError(400, "InvalidInput", "The request body is not JSON.") from None

    def _marketplace(self, request: Request, name: str = "marketplaceIds") -> None:
        given = request.query_params.get(name, "")
        if not given:
            raise AmazonError(400, "InvalidInput", f"{name} is required.")
        if DEMO_MARKETPLACE_ID not in given.split(","):
            raise AmazonError(400, "InvalidInput", f"Invalid {name}: {given}.")

    def _seller(self, params: dict[str, str]) -> None:
        if params.get("sellerId") != DEMO_SELLER_ID:
            raise AmazonError(403, "Unauthorized", "Access to requested resource is denied.")

    # -- Login with Amazon ---------------------------------------------------------------

    async def _token(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json(405, {"error": "invalid_request"})
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8")).items()}
        if form.get("grant_type") != "refresh_token":
            return Reply.json(
                400, {"error": "unsupported_grant_type", "error_description": "Unknown grant."}
            )
        if (
            form.get("client_id") != self.config.client_id
            or form.get("client_secret") != self.config.client_secret
        ):
            return Reply.json(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed"},
            )
        if form.get("refresh_token") != DEMO_REFRESH_TOKEN:
            return Reply.json(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The request has an invalid grant parameter : "
                    "refresh_token",
                },
            )
        access = "Atza|" + secrets.token_urlsafe(24)
        expires = self.config.token_ttl
        self.store.save_token(
            access,
            TokenInfo(f"lwa:{self.config.client_id}", frozenset(), self.config.clock() + expires),
        )
        self.stats.token_issued()
        return Reply.json(
            200,
            {
                "access_token": access,
                "refresh_token": DEMO_REFRESH_TOKEN,
                "token_type": "bearer",
                "expires_in": int(expires),
            },
        )

    # -- listings ------------------------------------------------------------------------

    def _settle(self, row: ProductRow) -> bool:
        """Apply ``row``'s queued submission if its time has come; True if it changed."""
        pending = row.values.get("pending")
        if not isinstance(pending, dict) or pending["visible_at"] > self.config.clock():
            return False
        row.values.pop("pending")
        if pending.get("lost"):
            self.lost_submissions += 1
        else:
            attributes = pending["attributes"]
            row.values.update(
                attributes=attributes,
                productType=pending["productType"],
                live=True,
                price=price_of(attributes) or row.values.get("price") or "0.00",
                title=_first_value(attributes, "item_name").get("value"),
                stock=quantity_of(attributes) or 0,
            )
            row.updated_at = rfc3339(pending["accepted_at"])
            row.version += 1
        self.store.update_products([row])
        return True

    def _visible(self, sku: str) -> ProductRow | None:
        row = self.store.product(sku)
        if row is None:
            return None
        self._settle(row)
        return row if row.values.get("live") else None

    def _queue(self, sku: str, product_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
        now = self.config.clock()
        lost = sku in self.lose_skus or (self.lose_rate > 0 and self._rng.random() < self.lose_rate)
        pending = {
            "productType": product_type,
            "attributes": attributes,
            "visible_at": now + self.visibility_delay,
            "accepted_at": now,
            "lost": lost,
        }
        row = self.store.product(sku)
        if row is None:
            stamp = rfc3339(now)
            values = {"sku": sku, "stock": 0, "price": "0.00", "live": False, "pending": pending}
            self.store.insert_products([ProductRow(0, sku, 1, stamp, stamp, values)])
            row = self.store.product(sku)
            assert row is not None
        else:
            row.values["pending"] = pending
            self.store.update_products([row])
        self._settle(row)
        return {
            "sku": sku,
            "status": "ACCEPTED",
            "submissionId": uuid.uuid4().hex,
            "issues": [],
        }

    def _problems(self, product_type: str, attributes: dict[str, Any]) -> list[dict[str, Any]]:
        problems: list[dict[str, Any]] = []
        if not product_type:
            problems.append(
                _issue("4000001", "productType is required.", None, "INVALID_ATTRIBUTE")
            )
        for name, values in attributes.items():
            if not isinstance(values, list):
                problems.append(
                    _issue(
                        "90000900",
                        f"The attribute '{name}' must be an array of values.",
                        name,
                        "INVALID_ATTRIBUTE",
                    )
                )
        if "purchasable_offer" in attributes and price_of(attributes) is None:
            problems.append(
                _issue(
                    "90244",
                    "'purchasable_offer' needs our_price[0].schedule[0].value_with_tax.",
                    "purchasable_offer",
                    "INVALID_ATTRIBUTE",
                )
            )
        quantity = quantity_of(attributes)
        if "fulfillment_availability" in attributes and (quantity is None or quantity < 0):
            problems.append(
                _issue(
                    "90244",
                    "'fulfillment_availability' needs a quantity of 0 or more.",
                    "fulfillment_availability",
                    "INVALID_ATTRIBUTE",
                )
            )
        return problems

    def _invalid(self, sku: str, problems: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
        answer = {"sku": sku, "status": "INVALID", "submissionId": uuid.uuid4().hex}
        return 200, {**answer, "issues": problems}

    def _put(self, request: Request, params: dict[str, str], body: Any) -> Any:
        self._seller(params)
        self._marketplace(request)
        return self._put_listing(params["sku"], body)

    def _put_listing(self, sku: str, body: Any) -> tuple[int, dict[str, Any]]:
        """A put (or a feed's ``UPDATE`` message) of listing ``sku``: queued or INVALID."""
        if not isinstance(body, dict) or not isinstance(body.get("attributes"), dict):
            raise AmazonError(400, "InvalidInput", "The body needs productType and attributes.")
        if body.get("requirements", "LISTING") not in (
            "LISTING",
            "LISTING_PRODUCT_ONLY",
            "LISTING_OFFER_ONLY",
        ):
            raise AmazonError(400, "InvalidInput", "Invalid requirements.")
        product_type = str(body.get("productType") or "")
        attributes = _plain(body["attributes"])
        required = {
            "LISTING": ["item_name", "condition_type"],
            "LISTING_PRODUCT_ONLY": ["item_name"],
            "LISTING_OFFER_ONLY": ["condition_type"],
        }[str(body.get("requirements", "LISTING"))]
        if _first_value(attributes, "parentage_level").get("value") == "child":
            # A variation child names its parent and the theme it varies by.
            required += ["child_parent_sku_relationship", "variation_theme"]
        problems = self._problems(product_type, attributes)
        for name in required:
            if name not in attributes:
                problems.append(
                    _issue(
                        "90220",
                        f"'{name}' is required but not supplied.",
                        name,
                        "MISSING_ATTRIBUTE",
                    )
                )
        if problems:
            return self._invalid(sku, problems)
        return 200, self._queue(sku, product_type, attributes)

    def _patch(self, request: Request, params: dict[str, str], body: Any) -> Any:
        self._seller(params)
        self._marketplace(request)
        return self._patch_listing(params["sku"], body)

    def _patch_listing(self, sku: str, body: Any) -> tuple[int, dict[str, Any]]:
        """A patch (or a feed's ``PATCH`` message) of listing ``sku``: queued or INVALID."""
        if not isinstance(body, dict) or not isinstance(body.get("patches"), list):
            raise AmazonError(400, "InvalidInput", "The body needs productType and patches.")
        row = self.store.product(sku)
        if row is not None:
            self._settle(row)
        if row is None or not row.values.get("live"):
            raise AmazonError(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace.")
        pending = row.values.get("pending")
        base = dict(pending["attributes"]) if isinstance(pending, dict) else {}
        attributes = base or dict(row.values.get("attributes") or {})
        for patch in body["patches"]:
            match = (
                PATCH_PATH.match(str(patch.get("path", ""))) if isinstance(patch, dict) else None
            )
            if match is None or patch.get("op") not in ("add", "replace", "merge", "delete"):
                raise AmazonError(400, "InvalidInput", f"Invalid patch operation: {patch}.")
            name = match.group(1)
            if patch["op"] == "delete":
                attributes.pop(name, None)
            else:
                attributes[name] = _plain(patch.get("value"))
        product_type = str(body.get("productType") or "")
        problems = self._problems(product_type, attributes)
        if problems:
            return self._invalid(sku, problems)
        return 200, self._queue(sku, product_type, attributes)

    def _get(self, request: Request, params: dict[str, str], _body: Any) -> Any:
        self._seller(params)
        self._marketplace(request)
        row = self._visible(params["sku"])
        if row is None:
            raise AmazonError(404, "NOT_FOUND", f"SKU '{params['sku']}' not found in marketplace.")
        included = (request.query_params.get("includedData") or "summaries").split(",")
        return 200, _item(row, included, suppressed=row.sku in self.suppress_skus)

    def _delete(self, request: Request, params: dict[str, str], _body: Any) -> Any:
        self._seller(params)
        self._marketplace(request)
        sku = params["sku"]
        row = self.store.product(sku)
        if row is None:
            raise AmazonError(404, "NOT_FOUND", f"SKU '{sku}' not found in marketplace.")
        self.store.archive_product(sku, rfc3339(self.config.clock()))
        return 200, {"sku": sku, "status": "ACCEPTED", "submissionId": uuid.uuid4().hex}

    def _search(self, request: Request, params: dict[str, str], _body: Any) -> Any:
        self._seller(params)
        self._marketplace(request)
        query = request.query_params
        included = (query.get("includedData") or "summaries").split(",")
        identifiers = [i for i in (query.get("identifiers") or "").split(",") if i]
        if identifiers:
            if query.get("identifiersType") != "SKU":
                raise AmazonError(400, "InvalidInput", "identifiersType SKU is required here.")
            if len(identifiers) > MAX_SEARCH_IDENTIFIERS:
                raise AmazonError(400, "InvalidInput", "At most 20 identifiers.")
            rows = [r for r in (self._visible(sku) for sku in identifiers) if r is not None]
            return 200, {
                "numberOfResults": len(rows),
                "items": [_item(r, included, suppressed=r.sku in self.suppress_skus) for r in rows],
            }
        size = int(query.get("pageSize") or "10")
        if not 1 <= size <= MAX_SEARCH_IDENTIFIERS:
            raise AmazonError(400, "InvalidInput", "pageSize must be from 1 to 20.")
        after = int(query.get("pageToken") or "0")
        page = self.store.list_products(after, size)
        for row in page:
            self._settle(row)
        items = [
            _item(r, included, suppressed=r.sku in self.suppress_skus)
            for r in page
            if r.values.get("live")
        ]
        answer: dict[str, Any] = {"numberOfResults": len(items), "items": items}
        if len(page) == size:
            answer["pagination"] = {"nextToken": str(page[-1].id)}
        return 200, answer

    # -- feeds (Feeds 2021-06-30, JSON_LISTINGS_FEED) ----------------------------------

    async def _document_store(self, request: Request, document_id: str) -> Reply:
        document = self.documents.get(document_id)
        if document is None:
            return Reply.json(404, {"errors": [{"code": "NoSuchKey", "message": "No such key."}]})
        if request.method == "PUT":
            document["content"] = await request.body()
            return Reply(200, b"", "text/plain")
        if request.method == "GET" and document.get("content") is not None:
            return Reply(200, document["content"], document["contentType"])
        return Reply.json(404, {"errors": [{"code": "NoSuchKey", "message": "No content."}]})

    def _document_url(self, request: Request, document_id: str) -> str:
        return str(request.base_url).rstrip("/") + DOCUMENT_STORE + document_id

    def _create_feed_document(self, request: Request, _params: dict[str, str], body: Any) -> Any:
        if not isinstance(body, dict) or not isinstance(body.get("contentType"), str):
            raise AmazonError(400, "InvalidInput", "contentType is required.")
        document_id = "amzn1.tortuga.4.na." + uuid.uuid4().hex
        self.documents[document_id] = {"contentType": body["contentType"], "content": None}
        return 201, {"feedDocumentId": document_id, "url": self._document_url(request, document_id)}

    def _create_feed(self, _request: Request, _params: dict[str, str], body: Any) -> Any:
        if not isinstance(body, dict):
            raise AmazonError(400, "InvalidInput", "The body needs feedType and marketplaceIds.")
        if body.get("feedType") != LISTINGS_FEED:
            raise AmazonError(400, "InvalidInput", f"Unsupported feedType: {body.get('feedType')}.")
        if DEMO_MARKETPLACE_ID not in (body.get("marketplaceIds") or []):
            raise AmazonError(400, "InvalidInput", "Invalid marketplaceIds.")
        document = self.documents.get(str(body.get("inputFeedDocumentId")))
        if document is None or document.get("content") is None:
            raise AmazonError(400, "InvalidInput", "The input feed document was not uploaded.")
        feed_id = str(50_000_000_000 + len(self.feeds) + 1)
        now = self.config.clock()
        self.feeds[feed_id] = {
            "feedId": feed_id,
            "feedType": LISTINGS_FEED,
            "marketplaceIds": [DEMO_MARKETPLACE_ID],
            "createdTime": rfc3339(now),
            "processingStatus": "IN_QUEUE",
            "input": body["inputFeedDocumentId"],
            "done_at": now + self.feed_delay,
        }
        return 202, {"feedId": feed_id}

    def _get_feed(self, _request: Request, params: dict[str, str], _body: Any) -> Any:
        feed = self.feeds.get(params["feedId"])
        if feed is None:
            raise AmazonError(404, "NotFound", f"Feed {params['feedId']} was not found.")
        if feed["processingStatus"] == "IN_QUEUE" and self.config.clock() >= feed["done_at"]:
            self._process_feed(feed)
        return 200, {k: v for k, v in feed.items() if k not in ("input", "done_at")}

    def _get_feed_document(self, request: Request, params: dict[str, str], _body: Any) -> Any:
        document_id = params["feedDocumentId"]
        if document_id not in self.documents:
            raise AmazonError(404, "NotFound", f"Document {document_id} was not found.")
        return 200, {"feedDocumentId": document_id, "url": self._document_url(request, document_id)}

    def _process_feed(self, feed: dict[str, Any]) -> None:
        """Apply every message of the feed's document, as the listings calls would, and
        write its processing report (issues by ``messageId``)."""
        content = self.documents[feed["input"]]["content"]
        try:
            document = json.loads(content, parse_float=Decimal)
            messages = document["messages"]
            if not isinstance(messages, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            feed.update(processingStatus="FATAL", processingEndTime=rfc3339(self.config.clock()))
            return
        issues: list[dict[str, Any]] = []
        accepted = 0
        for message in messages:
            found = self._feed_message(message if isinstance(message, dict) else {})
            issues += found
            accepted += not any(i["severity"] == "ERROR" for i in found)
        errors = sum(1 for i in issues if i["severity"] == "ERROR")
        report = {
            "header": {"sellerId": DEMO_SELLER_ID, "version": "2.0", "feedId": feed["feedId"]},
            "issues": issues,
            "summary": {
                "errors": errors,
                "warnings": len(issues) - errors,
                "messagesProcessed": len(messages),
                "messagesAccepted": accepted,
                "messagesInvalid": len(messages) - accepted,
            },
        }
        report_id = "amzn1.tortuga.4.na." + uuid.uuid4().hex
        self.documents[report_id] = {
            "contentType": "application/json",
            "content": json.dumps(report).encode("utf-8"),
        }
        feed.update(
            processingStatus="DONE",
            processingStartTime=feed["createdTime"],
            processingEndTime=rfc3339(self.config.clock()),
            resultFeedDocumentId=report_id,
        )

    def _feed_message(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The issues of one feed message, applied as its listings call would be."""
        message_id = message.get("messageId")
        sku = message.get("sku")
        operation = message.get("operationType")

        def issue(code: str, text: str, attribute: str | None = None) -> dict[str, Any]:
            found: dict[str, Any] = {"messageId": message_id, "code": code}
            if isinstance(sku, str) and sku:
                found["sku"] = sku
            found.update(severity="ERROR", message=text)
            if attribute:
                found["attributeName"] = attribute
            return found

        if not isinstance(message_id, int) or not isinstance(sku, str) or not sku:
            return [issue("4000001", "messageId and sku are required.")]
        try:
            if operation == "UPDATE":
                _status, answer = self._put_listing(sku, message)
            elif operation == "PATCH":
                _status, answer = self._patch_listing(sku, message)
            elif operation == "DELETE":
                if self.store.product(sku) is not None:
                    self.store.archive_product(sku, rfc3339(self.config.clock()))
                return []
            else:
                return [issue("4000001", f"Unsupported operationType: {operation}.")]
        except AmazonError as error:
            return [issue(error.code, error.message)]
        return [
            issue(
                str(i["code"]),
                str(i["message"]),
                (i.get("attributeNames") or [None])[0],
            )
            for i in answer.get("issues") or []
            if i.get("severity") == "ERROR"
        ]

    # -- orders --------------------------------------------------------------------------

    def _get_orders(self, request: Request, _params: dict[str, str], _body: Any) -> Any:
        query = request.query_params
        self._marketplace(request, "MarketplaceIds")
        token = query.get("NextToken")
        if token:
            try:
                state = json.loads(token)
                since, after = state["since"], (state["after"][0], state["after"][1])
            except (ValueError, KeyError, TypeError, IndexError):
                raise AmazonError(400, "InvalidInput", "Invalid NextToken.") from None
        else:
            since_text = query.get("LastUpdatedAfter") or query.get("CreatedAfter")
            if not since_text:
                raise AmazonError(
                    400, "InvalidInput", "Either CreatedAfter or LastUpdatedAfter is required."
                )
            moment = parse_rfc3339(since_text)
            if moment is None:
                raise AmazonError(400, "InvalidInput", f"Invalid date: {since_text}.")
            since, after = rfc3339(moment.timestamp()), None
        size = int(query.get("MaxResultsPerPage") or str(MAX_ORDERS_PAGE))
        if not 1 <= size <= MAX_ORDERS_PAGE:
            raise AmazonError(400, "InvalidInput", "MaxResultsPerPage must be from 1 to 100.")
        wanted = set((query.get("OrderStatuses") or "").split(",")) - {""}
        orders = self.store.orders_page(
            updated_since=since, status=None, after=after, limit=size + 1
        )
        more = len(orders) > size
        orders = orders[:size]
        payload: dict[str, Any] = {
            "Orders": [_order(o) for o in orders if not wanted or _status(o) in wanted],
            "LastUpdatedBefore": rfc3339(self.config.clock()),
        }
        if more:
            last = orders[-1]
            payload["NextToken"] = json.dumps(
                {"since": since, "after": [last["updated_at"], last["order_id"]]}
            )
        return 200, {"payload": payload}

    def _search_orders(self, request: Request, _params: dict[str, str], _body: Any) -> Any:
        """``searchOrders`` (Orders 2026-01-01): each order with its items, one page."""
        query = request.query_params
        self._marketplace(request)
        token = query.get("paginationToken")
        if token:
            try:
                state = json.loads(token)
                since, after = state["since"], (state["after"][0], state["after"][1])
            except (ValueError, KeyError, TypeError, IndexError):
                raise AmazonError(400, "InvalidInput", "Invalid paginationToken.") from None
        else:
            given = [query.get(n) for n in ("createdAfter", "lastUpdatedAfter") if query.get(n)]
            if len(given) != 1:
                raise AmazonError(
                    400,
                    "InvalidInput",
                    "Exactly one of createdAfter and lastUpdatedAfter is required.",
                )
            moment = parse_rfc3339(str(given[0]))
            if moment is None:
                raise AmazonError(400, "InvalidInput", f"Invalid date: {given[0]}.")
            since, after = rfc3339(moment.timestamp()), None
        size = int(query.get("maxResultsPerPage") or str(MAX_ORDERS_PAGE))
        if not 1 <= size <= MAX_ORDERS_PAGE:
            raise AmazonError(400, "InvalidInput", "maxResultsPerPage must be from 1 to 100.")
        wanted = set((query.get("fulfillmentStatuses") or "").split(",")) - {""}
        included = set((query.get("includedData") or "").split(",")) - {""}
        orders = self.store.orders_page(
            updated_since=since, status=None, after=after, limit=size + 1
        )
        more = len(orders) > size
        orders = orders[:size]
        answer: dict[str, Any] = {
            "orders": [
                _order_2026(o, included)
                for o in orders
                if not wanted or FULFILLMENT_STATUS.get(str(o["status"]), "PENDING") in wanted
            ],
            "lastUpdatedBefore": rfc3339(self.config.clock()),
        }
        if more:
            last = orders[-1]
            answer["pagination"] = {
                "nextToken": json.dumps(
                    {"since": since, "after": [last["updated_at"], last["order_id"]]}
                )
            }
        return 200, answer

    def _get_order_2026(self, request: Request, params: dict[str, str], _body: Any) -> Any:
        included = set((request.query_params.get("includedData") or "").split(",")) - {""}
        return 200, {"order": _order_2026(self._order_row(params), included)}

    def _order_row(self, params: dict[str, str]) -> dict[str, Any]:
        order = self.store.order("ord_" + params["orderId"].rsplit("-", 1)[-1])
        if order is None:
            raise AmazonError(404, "NotFound", f"Order {params['orderId']} was not found.")
        return order

    def _get_order(self, _request: Request, params: dict[str, str], _body: Any) -> Any:
        return 200, {"payload": _order(self._order_row(params))}

    def _get_order_items(self, _request: Request, params: dict[str, str], _body: Any) -> Any:
        order = self._order_row(params)
        items = [
            {
                "ASIN": "B0" + format(abs(hash(line["sku"])) % 10**8, "08d"),
                "SellerSKU": line["sku"],
                "OrderItemId": f"{params['orderId']}-{index}",
                "QuantityOrdered": line["quantity"],
                "ItemPrice": {
                    "CurrencyCode": _currency(order),
                    "Amount": str(Decimal(line["unit_price"]) * line["quantity"]),
                },
            }
            for index, line in enumerate(order.get("lines") or [])
        ]
        return 200, {"payload": {"AmazonOrderId": _order_id(order), "OrderItems": items}}


def _route(method: str, path: str) -> tuple[str | None, dict[str, str]]:  # noqa: PLR0911 - a return per route
    if path.startswith(LISTINGS):
        parts = path[len(LISTINGS) :].split("/")
        if len(parts) == 1 and parts[0] and method == "GET":
            return "searchListingsItems", {"sellerId": parts[0]}
        if len(parts) == 2 and all(parts):
            operation = {
                "PUT": "putListingsItem",
                "PATCH": "patchListingsItem",
                "GET": "getListingsItem",
                "DELETE": "deleteListingsItem",
            }.get(method)
            return operation, {"sellerId": parts[0], "sku": _unquote(parts[1])}
    if path.startswith(FEEDS):
        return _feed_route(method, path[len(FEEDS) :].split("/"))
    if method == "GET" and path.startswith(ORDERS_2026):
        rest = path[len(ORDERS_2026) :]
        if not rest:
            return "searchOrders", {}
        if rest.startswith("/") and "/" not in rest[1:] and rest[1:]:
            return "getOrder2026", {"orderId": rest[1:]}
    if method == "GET" and path == ORDERS:
        return "getOrders", {}
    if method == "GET" and path.startswith(ORDERS + "/"):
        parts = path[len(ORDERS) + 1 :].split("/")
        if len(parts) == 1:
            return "getOrder", {"orderId": parts[0]}
        if len(parts) == 2 and parts[1] == "orderItems":
            return "getOrderItems", {"orderId": parts[0]}
    return None, {}


def _feed_route(method: str, parts: list[str]) -> tuple[str | None, dict[str, str]]:
    if method == "POST" and parts in (["documents"], ["feeds"]):
        return ("createFeedDocument" if parts[0] == "documents" else "createFeed"), {}
    if method == "GET" and len(parts) == 2 and parts[1]:
        if parts[0] == "feeds":
            return "getFeed", {"feedId": parts[1]}
        if parts[0] == "documents":
            return "getFeedDocument", {"feedDocumentId": parts[1]}
    return None, {}


def _unquote(text: str) -> str:
    from urllib.parse import unquote  # noqa: PLC0415

    return unquote(text)


def _plain(value: Any) -> Any:
    """JSON data with Decimals turned back into JSON numbers (ints where whole)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if "." not in str(value) else float(value)
    return value


def _item(row: ProductRow, included: list[str], *, suppressed: bool = False) -> dict[str, Any]:
    values = row.values
    attributes = values.get("attributes") or {}
    item: dict[str, Any] = {"sku": row.sku}
    if "summaries" in included:
        name = _first_value(attributes, "item_name").get("value")
        summary: dict[str, Any] = {
            "marketplaceId": DEMO_MARKETPLACE_ID,
            "productType": values.get("productType", ""),
            "status": [] if suppressed else ["BUYABLE", "DISCOVERABLE"],
            "createdDate": row.created_at,
            "lastUpdatedDate": row.updated_at,
        }
        if isinstance(name, str):
            summary["itemName"] = name
        item["summaries"] = [summary]
    if "attributes" in included:
        item["attributes"] = attributes
    if "issues" in included:
        item["issues"] = [SUPPRESSED_ISSUE] if suppressed else []
    if "offers" in included:
        price = price_of(attributes)
        item["offers"] = (
            []
            if price is None
            else [
                {
                    "marketplaceId": DEMO_MARKETPLACE_ID,
                    "offerType": "B2C",
                    "price": {"currencyCode": _offer_currency(attributes), "amount": price},
                }
            ]
        )
    if "fulfillmentAvailability" in included:
        item["fulfillmentAvailability"] = [
            {"fulfillmentChannelCode": "DEFAULT", "quantity": quantity_of(attributes) or 0}
        ]
    return item


def _offer_currency(attributes: dict[str, Any]) -> str:
    currency = _first_value(attributes, "purchasable_offer").get("currency")
    return str(currency) if currency else "USD"


def _currency(order: dict[str, Any]) -> str:
    return str(order.get("currency") or "USD")


def _order_id(order: dict[str, Any]) -> str:
    number = str(order["order_id"]).removeprefix("ord_")
    return f"111-{number[:7].rjust(7, '0')}-{number}"


def _status(order: dict[str, Any]) -> str:
    return ORDER_STATUS.get(str(order["status"]), "Pending")


def _order(order: dict[str, Any]) -> dict[str, Any]:
    buyer = order.get("buyer") or {}
    answer: dict[str, Any] = {
        "AmazonOrderId": _order_id(order),
        "PurchaseDate": order["created_at"],
        "LastUpdateDate": order["updated_at"],
        "OrderStatus": _status(order),
        "FulfillmentChannel": "MFN",
        "OrderTotal": {"CurrencyCode": _currency(order), "Amount": str(order.get("total", "0"))},
        "MarketplaceId": DEMO_MARKETPLACE_ID,
        "NumberOfItemsUnshipped": sum(int(line["quantity"]) for line in order.get("lines") or []),
    }
    if buyer.get("country"):
        answer["ShippingAddress"] = {
            "Name": str(buyer.get("name") or ""),
            "CountryCode": buyer["country"],
        }
    return answer


def _order_2026(order: dict[str, Any], included: set[str]) -> dict[str, Any]:
    """An order in the Orders 2026-01-01 shape, its items inline, with ``included`` data."""
    currency = _currency(order)
    answer: dict[str, Any] = {
        "orderId": _order_id(order),
        "createdTime": order["created_at"],
        "lastUpdatedTime": order["updated_at"],
        "salesChannel": {"channelName": "AMAZON", "marketplaceId": DEMO_MARKETPLACE_ID},
        "orderItems": [
            {
                "orderItemId": f"{_order_id(order)}-{index}",
                "quantityOrdered": int(line["quantity"]),
                "product": {
                    "sellerSku": line["sku"],
                    "price": {
                        "unitPrice": {"amount": str(line["unit_price"]), "currencyCode": currency}
                    },
                },
            }
            for index, line in enumerate(order.get("lines") or [])
        ],
    }
    buyer = order.get("buyer") or {}
    if "BUYER" in included and buyer.get("name"):
        answer["buyer"] = {"buyerName": str(buyer["name"])}
    if "RECIPIENT" in included and buyer.get("country"):
        answer["recipient"] = {
            "deliveryAddress": {
                "name": str(buyer.get("name") or ""),
                "countryCode": str(buyer["country"]),
            }
        }
    if "PROCEEDS" in included:
        answer["proceeds"] = {
            "grandTotal": {"amount": str(order.get("total", "0")), "currencyCode": currency}
        }
    if "FULFILLMENT" in included:
        answer["fulfillment"] = {
            "fulfillmentStatus": FULFILLMENT_STATUS.get(str(order["status"]), "PENDING")
        }
    return answer
