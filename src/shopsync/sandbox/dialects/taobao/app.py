"""The Taobao dialect's ASGI application: TOP's one REST gateway, ``/router/rest``.

A call goes through these steps, in TOP's order::

    outer wrapper   fault draw (reset / gateway 502, 503 / isp failure answered here;
                    slow waits here), stats by API method, commit-then-drop
    gateway         parameters from the query and the form body → method → app key →
                    timestamp (±10 minutes of the sandbox's clock) → session → signature →
                    call limit (code 7, HTTP 200) → latency → the API method, applied in
                    one SQLite transaction

Every refusal is ``{"error_response": {code, msg, sub_code, sub_msg, request_id}}`` with
HTTP 200, as TOP answers. Items live in the core's store as products: the item's
``num_iid`` is the product id, its ``outer_id`` the product's SKU, its quantity the stock,
and the rest (title, price, cid, props, SKUs...) in the product's values.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from email import policy
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Message, Receive, Scope, Send

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.taobao import DEMO_SESSION
from shopsync.sandbox.dialects.taobao.signing import (
    beijing_time,
    expected_sign,
    parse_beijing_time,
    parse_timestamp,
    taobao_length,
)
from shopsync.sandbox.faults import Fault
from shopsync.sandbox.ratelimit import RateLimiter
from shopsync.sandbox.store import ProductRow, Store
from shopsync.sandbox.timefmt import parse_rfc3339, rfc3339
from shopsync.sandbox.wire import LOOPBACK, abort_connection, after_abort, dumps_json

logger = logging.getLogger("shopsync.sandbox")

GATEWAY = "/router/rest"
TIMESTAMP_TOLERANCE = 600.0
"""TOP refuses a timestamp more than 10 minutes from its clock."""
MAX_TITLE = 60
MAX_OUTER_IDS = 50
MAX_PAGE_ITEMS = 200
MAX_PAGE_TRADES = 100
MAX_WINDOW = 24 * 3600.0
"""``trades.sold.increment.get``: start and end at most one day apart."""
MAX_PICTURE_BYTES = 3 * 1024 * 1024
HISTORY = 90 * 24 * 3600.0
"""Only the last three months of orders can be read."""
NUM_IID_BASE = 600_000_000_000
WRITE_METHODS = frozenset(
    {
        "taobao.item.add",
        "taobao.item.update",
        "taobao.item.quantity.update",
        "taobao.item.sku.update",
        "taobao.item.sku.add",
        "taobao.picture.upload",
        "taobao.item.joint.img",
    }
)
MAX_EXTRA_IMAGES = 4
"""``taobao.item.joint.img``: an item has its main picture and at most four more."""
CATEGORY_PROPS: dict[int, list[dict[str, Any]]] = {
    # 男装 > T恤 as TOP's taobao.itemprops.get answers its two sale properties (a subset).
    50000436: [
        {
            "pid": 1627207,
            "name": "颜色分类",
            "is_sale_prop": True,
            "prop_values": {
                "prop_value": [
                    {"vid": 28341, "name": "黑色"},
                    {"vid": 28320, "name": "白色"},
                    {"vid": 28326, "name": "红色"},
                    {"vid": 28338, "name": "蓝色"},
                ]
            },
        },
        {
            "pid": 20509,
            "name": "尺码",
            "is_sale_prop": True,
            "prop_values": {
                "prop_value": [
                    {"vid": 28314, "name": "S"},
                    {"vid": 28315, "name": "M"},
                    {"vid": 28316, "name": "L"},
                    {"vid": 28317, "name": "XL"},
                ]
            },
        },
    ]
}
"""The sandbox's categories and their sale properties; any other cid has none."""
_SESSION_FREE = frozenset({"taobao.time.get"})

# Order statuses of the core's generator, as Taobao names a trade's.
TRADE_STATUS = {
    "pending": "WAIT_BUYER_PAY",
    "paid": "WAIT_SELLER_SEND_GOODS",
    "shipped": "WAIT_BUYER_CONFIRM_GOODS",
    "delivered": "TRADE_FINISHED",
    "cancelled": "TRADE_CLOSED_BY_TAOBAO",
    "refunded": "TRADE_CLOSED",
}
_STATUS_OF_TRADE = {trade: status for status, trade in TRADE_STATUS.items()}


class TopError(Exception):
    """A refusal, answered as TOP's ``error_response``."""

    def __init__(
        self, code: int, msg: str, sub_code: str | None = None, sub_msg: str | None = None
    ) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.sub_code = sub_code
        self.sub_msg = sub_msg

    def body(self, request_id: str) -> dict[str, Any]:
        """The ``error_response`` document."""
        error: dict[str, Any] = {"code": self.code, "msg": self.msg}
        if self.sub_code:
            error["sub_code"] = self.sub_code
        if self.sub_msg:
            error["sub_msg"] = self.sub_msg
        error["request_id"] = request_id
        return {"error_response": error}


def _missing(name: str) -> TopError:
    return TopError(40, "Missing required arguments:" + name, f"isv.missing-parameter:{name}")


def _invalid(name: str, why: str) -> TopError:
    return TopError(41, "Invalid arguments:" + name, f"isv.invalid-parameter:{name}", why)


def _decimal(params: dict[str, str], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise _missing(name)
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise _invalid(name, f"{name} must be a decimal number") from None
    if not value.is_finite() or value <= 0 or value > Decimal("100000000"):
        raise _invalid(name, f"{name} must be between 0.01 and 100000000")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise _invalid(name, f"{name} has at most two decimal places")
    return value.quantize(Decimal("0.01"))


def _integer(params: dict[str, str], name: str, *, low: int = 0, high: int = 999_999) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise _invalid(name, f"{name} must be an integer") from None
    if not low <= value <= high:
        raise _invalid(name, f"{name} must be between {low} and {high}")
    return value


def _parse_skus(params: dict[str, str]) -> list[dict[str, Any]] | None:
    """``sku_properties``/``sku_quantities``/``sku_prices``/``sku_outer_ids``, as SKUs."""
    properties = params.get("sku_properties")
    if not properties:
        return None
    props = properties.split(",")
    lists = {name: params.get(name, "").split(",") for name in ("sku_quantities", "sku_prices")}
    outer = params.get("sku_outer_ids")
    outer_ids = outer.split(",") if outer else [""] * len(props)
    for name, values in (*lists.items(), ("sku_outer_ids", outer_ids)):
        if len(values) != len(props):
            raise _invalid(name, f"{name} must have one value per SKU in sku_properties")
    if len(set(props)) != len(props):
        raise _invalid("sku_properties", "two SKUs have the same properties")
    skus = []
    for n, prop in enumerate(props):
        one = {"q": lists["sku_quantities"][n], "p": lists["sku_prices"][n]}
        skus.append(
            {
                "properties": prop,
                "quantity": _integer(one, "q") or 0,
                "price": str(_decimal(one, "p", required=True)),
                "outer_id": outer_ids[n],
            }
        )
    return skus


class TaobaoApp(DialectApp):
    """The ASGI application, with its store, limiter, fault injector and counters."""

    def __init__(self, config: SandboxConfig, store: Store | None = None) -> None:
        # TOP does not keep outer_id (the seller's code) unique: two items may share one.
        super().__init__(config, store, unique_skus=False)
        self.limiter = RateLimiter(config.rate, config.burst)
        self.pictures: dict[str, str] = {}
        self._methods: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
            "taobao.time.get": self.time_get,
            "taobao.user.seller.get": self.user_seller_get,
            "taobao.item.add": self.item_add,
            "taobao.item.update": self.item_update,
            "taobao.item.seller.get": self.item_seller_get,
            "taobao.items.custom.get": self.items_custom_get,
            "taobao.skus.custom.get": self.skus_custom_get,
            "taobao.items.onsale.get": self.items_onsale_get,
            "taobao.items.inventory.get": self.items_inventory_get,
            "taobao.item.quantity.update": self.item_quantity_update,
            "taobao.item.sku.update": self.item_sku_update,
            "taobao.item.sku.add": self.item_sku_add,
            "taobao.trades.sold.increment.get": self.trades_sold_increment_get,
            "taobao.trade.fullinfo.get": self.trade_fullinfo_get,
            "taobao.picture.upload": lambda params: self.picture_upload(params, {}),
            "taobao.itemprops.get": self.itemprops_get,
            "taobao.item.joint.img": self.item_joint_img,
        }

    # -- what the server and the tests need -----------------------------------------------

    def stats_snapshot(self) -> dict[str, Any]:
        """The counters, with the shop's item count."""
        snapshot = self.stats.snapshot()
        live, _archived = self.store.product_counts()
        snapshot["items"] = live
        snapshot["orders"] = self.store.order_count()
        return snapshot

    def reset(self) -> None:
        """Empty the shop and zero the counters and call limits."""
        self.store.reset()
        self.stats.reset()
        self.limiter.reset()

    # -- ASGI ------------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:  # noqa: PLR0911, PLR0912, PLR0915 - a call's steps in order, as the module doc lists them
        """Lifespan (the order generator) and HTTP."""
        if scope["type"] == "lifespan":
            await self.serve_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path.startswith("/_sandbox/"):
            await self._internal(scope, receive, send, path)
            return
        request_id = uuid.uuid4().hex
        fault = self.faults.draw() if path == GATEWAY else None
        if fault is not None:
            self.stats.fault(fault)
        raw_query = scope.get("query_string", b"").decode("latin-1")
        query = dict(parse_qsl(raw_query, keep_blank_values=True))
        label = query.get("method") or "(no method)"
        if fault is Fault.RESET:
            self._count(label, "reset")
            if abort_connection(receive):
                await after_abort(receive)
                return
        body = await self._read_body(receive)
        if path != GATEWAY:
            self._count(f"{scope['method']} (unknown path)", "404")
            await _send(send, 404, b'{"error":"not found"}', request_id)
            return
        if fault is not None and fault.status in (502, 503):
            # The gateway in front of TOP fails: an HTTP error, not TOP's envelope.
            self._count(label, str(fault.status))
            page = f"<html><body><h1>{fault.status}</h1></body></html>".encode()
            await _send(send, fault.status, page, request_id, content_type="text/html")
            return
        params = dict(query)
        form, files = _form(scope, body)
        params.update(form)
        label = params.get("method") or label
        if fault is Fault.ERROR_500:
            error = TopError(15, "Remote service error", "isp.top-remote-service-error")
            self._count(label, "error_15")
            await _send(send, 200, dumps_json(error.body(request_id)), request_id)
            return
        if fault is Fault.SLOW:
            await asyncio.sleep(self.config.slow_ms / 1000.0)
        try:
            method = self._gateway(params)
            delay = self.faults.latency()
            if delay > 0:
                await asyncio.sleep(delay)
            with self.store.transaction():
                if method == "taobao.picture.upload":
                    answer = self.picture_upload(params, files)
                else:
                    answer = self._methods[method](params)
            name = method.removeprefix("taobao.").replace(".", "_") + "_response"
            answer["request_id"] = request_id
            document: dict[str, Any] = {name: answer}
            outcome = "ok"
        except TopError as error:
            document = error.body(request_id)
            outcome = f"error_{error.code}"
        if fault is Fault.DROP_AFTER_COMMIT:
            self._count(label, "dropped", write=label in WRITE_METHODS)
            if abort_connection(receive):
                await after_abort(receive)
                return
        self._count(label, outcome, write=label in WRITE_METHODS)
        await _send(send, 200, dumps_json(document), request_id)

    def _count(self, label: str, outcome: str, *, write: bool = False) -> None:
        self.stats.request(label, outcome, write=write)

    async def _read_body(self, receive: Receive) -> bytes:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= self.config.max_body_bytes:
                chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def _internal(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        await self._read_body(receive)
        client = scope.get("client") or ("", 0)
        if client[0] not in LOOPBACK:
            await _send(send, 403, b'{"error":"loopback only"}', "")
            return
        if path == "/_sandbox/stats":
            await _send(send, 200, dumps_json(self.stats_snapshot()), "")
        elif path == "/_sandbox/reset" and scope["method"] == "POST":
            self.reset()
            await _send(send, 204, b"", "")
        else:
            await _send(send, 404, b'{"error":"not found"}', "")

    # -- the gateway's checks ----------------------------------------------------------------

    def _gateway(self, params: dict[str, str]) -> str:  # noqa: PLR0912 - TOP's checks, in TOP's order
        method = params.get("method")
        if not method:
            raise TopError(21, "Missing method")
        if method not in self._methods:
            raise TopError(22, "Invalid method")
        app_key = params.get("app_key")
        if not app_key:
            raise TopError(28, "Missing app key")
        if app_key != self.config.client_id:
            raise TopError(29, "Invalid app Key")
        stamp = params.get("timestamp")
        if not stamp:
            raise TopError(30, "Missing timestamp")
        moment = parse_timestamp(stamp)
        if moment is None or abs(moment - self.config.clock()) > TIMESTAMP_TOLERANCE:
            raise TopError(
                31,
                "Invalid timestamp",
                "isv.invalid-timestamp",
                "the timestamp is more than 10 minutes from the platform's time",
            )
        if method not in _SESSION_FREE:
            session = params.get("session")
            if not session:
                raise TopError(26, "Missing session")
            if not hmac.compare_digest(session, DEMO_SESSION):
                raise TopError(27, "Invalid session", "invalid-sessionkey")
        sign = params.get("sign")
        if not sign:
            raise TopError(24, "Missing signature")
        wanted = expected_sign(params, self.config.client_secret, params.get("sign_method", "md5"))
        if wanted is None:
            raise TopError(41, "Invalid arguments:sign_method", "isv.invalid-parameter:sign_method")
        if not hmac.compare_digest(sign.upper(), wanted):
            raise TopError(25, "Invalid signature")
        if params.get("format", "xml") != "json":
            raise TopError(23, "Invalid format", sub_msg="the sandbox answers format=json only")
        decision = self.limiter.acquire(app_key)
        if not decision.allowed:
            self.stats.rate_limited()
            raise TopError(
                7,
                "App Call Limited",
                "accesscontrol.limited-by-app-access-count",
                f"This ban will last for {decision.retry_after} more seconds",
            )
        return method

    # -- API methods ---------------------------------------------------------------------

    def time_get(self, _params: dict[str, str]) -> dict[str, Any]:
        """``taobao.time.get``: the platform's clock."""
        return {"time": beijing_time(self.config.clock())}

    def user_seller_get(self, _params: dict[str, str]) -> dict[str, Any]:
        """``taobao.user.seller.get``: who the session stands for."""
        return {"user": {"nick": "sandbox店铺", "user_id": 2200000000001, "type": "C"}}

    def item_add(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.add``: one item, with its SKUs."""
        for name in (
            "cid",
            "title",
            "type",
            "stuff_status",
            "num",
            "location.state",
            "location.city",
        ):
            if not params.get(name):
                raise _missing(name)
        values = self._item_values(params, {})
        values.setdefault("approve_status", "onsale")
        now = self.config.clock()
        num_iid = NUM_IID_BASE + self.store.next_sequence("num_iid")
        for n, sku in enumerate(values.get("skus") or [], start=1):
            sku["sku_id"] = num_iid * 100 + n
        values["created"] = values["modified"] = beijing_time(now)
        stamp = rfc3339(now)
        row = ProductRow(0, str(num_iid), 1, stamp, stamp, values)
        self.store.insert_products([row])
        return {"item": {"num_iid": num_iid, "created": values["created"]}}

    def item_update(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.update``: only the parameters given change."""
        row = self._row(params)
        values = self._item_values(params, row.values)
        skus = values.get("skus") or []
        known = {sku["properties"]: sku.get("sku_id") for sku in row.values.get("skus") or []}
        next_id = max([int(i) for i in known.values() if i] + [int(row.product_id) * 100])
        for sku in skus:
            if not sku.get("sku_id"):
                sku["sku_id"] = known.get(sku["properties"]) or (next_id := next_id + 1)
        now = self.config.clock()
        values["modified"] = beijing_time(now)
        row.values = values
        row.version += 1
        row.updated_at = rfc3339(now)
        self.store.update_products([row])
        return {"item": {"num_iid": int(row.product_id), "modified": values["modified"]}}

    def _item_values(  # noqa: PLR0912 - one branch per item parameter
        self, params: dict[str, str], current: dict[str, Any]
    ) -> dict[str, Any]:
        """The item's values after applying ``params`` to ``current``, validated."""
        values = json.loads(json.dumps(current))
        title = params.get("title")
        if title is not None:
            if not title.strip():
                raise _invalid("title", "title must not be empty")
            if taobao_length(title) > MAX_TITLE:
                raise _invalid(
                    "title",
                    f"title is {taobao_length(title)} characters as Taobao counts them "
                    f"(a Chinese character counts two); at most {MAX_TITLE}",
                )
            values["title"] = title
        if "cid" in params:
            if not params["cid"].isdigit():
                raise _invalid("cid", "cid must be a category id (digits)")
            values["cid"] = int(params["cid"])
        for name in (
            "props",
            "desc",
            "barcode",
            "type",
            "stuff_status",
            "pic_path",
            "location.state",
            "location.city",
        ):
            if name in params:
                values[name] = params[name]
        if "desc" in params and not 5 <= len(params["desc"]) <= 25000:
            raise _invalid("desc", "desc must be 5 to 25000 characters")
        if "outer_id" in params:
            if len(params["outer_id"]) > 64:
                raise _invalid("outer_id", "outer_id is at most 64 characters")
            values["sku"] = params["outer_id"]
        values.setdefault("sku", "")
        if "approve_status" in params:
            if params["approve_status"] not in ("onsale", "instock"):
                raise _invalid("approve_status", "approve_status is onsale or instock")
            values["approve_status"] = params["approve_status"]
        weight = params.get("item_weight")
        if weight is not None:
            try:
                values["item_weight"] = str(Decimal(weight))
            except InvalidOperation:
                raise _invalid("item_weight", "item_weight must be a number (kg)") from None
        skus = _parse_skus(params)
        if skus is not None:
            values["skus"] = skus
        price = _decimal(params, "price", required="price" not in values and not skus)
        if price is not None:
            values["price"] = str(price)
        num = _integer(params, "num")
        if num is not None:
            values["stock"] = num
        values.setdefault("stock", 0)
        if values.get("skus"):
            # An item with SKUs: its quantity is theirs added up, its price within theirs.
            values["stock"] = sum(int(sku["quantity"]) for sku in values["skus"])
            prices = [Decimal(sku["price"]) for sku in values["skus"]]
            if "price" not in values or not min(prices) <= Decimal(values["price"]) <= max(prices):
                values["price"] = str(min(prices))
        return dict(values)

    def _row(self, params: dict[str, str]) -> ProductRow:
        raw = params.get("num_iid")
        if not raw:
            raise _missing("num_iid")
        row = self.store.product(raw) if raw.isdigit() else None
        if row is None:
            raise TopError(
                15, "Remote service error", "isv.item-not-exist", f"no item with num_iid {raw}"
            )
        return row

    def item_seller_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.seller.get``: one item by ``num_iid``."""
        return {"item": _item_json(self._row(params), params.get("fields"))}

    def items_custom_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.items.custom.get``: items by the seller's own code (``outer_id``)."""
        outer_ids = [value for value in params.get("outer_id", "").split(",") if value]
        if not outer_ids:
            raise _missing("outer_id")
        if len(outer_ids) > MAX_OUTER_IDS:
            raise _invalid("outer_id", f"at most {MAX_OUTER_IDS} outer_id values")
        found = self.store.products_with_skus(outer_ids)
        items = [
            _item_json(row, params.get("fields"))
            for outer_id in dict.fromkeys(outer_ids)
            for row in found.get(outer_id, [])
        ]
        # TOP leaves an empty list out of the answer altogether.
        return {"items": {"item": items}} if items else {}

    def skus_custom_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.skus.custom.get``: SKUs by their ``outer_id``."""
        outer_id = params.get("outer_id")
        if not outer_id:
            raise _missing("outer_id")
        skus = []
        for row in self._all_rows():
            for sku in row.values.get("skus") or []:
                if sku.get("outer_id") == outer_id:
                    skus.append({**_sku_json(sku), "num_iid": int(row.product_id)})
        return {"skus": {"sku": skus}} if skus else {}

    def _all_rows(self) -> list[ProductRow]:
        rows: list[ProductRow] = []
        after = 0
        while True:
            page = self.store.list_products(after, 500)
            if not page:
                return rows
            rows.extend(page)
            after = page[-1].id

    def _items_page(self, params: dict[str, str], status: str) -> dict[str, Any]:
        page_no = _integer(params, "page_no", low=1, high=10**6) or 1
        page_size = _integer(params, "page_size", low=1, high=MAX_PAGE_ITEMS) or 40
        rows = [row for row in self._all_rows() if row.values.get("approve_status") == status]
        chosen = rows[(page_no - 1) * page_size : page_no * page_size]
        answer: dict[str, Any] = {"total_results": len(rows)}
        if chosen:
            answer["items"] = {"item": [_item_json(row, params.get("fields")) for row in chosen]}
        return answer

    def items_onsale_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.items.onsale.get``: the items on sale, page by page."""
        return self._items_page(params, "onsale")

    def items_inventory_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.items.inventory.get``: the items in the warehouse (not on sale)."""
        return self._items_page(params, "instock")

    def item_quantity_update(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.quantity.update``: set (type 1) or add (type 2) an item's or SKU's
        quantity; a SKU by ``sku_id`` or by its ``outer_id``."""
        row = self._row(params)
        if params.get("quantity") in (None, ""):
            raise _missing("quantity")
        kind = params.get("type", "1")
        if kind not in ("1", "2"):
            raise _invalid("type", "type is 1 (set) or 2 (add)")
        quantity = _integer(params, "quantity", low=-999_999, high=999_999) or 0
        values = row.values
        skus = values.get("skus") or []
        target: dict[str, Any] | None = None
        if params.get("sku_id") or params.get("outer_id"):
            for sku in skus:
                if str(sku.get("sku_id")) == params.get("sku_id") or (
                    params.get("outer_id") and sku.get("outer_id") == params["outer_id"]
                ):
                    target = sku
            if target is None:
                raise TopError(15, "Remote service error", "isv.sku-not-exist", "no such SKU")
        elif skus:
            raise _missing("sku_id")
        before = int(target["quantity"] if target is not None else values["stock"])
        after = quantity if kind == "1" else before + quantity
        if after < 0:
            raise _invalid("quantity", f"the quantity would be {after}, below zero")
        if target is not None:
            target["quantity"] = after
            values["stock"] = sum(int(sku["quantity"]) for sku in skus)
        else:
            values["stock"] = after
        now = self.config.clock()
        values["modified"] = beijing_time(now)
        row.version += 1
        row.updated_at = rfc3339(now)
        self.store.update_products([row])
        item: dict[str, Any] = {
            "num_iid": int(row.product_id),
            "num": values["stock"],
            "modified": values["modified"],
        }
        if target is not None:
            item["skus"] = {"sku": [_sku_json(target)]}
        return {"item": item}

    def picture_upload(self, params: dict[str, str], files: dict[str, bytes]) -> dict[str, Any]:
        """``taobao.picture.upload``: an image file into the picture space (JPEG, PNG or GIF
        by content, at most 3 MB); the same bytes again give the same picture."""
        data = files.get("img")
        if not data:
            raise _missing("img")
        if not params.get("image_input_title"):
            raise _missing("image_input_title")
        kind = _picture_type(data)
        if kind is None:
            raise _invalid("img", "img must be a JPEG, PNG or GIF image")
        if len(data) > MAX_PICTURE_BYTES:
            raise _invalid("img", f"img is larger than {MAX_PICTURE_BYTES} bytes")
        digest = hashlib.md5(data, usedforsecurity=False).hexdigest()
        path = self.pictures.get(digest)
        if path is None:
            path = f"https://img.sandbox.taobao.test/imgextra/{digest}.{kind}"
            self.pictures[digest] = path
        return {
            "picture": {
                "picture_id": int(digest[:12], 16),
                "picture_path": path,
                "title": params["image_input_title"],
                "sizes": len(data),
                "md5": digest,
            }
        }

    def itemprops_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.itemprops.get``: a category's properties with their values."""
        raw = params.get("cid")
        if not raw:
            raise _missing("cid")
        if not raw.isdigit():
            raise _invalid("cid", "cid must be a category id (digits)")
        props = CATEGORY_PROPS.get(int(raw), [])
        return {"item_props": {"item_prop": props}} if props else {}

    def item_joint_img(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.joint.img``: a picture-space image as one of the item's extra
        images, at ``position`` (1 to 4); the same position again replaces it."""
        row = self._row(params)
        path = params.get("pic_path")
        if not path:
            raise _missing("pic_path")
        if path not in self.pictures.values():
            raise _invalid("pic_path", "pic_path is not a picture in the seller's picture space")
        position = _integer(params, "position", low=1, high=MAX_EXTRA_IMAGES)
        if position is None:
            raise _missing("position")
        images = [i for i in row.values.get("item_imgs") or [] if i["position"] != position]
        image = {
            "id": int(row.product_id) * 10 + position,
            "url": path,
            "position": position,
            "created": beijing_time(self.config.clock()),
        }
        row.values = {
            **row.values,
            "item_imgs": sorted([*images, image], key=lambda i: int(i["position"])),
        }
        row.version += 1
        self.store.update_products([row])
        return {"item_img": image}

    def item_sku_update(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.sku.update``: one SKU of an item, found by its ``properties``."""
        return self._sku_write(params, adding=False)

    def item_sku_add(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.item.sku.add``: a new SKU for an item (properties not yet on it)."""
        return self._sku_write(params, adding=True)

    def _sku_write(self, params: dict[str, str], *, adding: bool) -> dict[str, Any]:
        row = self._row(params)
        properties = params.get("properties")
        if not properties:
            raise _missing("properties")
        skus = row.values.setdefault("skus", [])
        sku = next((s for s in skus if s["properties"] == properties), None)
        if adding and sku is not None:
            raise _invalid("properties", "the item has a SKU with these properties")
        if not adding and sku is None:
            raise TopError(15, "Remote service error", "isv.sku-not-exist", "no such SKU")
        if sku is None:
            if params.get("quantity") in (None, "") or not params.get("price"):
                raise _missing("quantity" if not params.get("quantity") else "price")
            next_id = max([int(s["sku_id"]) for s in skus] + [int(row.product_id) * 100]) + 1
            sku = {"sku_id": next_id, "properties": properties, "quantity": 0, "price": "0.01"}
            skus.append(sku)
        quantity = _integer(params, "quantity")
        if quantity is not None:
            sku["quantity"] = quantity
        price = _decimal(params, "price")
        if price is not None:
            sku["price"] = str(price)
        if "outer_id" in params:
            sku["outer_id"] = params["outer_id"]
        values = row.values
        values["stock"] = sum(int(s["quantity"]) for s in skus)
        prices = [Decimal(s["price"]) for s in skus]
        if not min(prices) <= Decimal(values.get("price", "0")) <= max(prices):
            values["price"] = str(min(prices))
        now = self.config.clock()
        values["modified"] = beijing_time(now)
        row.version += 1
        row.updated_at = rfc3339(now)
        self.store.update_products([row])
        return {
            "sku": {
                **_sku_json(sku),
                "num_iid": int(row.product_id),
                "modified": values["modified"],
            }
        }

    # -- trades ----------------------------------------------------------------------------

    def trades_sold_increment_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.trades.sold.increment.get``: trades modified in a window (≤ 1 day, in the
        last three months), newest first, page by page."""
        for name in ("fields", "start_modified", "end_modified"):
            if not params.get(name):
                raise _missing(name)
        start = parse_beijing_time(params["start_modified"])
        end = parse_beijing_time(params["end_modified"])
        if start is None:
            raise _invalid("start_modified", "start_modified is yyyy-MM-dd HH:mm:ss")
        if end is None:
            raise _invalid("end_modified", "end_modified is yyyy-MM-dd HH:mm:ss")
        if end < start or end - start > MAX_WINDOW:
            raise _invalid(
                "end_modified", "end_modified must be after start_modified, at most one day"
            )
        if start < self.config.clock() - HISTORY:
            raise _invalid("start_modified", "only the last three months can be queried")
        page_no = _integer(params, "page_no", low=1, high=10**6) or 1
        page_size = _integer(params, "page_size", low=1, high=MAX_PAGE_TRADES) or 40
        status = params.get("status")
        since = rfc3339(start)
        trades = []
        for order in self.store.orders_page(
            updated_since=since, status=None, after=None, limit=10**7
        ):
            modified = _seconds(order["updated_at"])
            if modified > end:
                continue
            trade = _trade_json(order)
            if status and trade["status"] != status:
                continue
            trades.append(trade)
        trades.sort(key=lambda t: (t["modified"], t["tid"]), reverse=True)
        chosen = trades[(page_no - 1) * page_size : page_no * page_size]
        answer: dict[str, Any] = {
            "total_results": len(trades),
            "has_next": page_no * page_size < len(trades),
        }
        if chosen:
            answer["trades"] = {"trade": chosen}
        return answer

    def trade_fullinfo_get(self, params: dict[str, str]) -> dict[str, Any]:
        """``taobao.trade.fullinfo.get``: one trade by ``tid``."""
        tid = params.get("tid")
        if not tid:
            raise _missing("tid")
        order = self.store.order(f"ord_{int(tid):08d}") if tid.isdigit() else None
        if order is None:
            raise TopError(15, "Remote service error", "isv.trade-not-exist", f"no trade {tid}")
        return {"trade": _trade_json(order)}


def _seconds(stamp: str) -> float:
    """Whole POSIX seconds of the store's RFC 3339 time: TOP's times have no fractions."""
    moment = parse_rfc3339(stamp)
    return float(int(moment.timestamp())) if moment is not None else 0.0


def _trade_json(order: dict[str, Any]) -> dict[str, Any]:
    tid = int(str(order["order_id"]).removeprefix("ord_"))
    status = TRADE_STATUS.get(order["status"], "WAIT_BUYER_PAY")
    lines = []
    for n, line in enumerate(order.get("lines") or [], start=1):
        lines.append(
            {
                "oid": tid * 10 + n,
                "outer_iid": line["sku"],
                "outer_sku_id": line.get("variant_sku") or line["sku"],
                "num": line["quantity"],
                "price": line["unit_price"],
                "status": status,
            }
        )
    buyer = order.get("buyer") or {}
    return {
        "tid": tid,
        "status": status,
        "created": beijing_time(_seconds(order["created_at"])),
        "modified": beijing_time(_seconds(order["updated_at"])),
        "payment": order["total"],
        "buyer_nick": buyer.get("name"),
        "receiver_country": buyer.get("country"),
        "orders": {"order": lines},
    }


def _sku_json(sku: dict[str, Any]) -> dict[str, Any]:
    return {
        "sku_id": sku.get("sku_id"),
        "properties": sku["properties"],
        "quantity": sku["quantity"],
        "price": sku["price"],
        "outer_id": sku.get("outer_id") or "",
    }


def _item_json(row: ProductRow, fields: str | None) -> dict[str, Any]:
    values = row.values
    item: dict[str, Any] = {
        "num_iid": int(row.product_id),
        "outer_id": values.get("sku", ""),
        "title": values.get("title"),
        "price": values.get("price"),
        "num": values.get("stock"),
        "cid": values.get("cid"),
        "props": values.get("props"),
        "desc": values.get("desc"),
        "barcode": values.get("barcode"),
        "item_weight": values.get("item_weight"),
        "approve_status": values.get("approve_status"),
        "pic_url": values.get("pic_path"),
        "created": values.get("created"),
        "modified": values.get("modified"),
    }
    skus = values.get("skus")
    if skus:
        item["skus"] = {"sku": [_sku_json(sku) for sku in skus]}
    if values.get("location.state"):
        item["location"] = {"state": values["location.state"], "city": values.get("location.city")}
    if values.get("item_imgs"):
        item["item_imgs"] = {"item_img": values["item_imgs"]}
    wanted = {name.strip() for name in fields.split(",")} if fields else None
    return {
        name: value
        for name, value in item.items()
        if value is not None and (wanted is None or name in wanted or name == "num_iid")
    }


def _picture_type(data: bytes) -> str | None:
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def _form(scope: Scope, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """The business parameters of a call and its files: an urlencoded form, or a multipart
    one (Taobao's SDK sends every call whose API takes a file as multipart, file or not)."""
    headers = dict(scope.get("headers") or [])
    content_type = headers.get(b"content-type", b"").decode("latin-1")
    if not body:
        return {}, {}
    if "multipart/form-data" in content_type.lower():
        return _multipart(content_type, body)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)), {}


def _multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """``(fields, files)`` of a multipart/form-data body (files are not signed)."""
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    if not message.is_multipart():
        return fields, files
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if part.get_filename() is not None:
            files[name] = data
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
    return fields, files


async def _send(
    send: Send,
    status: int,
    body: bytes,
    request_id: str,
    *,
    content_type: str = "application/json;charset=UTF-8",
) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", b"%d" % len(body))]
    if request_id:
        headers.append((b"top-request-id", request_id.encode()))
    start: Message = {"type": "http.response.start", "status": status, "headers": headers}
    await send(start)
    await send({"type": "http.response.body", "body": body})
