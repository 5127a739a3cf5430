"""The Shopee dialect's ASGI application, over the sandbox's shared core.

Every call under ``/api/v2/`` is checked as Shopee checks it, in this order: the fault
draw (reset / 5xx / slow / commit-then-drop, from the core), ``partner_id``, the
``timestamp`` (within five minutes of the sandbox's clock), the ``sign`` (public calls:
partner id, path, timestamp; shop calls: plus access token and shop id), the access token
and shop, then the rate limit, then the call. Refusals are Shopee's envelope
``{request_id, error, message, warning, response}`` with HTTP 200, as Shopee answers most
of them; only injected faults use 5xx.

Items live in the core store (the item's ``item_sku`` as its SKU, which Shopee does not
keep unique); ``search_item`` sees an item only ``search_lag`` seconds after its last
write, as Shopee's search index lags, while ``get_item_list`` sees it at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.types import Message, Receive, Scope, Send

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.shopee import DEMO_CODE, DEMO_SHOP_ID, partner_id_of
from shopsync.sandbox.ratelimit import RateLimiter
from shopsync.sandbox.store import HANDLE_KEY, ProductRow, Store, TokenInfo
from shopsync.sandbox.timefmt import rfc3339
from shopsync.sandbox.wire import (
    Reply,
)

logger = logging.getLogger("shopsync.sandbox.shopee")

PREFIX = "/api/v2/"
TIMESTAMP_WINDOW = 300
"""Seconds a signed timestamp stays valid (API-calls.md: "within 5 minutes")."""
ACCESS_TTL = 4 * 3600.0
REFRESH_TTL = 30 * 24 * 3600.0
OLD_ACCESS_GRACE = 300.0
"""After a refresh the old access token still works this long (Authorization page)."""
ORDER_WINDOW = 15 * 24 * 3600
MAX_PAGE = 100
MAX_BASE_INFO = 50
MAX_IMAGE_BYTES = 10 * 1024 * 1024
PUBLIC_CALLS = frozenset({"auth/token/get", "auth/access_token/get", "shop/auth_partner"})
WRITE_CALLS = frozenset(
    {
        "media_space/upload_image",
        "product/add_item",
        "product/update_item",
        "product/update_price",
        "product/update_stock",
        "product/init_tier_variation",
        "product/update_tier_variation",
        "product/add_model",
        "product/update_model",
    }
)
ORDER_STATUS = {
    "pending": "UNPAID",
    "paid": "READY_TO_SHIP",
    "shipped": "SHIPPED",
    "delivered": "COMPLETED",
    "cancelled": "CANCELLED",
    "refunded": "TO_RETURN",
}
CHANNELS = (
    {
        "logistics_channel_id": 30001,
        "logistics_channel_name": "Standard Express",
        "enabled": True,
        "fee_type": "SIZE_SELECTION",
    },
    {
        "logistics_channel_id": 30002,
        "logistics_channel_name": "Economy Air",
        "enabled": True,
        "fee_type": "SIZE_INPUT",
    },
)
MAX_TIERS = 2
"""Variation levels an item may have (Variant-management.md: "up to two levels")."""
MAX_MODELS = 50
"""Models an item may have (Variant-management.md: "cannot exceed 50")."""
MANDATORY_ATTRIBUTES: dict[int, tuple[int, ...]] = {100001: (), 100017: (100134,)}
"""Leaf categories the sandbox knows and the attribute ids each requires (a small tree:
``100017`` needs its brand-like attribute ``100134``); other ids are not leaves."""


class ShopeeError(Exception):
    """A refusal in Shopee's envelope: ``error`` code and ``message``."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def _sign(key: str, *parts: object) -> str:
    return hmac.new(
        key.encode("utf-8"), "".join(str(p) for p in parts).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def _envelope(request_id: str, response: Any = None, error: str = "", message: str = "") -> Reply:
    body: dict[str, Any] = {"request_id": request_id, "error": error, "message": message}
    body["warning"] = ""
    if response is not None:
        body["response"] = response
    return Reply.json(200, body)


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise ShopeeError("error_param", f"{name} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ShopeeError("error_param", f"{name} must be an integer.") from None


def _price(value: Any, name: str) -> Decimal:
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise ShopeeError("error_param", f"{name} must be a number.") from None
    if not price.is_finite() or price <= 0:
        raise ShopeeError("error_param", f"{name} must be above 0.")
    return price.quantize(Decimal("0.01"))


class ShopeeApp(DialectApp):
    """The ASGI application, with its store, limiter, fault injector and counters."""

    def __init__(self, config: SandboxConfig, store: Store | None = None) -> None:
        # Shopee does not keep item_sku unique: two add_item calls make two items.
        super().__init__(config, store, unique_skus=False)
        self.limiter = RateLimiter(config.rate, config.burst)
        self.partner_id = partner_id_of(config)
        self.partner_key = config.client_secret
        self.shop_id = DEMO_SHOP_ID
        self.search_lag = 3.0
        """Seconds after a write before ``search_item`` finds the item."""
        self.images: dict[str, str] = {}
        """Uploaded images: image id → sha256 of the bytes."""
        self.used_refresh_tokens: set[str] = set()
        """Refresh tokens already exchanged (each works once; kept in memory only)."""
        self._handlers: dict[str, Callable[[Request, dict[str, Any]], Any]] = {
            "auth/token/get": self._token_get,
            "auth/access_token/get": self._token_refresh,
            "shop/auth_partner": self._auth_partner,
            "logistics/get_channel_list": self._channels,
            "media_space/upload_image": self._upload_image,
            "product/add_item": self._add_item,
            "product/update_item": self._update_item,
            "product/update_price": self._update_price,
            "product/update_stock": self._update_stock,
            "product/get_item_list": self._item_list,
            "product/get_item_base_info": self._base_info,
            "product/search_item": self._search_item,
            "product/init_tier_variation": self._init_tier_variation,
            "product/update_tier_variation": self._update_tier_variation,
            "product/add_model": self._add_model,
            "product/update_model": self._update_model,
            "product/get_model_list": self._model_list,
            "order/get_order_list": self._order_list,
            "order/get_order_detail": self._order_detail,
        }

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Faults, checks, the call, the stats."""
        if await self.served_by_core(scope, receive, send):
            return
        request = Request(scope, receive)
        path: str = scope["path"]
        call = path[len(PREFIX) :] if path.startswith(PREFIX) else None
        label = f"{scope['method']} {path if call in self._handlers else '(unknown)'}"
        write = call in WRITE_CALLS
        request_id = uuid.uuid4().hex

        def injected(status: int) -> Reply:
            reply = _envelope(request_id, error="error_server", message="An injected fault.")
            reply.status = status
            return reply

        await self.answer_with_faults(
            scope,
            receive,
            send,
            label=label,
            write=write,
            answer=lambda: self._answer(request, call, request_id),
            fault_reply=injected,
            reply_send=lambda: self._with_request_id(send, request_id),
        )

    @staticmethod
    def _with_request_id(send: Send, request_id: str) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
                message = {**message, "headers": headers}
            await send(message)

        return wrapped

    def stats_snapshot(self) -> dict[str, Any]:
        """The core's counters, plus what the shop holds."""
        snapshot = self.stats.snapshot()
        live, archived = self.store.product_counts()
        snapshot.update(
            products_stored=live,
            products_archived=archived,
            orders_stored=self.store.order_count(),
            images_stored=len(self.images),
            in_flight=0,
            seed=self.config.seed,
        )
        return snapshot

    def reset(self) -> None:
        """Empty the shop and zero the counters and rate limits (tokens stay valid)."""
        self.store.reset()
        self.stats.reset()
        self.limiter.reset()
        self.images.clear()

    # -- checks --------------------------------------------------------------------------

    async def _answer(self, request: Request, call: str | None, request_id: str) -> Reply:
        try:
            if call is None or call not in self._handlers:
                raise ShopeeError("error_not_found", "Wrong api path.")
            query = dict(request.query_params)
            self._check_signature(request.url.path, call, query)
            if not self.limiter.acquire(str(self.partner_id)).allowed:
                self.stats.rate_limited()
                raise ShopeeError(
                    "error_too_many_request", "Too many requests: the call rate limit is exceeded."
                )
            body = await self._body(request, call)
            with self.store.transaction():
                response = self._handlers[call](request, {**query, **body})
        except ShopeeError as error:
            return _envelope(request_id, error=error.error, message=error.message)
        if isinstance(response, Reply):
            return response
        if call in PUBLIC_CALLS:
            assert isinstance(response, dict)
            return Reply.json(
                200, {"request_id": request_id, "error": "", "message": "", **response}
            )
        return _envelope(request_id, response)

    def _check_signature(self, path: str, call: str, query: dict[str, str]) -> None:
        if query.get("partner_id") != str(self.partner_id):
            raise ShopeeError("error_param", "Invalid partner_id.")
        raw = query.get("timestamp", "")
        now = self.config.clock()
        if not raw.isdigit() or abs(int(raw) - now) > TIMESTAMP_WINDOW:
            raise ShopeeError("error_param", "Invalid timestamp: it must be within 5 minutes.")
        if call in PUBLIC_CALLS:
            expected = _sign(self.partner_key, self.partner_id, path, raw)
        else:
            token = query.get("access_token", "")
            shop = query.get("shop_id", "")
            expected = _sign(self.partner_key, self.partner_id, path, raw, token, shop)
        if not hmac.compare_digest(expected, query.get("sign", "")):
            raise ShopeeError("error_sign", "Wrong sign.")
        if call in PUBLIC_CALLS:
            return
        if query.get("shop_id") != str(self.shop_id):
            raise ShopeeError("error_auth", "The shop has not authorised this partner.")
        info = self.store.token(query.get("access_token", ""))
        if info is None or info.client_id != f"access:{self.shop_id}":
            raise ShopeeError("invalid_access_token", "Invalid access_token.")
        if info.expires_at <= now:
            raise ShopeeError("invalid_access_token", "The access_token has expired.")

    async def _body(self, request: Request, call: str) -> dict[str, Any]:
        if request.method != "POST":
            return {}
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        if call == "media_space/upload_image":
            if not kind.startswith("multipart/form-data"):
                raise ShopeeError(
                    "error_param", "upload_image takes the image file as multipart form data."
                )
            return {"_parts": _multipart(raw, kind)}
        try:
            value = json.loads(raw or b"{}", parse_float=Decimal)
        except ValueError:
            raise ShopeeError("error_param", "The body is not JSON.") from None
        if not isinstance(value, dict):
            raise ShopeeError("error_param", "The body must be a JSON object.")
        return value

    # -- auth ----------------------------------------------------------------------------

    def _issue(self) -> dict[str, Any]:
        now = self.config.clock()
        access = secrets.token_hex(16)
        refresh = secrets.token_hex(16)
        self.store.save_token(
            access, TokenInfo(f"access:{self.shop_id}", frozenset(), now + ACCESS_TTL)
        )
        self.store.save_token(
            refresh, TokenInfo(f"refresh:{self.shop_id}", frozenset(), now + REFRESH_TTL)
        )
        self.stats.token_issued()
        return {"access_token": access, "refresh_token": refresh, "expire_in": int(ACCESS_TTL)}

    def _auth_partner(self, _request: Request, body: dict[str, Any]) -> Reply:
        """The seller's authorisation page, approved at once: back to ``redirect`` with the
        code and the shop, as Shopee redirects after the seller logs in and agrees."""
        redirect = str(body.get("redirect") or "")
        if not redirect.startswith(("http://", "https://")):
            raise ShopeeError("error_param", "redirect must be a URL.")
        query = urlencode({"code": DEMO_CODE, "shop_id": self.shop_id})
        separator = "&" if "?" in redirect else "?"
        return Reply(302, b"", None, [("Location", f"{redirect}{separator}{query}")])

    def _token_get(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("code") != DEMO_CODE:
            raise ShopeeError("error_auth", "Invalid code.")
        if _int(body.get("shop_id"), "shop_id") != self.shop_id:
            raise ShopeeError("error_auth", "The shop has not authorised this partner.")
        return self._issue()

    def _token_refresh(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        token = str(body.get("refresh_token", ""))
        if _int(body.get("shop_id"), "shop_id") != self.shop_id:
            raise ShopeeError("error_auth", "The shop has not authorised this partner.")
        info = self.store.token(token)
        now = self.config.clock()
        if (
            info is None
            or info.client_id != f"refresh:{self.shop_id}"
            or info.expires_at <= now
            or token in self.used_refresh_tokens
        ):
            raise ShopeeError("error_auth", "Invalid refresh_token.")
        # A refresh token works once: the answer carries the next one.
        self.used_refresh_tokens.add(token)
        answer = self._issue()
        answer.update(partner_id=self.partner_id, shop_id=self.shop_id)
        return answer

    # -- logistics and media -------------------------------------------------------------

    def _channels(self, _request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        return {"logistics_channel_list": [dict(c) for c in CHANNELS]}

    def _upload_image(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        parts: dict[str, bytes] = body["_parts"]
        data = parts.get("image")
        if data is None:
            if "url" in parts or "image_url" in parts:
                raise ShopeeError("error_param", "Image URLs are not accepted: upload the file.")
            raise ShopeeError("error_param", "image is required.")
        if len(data) > MAX_IMAGE_BYTES:
            raise ShopeeError("error_param", "The image is larger than 10 MB.")
        if not (data.startswith(b"\xff\xd8\xff") or data.startswith(b"\x89PNG\r\n\x1a\n")):
            raise ShopeeError("error_param", "Only JPG and PNG images are accepted.")
        image_id = "sg-" + secrets.token_hex(12)
        self.images[image_id] = hashlib.sha256(data).hexdigest()
        return {"image_info": {"image_id": image_id, "image_url_list": []}}

    # -- items ---------------------------------------------------------------------------

    def _item_values(  # noqa: PLR0912 - one check per field, in the order Shopee lists them
        self, body: dict[str, Any], *, partial: bool
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        required = (
            "item_name",
            "description",
            "original_price",
            "category_id",
            "image",
            "logistic_info",
            "weight",
            "seller_stock",
        )
        if not partial:
            missing = [name for name in required if name not in body]
            if missing:
                raise ShopeeError("error_param", f"{missing[0]} is required.")
        if "item_name" in body:
            name = str(body["item_name"]).strip()
            if not 1 <= len(name) <= 120:
                raise ShopeeError("error_param", "item_name must be 1 to 120 characters.")
            values["title"] = name
        if "description" in body:
            values["description"] = str(body["description"])
        if "original_price" in body:
            values["price"] = str(_price(body["original_price"], "original_price"))
        if "weight" in body:
            weight = _price(body["weight"], "weight")
            values["weight"] = str(weight.normalize())
        if "item_sku" in body:
            values["sku"] = str(body["item_sku"])
        if "category_id" in body:
            category = _int(body["category_id"], "category_id")
            if category not in MANDATORY_ATTRIBUTES:
                raise ShopeeError("error_param", "category_id is not a leaf category.")
            values["category_id"] = category
        if "attribute_list" in body or "category_id" in values:
            attributes = body.get("attribute_list") or []
            if not isinstance(attributes, list):
                raise ShopeeError("error_param", "attribute_list must be a list.")
            values["attribute_list"] = attributes
        if "image" in body:
            image = body["image"] if isinstance(body["image"], dict) else {}
            ids = image.get("image_id_list")
            if "image_url_list" in image:
                raise ShopeeError("error_param", "Image URLs are not accepted: use image_id_list.")
            if not isinstance(ids, list) or not ids or not all(i in self.images for i in ids):
                raise ShopeeError("error_param", "image_id_list must name uploaded images.")
            values["image_id_list"] = ids
        if "logistic_info" in body:
            channels = {c["logistics_channel_id"] for c in CHANNELS}
            info = body["logistic_info"]
            if (
                not isinstance(info, list)
                or not info
                or not all(
                    isinstance(i, dict) and i.get("logistic_id") in channels and i.get("enabled")
                    for i in info
                )
            ):
                raise ShopeeError("error_param", "logistic_info must enable the shop's channels.")
            values["logistic_info"] = info
        if "seller_stock" in body:
            values["stock"] = _seller_stock(body["seller_stock"])
        return values

    def _add_item(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        values = self._item_values(body, partial=False)
        values.setdefault("sku", "")
        needed = MANDATORY_ATTRIBUTES[values["category_id"]]
        given = {a.get("attribute_id") for a in values["attribute_list"] if isinstance(a, dict)}
        for attribute in needed:
            if attribute not in given:
                raise ShopeeError("error_param", f"The mandatory attribute {attribute} is missing.")
        item_id = self.store.next_sequence("shopee_item") + 800_000_000
        stamp = rfc3339(self.config.clock())
        values["item_status"] = "NORMAL"
        row = ProductRow(0, str(item_id), 1, stamp, stamp, values)
        self.store.insert_products([row])
        return {"item_id": item_id, "item_name": values["title"], "item_sku": values["sku"]}

    def _item(self, body: dict[str, Any]) -> ProductRow:
        item_id = _int(body.get("item_id"), "item_id")
        row = self.store.product(str(item_id))
        if row is None:
            raise ShopeeError("error_item_not_found", f"Item {item_id} does not exist.")
        return row

    def _save(self, row: ProductRow, values: dict[str, Any]) -> None:
        row.values.update(values)
        row.version += 1
        row.updated_at = rfc3339(self.config.clock())
        self.store.update_products([row])

    def _update_item(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        for name in ("original_price", "seller_stock"):
            if name in body:
                raise ShopeeError("error_param", f"{name} is changed by its own call.")
        self._save(row, self._item_values(body, partial=True))
        return {"item_id": int(row.product_id)}

    def _update_price(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        prices = body.get("price_list")
        if (
            not isinstance(prices, list)
            or not prices
            or not all(isinstance(p, dict) for p in prices)
        ):
            raise ShopeeError("error_param", "price_list must hold one price per model.")
        changes = [
            (p.get("model_id", 0), _price(p.get("original_price"), "original_price"))
            for p in prices
        ]
        models = self._models_of(row, [model_id for model_id, _ in changes])
        values: dict[str, Any] = {}
        for (_model_id, price), model in zip(changes, models, strict=True):
            if model is None:
                values["price"] = str(price)
            else:
                model["price"] = str(price)
        if row.has_variants:
            values["variants"] = row.values["variants"]
        self._save(row, values)
        return {
            "success_list": [{"model_id": m, "original_price": float(p)} for m, p in changes],
            "failure_list": [],
        }

    def _update_stock(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        stocks = body.get("stock_list")
        if (
            not isinstance(stocks, list)
            or not stocks
            or not all(isinstance(s, dict) for s in stocks)
        ):
            raise ShopeeError("error_param", "stock_list must hold one entry per model.")
        changes = [(s.get("model_id", 0), _seller_stock(s.get("seller_stock"))) for s in stocks]
        models = self._models_of(row, [model_id for model_id, _ in changes])
        values: dict[str, Any] = {}
        for (_model_id, stock), model in zip(changes, models, strict=True):
            if model is None:
                values["stock"] = stock
            else:
                model["stock"] = stock
        if row.has_variants:
            values["variants"] = row.values["variants"]
        self._save(row, values)
        return {
            "success_list": [{"model_id": m, "stock": n} for m, n in changes],
            "failure_list": [],
        }

    def _models_of(self, row: ProductRow, model_ids: list[Any]) -> list[dict[str, Any] | None]:
        """Each model id's model of ``row`` (None for 0 on an item without models)."""
        by_id = {m["model_id"]: m for m in row.values.get("variants") or []}
        out: list[dict[str, Any] | None] = []
        for raw in model_ids:
            model_id = _int(raw, "model_id")
            if not by_id and model_id == 0:
                out.append(None)
            elif model_id in by_id:
                out.append(by_id[model_id])
            else:
                raise ShopeeError(
                    "error_param", f"model_id {model_id} is not a model of item {row.product_id}."
                )
        return out

    # -- variants ------------------------------------------------------------------------

    def _tiers(self, raw: Any) -> list[dict[str, Any]]:
        """``tier_variation`` checked as Shopee's guide states it (Creating-product.md 7)."""
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TIERS:
            raise ShopeeError("error_param", f"tier_variation must hold 1 to {MAX_TIERS} tiers.")
        tiers: list[dict[str, Any]] = []
        for level, tier in enumerate(raw):
            options = tier.get("option_list") if isinstance(tier, dict) else None
            name = str(tier.get("name") or "").strip() if isinstance(tier, dict) else ""
            if not name or not isinstance(options, list) or not options:
                raise ShopeeError("error_param", "Each tier needs a name and an option_list.")
            values = [
                str(o.get("option") or "").strip() if isinstance(o, dict) else "" for o in options
            ]
            if not all(values) or len(set(values)) != len(values):
                raise ShopeeError(
                    "error_param", f"The options of tier {name} must be distinct and not empty."
                )
            images = [(o.get("image") or {}).get("image_id") for o in options]
            if any(images):
                if level > 0:
                    raise ShopeeError("error_param", "Only the first tier's options take images.")
                if not all(i in self.images for i in images):
                    raise ShopeeError(
                        "error_param", "Every option of the first tier needs an uploaded image."
                    )
            tiers.append(
                {
                    "name": name,
                    "option_list": [
                        {"option": v, **({"image": {"image_id": i}} if i else {})}
                        for v, i in zip(values, images, strict=True)
                    ],
                }
            )
        return tiers

    def _tier_index(self, raw: Any, tiers: list[dict[str, Any]]) -> list[int]:
        if not isinstance(raw, list) or len(raw) != len(tiers):
            raise ShopeeError("error_param", "tier_index must name one option per tier.")
        index = [_int(i, "tier_index") for i in raw]
        for i, tier in zip(index, tiers, strict=True):
            if not 0 <= i < len(tier["option_list"]):
                raise ShopeeError("error_param", "tier_index must start from 0 and not overflow.")
        return index

    def _new_model(self, raw: Any, tiers: list[dict[str, Any]]) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise ShopeeError("error_param", "A model must be an object.")
        index = self._tier_index(raw.get("tier_index"), tiers)
        if "seller_stock" in raw:
            stock = _seller_stock(raw["seller_stock"])
        else:
            stock = _int(raw.get("normal_stock", 0), "normal_stock")
        model = {
            "sku": str(raw.get("model_sku") or ""),
            "model_id": self.store.next_sequence("shopee_model") + 900_000_000,
            "tier_index": index,
            "price": str(_price(raw.get("original_price"), "original_price")),
            "stock": stock,
        }
        return self._with_options(model, tiers)

    @staticmethod
    def _with_options(model: dict[str, Any], tiers: list[dict[str, Any]]) -> dict[str, Any]:
        model["option_values"] = {
            tier["name"]: tier["option_list"][i]["option"]
            for tier, i in zip(tiers, model["tier_index"], strict=True)
        }
        return model

    def _set_models(
        self, row: ProductRow, tiers: list[dict[str, Any]], models: list[dict[str, Any]]
    ) -> None:
        if len(models) > MAX_MODELS:
            raise ShopeeError("error_param", f"An item has at most {MAX_MODELS} models.")
        indexes = [tuple(m["tier_index"]) for m in models]
        if len(set(indexes)) != len(indexes):
            raise ShopeeError("error_param", "Two models have the same tier_index.")
        values: dict[str, Any] = {"tier_variation": tiers, "variants": models}
        values["options"] = [tier["name"] for tier in tiers]
        if not row.has_variants:
            values["handle"] = row.values.get("sku", "")
        if not models:
            values["sku"] = row.values.get("handle", "")
        self._save(row, values)

    def _init_tier_variation(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        tiers = self._tiers(body.get("tier_variation"))
        raw = body.get("model")
        if not isinstance(raw, list) or not raw:
            raise ShopeeError("error_param", "model must list the item's models.")
        # The tier structure is new: every earlier model is gone (Variant-management.md 2).
        models = [self._new_model(m, tiers) for m in raw]
        self._set_models(row, tiers, models)
        return {"item_id": int(row.product_id), "tier_variation": tiers, "model": _models(models)}

    def _update_tier_variation(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        before = row.values.get("tier_variation") or []
        if not before:
            raise ShopeeError("error_param", "The item has no tier variation: init it first.")
        tiers = self._tiers(body.get("tier_variation"))
        if len(tiers) != len(before):
            raise ShopeeError(
                "error_param", "The number of tiers changes only by init_tier_variation."
            )
        known = {m["model_id"]: m for m in row.values.get("variants") or []}
        kept: list[dict[str, Any]] = []
        for entry in body.get("model_list") or []:
            model_id = _int(entry.get("model_id") if isinstance(entry, dict) else None, "model_id")
            if model_id not in known:
                raise ShopeeError(
                    "error_param", f"model_id {model_id} is not a model of this item."
                )
            model = dict(known[model_id])
            model["tier_index"] = self._tier_index(entry.get("tier_index"), tiers)
            kept.append(self._with_options(model, tiers))
        # A model left out of model_list is deleted with its options (scenarios 3 and 4).
        self._set_models(row, tiers, kept)
        return {"item_id": int(row.product_id), "tier_variation": tiers, "model": _models(kept)}

    def _add_model(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        tiers = row.values.get("tier_variation") or []
        if not tiers:
            raise ShopeeError("error_param", "The item has no tier variation: init it first.")
        raw = body.get("model_list")
        if not isinstance(raw, list) or not raw:
            raise ShopeeError("error_param", "model_list must list the models to add.")
        added = [self._new_model(m, tiers) for m in raw]
        self._set_models(row, tiers, [*row.values["variants"], *added])
        return {"model": _models(added)}

    def _update_model(self, _request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(body)
        known = {m["model_id"]: m for m in row.values.get("variants") or []}
        raw = body.get("model")
        if not isinstance(raw, list) or not raw:
            raise ShopeeError("error_param", "model must list the models to update.")
        for entry in raw:
            model_id = _int(entry.get("model_id") if isinstance(entry, dict) else None, "model_id")
            if model_id not in known:
                raise ShopeeError(
                    "error_param", f"model_id {model_id} is not a model of this item."
                )
            for name in ("original_price", "seller_stock", "normal_stock", "tier_index"):
                if name in entry:
                    raise ShopeeError("error_param", f"{name} is changed by its own call.")
            if "model_sku" in entry:
                known[model_id]["sku"] = str(entry["model_sku"])
        self._save(row, {"variants": row.values["variants"]})
        return {}

    def _model_list(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        row = self._item(dict(request.query_params))
        return {
            "tier_variation": row.values.get("tier_variation") or [],
            "model": _models(row.values.get("variants") or []),
        }

    def _item_list(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        query = request.query_params
        offset = _int(query.get("offset", "0"), "offset")
        size = _int(query.get("page_size", "10"), "page_size")
        if not 1 <= size <= MAX_PAGE:
            raise ShopeeError("error_param", f"page_size must be from 1 to {MAX_PAGE}.")
        since = _int(query.get("update_time_from", "0"), "update_time_from")
        rows = [r for r in self._all_items() if _epoch(r.updated_at) >= since]
        page = rows[offset : offset + size]
        return {
            "item": [
                {
                    "item_id": int(r.product_id),
                    "item_status": "NORMAL",
                    "update_time": _epoch(r.updated_at),
                }
                for r in page
            ],
            "total_count": len(rows),
            "has_next_page": offset + size < len(rows),
            "next_offset": offset + size,
        }

    def _all_items(self) -> list[ProductRow]:
        rows: list[ProductRow] = []
        after = 0
        while True:
            page = self.store.list_products(after, 500)
            if not page:
                return rows
            rows.extend(page)
            after = page[-1].id

    def _base_info(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        raw = request.query_params.get("item_id_list", "")
        ids = [part for part in raw.split(",") if part]
        if not 1 <= len(ids) <= MAX_BASE_INFO:
            raise ShopeeError("error_param", f"item_id_list holds 1 to {MAX_BASE_INFO} ids.")
        items = []
        for item_id in ids:
            row = self.store.product(str(_int(item_id, "item_id_list")))
            if row is not None:
                items.append(_base_info(row))
        return {"item_list": items}

    def _search_item(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        sku = request.query_params.get("item_sku")
        if not sku:
            raise ShopeeError("error_param", "item_sku is required.")
        horizon = self.config.clock() - self.search_lag
        found_rows = self.store.products_with_skus([sku, HANDLE_KEY + sku])
        rows = [r for r in (r for rows in found_rows.values() for r in rows) if _item_sku(r) == sku]
        # The search index lags behind writes: an item written just now is not found yet.
        found = [int(r.product_id) for r in rows if _epoch(r.updated_at) <= horizon]
        return {"item_id_list": found, "total_count": len(found), "next_offset": ""}

    # -- orders --------------------------------------------------------------------------

    def _order_list(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        query = request.query_params
        if query.get("time_range_field") not in ("create_time", "update_time"):
            raise ShopeeError("error_param", "time_range_field must be create_time or update_time.")
        start = _int(query.get("time_from"), "time_from")
        end = _int(query.get("time_to"), "time_to")
        if end < start or end - start > ORDER_WINDOW:
            raise ShopeeError("error_param", "time_from and time_to must be at most 15 days apart.")
        size = _int(query.get("page_size", "20"), "page_size")
        if not 1 <= size <= MAX_PAGE:
            raise ShopeeError("error_param", f"page_size must be from 1 to {MAX_PAGE}.")
        offset = _int(query.get("cursor") or "0", "cursor")
        field = "updated_at" if query["time_range_field"] == "update_time" else "created_at"
        wanted = query.get("order_status")
        matches = []
        for order in self.store.orders_page(
            updated_since=None, status=None, after=None, limit=1_000_000
        ):
            moment = _epoch(order[field])
            if start <= moment <= end and (wanted is None or _status(order) == wanted):
                matches.append(order)
        page = matches[offset : offset + size]
        more = offset + size < len(matches)
        return {
            "more": more,
            "next_cursor": str(offset + size) if more else "",
            "order_list": [{"order_sn": _order_sn(o)} for o in page],
        }

    def _order_detail(self, request: Request, _body: dict[str, Any]) -> dict[str, Any]:
        raw = request.query_params.get("order_sn_list", "")
        sns = [part for part in raw.split(",") if part]
        if not 1 <= len(sns) <= MAX_BASE_INFO:
            raise ShopeeError("error_param", f"order_sn_list holds 1 to {MAX_BASE_INFO} numbers.")
        orders = []
        for sn in sns:
            order = self.store.order("ord_" + sn.removeprefix("SN"))
            if order is not None:
                orders.append(_order_detail(order))
        return {"order_list": orders}


def _seller_stock(value: Any) -> int:
    if not isinstance(value, list) or len(value) != 1 or not isinstance(value[0], dict):
        raise ShopeeError("error_param", 'seller_stock must be [{"stock": N}].')
    stock = _int(value[0].get("stock"), "stock")
    if stock < 0:
        raise ShopeeError("error_param", "stock must not be negative.")
    return stock


def _epoch(stamp: str) -> int:
    from datetime import datetime  # noqa: PLC0415 - only for timestamps

    return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp())


def _item_sku(row: ProductRow) -> str:
    """The ``item_sku``: an item with models keeps it as its handle (the store's key)."""
    return str(row.values.get("handle", "") if row.has_variants else row.values.get("sku", ""))


def _models(models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Models as ``get_model_list`` answers them."""
    return [
        {
            "model_id": m["model_id"],
            "model_sku": m["sku"],
            "tier_index": list(m["tier_index"]),
            "price_info": [
                {
                    "original_price": float(Decimal(m["price"])),
                    "current_price": float(Decimal(m["price"])),
                }
            ],
            "stock_info_v2": {
                "summary_info": {"total_available_stock": m["stock"]},
                "seller_stock": [{"stock": m["stock"]}],
            },
        }
        for m in models
    ]


def _base_info(row: ProductRow) -> dict[str, Any]:
    values = row.values
    if row.has_variants:
        # An item with models answers its prices and stock in get_model_list only.
        return {**_item_fields(row), "has_model": True}
    price = float(Decimal(values["price"]))
    return {
        **_item_fields(row),
        "price_info": [{"original_price": price, "current_price": price}],
        "stock_info_v2": {
            "summary_info": {"total_available_stock": values.get("stock", 0)},
            "seller_stock": [{"stock": values.get("stock", 0)}],
        },
        "has_model": False,
    }


def _item_fields(row: ProductRow) -> dict[str, Any]:
    values = row.values
    return {
        "item_id": int(row.product_id),
        "item_sku": _item_sku(row),
        "item_name": values.get("title"),
        "description": values.get("description"),
        "category_id": values.get("category_id"),
        "attribute_list": values.get("attribute_list", []),
        "image": {"image_id_list": values.get("image_id_list", [])},
        "weight": values.get("weight"),
        "logistic_info": values.get("logistic_info", []),
        "item_status": values.get("item_status", "NORMAL"),
        "create_time": _epoch(row.created_at),
        "update_time": _epoch(row.updated_at),
    }


def _order_sn(order: dict[str, Any]) -> str:
    return "SN" + str(order["order_id"]).removeprefix("ord_")


def _status(order: dict[str, Any]) -> str:
    return ORDER_STATUS.get(str(order["status"]), "UNPAID")


def _order_detail(order: dict[str, Any]) -> dict[str, Any]:
    buyer = order.get("buyer") or {}
    return {
        "order_sn": _order_sn(order),
        "order_status": _status(order),
        "create_time": _epoch(order["created_at"]),
        "update_time": _epoch(order["updated_at"]),
        "currency": order.get("currency", "CNY"),
        "total_amount": float(Decimal(order.get("total", "0"))),
        "buyer_username": buyer.get("name"),
        "region": buyer.get("country"),
        "item_list": [
            {
                "item_sku": line["sku"],
                "model_sku": "",
                "model_quantity_purchased": line["quantity"],
                "model_discounted_price": float(Decimal(line["unit_price"])),
            }
            for line in order.get("lines") or []
        ],
    }


def _multipart(raw: bytes, content_type: str) -> dict[str, bytes]:
    """The named parts of a multipart/form-data body (the stdlib's MIME parser)."""
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    parts: dict[str, bytes] = {}
    if not message.is_multipart():
        return parts
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts
