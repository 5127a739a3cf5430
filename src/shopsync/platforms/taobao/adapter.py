"""The adapter for Taobao and Tmall, through the Taobao Open Platform's REST gateway (TOP).

Every call is a signed form post to ``{base_url}/router/rest`` (see ``auth.py``). TOP has
no batch writes and no idempotency keys: one item per ``taobao.item.add`` /
``taobao.item.update``, and after an answer lost on the way back the engine finds the
item by its ``outer_id`` (the product's SKU) with ``taobao.items.custom.get`` before
sending anything again. Taobao does not keep ``outer_id`` unique, so nothing but that
lookup stands between a lost answer and a second item: the capabilities say so.

Stock goes through ``taobao.item.quantity.update`` (type 1 sets, type 2 adds); orders
through ``taobao.trades.sold.increment.get``, in windows of at most a day over the last
three months, each window read from its last page back to its first, because TOP lists
the newest first and an order that changes while it is being read moves to the front:
read backwards, it can be seen twice (and is reported once), never missed.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from shopsync.config import Setting, Settings, check_url, parse_text
from shopsync.domain.models import Product, Variant
from shopsync.domain.timefmt import format_timestamp
from shopsync.errors import AmbiguousWriteError, APIError, AuthError, PlatformError, UsageError
from shopsync.http.client import HttpClient
from shopsync.http.multipart import multipart_form
from shopsync.http.redact import redacting_logger
from shopsync.http.retry import full_jitter
from shopsync.i18n import N_
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
from shopsync.platforms.taobao.auth import TopSigning
from shopsync.platforms.taobao.mapping import (
    CID,
    PREFIX,
    PROPERTY_ID,
    SaleProperty,
    add_params,
    category_of,
    has_skus,
    product_constraints,
    product_fields,
    sku_properties,
    taobao_field,
    update_params,
)
from shopsync.platforms.taobao.pictures import (
    IMAGE_LIMITS,
    MAX_PICTURE_BYTES,
    PictureSpace,
    fetch_picture,
    picture_type,
)
from shopsync.platforms.taobao.signing import SIGN_METHODS, parse_top_time, top_time
from shopsync.platforms.taobao.wire import TopWire

log = redacting_logger(__name__)

GATEWAY = "/router/rest"
MAX_OUTER_IDS = 50
MAX_EXTRA_IMAGES = 4
"""An item's pictures: the main one (``pic_path``) and at most four more."""
"""``taobao.items.custom.get`` takes at most this many ``outer_id`` values."""
ITEM_PAGE = 200
TRADE_PAGE = 100
WINDOW = timedelta(days=1)
"""``taobao.trades.sold.increment.get``: a window spans at most one day."""
HISTORY = timedelta(days=90) - timedelta(minutes=10)
"""Only the last three months can be read (less a margin for the clocks)."""
SKU_FIELDS = "sku_id,num_iid,properties,quantity,price,outer_id"
ITEM_FIELDS = "num_iid,outer_id,title,price,num,desc,barcode,approve_status,cid,props,modified"
TRADE_FIELDS = "tid,status,created,modified,payment,buyer_nick,receiver_country,orders"

# Neutral order statuses and Taobao's names for a trade's (TRADE_CLOSED after payment is
# a refund; TRADE_CLOSED_BY_TAOBAO, before it, a cancellation).
_TRADE_STATUS = {
    "WAIT_BUYER_PAY": "pending",
    "TRADE_NO_CREATE_PAY": "pending",
    "PAY_PENDING": "pending",
    "WAIT_SELLER_SEND_GOODS": "paid",
    "SELLER_CONSIGNED_PART": "paid",
    "WAIT_BUYER_CONFIRM_GOODS": "shipped",
    "TRADE_BUYER_SIGNED": "delivered",
    "TRADE_FINISHED": "delivered",
    "TRADE_CLOSED_BY_TAOBAO": "cancelled",
    "TRADE_CLOSED": "refunded",
}
_STATUS_QUERY = {
    "pending": "WAIT_BUYER_PAY",
    "paid": "WAIT_SELLER_SEND_GOODS",
    "shipped": "WAIT_BUYER_CONFIRM_GOODS",
    "delivered": "TRADE_FINISHED",
    "cancelled": "TRADE_CLOSED_BY_TAOBAO",
    "refunded": "TRADE_CLOSED",
}

# Sub-codes of the seller's mistakes, as the core knows them.
_NOT_FOUND_CODES = ("isv.item-not-exist", "isv.sku-not-exist", "isv.item-is-delete")


def parse_sign_method(value: Any) -> str:
    """``md5`` or ``hmac``, TOP's two signature methods."""
    method = parse_text(value).lower()
    if method not in SIGN_METHODS:
        raise ValueError(f"must be one of {', '.join(SIGN_METHODS)}")
    return method


SETTINGS: tuple[Setting, ...] = (
    Setting("app_key", parse_text, help="the TOP app's App Key", required=True),
    Setting("app_secret", parse_text, secret=True, help="the TOP app's App Secret", required=True),
    Setting(
        "session",
        parse_text,
        secret=True,
        help="the seller's session key (授权 SessionKey), from authorising the app",
        required=True,
    ),
    Setting("sign_method", parse_sign_method, "md5", help="TOP signature method: md5 or hmac"),
    Setting(
        "location_state",
        parse_text,
        help="所在地 province (浙江) of items whose row has no taobao:location.state",
    ),
    Setting(
        "location_city",
        parse_text,
        help="所在地 city (杭州) of items whose row has no taobao:location.city",
    ),
)
_LOCATION = (("location.state", "location_state"), ("location.city", "location_city"))
"""taobao.item.add's required location parameters and the settings that default them."""


def item_code_of(error: APIError) -> ItemCode:
    """The normalised outcome of an item TOP refused."""
    code = error.code or ""
    if code.startswith(_NOT_FOUND_CODES):
        return ItemCode.NOT_FOUND
    if code.startswith(("isv.invalid-parameter", "isv.missing-parameter")) or code in (
        "top-40",
        "top-41",
    ):
        return ItemCode.INVALID
    return ItemCode.REFUSED


def _field_of(error: APIError) -> str | None:
    # isv.invalid-parameter:title names the parameter after the colon.
    code = error.code or ""
    return code.split(":", 1)[1] if ":" in code else None


def _utc(text: Any) -> str:
    moment = parse_top_time(str(text or ""))
    return format_timestamp(moment, digits=0) if moment is not None else ""


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _listed(answer: Mapping[str, Any], outer: str, inner: str) -> list[dict[str, Any]]:
    """TOP's nested lists (``{"items": {"item": [...]}}``), absent when empty."""
    container = answer.get(outer)
    values = container.get(inner) if isinstance(container, dict) else None
    return [value for value in values or [] if isinstance(value, dict)]


class TaobaoPlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for Taobao and Tmall (TOP)."""

    name = "taobao"
    max_batch_size = 1
    settings: tuple[Setting, ...] = SETTINGS
    product_constraints = staticmethod(product_constraints)
    """What Taobao refuses, checked at plan time (title length as Taobao counts it...);
    a class attribute, so ``validate`` and ``plan`` check it without connecting."""

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError(N_("Removing items from Taobao is not supported yet."))

    def check_product(self, product: Product) -> Sequence[tuple[str, str, str]]:
        """Taobao's own rules that ``product`` breaks (see :attr:`product_constraints`),
        and option values given by name that the category's properties do not have."""
        problems = product_constraints(product)
        for param, setting in _LOCATION:
            if not self.location.get(param) and not taobao_field(product, param):
                name = PREFIX + param
                problems.append(
                    (
                        f"attr:{name}",
                        "",
                        N_(
                            "Taobao needs the item's location (所在地): a {column} column, or "
                            "the {setting} setting for every item"
                        ).format(column=name, setting=setting),
                    )
                )
        if not has_skus(product) or any(field == f"attr:{CID}" for field, _, _ in problems):
            return problems  # without a valid category there are no properties to ask
        for variant in product.variants:
            for name in product.options:
                value = variant.option_values.get(name, "")
                if PROPERTY_ID.match(value) or not value.strip() or ":" in value:
                    continue  # pid:vid, or already refused by product_constraints
                try:
                    self.resolve_property(product, name, value)
                except UsageError as unknown:
                    problems.append((f"option:{name}", value, unknown.message))
        return problems

    # -- a category's properties -------------------------------------------------------------

    def category_properties(self, cid: str) -> list[SaleProperty]:
        """``taobao.itemprops.get`` of category ``cid``: its sale properties (asked once)."""
        with self._props_lock:
            known = self._category_props.get(cid)
            if known is not None:
                return known
            answer = self.call(
                "taobao.itemprops.get",
                {"cid": cid, "fields": "pid,name,is_sale_prop,prop_values", "is_sale_prop": "true"},
            )
            found = [
                SaleProperty.of(prop)
                for prop in _dict(answer.get("item_props")).get("item_prop") or []
                if isinstance(prop, dict)
            ]
            self._category_props[cid] = found
            return found

    def resolve_property(self, product: Product, option: str, value: str) -> str:
        """``pid:vid`` of ``option=value`` (颜色=黑色) in the product's category.

        The property is the one named ``option``, or else the one whose name begins with
        it (颜色 finds 颜色分类); the value is the one named ``value``.
        """
        cid = category_of(product) or ""
        props = self.category_properties(cid)
        prop = next((p for p in props if p.name == option), None) or next(
            (p for p in props if p.name.startswith(option)), None
        )
        if prop is None:
            names = "、".join(p.name for p in props) or "none"
            raise UsageError(
                N_(
                    "Taobao's category {cid} has no sale property {option} (it has: {names})."
                ).format(cid=cid, option=option, names=names),
                hint=N_("Name the option as the category does, or give its values as pid:vid."),
            )
        vid = prop.values.get(value)
        if vid is None:
            raise UsageError(
                N_(
                    "{value} is not a value of Taobao's property {property} in category {cid} "
                    "(it has: {values})."
                ).format(
                    value=value,
                    property=prop.name,
                    cid=cid,
                    values="、".join(prop.values) or N_("none"),
                ),
                hint=N_("Use one of the category's values, or give the value as pid:vid."),
            )
        return f"{prop.pid}:{vid}"

    def __init__(
        self,
        client: HttpClient,
        *,
        app_key: str,
        session: str,
        wall_clock: Callable[[], float] = time.time,
        pictures: PictureSpace | None = None,
        picture_source: Callable[[str], bytes] = fetch_picture,
        location: Mapping[str, str] | None = None,
    ) -> None:
        """``pictures`` remembers uploaded images (None: every image is uploaded);
        ``picture_source`` reads an image the catalog names (tests serve them locally);
        ``location``: ``location.state`` and ``location.city`` for rows without them."""
        self.client = client
        self.location = dict(location or {})
        self.pictures = pictures
        self.picture_source = picture_source
        self.app_key = app_key
        self._session = session
        self._wall_clock = wall_clock
        self._num_iids: dict[str, str] = {}
        """num_iid by outer_id, as learned from writes and lookups (stock needs num_iid)."""
        self._sku_level: set[str] = set()
        """Those outer_ids that are a SKU's of an item with SKUs, not an item's own."""
        self._category_props: dict[str, list[SaleProperty]] = {}
        """A category's sale properties (taobao.itemprops.get), asked once per run."""
        self._props_lock = threading.Lock()
        self.capabilities = Capabilities(
            max_batch_size=1,
            idempotency_keys="ignored",
            lookup_by_sku=True,
            unique_skus=False,
            stock_set=True,
            stock_cas=False,
            stock_delta=True,
            variants=True,
            images=IMAGE_LIMITS,
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
        picture_source: Callable[[str], bytes] = fetch_picture,
        **_options: Any,
    ) -> TaobaoPlatform:
        """The adapter for ``settings`` (complete credentials); the keywords are for tests."""
        settings.require_credentials()
        assert settings.base_url
        base_url = check_url(settings.base_url, what="base_url").removesuffix(GATEWAY)
        client = HttpClient.from_settings(
            settings,
            TopWire(),
            base_url=base_url,
            credentials=TopSigning(
                str(settings.get("app_secret")),
                sign_method=str(settings.get("sign_method") or "md5"),
                clock=wall_clock,
            ),
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            jitter=jitter,
        )
        app_key, session = str(settings.get("app_key")), str(settings.get("session"))
        # One picture space per shop: the seller is the session's, so its hash names it.
        shop = hashlib.sha256(f"{base_url}|{app_key}|{session}".encode()).hexdigest()[:16]
        return cls(
            client,
            app_key=app_key,
            session=session,
            wall_clock=wall_clock,
            pictures=PictureSpace(settings.cache_dir / "taobao" / f"pictures-{shop}.sqlite3"),
            picture_source=picture_source,
            location={
                param: str(settings.get(name)) for param, name in _LOCATION if settings.get(name)
            },
        )

    def error_scope(self, error: Exception) -> ErrorScope:
        """TOP answers refusals with HTTP 200: an ``isv.*`` one is about the batch (its one
        item), anything else (auth, ``isp.*``, transport) about the platform."""
        if isinstance(error, AuthError):
            return ErrorScope.PLATFORM
        if isinstance(error, APIError) and (error.code or "").startswith("isv."):
            return ErrorScope.BATCH
        return default_error_scope(error)

    def raw_code(self, code: ItemCode, operation: str) -> str | None:
        """TOP's sub-code for ``code`` (for outcomes the core settles without asking)."""
        if code is ItemCode.NOT_FOUND:
            return "isv.item-not-exist"
        return None

    # -- calls -----------------------------------------------------------------------------

    def _system(self, method: str) -> dict[str, str]:
        """TOP's system parameters (``timestamp`` and ``sign`` are the signer's)."""
        return {
            "method": method,
            "app_key": self.app_key,
            "session": self._session,
            "format": "json",
            "v": "2.0",
        }

    def call(
        self, method: str, business: Mapping[str, str], *, retry_ambiguous: bool = True
    ) -> dict[str, Any]:
        """One TOP call: the ``<method>_response`` object of its answer.

        A refusal raises the wire's error, named by the API method rather than the
        gateway's path (every call goes to the same one).
        """
        try:
            response = self.client.request(
                "POST",
                GATEWAY,
                params=self._system(method),
                form=dict(business),
                retry_ambiguous=retry_ambiguous,
            )
        except (APIError, AmbiguousWriteError) as error:
            # Every call goes to the one gateway: "POST /router/rest failed" names nothing.
            error.message = error.message.replace(f"POST {GATEWAY}", method)
            error.args = (error.message,)
            raise
        body = response.body if isinstance(response.body, dict) else {}
        answer = body.get(method.removeprefix("taobao.").replace(".", "_") + "_response")
        if not isinstance(answer, dict):
            raise APIError(
                f"{method}: TOP answered without a {method} response.", status=response.status
            )
        return answer

    # -- products ----------------------------------------------------------------------------

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """One ``taobao.item.add`` per create, one ``taobao.item.update`` per update.

        An ambiguous failure is raised (:class:`AmbiguousWriteError`), never resent: the
        engine looks the items up by ``outer_id`` first.
        """
        created = [self._add(product) for product in creates]
        updated = [self._update(update) for update in updates]
        return BatchResult(created=created, updated=updated)

    def _add(self, product: Product) -> ItemResult:
        try:
            try:
                params = {**self.location, **add_params(product, resolve=self.resolve_property)}
            except UsageError as unknown:  # a property the category lost since plan time
                return ItemResult(
                    sku=product.sku,
                    ok=False,
                    code="INVALID",
                    message=unknown.message,
                    item_code=ItemCode.INVALID,
                )
            if product.images:
                params["pic_path"] = self.upload_picture(product.images[0])
            answer = self.call("taobao.item.add", params, retry_ambiguous=False)
        except APIError as error:
            if self.error_scope(error) is not ErrorScope.BATCH:
                raise
            return self._refused(product.sku, error)
        num_iid = str(_dict(answer.get("item")).get("num_iid", ""))
        try:
            self._extra_images(num_iid, product.images[1:])
        except APIError as error:
            if self.error_scope(error) is not ErrorScope.BATCH:
                raise
            return self._refused(product.sku, error, product_id=num_iid)
        self._num_iids[product.sku] = num_iid
        if has_skus(product):
            for variant in product.variants:
                self._num_iids[variant.sku] = num_iid
                self._sku_level.add(variant.sku)
        return ItemResult(sku=product.sku, ok=True, product_id=num_iid, item_code=ItemCode.OK)

    def _update(self, update: ProductUpdate) -> ItemResult:
        params = update_params(update.product, update.fields)
        if has_skus(update.product) and (update.fields is None or "variants" in update.fields):
            try:
                for variant in update.product.variants:
                    self._sku_write(update.product_id, update.product, variant)
            except APIError as error:
                if self.error_scope(error) is not ErrorScope.BATCH:
                    raise
                return self._refused(update.sku, error)
        images = update.fields is None or "images" in update.fields
        if images and update.product.images:
            try:
                params["pic_path"] = self.upload_picture(update.product.images[0])
                self._extra_images(update.product_id, update.product.images[1:])
            except APIError as error:
                if self.error_scope(error) is not ErrorScope.BATCH:
                    raise
                return self._refused(update.sku, error)
        if not params:
            # Only fields no item parameter takes changed: nothing to send.
            return ItemResult(
                sku=update.sku, ok=True, product_id=update.product_id, item_code=ItemCode.OK
            )
        params["num_iid"] = update.product_id
        try:
            # An update sets values: sending it again after a lost answer changes nothing.
            self.call("taobao.item.update", params)
        except APIError as error:
            if self.error_scope(error) is not ErrorScope.BATCH:
                raise
            return self._refused(update.sku, error)
        self._num_iids[update.sku] = update.product_id
        return ItemResult(
            sku=update.sku, ok=True, product_id=update.product_id, item_code=ItemCode.OK
        )

    def _extra_images(self, num_iid: str, images: Sequence[str]) -> None:
        """``taobao.item.joint.img`` of each image after the main one, at positions 1 to 4
        (the picture space holds each once). Setting a position again replaces its image,
        so sending one again is harmless."""
        for position, image in enumerate(images[:MAX_EXTRA_IMAGES], start=1):
            path = self.upload_picture(image)
            self.call(
                "taobao.item.joint.img",
                {"num_iid": num_iid, "pic_path": path, "position": str(position)},
            )

    def _sku_write(self, num_iid: str, product: Product, variant: Variant) -> None:
        """``taobao.item.sku.update`` of a variant the item has, ``taobao.item.sku.add`` of
        one it has not (an added size). Both set values: sending one again is harmless."""
        params = {
            "num_iid": num_iid,
            "properties": sku_properties(product, variant, self.resolve_property),
            "quantity": str(variant.stock),
            "price": f"{variant.price:.2f}",
            "outer_id": variant.sku,
        }
        try:
            self.call("taobao.item.sku.update", params)
        except APIError as error:
            if not (error.code or "").startswith("isv.sku-not-exist"):
                raise
            self.call("taobao.item.sku.add", params)
        self._num_iids[variant.sku] = num_iid
        self._sku_level.add(variant.sku)

    def upload_picture(self, source: str) -> str:
        """The picture-space path of the image at URL ``source``, uploaded only if this
        shop has never had its bytes (for images the catalog names by URL; local files
        come through :meth:`upload_image`). A picture path this shop already holds is
        used as it is.
        """
        if self.pictures is not None and self.pictures.holds_path(source):
            return source
        try:
            data = self.picture_source(source)
        except PlatformError as error:  # the row's image, not the platform, is at fault
            raise APIError(error.message, code="isv.invalid-parameter:img") from None
        kind = picture_type(data)
        if kind is None or len(data) > MAX_PICTURE_BYTES:
            why = N_("not a JPEG, PNG or GIF image") if kind is None else N_("larger than 3 MB")
            raise APIError(
                N_("The image {source} is {why}; Taobao's picture space refuses it.").format(
                    source=source, why=why
                ),
                code="isv.invalid-parameter:img",
            )
        return self._picture(data, kind, hashlib.sha256(data).hexdigest())

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """A local image file into the picture space (see :meth:`Platform.upload_image`)."""
        kind = picture_type(content)
        if kind is None:
            raise APIError(
                N_(
                    "The image {filename} is not a JPEG, PNG or GIF image; Taobao refuses it."
                ).format(filename=filename),
                code="isv.invalid-parameter:img",
            )
        return RemoteImage(url=self._picture(content, kind, content_hash))

    def _picture(self, data: bytes, kind: str, digest: str) -> str:
        """``taobao.picture.upload`` of ``data``, unless the picture space holds ``digest``.

        The file is the multipart body and is not signed; the other parameters go in the
        query. An upload whose answer was lost is sent again: at worst it leaves an
        unused copy in the picture space.
        """
        known = self.pictures.get(digest) if self.pictures is not None else None
        if known is not None:
            return known
        body, form = multipart_form(
            "img", f"image.{kind}", f"image/{'jpeg' if kind == 'jpg' else kind}", data
        )
        method = "taobao.picture.upload"
        query = {
            **self._system(method),
            "picture_category_id": "0",
            "image_input_title": f"{digest[:16]}.{kind}",
        }
        try:
            response = self.client.request(
                "POST",
                GATEWAY,
                params=query,
                content=body,
                content_type=form,
            )
        except (APIError, AmbiguousWriteError) as error:
            error.message = error.message.replace(f"POST {GATEWAY}", method)
            error.args = (error.message,)
            raise
        answer = _dict(_dict(response.body).get("picture_upload_response"))
        path = _dict(answer.get("picture")).get("picture_path")
        if not isinstance(path, str) or not path:
            raise APIError(f"{method}: TOP answered without a picture_path.")
        if self.pictures is not None:
            self.pictures.put(digest, path)
        return path

    @staticmethod
    def _refused(sku: str, error: APIError, product_id: str | None = None) -> ItemResult:
        return ItemResult(
            sku=sku,
            ok=False,
            product_id=product_id,
            code=error.code,
            message=error.message,
            field=_field_of(error),
            request_id=error.request_id,
            item_code=item_code_of(error),
        )

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """``taobao.items.custom.get`` by ``outer_id``, 50 at a time; the oldest item of an
        ``outer_id`` that several share."""
        found: dict[str, RemoteProduct] = {}
        unique = list(dict.fromkeys(skus))
        for start in range(0, len(unique), MAX_OUTER_IDS):
            chunk = unique[start : start + MAX_OUTER_IDS]
            answer = self.call(
                "taobao.items.custom.get", {"outer_id": ",".join(chunk), "fields": ITEM_FIELDS}
            )
            for item in _listed(answer, "items", "item"):
                product = _remote_product(item)
                if product is not None and product.sku not in found:
                    found[product.sku] = product
                    self._num_iids[product.sku] = product.product_id
        # What no item has as its own code may be a SKU's (a product with variants is
        # found by its first variant's SKU): one call each, only for those.
        for sku in unique:
            if sku in found:
                continue
            answer = self.call("taobao.skus.custom.get", {"outer_id": sku, "fields": SKU_FIELDS})
            matches = _listed(answer, "skus", "sku")
            if matches:
                num_iid = str(matches[0].get("num_iid", ""))
                found[sku] = RemoteProduct(product_id=num_iid, sku=sku, fields={})
                self._num_iids[sku] = num_iid
                self._sku_level.add(sku)
        return found

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Items on sale (``taobao.items.onsale.get``), then in the warehouse
        (``taobao.items.inventory.get``), page by page."""
        size = max(1, min(page_size, ITEM_PAGE))
        for method in ("taobao.items.onsale.get", "taobao.items.inventory.get"):
            page_no = 1
            while True:
                answer = self.call(
                    method, {"fields": ITEM_FIELDS, "page_no": str(page_no), "page_size": str(size)}
                )
                items = _listed(answer, "items", "item")
                for item in items:
                    product = _remote_product(item)
                    if product is not None:
                        yield product
                if len(items) < size:
                    break
                page_no += 1

    # -- stock -------------------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """``taobao.item.quantity.update`` per change: type 1 sets, type 2 adds.

        A set lost on the way back is sent again (it sets the same count); a delta is not
        (:class:`AmbiguousWriteError`): the stock sync decides.
        """
        unknown = [c.sku for c in changes if c.sku not in self._num_iids]
        if unknown:
            self.lookup_skus(unknown)
        return [self._quantity(change) for change in changes]

    def _quantity(self, change: StockChange) -> ItemResult:
        num_iid = self._num_iids.get(change.sku)
        if num_iid is None:
            return ItemResult(
                sku=change.sku,
                ok=False,
                code="isv.item-not-exist",
                message=f"No Taobao item has the outer_id {change.sku!r}.",
                item_code=ItemCode.NOT_FOUND,
            )
        is_set = change.stock is not None
        params = {
            "num_iid": num_iid,
            "quantity": str(change.stock if is_set else change.delta),
            "type": "1" if is_set else "2",
        }
        if change.sku in self._sku_level:
            params["outer_id"] = change.sku  # a SKU of the item, by its own code
        try:
            answer = self.call("taobao.item.quantity.update", params, retry_ambiguous=is_set)
        except APIError as error:
            if self.error_scope(error) is not ErrorScope.BATCH:
                raise
            return self._refused(change.sku, error)
        item = _dict(answer.get("item"))
        num = item.get("num")
        if change.sku in self._sku_level:
            sku_answer = _listed(item, "skus", "sku")
            num = sku_answer[0].get("quantity") if sku_answer else None
        return ItemResult(
            sku=change.sku,
            ok=True,
            product_id=num_iid,
            stock=num if isinstance(num, int) else None,
            item_code=ItemCode.OK,
        )

    # -- orders ------------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """Trades modified since ``updated_since`` (at most three months back), oldest first.

        The windows end a second before the scan began: TOP's times are whole seconds, and
        a window that reached into the present would take in trades at its front while it
        is read from the back, pushing one past the pages already read. In the past,
        trades only leave a window (their new time is now), which reading backwards
        survives. What changes during the scan is read by the next one, which starts
        where this one ended (the order watcher polls from the last time it saw).
        """
        scan_end = self._now().replace(microsecond=0) - timedelta(seconds=1)
        start = updated_since or (scan_end - HISTORY)
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        if start < scan_end - HISTORY:
            start = scan_end - HISTORY
            log.info("Taobao keeps three months of orders: reading from %s", top_time(start))
        size = max(1, min(page_size, TRADE_PAGE))
        query = {"fields": TRADE_FIELDS}
        if status:
            query["status"] = _STATUS_QUERY.get(status, status)
        seen: set[tuple[str, str, str]] = set()
        while start <= scan_end:
            end = min(start + WINDOW, scan_end)
            yield from self._window(query, start, end, size, seen)
            start = end + timedelta(seconds=1)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._wall_clock(), tz=timezone.utc)

    def _window(
        self,
        query: Mapping[str, str],
        start: datetime,
        end: datetime,
        size: int,
        seen: set[tuple[str, str, str]],
    ) -> Iterator[RemoteOrder]:
        window = {**query, "start_modified": top_time(start), "end_modified": top_time(end)}
        method = "taobao.trades.sold.increment.get"
        probe = self.call(method, {**window, "page_no": "1", "page_size": "1"})
        total = int(probe.get("total_results") or 0)
        for page_no in range(math.ceil(total / size), 0, -1):
            answer = self.call(method, {**window, "page_no": str(page_no), "page_size": str(size)})
            for trade in reversed(_listed(answer, "trades", "trade")):
                order = _order(trade)
                state = (order.order_id, order.updated_at, order.status)
                if state not in seen:
                    seen.add(state)
                    yield order

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``taobao.trade.fullinfo.get``, or None if TOP has no such trade."""
        try:
            answer = self.call(
                "taobao.trade.fullinfo.get", {"tid": order_id, "fields": TRADE_FIELDS}
            )
        except APIError as error:
            if (error.code or "").startswith("isv.trade-not-exist"):
                return None
            raise
        trade = answer.get("trade")
        return _order(trade) if isinstance(trade, dict) else None

    # -- the rest ----------------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """A signed call that needs the session (``taobao.user.seller.get``).

        TOP issues no tokens here: the session key was given at authorisation, and the
        gateway does not say how long it lasts (``expires_in`` is infinite).
        """
        self.call("taobao.user.seller.get", {"fields": "nick,user_id"})
        return AuthStatus(
            token_url=self.client.base_url + GATEWAY,
            client_id=self.app_key,
            granted_scopes=None,
            expires_in=math.inf,
        )

    def close(self) -> None:
        """Close the client and the picture space's file."""
        self.client.close()
        if self.pictures is not None:
            self.pictures.close()


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _remote_product(item: Mapping[str, Any]) -> RemoteProduct | None:
    if "num_iid" not in item:
        return None
    return RemoteProduct(
        product_id=str(item["num_iid"]),
        sku=str(item.get("outer_id") or ""),
        fields=product_fields(item),
        updated_at=_utc(item.get("modified")) or None,
    )


def _order(trade: Mapping[str, Any]) -> RemoteOrder:
    lines = tuple(
        OrderLine(
            sku=str(line.get("outer_sku_id") or line.get("outer_iid") or ""),
            quantity=int(line.get("num") or 0),
            unit_price=_decimal(line.get("price", "0")),
        )
        for line in _listed(trade, "orders", "order")
    )
    status = str(trade.get("status", ""))
    return RemoteOrder(
        order_id=str(trade.get("tid", "")),
        status=_TRADE_STATUS.get(status, status),
        created_at=_utc(trade.get("created")),
        updated_at=_utc(trade.get("modified")),
        currency="CNY",
        total=_decimal(trade.get("payment", "0")),
        lines=lines,
        buyer_name=str(trade["buyer_nick"]) if trade.get("buyer_nick") else None,
        buyer_country=str(trade["receiver_country"]) if trade.get("receiver_country") else None,
    )


__all__ = ["SETTINGS", "TaobaoPlatform", "parse_sign_method"]
