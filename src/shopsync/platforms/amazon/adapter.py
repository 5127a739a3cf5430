"""The Amazon Selling Partner API adapter (issue 16; specs/amazon/, platforms.md "Amazon").

Mapping, one catalog product to one listing keyed by its SKU (Listings Items 2021-08-01;
attribute values are arrays of ``{value, marketplace_id, language_tag}``, as the product
type definitions shape them):

| shopsync | Amazon attribute |
|---|---|
| ``title`` | ``item_name`` |
| ``brand`` | ``brand`` |
| ``description`` | ``product_description`` |
| ``amazon:bullet_points`` (``|`` between points) | ``bullet_point`` (one value each) |
| ``price``, ``currency`` | ``purchasable_offer[0].our_price[0].schedule[0].value_with_tax`` |
| ``stock`` | ``fulfillment_availability[0].quantity`` (channel ``DEFAULT``) |
| ``barcode`` | ``externally_assigned_product_identifier`` (EAN-13, UPC-12, GTIN-14) |
| ``images`` (URLs) | ``main_product_image_locator``, ``other_product_image_locator_1..8`` |
| ``weight_kg`` | ``item_package_weight`` (kilograms) |
| ``amazon:product_type`` / setting ``product_type`` | ``productType`` |
| ``amazon:condition_type`` (default ``new_new``) | ``condition_type`` |
| any other ``amazon:NAME`` column | ``NAME`` (one value) |

A product with variants is a variation family: a parent listing under its handle
(``LISTING_PRODUCT_ONLY``: title, brand, description, images, bullet points;
``parentage_level`` ``parent``, ``variation_theme`` from ``amazon:variation_theme`` or the
options' names, ``Size`` and ``Color`` → ``SIZE/COLOR``) and a child listing per variant
(``parentage_level`` ``child``, ``child_parent_sku_relationship`` naming the parent, the
theme, each option as the attribute of its name in lower case, the variant's price,
quantity, barcode and weight, its image first, and the title with its option values).
An update puts the new or changed variants whole and patches the changed product-level
attributes into the parent and the other children.

A create is ``putListingsItem`` (an upsert by SKU), an update ``patchListingsItem`` with
``replace`` operations for the changed attributes only, a stock change a patch of
``fulfillment_availability``. A put or patch sets values, so resending one after a lost
answer is harmless: the client retries them, and the capabilities say keys are
``ignored`` (there are none), which makes the engine reconcile by lookup first.

``ACCEPTED`` means queued, not live: such a write answers :attr:`ItemCode.ACCEPTED`
(``async_writes``), and :meth:`AmazonPlatform.confirm_writes` reads the listings back
(``searchListingsItems``, 20 a call) and confirms those that are buyable with the price
and quantity sent; the rest are "accepted, not live", with Amazon's issue codes where it
names any. The engine holds accepted writes pending until then (``upload --verify``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import requests

from shopsync.config import Setting, Settings, int_between, parse_positive_float, parse_text
from shopsync.domain.images import is_url
from shopsync.domain.models import Product, Variant
from shopsync.errors import APIError, ConfigError, UsageError
from shopsync.http.auth import RefreshTokenGrant, TokenCache
from shopsync.http.client import ApiResponse, HttpClient
from shopsync.http.ratelimit import BucketSpec, RateBuckets, RateLimiter
from shopsync.http.redact import redacting_logger
from shopsync.http.retry import full_jitter
from shopsync.i18n import N_
from shopsync.platforms.amazon.feeds import (
    MAX_MESSAGES,
    POLL_SECONDS,
    FeedIssue,
    FeedJournal,
    FeedSender,
)
from shopsync.platforms.amazon.wire import USAGE_PLANS, AmazonWire
from shopsync.platforms.base import (
    AcceptedWrite,
    AuthStatus,
    BatchResult,
    Capabilities,
    ClientBacked,
    ErrorScope,
    ItemCode,
    ItemResult,
    OrderLine,
    ProductUpdate,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    default_error_scope,
)

log = redacting_logger(__name__)

LWA_TOKEN_URL = "https://api.amazon.com/auth/o2/token"  # noqa: S105 - a URL, not a secret
ENDPOINTS = {
    "na": "https://sellingpartnerapi-na.amazon.com",
    "eu": "https://sellingpartnerapi-eu.amazon.com",
    "fe": "https://sellingpartnerapi-fe.amazon.com",
}
LISTINGS = "/listings/2021-08-01/items/"
ORDERS = "/orders/v0/orders"
ORDERS_2026 = "/orders/2026-01-01/orders"
ORDERS_INCLUDED = "BUYER,RECIPIENT,PROCEEDS,FULFILLMENT"
ORDER_APIS = ("v0", "2026-01-01")
SEARCH_CHUNK = 20
"""``searchListingsItems`` takes at most 20 identifiers."""
ORDER_HISTORY = timedelta(days=90)
MAX_TITLE = 200
MAX_IMAGES = 9
MAX_BULLETS = 5
INCLUDED = "summaries,attributes,offers,fulfillmentAvailability"
VERIFY_INCLUDED = INCLUDED + ",issues"
BUYABLE = "BUYABLE"
PLATFORM = "amazon"
PACING_MARGIN = 0.97
"""Each operation's bucket runs at this share of its plan, one short of its burst: sent at
exactly the plan's rate, a request arriving a little early (network jitter) finds
Amazon's bucket empty and draws a 429, which halves the pace for a while (measured: 0.88
of the ceiling at the plan's rate with two 429s, benchmarks/amazon_upload.py)."""
FEED_THRESHOLD = 200
"""Listings in one batch from which a feed is used rather than one put or patch each:
at the put plan's 5 a second, 200 listings take 40 s one by one, while a feed is one
``createFeed`` (a burst of 15, then one every two minutes) and a few polls."""
DEFAULT_CONDITION = "new_new"

_FIELD_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "title": ("item_name",),
    "brand": ("brand",),
    "description": ("product_description",),
    "price": ("purchasable_offer",),
    "currency": ("purchasable_offer",),
    "stock": ("fulfillment_availability",),
    "barcode": ("externally_assigned_product_identifier",),
    "images": (
        "main_product_image_locator",
        *(f"other_product_image_locator_{n}" for n in range(1, MAX_IMAGES)),
    ),
    "weight_kg": ("item_package_weight",),
}
"""The attributes each catalog field is written to (what a patch of that field replaces)."""


_PARENT_FIELDS = ("title", "brand", "description", "images", "platform_fields")
"""What a parent listing carries: the family's content, no offer, stock or identifier."""
_NOT_ATTRIBUTES = frozenset({"product_type", "condition_type", "bullet_points", "variation_theme"})
"""``amazon:`` columns that are not written as attributes of their own name."""


def _option_attribute(option: str) -> str:
    """The attribute an option is written to: ``Size`` → ``size``, ``Color`` → ``color``."""
    return "_".join(option.lower().split())


def _orders_api(value: Any) -> str:
    text = parse_text(value)
    if text not in ORDER_APIS:
        raise ValueError("must be v0 or 2026-01-01")
    return text


def _region(value: Any) -> str:
    text = parse_text(value).lower()
    if text not in ENDPOINTS:
        raise ValueError("must be na, eu or fe")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "base_url",
        parse_text,
        help="the SP-API endpoint (default: the region's; set it for a sandbox or proxy)",
    ),
    Setting("token_url", parse_text, LWA_TOKEN_URL, help="Login with Amazon token endpoint"),
    Setting("client_id", parse_text, help="the LWA client id of the app", required=True),
    Setting("client_secret", parse_text, secret=True, help="the LWA client secret", required=True),
    Setting(
        "refresh_token",
        parse_text,
        secret=True,
        help="the refresh token the seller's authorisation gave (Atzr|...)",
        required=True,
    ),
    Setting("seller_id", parse_text, help="the seller (merchant token)", required=True),
    Setting(
        "marketplace_id", parse_text, help="the marketplace, e.g. ATVPDKIKX0DER", required=True
    ),
    Setting("region", _region, "na", help="na, eu or fe: which SP-API endpoint"),
    Setting("product_type", parse_text, help="product type of rows without amazon:product_type"),
    Setting(
        "orders_api",
        _orders_api,
        "v0",
        help="v0 (getOrders, then getOrderItems per order) or 2026-01-01 (searchOrders, "
        "items inline)",
    ),
    Setting(
        "feed_threshold",
        int_between(1, MAX_MESSAGES + 1),
        FEED_THRESHOLD,
        help="a batch of at least this many listings goes as one JSON_LISTINGS_FEED "
        f"(at most {MAX_MESSAGES}; {MAX_MESSAGES + 1}: never)",
    ),
    Setting(
        "feed_poll_seconds",
        parse_positive_float,
        POLL_SECONDS,
        help="seconds between two checks of a feed in flight",
    ),
    Setting(
        "feed_timeout",
        parse_positive_float,
        3600.0,
        help="seconds to wait for a feed's processing report (a later run polls it again)",
    ),
)


class AmazonAccessToken(requests.auth.AuthBase):
    """``x-amz-access-token: <token>``; the repr never shows the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["x-amz-access-token"] = self.token
        return r

    def __repr__(self) -> str:
        return "AmazonAccessToken(***)"


class LoginWithAmazon(RefreshTokenGrant):
    """LWA's refresh-token grant; the token travels in ``x-amz-access-token``, not Bearer."""

    def authorize(self) -> requests.auth.AuthBase:
        """The header with a token usable now."""
        return AmazonAccessToken(self.token().value)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """A new token in place of the one Amazon refused (single-flight)."""
        value = rejected.token if isinstance(rejected, AmazonAccessToken) else ""
        return AmazonAccessToken(self.refresh(value).value)


@dataclass(frozen=True)
class _Write:
    """One listing write: ``PUT`` (a whole listing), ``PATCH`` or ``DELETE`` of ``sku``."""

    sku: str
    method: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Unverified:
    """A listing Amazon accepted that does not (yet) hold what was sent."""

    sku: str
    reason: str


def endpoint_of(settings: Settings) -> str:
    """``base_url`` if set (a sandbox, a proxy), else the region's SP-API endpoint."""
    if settings.base_url:
        return settings.base_url
    return ENDPOINTS[str(settings.get("region") or "na")]


class AmazonPlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for the Selling Partner API."""

    name = PLATFORM
    max_batch_size = MAX_MESSAGES
    settings: tuple[Setting, ...] = SETTINGS
    capabilities = Capabilities(
        # A batch below feed_threshold is one put or patch per listing; at or above it,
        # one feed of up to MAX_MESSAGES messages.
        max_batch_size=MAX_MESSAGES,
        idempotency_keys="ignored",
        lookup_by_sku=True,
        unique_skus=True,
        stock_set=True,
        stock_cas=False,
        stock_delta=False,
        # A put or patch is ACCEPTED (queued); confirm_writes says when it is live.
        async_writes=True,
        # A product with variants is a variation family: a parent and a child per variant.
        variants=True,
    )

    def __init__(
        self,
        client: HttpClient,
        *,
        seller_id: str,
        marketplace_id: str,
        product_type: str | None = None,
        language_tag: str = "en_US",
        wall_clock: Callable[[], float] = time.time,
        feeds: FeedSender | None = None,
        feed_threshold: int = FEED_THRESHOLD,
        orders_api: str = "v0",
    ) -> None:
        self.client = client
        self.seller_id = seller_id
        self.marketplace_id = marketplace_id
        self.product_type = product_type
        self.language_tag = language_tag
        self.wall_clock = wall_clock
        self.feeds = feeds or FeedSender(
            client, seller_id=seller_id, marketplace_id=marketplace_id, journal=None
        )
        self.feed_threshold = feed_threshold
        self.orders_api = orders_api

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        disk_cache: bool = True,
        **_options: Any,
    ) -> AmazonPlatform:
        """The adapter for ``settings`` (complete credentials); keywords are for tests."""
        settings.require_credentials()
        buckets = RateBuckets(
            RateLimiter(settings.rate, settings.burst, clock=clock, sleep=sleep),
            {
                name: BucketSpec(rate * PACING_MARGIN, max(1, burst - 1))
                for name, (rate, burst) in USAGE_PLANS.items()
            },
            clock=clock,
            sleep=sleep,
        )
        client = HttpClient.from_settings(
            settings,
            AmazonWire(),
            base_url=endpoint_of(settings),
            limiter=buckets,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            jitter=jitter,
        )
        client.credentials = LoginWithAmazon(
            token_url=str(settings.get("token_url") or LWA_TOKEN_URL),
            client_id=str(settings.get("client_id")),
            client_secret=str(settings.get("client_secret")),
            refresh_token=str(settings.get("refresh_token")),
            request_token=client.request_token,
            cache=TokenCache(settings.token_cache_dir) if disk_cache else None,
            clock=wall_clock,
            stats=client.stats,
        )
        seller_id = str(settings.get("seller_id"))
        marketplace_id = str(settings.get("marketplace_id"))
        feeds = FeedSender(
            client,
            seller_id=seller_id,
            marketplace_id=marketplace_id,
            journal=FeedJournal(settings.data_dir / "amazon-feeds", wall_clock=wall_clock),
            timeout=float(settings.get("feed_timeout") or 3600.0),
            poll_seconds=float(settings.get("feed_poll_seconds") or POLL_SECONDS),
            clock=clock,
            sleep=sleep,
        )
        return cls(
            client,
            seller_id=seller_id,
            marketplace_id=marketplace_id,
            product_type=settings.get("product_type"),
            wall_clock=wall_clock,
            feeds=feeds,
            feed_threshold=int(settings.get("feed_threshold") or FEED_THRESHOLD),
            orders_api=str(settings.get("orders_api") or "v0"),
        )

    @classmethod
    def endpoint_of(cls, settings: Settings) -> str:
        """The SP-API endpoint of ``settings`` (``base_url``, else the region's): what
        names the ledger and the idempotency keys of a profile without a ``base_url``."""
        return endpoint_of(settings)

    def error_scope(self, error: Exception) -> ErrorScope:
        """The default rule: a 4xx to the request is about it, the rest about Amazon."""
        return default_error_scope(error)

    # -- mapping -------------------------------------------------------------------------

    def _value(self, value: Any, *, language: bool = True) -> list[dict[str, Any]]:
        entry: dict[str, Any] = {"value": value, "marketplace_id": self.marketplace_id}
        if language:
            entry["language_tag"] = self.language_tag
        return [entry]

    def product_type_of(self, product: Product) -> str | None:
        """The product's ``amazon:product_type``, else the ``product_type`` setting."""
        given = product.fields_for(PLATFORM).get("product_type")
        return str(given) if given else self.product_type

    def attributes(self, product: Product, fields: set[str] | None = None) -> dict[str, Any]:
        """The listing attributes of ``product`` (of ``fields`` only, if given)."""
        wanted = set(_FIELD_ATTRIBUTES) | {"platform_fields"} if fields is None else fields
        out: dict[str, Any] = {}
        if "title" in wanted:
            out["item_name"] = self._value(product.title)
        if "brand" in wanted and product.brand:
            out["brand"] = self._value(product.brand)
        if "description" in wanted and product.description:
            out["product_description"] = self._value(product.description)
        if wanted & {"price", "currency"}:
            out["purchasable_offer"] = [
                {
                    "currency": product.currency,
                    "marketplace_id": self.marketplace_id,
                    "our_price": [{"schedule": [{"value_with_tax": float(product.price)}]}],
                }
            ]
        if "stock" in wanted:
            out["fulfillment_availability"] = [
                {"fulfillment_channel_code": "DEFAULT", "quantity": product.stock}
            ]
        if "barcode" in wanted and product.barcode:
            kind = {12: "upc", 13: "ean", 14: "gtin"}.get(len(product.barcode), "ean")
            out["externally_assigned_product_identifier"] = [
                {"type": kind, "value": product.barcode, "marketplace_id": self.marketplace_id}
            ]
        if "images" in wanted and product.images:
            for index, url in enumerate(product.images[:MAX_IMAGES]):
                name = (
                    "main_product_image_locator"
                    if index == 0
                    else f"other_product_image_locator_{index}"
                )
                out[name] = [{"media_location": url, "marketplace_id": self.marketplace_id}]
        if "weight_kg" in wanted and product.weight_kg is not None:
            out["item_package_weight"] = [
                {"unit": "kilograms", "value": float(product.weight_kg),
                 "marketplace_id": self.marketplace_id}
            ]  # fmt: skip
        if "platform_fields" in wanted or fields is None:
            out.update(self._extra_attributes(product))
        return out

    def _extra_attributes(self, product: Product) -> dict[str, Any]:
        out: dict[str, Any] = {}
        extra = product.fields_for(PLATFORM)
        out["condition_type"] = [
            {"value": str(extra.get("condition_type") or DEFAULT_CONDITION),
             "marketplace_id": self.marketplace_id}
        ]  # fmt: skip
        bullets = str(extra.get("bullet_points") or "")
        points = [p.strip() for p in bullets.split("|") if p.strip()][:MAX_BULLETS]
        if points:
            out["bullet_point"] = [
                {"value": p, "marketplace_id": self.marketplace_id,
                 "language_tag": self.language_tag}
                for p in points
            ]  # fmt: skip
        for name, value in extra.items():
            if name in _NOT_ATTRIBUTES or value in (None, ""):
                continue
            out[name] = self._value(value)
        return out

    def check_product(self, product: Product) -> list[tuple[str, str]]:
        """Amazon's rules a product breaks, as ``(field, message)``; empty if none.

        For plan time, so they are row errors with file, line and column; checked again
        before a put.
        """
        problems: list[tuple[str, str]] = []
        if self.product_type_of(product) is None:
            problems.append(
                ("amazon:product_type", N_("is required on Amazon (or set product_type)"))
            )
        if len(product.title) > MAX_TITLE:
            problems.append(
                (
                    "title",
                    N_("must be at most {limit} characters on Amazon").format(limit=MAX_TITLE),
                )
            )
        if product.barcode and (
            not product.barcode.isdigit() or len(product.barcode) not in (12, 13, 14)
        ):
            problems.append(("barcode", N_("must be a UPC (12), EAN (13) or GTIN (14) of digits")))
        if len(product.images) > MAX_IMAGES:
            problems.append(
                ("images", N_("Amazon takes at most {limit} images").format(limit=MAX_IMAGES))
            )
        return problems

    # -- products ------------------------------------------------------------------------

    def _listing_path(self, sku: str) -> str:
        return LISTINGS + quote(self.seller_id, safe="") + "/" + quote(sku, safe="")

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """A put per create (and per full update), a patch per update of some fields (a
        product with variants: its parent and child listings); a batch of at least
        ``feed_threshold`` products as one ``JSON_LISTINGS_FEED`` of all those writes.

        ``idempotency_key`` (the engine's key of the batch) names a feed in the journal,
        so the batch resumed after a crash polls its feed instead of sending it again.
        """
        plans = [self._writes_of_create(p) for p in creates] + [
            self._writes_of_update(u) for u in updates
        ]
        items = [p.sku for p in creates] + [u.sku for u in updates]
        keys = [p.key for p in creates] + [u.product.key for u in updates]
        listings = sum(len(plan) for plan in plans if not isinstance(plan, ItemResult))
        if listings and len(plans) >= self.feed_threshold:
            results = self._send_feed(plans, idempotency_key)
        else:
            results = [
                plan if isinstance(plan, ItemResult) else [self._send_one(w) for w in plan]
                for plan in plans
            ]
        combined = [
            r if isinstance(r, ItemResult) else _combined(sku, key, r)
            for sku, key, r in zip(items, keys, results, strict=True)
        ]
        return BatchResult(created=combined[: len(creates)], updated=combined[len(creates) :])

    def _send_one(self, write: _Write) -> ItemResult:
        if write.method == "DELETE":
            return self._delete_listing(write.sku)
        operation = "putListingsItem" if write.method == "PUT" else "patchListingsItem"
        return self._submit(write.method, write.sku, write.body, operation)

    def _delete_listing(self, sku: str) -> ItemResult:
        try:
            self.client.request(
                "DELETE", self._listing_path(sku),
                params={"marketplaceIds": self.marketplace_id}, bucket="deleteListingsItem",
            )  # fmt: skip
        except APIError as error:
            if error.status != 404:
                raise
        return ItemResult(sku=sku, ok=True, product_id=sku, item_code=ItemCode.OK)

    def _send_feed(
        self, plans: Sequence[ItemResult | list[_Write]], key: str | None
    ) -> list[ItemResult | list[ItemResult]]:
        """Every listing write of ``plans`` as one feed; results regrouped per item."""
        messages: list[dict[str, Any]] = []
        for plan in plans:
            if isinstance(plan, ItemResult):
                continue
            for write in plan:
                operation = {"PUT": "UPDATE", "PATCH": "PATCH", "DELETE": "DELETE"}[write.method]
                messages.append(
                    {"messageId": len(messages) + 1, "sku": write.sku,
                     "operationType": operation, **write.body}
                )  # fmt: skip
        status, issues = self.feeds.send(messages, key=key)
        numbers = iter(range(1, len(messages) + 1))
        return [
            plan
            if isinstance(plan, ItemResult)
            else [_feed_result(w.sku, status, issues.get(next(numbers), [])) for w in plan]
            for plan in plans
        ]

    # -- what each item writes -----------------------------------------------------------

    def _writes_of_create(self, product: Product) -> ItemResult | list[_Write]:
        if product.variants:
            return self._family_writes(product)
        body = self._put_body(product)
        return body if isinstance(body, ItemResult) else [_Write(product.sku, *body)]

    def _writes_of_update(self, update: ProductUpdate) -> ItemResult | list[_Write]:
        product = update.product
        if product.variants:
            if update.fields is None:
                return self._family_writes(product)
            return self._family_update_writes(update)
        body = self._update_body(update)
        return body if isinstance(body, ItemResult) else [_Write(product.sku, *body)]

    # -- variation families ----------------------------------------------------------------

    def theme_of(self, product: Product) -> str:
        """The variation theme: ``amazon:variation_theme``, else the options' names in
        capitals joined by ``/`` (``Size`` and ``Color``: ``SIZE/COLOR``)."""
        given = product.fields_for(PLATFORM).get("variation_theme")
        return (
            str(given) if given else "/".join(_option_attribute(o).upper() for o in product.options)
        )

    def _parent_view(self, product: Product) -> Product:
        return product.model_copy(update={"sku": product.key, "variants": [], "options": []})

    def _child_view(self, product: Product, variant: Variant) -> Product:
        values = ", ".join(variant.option_values.get(o, "") for o in product.options)
        images = list(product.images)
        if variant.image and is_url(variant.image):
            images = [variant.image, *(i for i in images if i != variant.image)]
        return product.model_copy(
            update={
                "sku": variant.sku, "title": f"{product.title} ({values})"[:MAX_TITLE],
                "price": variant.price, "stock": variant.stock, "barcode": variant.barcode,
                "weight_kg": variant.weight_kg if variant.weight_kg is not None
                else product.weight_kg,
                "images": images[:MAX_IMAGES], "handle": None, "options": [], "variants": [],
            }
        )  # fmt: skip

    def _parent_attributes(
        self, product: Product, fields: set[str] | None = None
    ) -> dict[str, Any]:
        wanted = set(_PARENT_FIELDS) if fields is None else fields & set(_PARENT_FIELDS)
        out = self.attributes(self._parent_view(product), wanted)
        out.pop("condition_type", None)  # an offer's, and a parent has no offer
        if fields is None:
            out["parentage_level"] = self._value("parent", language=False)
            out["variation_theme"] = [{"name": self.theme_of(product)}]
        return out

    def _child_attributes(self, product: Product, variant: Variant) -> dict[str, Any]:
        out = self.attributes(self._child_view(product, variant))
        out["parentage_level"] = self._value("child", language=False)
        out["child_parent_sku_relationship"] = [
            {"child_relationship_type": "variation", "parent_sku": product.key,
             "marketplace_id": self.marketplace_id}
        ]  # fmt: skip
        out["variation_theme"] = [{"name": self.theme_of(product)}]
        for option in product.options:
            value = variant.option_values.get(option)
            if value:
                out[_option_attribute(option)] = self._value(value)
        return out

    def _family_problems(self, product: Product) -> ItemResult | None:
        problems = self.check_product(product)
        if problems:
            field, message = problems[0]
            return _refused(product.sku, "INVALID", f"{field} {message}", field)
        return None

    def _child_put(self, product: Product, variant: Variant) -> _Write:
        return _Write(variant.sku, "PUT", {
            "productType": self.product_type_of(product), "requirements": "LISTING",
            "attributes": self._child_attributes(product, variant),
        })  # fmt: skip

    def _family_writes(self, product: Product) -> ItemResult | list[_Write]:
        """A parent listing (``LISTING_PRODUCT_ONLY``) and a child listing per variant."""
        refused = self._family_problems(product)
        if refused is not None:
            return refused
        parent = _Write(product.key, "PUT", {
            "productType": self.product_type_of(product), "requirements": "LISTING_PRODUCT_ONLY",
            "attributes": self._parent_attributes(product),
        })  # fmt: skip
        return [parent, *(self._child_put(product, v) for v in product.variants)]

    def _family_update_writes(self, update: ProductUpdate) -> ItemResult | list[_Write]:
        """The parent patched with the changed product-level attributes; each new or
        changed variant put whole; every other known child patched with the changed
        product-level attributes it carries (its title, images...); removed ones deleted."""
        product = update.product
        refused = self._family_problems(product)
        if refused is not None:
            return refused
        fields = set(update.fields or ())
        shared = fields - {"variants"}
        product_type = self.product_type_of(product) or "PRODUCT"
        writes: list[_Write] = []
        parent = self._parent_attributes(product, shared)
        if parent:
            writes.append(_Write(product.key, "PATCH", {
                "productType": product_type,
                "patches": [{"op": "replace", "path": f"/attributes/{name}", "value": value}
                            for name, value in parent.items()],
            }))  # fmt: skip
        carried = product.variants if "variants" in fields else []
        writes += [self._child_put(product, v) for v in carried]
        if shared:
            sent = {v.sku for v in carried} | set(update.removed_variants)
            for before in update.variants_before:
                sku = str(before.get("sku"))
                known = next((v for v in product.variants if v.sku == sku), None)
                if sku in sent or known is None:
                    continue
                attributes = self.attributes(self._child_view(product, known), shared)
                attributes.pop("condition_type", None)
                if attributes:
                    writes.append(_Write(sku, "PATCH", {
                        "productType": product_type,
                        "patches": [{"op": "replace", "path": f"/attributes/{name}",
                                     "value": value} for name, value in attributes.items()],
                    }))  # fmt: skip
        writes += [_Write(sku, "DELETE", {}) for sku in update.removed_variants]
        return writes

    def _put_body(self, product: Product) -> ItemResult | tuple[str, dict[str, Any]]:
        """``("PUT", body)`` of a listing, or the refusal of a product Amazon would refuse."""
        problems = self.check_product(product)
        if problems:
            field, message = problems[0]
            return _refused(product.sku, "INVALID", f"{field} {message}", field)
        return "PUT", {
            "productType": self.product_type_of(product),
            "requirements": "LISTING",
            "attributes": self.attributes(product),
        }

    def _update_body(self, update: ProductUpdate) -> ItemResult | tuple[str, dict[str, Any]]:
        """``("PATCH", body)`` of the changed attributes (a put for a full update), or the
        result of an update with nothing to send."""
        if update.fields is None:
            return self._put_body(update.product)
        product = update.product
        attributes = self.attributes(product, set(update.fields))
        patches: list[dict[str, Any]] = [
            {"op": "replace", "path": f"/attributes/{name}", "value": value}
            for name, value in attributes.items()
        ]
        # A field emptied in the file removes what Amazon holds for it.
        for field in sorted(update.fields):
            for name in _FIELD_ATTRIBUTES.get(field, ()):
                if name not in attributes and not (field == "images" and product.images):
                    patches.append({"op": "delete", "path": f"/attributes/{name}"})
        if not patches:
            return ItemResult(
                sku=product.sku, ok=True, product_id=product.sku, item_code=ItemCode.OK
            )
        return "PATCH", {
            "productType": self.product_type_of(product) or "PRODUCT",
            "patches": patches,
        }

    def _submit(self, method: str, sku: str, body: Mapping[str, Any], operation: str) -> ItemResult:
        try:
            response = self.client.request(
                method,
                self._listing_path(sku),
                params={"marketplaceIds": self.marketplace_id},
                json=dict(body),
                bucket=operation,
            )
        except APIError as error:
            if error.status == 404:
                return ItemResult(
                    sku=sku, ok=False, code=error.code or "NOT_FOUND", message=error.message,
                    http_status=error.status, request_id=error.request_id,
                    item_code=ItemCode.NOT_FOUND,
                )  # fmt: skip
            if error.status == 400:
                return ItemResult(
                    sku=sku, ok=False, code=error.code, message=error.message,
                    http_status=error.status, request_id=error.request_id,
                    item_code=ItemCode.INVALID,
                )  # fmt: skip
            raise
        return _submission_result(sku, response)

    def verify(self, products: Sequence[Product]) -> list[Unverified]:
        """The accepted listings that are not live with the price and quantity sent (yet)."""
        results = self.confirm_writes([AcceptedWrite(p) for p in products])
        return [Unverified(r.sku, r.message or "") for r in results if not r.ok]

    def confirm_writes(self, writes: Sequence[AcceptedWrite]) -> list[ItemResult]:
        """Each accepted write read back: ok if the listing is buyable and holds the price
        and quantity sent (those of the fields sent, for a patch); else
        :attr:`ItemCode.ACCEPTED`, "accepted, not live", with the reason and Amazon's
        issue codes (``code``: the first error's code, else ``NOT_LIVE``)."""
        checks = [self._checks_of(write) for write in writes]
        skus = [check.product.sku for group in checks for check in group]
        found = self._search_items(skus, VERIFY_INCLUDED)
        return [
            _combined(
                write.product.sku,
                write.product.key,
                [self._confirmed(c, found.get(c.product.sku)) for c in group],
            )
            for write, group in zip(writes, checks, strict=True)
        ]

    def _checks_of(self, write: AcceptedWrite) -> list[AcceptedWrite]:
        """The listings to read back for ``write``: its own, or a family's parent (that it
        exists) and each child (buyable, its price; its quantity too after a create)."""
        product = write.product
        if not product.variants:
            return [write]
        parent = AcceptedWrite(self._parent_view(product), frozenset())
        child_fields = None if write.fields is None else frozenset({"price"})
        return [
            parent,
            *(AcceptedWrite(self._child_view(product, v), child_fields) for v in product.variants),
        ]

    def _confirmed(self, write: AcceptedWrite, item: Mapping[str, Any] | None) -> ItemResult:
        sku = write.product.sku
        found = _not_live(write, item)
        if found is None:
            return ItemResult(sku=sku, ok=True, product_id=sku, item_code=ItemCode.OK)
        reason, code = found
        return ItemResult(
            sku=sku, ok=False, product_id=sku, code=code,
            message=N_("accepted, not live: {reason}").format(reason=reason),
            item_code=ItemCode.ACCEPTED,
        )  # fmt: skip

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError(N_("Removing listings from Amazon is not supported yet."))

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """``searchListingsItems`` by SKU, 20 identifiers a call."""
        found: dict[str, RemoteProduct] = {}
        for sku, item in self._search_items(skus, INCLUDED).items():
            remote = _remote(item)
            if remote is not None:
                found[sku] = remote
        return found

    def _search_items(self, skus: Sequence[str], included: str) -> dict[str, dict[str, Any]]:
        """The listings items Amazon answers for ``skus``, by SKU, 20 identifiers a call."""
        wanted = list(dict.fromkeys(skus))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(wanted), SEARCH_CHUNK):
            chunk = wanted[start : start + SEARCH_CHUNK]
            response = self.client.request(
                "GET",
                LISTINGS + quote(self.seller_id, safe=""),
                params={
                    "marketplaceIds": self.marketplace_id,
                    "identifiers": ",".join(chunk),
                    "identifiersType": "SKU",
                    "includedData": included,
                },
                bucket="searchListingsItems",
            )
            for item in _dict(response.body).get("items") or []:
                if isinstance(item, dict) and item.get("sku") in chunk:
                    found[str(item["sku"])] = item
        return found

    def get_listing(self, sku: str) -> RemoteProduct | None:
        """``getListingsItem`` of one SKU, or None if Amazon has no such listing (yet)."""
        try:
            response = self.client.request(
                "GET",
                self._listing_path(sku),
                params={"marketplaceIds": self.marketplace_id, "includedData": INCLUDED},
                bucket="getListingsItem",
            )
        except APIError as error:
            if error.status == 404:
                return None
            raise
        return _remote(_dict(response.body))

    def iter_products(self, *, page_size: int = 20) -> Iterator[RemoteProduct]:
        """Every listing, ``searchListingsItems`` page by page."""
        token: str | None = None
        while True:
            params = {
                "marketplaceIds": self.marketplace_id,
                "includedData": INCLUDED,
                "pageSize": str(min(page_size, SEARCH_CHUNK)),
            }
            if token:
                params["pageToken"] = token
            response = self.client.request(
                "GET", LISTINGS + quote(self.seller_id, safe=""), params=params,
                bucket="searchListingsItems",
            )  # fmt: skip
            answer = _dict(response.body)
            for item in answer.get("items") or []:
                remote = _remote(item)
                if remote is not None:
                    yield remote
            token = _dict(answer.get("pagination")).get("nextToken")
            if not token:
                return

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> Any:
        """Amazon takes image URLs only (``media_location``): there is no upload here."""
        raise ConfigError(
            N_("Amazon takes images by URL; the local file {filename} cannot be uploaded.").format(
                filename=filename
            ),
            hint=N_("Put the image on a public HTTPS URL and name that URL in the images column."),
        )

    # -- inventory -----------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """A patch of ``fulfillment_availability`` per change (Amazon sets counts); a
        batch of at least ``feed_threshold`` counts as one ``JSON_LISTINGS_FEED`` of
        those patches (``idempotency_key`` names it in the journal, as for listings)."""
        results: list[ItemResult | None] = []
        writes: list[tuple[int, StockChange, _Write]] = []
        for change in changes:
            if change.stock is None or change.expected is not None:
                results.append(
                    _refused(
                        change.sku,
                        "UNSUPPORTED",
                        "Amazon sets quantities; it takes no deltas or expected counts.",
                        "stock",
                    )
                )
                continue
            body = {
                "productType": self.product_type or "PRODUCT",
                "patches": [
                    {
                        "op": "replace",
                        "path": "/attributes/fulfillment_availability",
                        "value": [
                            {"fulfillment_channel_code": "DEFAULT", "quantity": change.stock}
                        ],
                    }
                ],
            }
            writes.append((len(results), change, _Write(change.sku, "PATCH", body)))
            results.append(None)
        if writes and len(writes) >= self.feed_threshold:
            sent = self._send_feed([[write] for _, _, write in writes], idempotency_key)
            answers = [answer[0] for answer in sent if isinstance(answer, list)]
        else:
            answers = [
                self._submit("PATCH", change.sku, write.body, "patchListingsItem")
                for _, change, write in writes
            ]
        for (position, change, _), result in zip(writes, answers, strict=True):
            if result.ok:
                result.stock = change.stock
            results[position] = result
        return [result for result in results if result is not None]

    # -- orders --------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``getOrders`` by ``LastUpdatedAfter``, page by page (``NextToken``), each order's
        lines from ``getOrderItems``; paced by their usage plans (one every minute)."""
        now = datetime.fromtimestamp(self.wall_clock(), tz=timezone.utc)
        since = updated_since or now - ORDER_HISTORY
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        if self.orders_api == "2026-01-01":
            yield from self._search_orders(since, status, page_size)
            return
        params: dict[str, str] = {
            "MarketplaceIds": self.marketplace_id,
            "LastUpdatedAfter": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "MaxResultsPerPage": str(min(max(page_size, 1), 100)),
        }
        if status:
            params["OrderStatuses"] = status
        while True:
            response = self.client.request("GET", ORDERS, params=params, bucket="getOrders")
            payload = _dict(_dict(response.body).get("payload"))
            for order in payload.get("Orders") or []:
                if isinstance(order, dict):
                    yield self._order(order)
            token = payload.get("NextToken")
            if not token:
                return
            params = {"MarketplaceIds": self.marketplace_id, "NextToken": str(token)}

    def _order(self, order: Mapping[str, Any]) -> RemoteOrder:
        order_id = str(order.get("AmazonOrderId", ""))
        response = self.client.request(
            "GET", f"{ORDERS}/{quote(order_id, safe='')}/orderItems", bucket="getOrderItems"
        )
        items = _dict(_dict(response.body).get("payload")).get("OrderItems") or []
        lines = tuple(_line(item) for item in items if isinstance(item, dict))
        total = _dict(order.get("OrderTotal"))
        address = _dict(order.get("ShippingAddress"))
        return RemoteOrder(
            order_id=order_id,
            status=str(order.get("OrderStatus", "")),
            created_at=str(order.get("PurchaseDate", "")),
            updated_at=str(order.get("LastUpdateDate", "")),
            currency=str(total.get("CurrencyCode", "")),
            total=_decimal(total.get("Amount")),
            lines=lines,
            buyer_name=address.get("Name"),
            buyer_country=address.get("CountryCode"),
        )

    def _search_orders(
        self, since: datetime, status: str | None, page_size: int
    ) -> Iterator[RemoteOrder]:
        """``searchOrders`` (Orders 2026-01-01) by ``lastUpdatedAfter``, page by page; each
        order carries its items, so one call a page (its plan allows one every 3 minutes
        after a burst of 20)."""
        params: dict[str, str] = {
            "marketplaceIds": self.marketplace_id,
            "lastUpdatedAfter": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "maxResultsPerPage": str(min(max(page_size, 1), 100)),
            "includedData": ORDERS_INCLUDED,
        }
        if status:
            params["fulfillmentStatuses"] = status
        while True:
            response = self.client.request("GET", ORDERS_2026, params=params, bucket="searchOrders")
            answer = _dict(response.body)
            for order in answer.get("orders") or []:
                if isinstance(order, dict):
                    yield _order_2026(order)
            token = _dict(answer.get("pagination")).get("nextToken")
            if not token:
                return
            params = {**params, "paginationToken": str(token)}

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``getOrder`` (and its items), or None."""
        if self.orders_api == "2026-01-01":
            try:
                response = self.client.request(
                    "GET", f"{ORDERS_2026}/{quote(order_id, safe='')}",
                    params={"includedData": ORDERS_INCLUDED}, bucket="getOrder2026",
                )  # fmt: skip
            except APIError as error:
                if error.status == 404:
                    return None
                raise
            order = _dict(_dict(response.body).get("order"))
            return _order_2026(order) if order else None
        try:
            response = self.client.request(
                "GET", f"{ORDERS}/{quote(order_id, safe='')}", bucket="getOrder"
            )
        except APIError as error:
            if error.status == 404:
                return None
            raise
        payload = _dict(_dict(response.body).get("payload"))
        return self._order(payload) if payload else None

    # -- the rest ------------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """Exchange the refresh token now (proving the LWA credentials work)."""
        credentials = self.client.credentials
        assert isinstance(credentials, LoginWithAmazon)
        token = credentials.fetch_new()
        return AuthStatus(
            token_url=credentials.token_url,
            client_id=credentials.client_id,
            granted_scopes=None,
            expires_in=max(0.0, token.expires_at - self.wall_clock()),
        )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except InvalidOperation:
        return Decimal("0.00")


def _refused(sku: str, code: str, message: str, field: str | None) -> ItemResult:
    return ItemResult(
        sku=sku, ok=False, code=code, message=message, field=field, item_code=ItemCode.INVALID
    )


def _not_live(  # noqa: PLR0911 - one return per check, in order
    write: AcceptedWrite, item: Mapping[str, Any] | None
) -> tuple[str, str] | None:
    """Why the listing ``item`` does not show ``write`` applied, and the code to report
    (Amazon's issue codes, else ``NOT_LIVE``); None if it does. A parent (``fields``
    empty) needs only to exist without errors; a listing to be buyable with the price
    and quantity sent (of the fields sent)."""
    product = write.product
    remote = _remote(item) if item is not None else None
    if item is None or remote is None:
        return N_("Amazon has no listing"), "NOT_LIVE"
    errors = [
        i for i in item.get("issues") or [] if isinstance(i, dict) and i.get("severity") == "ERROR"
    ]
    if errors:
        text = "; ".join(f"{i.get('code')} {i.get('message')}" for i in errors)
        return N_("Amazon reports {issues}").format(issues=text), ",".join(
            str(i.get("code")) for i in errors
        )
    if write.fields == frozenset():
        return None
    summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
    if summaries and BUYABLE not in (summaries[0].get("status") or []):
        return N_("Amazon holds the listing but it is not buyable"), "NOT_LIVE"
    sent = write.fields
    price = f"{product.price:.2f}"
    if (sent is None or sent & {"price", "currency"}) and remote.fields.get("price") != price:
        return N_("Amazon holds price {held}, not {sent}").format(
            held=remote.fields.get("price"), sent=price
        ), "NOT_LIVE"
    if (sent is None or "stock" in sent) and remote.fields.get("stock") != product.stock:
        return N_("Amazon holds quantity {held}, not {sent}").format(
            held=remote.fields.get("stock"), sent=product.stock
        ), ("NOT_LIVE")
    return None


def _combined(sku: str, key: str, results: Sequence[ItemResult]) -> ItemResult:
    """One item's result from its listings' (one, or a family's parent and children): the
    first failure, else accepted if any listing was only accepted, else ok."""
    for result in results:
        if not result.ok:
            if result.sku != sku:
                result.message = N_("{sku}: {message}").format(
                    sku=result.sku, message=result.message
                )
            result.sku = sku
            return result
    if len(results) == 1 and results[0].sku == sku:
        return results[0]
    accepted = any(r.outcome is ItemCode.ACCEPTED for r in results)
    return ItemResult(
        sku=sku, ok=True, product_id=key,
        item_code=ItemCode.ACCEPTED if accepted else ItemCode.OK,
    )  # fmt: skip


def _feed_result(sku: str, status: str, issues: Sequence[FeedIssue]) -> ItemResult:
    """One message's outcome from its feed's processing report."""
    if status != "DONE":
        # FATAL: "some, none, or all" applied. Failed here; the row plans again next run.
        return ItemResult(
            sku=sku, ok=False, code=f"FEED_{status}", item_code=ItemCode.ERROR,
            message=N_(
                "Amazon ended the feed {status}: this listing may not have been applied."
            ).format(status=status),

        )  # fmt: skip
    if issues:
        return ItemResult(
            sku=sku, ok=False, code=issues[0].code,
            message="; ".join(issue.message for issue in issues),
            field=issues[0].attribute, item_code=ItemCode.INVALID,
        )  # fmt: skip
    return ItemResult(sku=sku, ok=True, product_id=sku, item_code=ItemCode.ACCEPTED)


def _submission_result(sku: str, response: ApiResponse) -> ItemResult:
    answer = _dict(response.body)
    status = answer.get("status")
    if status == "ACCEPTED":
        # Queued, not live: the engine confirms it later (confirm_writes), or trusts it.
        return ItemResult(
            sku=sku, ok=True, product_id=sku, http_status=response.status,
            request_id=response.request_id, item_code=ItemCode.ACCEPTED,
        )  # fmt: skip
    issues = [i for i in answer.get("issues") or [] if isinstance(i, dict)]
    errors = [i for i in issues if i.get("severity") == "ERROR"] or issues
    first = errors[0] if errors else {}
    names = first.get("attributeNames") or []
    return ItemResult(
        sku=sku,
        ok=False,
        code=str(first.get("code") or status or "INVALID"),
        message="; ".join(str(i.get("message")) for i in errors) or f"Amazon answered {status}.",
        field=str(names[0]) if names else None,
        http_status=response.status,
        request_id=response.request_id,
        item_code=ItemCode.INVALID,
    )


def _first(attributes: Mapping[str, Any], name: str) -> dict[str, Any]:
    values = attributes.get(name)
    if isinstance(values, list) and values and isinstance(values[0], dict):
        return values[0]
    return {}


def _remote(item: Mapping[str, Any]) -> RemoteProduct | None:
    sku = item.get("sku")
    if not isinstance(sku, str):
        return None
    attributes = _dict(item.get("attributes"))
    offers = [o for o in item.get("offers") or [] if isinstance(o, dict)]
    price = _dict(offers[0].get("price")).get("amount") if offers else None
    availability = [a for a in item.get("fulfillmentAvailability") or [] if isinstance(a, dict)]
    summaries = [s for s in item.get("summaries") or [] if isinstance(s, dict)]
    fields: dict[str, Any] = {
        "title": _first(attributes, "item_name").get("value")
        or (summaries[0].get("itemName") if summaries else None),
        "price": None if price is None else str(_decimal(price)),
        "stock": availability[0].get("quantity") if availability else None,
        "description": _first(attributes, "product_description").get("value"),
        "brand": _first(attributes, "brand").get("value"),
        "barcode": _first(attributes, "externally_assigned_product_identifier").get("value"),
    }
    parent = _first(attributes, "child_parent_sku_relationship").get("parent_sku")
    return RemoteProduct(
        product_id=str(parent) if parent else sku,
        sku=sku,
        fields=fields,
        updated_at=summaries[0].get("lastUpdatedDate") if summaries else None,
    )


def _order_2026(order: Mapping[str, Any]) -> RemoteOrder:
    """A :class:`RemoteOrder` from an Orders 2026-01-01 ``Order`` (items inline)."""
    lines = []
    currency = ""
    for item in order.get("orderItems") or []:
        if not isinstance(item, dict):
            continue
        product = _dict(item.get("product"))
        unit = _dict(_dict(product.get("price")).get("unitPrice"))
        currency = currency or str(unit.get("currencyCode") or "")
        lines.append(
            OrderLine(
                sku=str(product.get("sellerSku", "")),
                quantity=int(item.get("quantityOrdered") or 0),
                unit_price=_decimal(unit.get("amount")),
            )
        )
    total = _dict(_dict(order.get("proceeds")).get("grandTotal"))
    address = _dict(_dict(order.get("recipient")).get("deliveryAddress"))
    buyer = _dict(order.get("buyer"))
    return RemoteOrder(
        order_id=str(order.get("orderId", "")),
        status=str(_dict(order.get("fulfillment")).get("fulfillmentStatus", "")),
        created_at=str(order.get("createdTime", "")),
        updated_at=str(order.get("lastUpdatedTime", "")),
        currency=str(total.get("currencyCode") or currency),
        total=_decimal(total.get("amount")),
        lines=tuple(lines),
        buyer_name=buyer.get("buyerName") or address.get("name"),
        buyer_country=address.get("countryCode"),
    )


def _line(item: Mapping[str, Any]) -> OrderLine:
    quantity = int(item.get("QuantityOrdered") or 0)
    amount = _decimal(_dict(item.get("ItemPrice")).get("Amount"))
    unit = (amount / quantity).quantize(Decimal("0.01")) if quantity else amount
    return OrderLine(sku=str(item.get("SellerSKU", "")), quantity=quantity, unit_price=unit)


__all__ = ["SETTINGS", "AmazonPlatform", "LoginWithAmazon", "Unverified", "endpoint_of"]
