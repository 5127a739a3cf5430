"""The Shopee Open Platform v2 adapter (issue 17; specs/shopee/, platforms.md "Shopee").

Mapping, one catalog product to one Shopee item:

| shopsync | Shopee |
|---|---|
| ``sku`` / ``handle`` | ``item_sku``: the SKU, or the handle of a product with options |
| ``title`` | ``item_name`` (at most 120 characters) |
| ``description`` | ``description`` (the title when the file has none: Shopee requires one) |
| ``price`` | ``original_price`` at create; ``update_price`` after |
| ``stock`` | ``seller_stock: [{stock}]`` at create; ``update_stock`` after |
| ``weight_kg`` | ``weight`` (required; a product with options: its first variant's) |
| ``images`` | ``image.image_id_list``, each image uploaded once per content hash |
| ``options`` / ``variants`` | ``tier_variation`` / models (:mod:`.variants`) |
| ``category`` / ``attr:shopee:category_id`` / setting ``category_id`` | ``category_id`` (a leaf) |
| ``attr:shopee:attr:ID`` | ``attribute_list: [{attribute_id: ID, attribute_value_list: [...]}]`` |
| (every enabled channel of the shop) | ``logistic_info`` |

``add_item`` makes one item per call and takes no idempotency key, so a batch holds one
product and an ambiguous create is raised for the engine to reconcile by lookup. A lookup
asks ``search_item`` by ``item_sku`` and, for what it does not find, lists the items
updated in the last :data:`SEARCH_LAG_ALLOWANCE` seconds, because Shopee's search lags
behind writes. Models are made by ``init_tier_variation``, changed by
``update_tier_variation`` and ``add_model``, priced and stocked per ``model_id``; a
model's SKU is found through the handle :mod:`.journal` recorded before
the item's ``add_item``. Updates (``update_item``, ``update_price``, ``update_stock``,
``update_tier_variation``) set values, so resending one is harmless and the client
retries them; ``add_model`` is never resent blindly: another attempt reads the models first.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from shopsync.config import Setting, Settings, parse_text
from shopsync.domain.images import JPEG, MIB, PNG, ImageLimits, is_url
from shopsync.domain.models import Product, Variant
from shopsync.domain.timefmt import format_timestamp
from shopsync.errors import APIError, AuthError, PlatformError, UsageError
from shopsync.http.auth import TokenRejected, private_dir
from shopsync.http.client import ApiResponse, HttpClient
from shopsync.http.multipart import multipart_form
from shopsync.http.redact import redacting_logger, register_secret
from shopsync.http.retry import classify_exception, full_jitter
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
    ProductProblem,
    ProductUpdate,
    RemoteImage,
    RemoteOrder,
    RemoteProduct,
    StockChange,
    default_error_scope,
)
from shopsync.platforms.shopee.journal import HandleJournal
from shopsync.platforms.shopee.signing import common_parameters
from shopsync.platforms.shopee.tokens import REFRESH_PATH, TOKEN_PATH, ShopeeAuth, TokenFile
from shopsync.platforms.shopee.variants import (
    RemoteModel,
    first_tier_images,
    has_models,
    item_sku,
    option_lists,
    remote_models,
    tier_images,
    tier_index,
    tier_variation,
    variant_problems,
)
from shopsync.platforms.shopee.wire import NOT_FOUND, ShopeeWire, envelope_error

log = redacting_logger(__name__)

API = "/api/v2/"
MAX_BATCH = 1
"""``add_item`` creates one item per call."""
MAX_TITLE = 120
PAGE = 100
BASE_INFO_CHUNK = 50
ORDER_WINDOW = timedelta(days=15)
ORDER_HISTORY = timedelta(days=90)
SEARCH_LAG_ALLOWANCE = 900.0
"""Seconds of recent writes a lookup lists, for items ``search_item`` does not see yet."""
IMAGE_LIMITS = ImageLimits(content_types=frozenset({JPEG, PNG}), max_bytes=10 * MIB)
"""What ``media_space/upload_image`` takes ("≤ 10 MB, JPG/PNG"), checked at plan time."""
ATTRIBUTE_PREFIX = "shopee:attr:"
CATEGORY_ATTRIBUTE = "shopee:category_id"
_REFUSALS = frozenset({"error_param", "error_item", "error_invalid", "error_data"})


def _int_setting(value: Any) -> int:
    text = parse_text(value)
    if not text.isdigit():
        raise ValueError("must be a whole number")
    return int(text)


HOSTS = {
    "sg": "https://partner.shopeemobile.com",
    "cn": "https://openplatform.shopee.cn",
    "br": "https://openplatform.shopee.com.br",
    "test-sg": "https://openplatform.sandbox.test-stable.shopee.sg",
    "test-cn": "https://openplatform.sandbox.test-stable.shopee.cn",
}
"""Shopee's API domains (API-calls.md, "API domains"): chosen by where the caller runs
(Chinese Mainland, near the US, near Singapore), not by the shop's market; ``test-*`` are
the sandbox's, for a test partner id."""
AUTH_PARTNER_PATH = "/api/v2/shop/auth_partner"
"""The page where a seller authorises the app (Authorization-and-Authentication.md)."""


def _region(value: Any) -> str:
    text = parse_text(value).lower()
    if text not in HOSTS:
        raise ValueError(f"must be one of {', '.join(HOSTS)}")
    return text


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "base_url",
        parse_text,
        help="the API host (default: the region's; set it for a sandbox or proxy)",
    ),
    Setting(
        "region",
        _region,
        "sg",
        help="which Shopee API domain: sg, cn (Chinese Mainland), br (near the US), "
        "test-sg or test-cn (the test environment)",
    ),
    Setting(
        "partner_id", _int_setting, help="the app's partner id (Shopee console)", required=True
    ),
    Setting("partner_key", parse_text, secret=True, help="the app's partner key", required=True),
    Setting("shop_id", _int_setting, help="the authorised shop's id", required=True),
    Setting("access_token", parse_text, secret=True, help="an access token (else refreshed)"),
    Setting(
        "refresh_token",
        parse_text,
        secret=True,
        help="the refresh token to start from (the token store keeps each new one)",
    ),
    Setting(
        "auth_code", parse_text, secret=True, help="an authorisation code, turned into tokens once"
    ),
    Setting("category_id", _int_setting, help="the leaf category of products that name none"),
)


def _dumps(value: Any) -> str:
    """JSON text with Decimals as JSON numbers, digit for digit (never through a float)."""
    marks: dict[str, str] = {}

    def default(obj: Any) -> Any:
        if isinstance(obj, Decimal):
            mark = f"\u0000{len(marks)}\u0000"
            marks[mark] = str(obj)
            return mark
        raise TypeError(f"{type(obj).__name__} is not JSON")

    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=default)
    for mark, number in marks.items():
        text = text.replace(json.dumps(mark), number)
    return text


def endpoint_of(settings: Settings) -> str:
    """``base_url`` if set (a sandbox, a proxy), else the region's API domain."""
    if settings.base_url:
        return settings.base_url.rstrip("/")
    return HOSTS[str(settings.get("region") or "sg")]


def authorisation_url(
    settings: Settings, redirect: str, *, wall_clock: Callable[[], float] = time.time
) -> str:
    """The link a seller opens to authorise the app for a shop: Shopee's authorisation
    page, signed (valid 5 minutes), sending the seller back to ``redirect`` with
    ``code`` and ``shop_id`` in its query."""
    for name in ("partner_id", "partner_key"):
        if settings.get(name) is None:
            raise UsageError(
                N_("The Shopee authorisation link needs the {name} setting.").format(name=name),
                hint=N_("Set {variable} or {name} in the profile.").format(
                    variable=f"SHOPSYNC_{name.upper()}", name=name
                ),
            )
    partner_id = int(settings.get("partner_id"))
    params = common_parameters(
        str(settings.get("partner_key")), partner_id, AUTH_PARTNER_PATH, int(wall_clock())
    )
    params["redirect"] = redirect
    return endpoint_of(settings) + AUTH_PARTNER_PATH + "?" + urlencode(params)


class ImageSpace:
    """Shopee image ids by content hash, so an unchanged image is uploaded once.

    A SQLite file per partner and shop in the data directory: ``sha256 → image_id``, with
    the source (the URL) it was fetched from, so an item read back names its images as
    the catalog does.
    """

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self.path = path
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS images (sha256 TEXT PRIMARY KEY, image_id TEXT NOT NULL)"
        )
        columns = {row[1] for row in self._conn.execute("PRAGMA table_info(images)")}
        if "source" not in columns:  # a file from before sources were kept
            self._conn.execute("ALTER TABLE images ADD COLUMN source TEXT")

    def get(self, digest: str) -> str | None:
        """The image id uploaded for ``digest``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT image_id FROM images WHERE sha256 = ?", (digest,)
            ).fetchone()
        return None if row is None else str(row[0])

    def put(self, digest: str, image_id: str, source: str | None = None) -> None:
        """Remember ``image_id`` for ``digest`` (fetched from ``source``)."""
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO images VALUES (?, ?, ?)", (digest, image_id, source)
            )

    def sources(self, image_ids: Sequence[str]) -> dict[str, str]:
        """The source of each of ``image_ids`` this shop uploaded from one."""
        wanted = list(dict.fromkeys(image_ids))
        if not wanted:
            return {}
        marks = ",".join("?" * len(wanted))
        query = f"SELECT image_id, source FROM images WHERE source IS NOT NULL AND image_id IN ({marks})"  # noqa: S608, E501 - only placeholders are interpolated
        with self._lock:
            return {str(i): str(s) for i, s in self._conn.execute(query, wanted)}

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()


def fetch_image(url: str) -> bytes:
    """The bytes of an image the catalog names by URL (Shopee takes only files)."""
    try:
        response = requests.get(url, timeout=(5, 30))
        response.raise_for_status()
    except requests.RequestException as error:
        raise PlatformError(f"The image {url} could not be fetched: {error}") from None
    return response.content


class ShopeePlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for Shopee Open Platform v2."""

    name = "shopee"
    max_batch_size = MAX_BATCH
    settings: tuple[Setting, ...] = SETTINGS
    capabilities = Capabilities(
        max_batch_size=MAX_BATCH,
        idempotency_keys="ignored",
        lookup_by_sku=True,
        unique_skus=False,
        stock_set=True,
        stock_cas=False,
        stock_delta=False,
        variants=True,
        images=IMAGE_LIMITS,
    )

    def __init__(
        self,
        client: HttpClient,
        auth: ShopeeAuth,
        images: ImageSpace,
        *,
        journal: HandleJournal | None = None,
        category_id: int | None = None,
        image_source: Callable[[str], bytes] = fetch_image,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.auth = auth
        self.images = images
        self.journal = (
            journal
            if journal is not None
            else HandleJournal(images.path.parent / "handles.sqlite3")
        )
        self.category_id = category_id
        self.image_source = image_source
        self.wall_clock = wall_clock
        self._channels: list[dict[str, Any]] | None = None
        self._channels_lock = threading.Lock()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[float], float] = full_jitter,
        image_source: Callable[[str], bytes] = fetch_image,
        **_options: Any,
    ) -> ShopeePlatform:
        """The adapter for ``settings`` (complete credentials); keywords are for tests."""
        settings.require_credentials()
        partner_id = int(settings.get("partner_id"))
        shop_id = int(settings.get("shop_id"))
        client = HttpClient.from_settings(
            settings,
            ShopeeWire(),
            base_url=endpoint_of(settings),
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            jitter=jitter,
        )
        directory = settings.cache_dir / "shopee"
        auth = ShopeeAuth(
            partner_id=partner_id,
            partner_key=str(settings.get("partner_key")),
            shop_id=shop_id,
            token_file=TokenFile(directory / "tokens", partner_id, shop_id),
            access_token=settings.get("access_token"),
            refresh_token=settings.get("refresh_token"),
            auth_code=settings.get("auth_code"),
            clock=wall_clock,
        )
        platform = cls(
            client,
            auth,
            ImageSpace(directory / "images" / f"{partner_id}-{shop_id}.sqlite3"),
            journal=HandleJournal(directory / "handles" / f"{partner_id}-{shop_id}.sqlite3"),
            category_id=settings.get("category_id"),
            image_source=image_source,
            wall_clock=wall_clock,
        )
        auth.call = platform.public_call
        client.credentials = auth
        return platform

    # -- calls ---------------------------------------------------------------------------

    def public_call(self, path: str, body: Mapping[str, Any]) -> Mapping[str, Any]:
        """A public (token) call: signed without a token, retried, its envelope checked."""
        what = f"POST {path}"

        def attempt(remaining: float) -> Mapping[str, Any]:
            try:
                response = self.client.transport.send(
                    "POST",
                    self.client.base_url + path,
                    timeout=(min(5.0, max(remaining, 0.001)), min(30.0, max(remaining, 0.001))),
                    params=self.auth.public_parameters(path),
                    json=dict(body),
                )
            except requests.RequestException as error:
                raise classify_exception(error, what=what) from error
            verdict = self.client.wire.classify(response, what=what)
            if isinstance(verdict, APIError):
                raise AuthError(verdict.message, hint=N_("Run `shopsync auth shopee --code CODE`."))
            if verdict is not None:
                raise verdict
            answer = response.json()
            return answer if isinstance(answer, dict) else {}

        result: Mapping[str, Any] = self.client.retry.call(attempt, what=what)
        return result

    def _get(self, call: str, params: Mapping[str, str]) -> dict[str, Any]:
        return _response(self.client.request("GET", API + call, params=params))

    def _post(self, call: str, body: Mapping[str, Any], *, ambiguous_ok: bool) -> dict[str, Any]:
        answer = self.client.request(
            "POST", API + call, json_text=_dumps(body), retry_ambiguous=ambiguous_ok
        )
        return _response(answer)

    def error_scope(self, error: Exception) -> ErrorScope:
        """A refused item is about that item; auth, outages and the rest about Shopee."""
        if isinstance(error, APIError) and (error.code in _REFUSALS or error.code in NOT_FOUND):
            return ErrorScope.BATCH
        return default_error_scope(error)

    # -- products ------------------------------------------------------------------------

    def check_product(self, product: Product) -> list[ProductProblem]:
        """Shopee's rules a product breaks, as ``(field, message)``; empty if none.

        For plan time (issue 12's constraints seam), and checked again before a create.
        """
        problems: list[ProductProblem] = []
        if len(product.title) > MAX_TITLE:
            problems.append(
                (
                    "title",
                    N_("must be at most {limit} characters on Shopee").format(limit=MAX_TITLE),
                )
            )
        if product.weight_kg is None or product.weight_kg <= 0:
            problems.append(("weight_kg", N_("is required on Shopee (logistics price by weight)")))
        if not product.images:
            problems.append(("images", N_("Shopee needs at least one image")))
        if self._category(product) is None:
            problems.append(
                ("category", N_("must be a Shopee leaf category id (or set category_id)"))
            )
        problems.extend(variant_problems(product))
        return problems

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """One ``add_item`` per create; ``update_item``/``update_price``/``update_stock``
        for what each update changes."""
        return BatchResult(
            created=[self._create(product) for product in creates],
            updated=[self._update(update) for update in updates],
        )

    def _create(self, product: Product) -> ItemResult:
        problems = self.check_product(product)
        if problems:
            field, *_, message = problems[0]
            return _refused(product.sku, "error_param", f"{field} {message}", field)
        try:
            if has_models(product):
                item_id = self._create_with_models(product)
            else:
                item_id = self._add_item(product)
        except APIError as error:
            if error.code in _REFUSALS:
                return _refused(product.sku, str(error.code), error.message, None)
            raise
        return ItemResult(sku=product.sku, ok=True, product_id=str(item_id), item_code=ItemCode.OK)

    def _add_item(self, product: Product) -> int:
        body = self._item_body(product, product.model_fields_set | {"title", "price"})
        body.update(
            original_price=product.price,
            seller_stock=[{"stock": product.stock}],
            logistic_info=self._logistics(),
            item_sku=item_sku(product),
            description=product.description or product.title,
            category_id=self._category(product),
            attribute_list=_attribute_list(product.attributes),
        )
        answer = self._post("product/add_item", body, ambiguous_ok=False)
        item_id = answer.get("item_id")
        if item_id is None:
            raise APIError("Shopee's add_item answered without an item_id.")
        return int(item_id)

    def _create_with_models(self, product: Product) -> int:
        """``add_item`` then ``init_tier_variation``, resuming an earlier attempt's item
        (the journal's) rather than adding a second one."""
        assert product.handle is not None
        earlier, item_id = self.journal.begin(product.handle, product.skus)
        if earlier and item_id is None:
            # An add_item whose answer never came: the item may be there.
            item_id = self._find_item(product.handle)
        if item_id is None:
            item_id = self._add_item(product)
            self.journal.added(product.handle, item_id)
        try:
            self._init_models(item_id, product)
        except APIError as error:
            if error.code not in NOT_FOUND or not earlier:
                raise
            # The journal's item is gone from the shop (deleted there): add it anew.
            item_id = self._add_item(product)
            self.journal.added(product.handle, item_id)
            self._init_models(item_id, product)
        return item_id

    def _init_models(self, item_id: int, product: Product) -> None:
        """Every model of ``product`` on ``item_id`` (any earlier ones are replaced)."""
        values = option_lists(product.options, product.variants)
        body = {
            "item_id": item_id,
            "tier_variation": tier_variation(
                product.options, values, first_tier_images(product, self.image_id_for)
            ),
            "model": [
                _new_model(variant, tier_index(product.options, values, variant))
                for variant in product.variants
            ],
        }
        self._post("product/init_tier_variation", body, ambiguous_ok=True)

    def _update(self, update: ProductUpdate) -> ItemResult:
        product = update.product
        fields = set(update.fields) if update.fields is not None else set(product.model_fields_set)
        item_id = int(update.product_id)
        try:
            body = self._item_body(product, fields)
            if body:
                self._post("product/update_item", {"item_id": item_id, **body}, ambiguous_ok=True)
            if has_models(product):
                if fields & {"variants", "options", "handle"}:
                    self._update_models(item_id, update)
            elif "price" in fields:
                prices = {"item_id": item_id, "price_list": [{"original_price": product.price}]}
                self._post("product/update_price", prices, ambiguous_ok=True)
            if "stock" in fields and not has_models(product):
                self._set_stock(item_id, product.stock)
        except APIError as error:
            if error.code in NOT_FOUND:
                return ItemResult(
                    sku=product.sku,
                    ok=False,
                    code=str(error.code),
                    message=error.message,
                    item_code=ItemCode.NOT_FOUND,
                )
            if error.code in _REFUSALS:
                return _refused(product.sku, str(error.code), error.message, None)
            raise
        return ItemResult(
            sku=product.sku, ok=True, product_id=update.product_id, item_code=ItemCode.OK
        )

    def _update_models(self, item_id: int, update: ProductUpdate) -> None:
        """Bring the item's models to the product's: the tier structure where it changed,
        new models, and the price and stock of only the models whose own changed."""
        product = update.product
        answer = self._get("product/get_model_list", {"item_id": str(item_id)})
        names, before_values, models = remote_models(answer)
        if names != list(product.options):
            # Another set of options is another tier structure: made anew (its models too).
            self._init_models(item_id, product)
            return
        by_sku = {model.sku: model for model in models}
        removed = set(update.removed_variants)
        listed = set(product.skus)
        # A model the file no longer lists stays, unless its removal was asked for.
        kept = [m for m in models if m.sku not in listed and m.sku not in removed]
        kept_variants = [_variant_of(m, names, before_values) for m in kept]
        wanted = [*product.variants, *kept_variants]
        values = option_lists(names, wanted, before_values)
        images = tier_images(answer)
        wanted_images = {**images, **first_tier_images(product, self.image_id_for)}
        wanted_images = {k: v for k, v in wanted_images.items() if k in values[0]}
        current = [v for v in wanted if v.sku in by_sku]
        moved = any(
            tuple(tier_index(names, values, v)) != by_sku[v.sku].tier_index for v in current
        )
        dropped = len(current) != len(models)
        if values != before_values or moved or dropped or wanted_images != images:
            body = {
                "item_id": item_id,
                "tier_variation": tier_variation(names, values, wanted_images),
                "model_list": [
                    {"model_id": by_sku[v.sku].model_id, "tier_index": tier_index(names, values, v)}
                    for v in current
                ],
            }
            self._post("product/update_tier_variation", body, ambiguous_ok=True)
        new = [v for v in product.variants if v.sku not in by_sku]
        if new:
            body = {
                "item_id": item_id,
                "model_list": [_new_model(v, tier_index(names, values, v)) for v in new],
            }
            self._post("product/add_model", body, ambiguous_ok=False)
        # What the platform last confirmed (the ledger's), else what it holds now.
        confirmed = {str(v.get("sku")): v for v in update.variants_before if isinstance(v, dict)}
        prices: list[dict[str, Any]] = []
        stocks: list[dict[str, Any]] = []
        for variant in product.variants:
            model = by_sku.get(variant.sku)
            if model is None:
                continue
            known = confirmed.get(variant.sku)
            price = str(known.get("price")) if known else model.price
            stock = known.get("stock") if known else model.stock
            if _decimal(price) != variant.price:
                prices.append({"model_id": model.model_id, "original_price": variant.price})
            if stock != variant.stock:
                stocks.append(
                    {"model_id": model.model_id, "seller_stock": [{"stock": variant.stock}]}
                )
        if prices:
            body = {"item_id": item_id, "price_list": prices}
            self._post("product/update_price", body, ambiguous_ok=True)
        if stocks:
            self._check_stock(
                item_id,
                self._post(
                    "product/update_stock",
                    {"item_id": item_id, "stock_list": stocks},
                    ambiguous_ok=True,
                ),
            )

    def _item_body(self, product: Product, fields: set[str]) -> dict[str, Any]:
        """The ``update_item`` fields (also the base of ``add_item``) for ``fields``."""
        body: dict[str, Any] = {}
        if "title" in fields:
            body["item_name"] = product.title
        if "description" in fields and product.description:
            body["description"] = product.description
        if "weight_kg" in fields and product.weight_kg is not None:
            body["weight"] = product.weight_kg
        if "images" in fields and product.images:
            body["image"] = {"image_id_list": [self.image_id_for(url) for url in product.images]}
        if "category" in fields or "attributes" in fields:
            category = self._category(product)
            if category is not None:
                body["category_id"] = category
            body["attribute_list"] = _attribute_list(product.attributes)
        if "status" in fields:
            body["item_status"] = "NORMAL" if product.status == "active" else "UNLIST"
        return body

    def _category(self, product: Product) -> int | None:
        for text in (product.attributes.get(CATEGORY_ATTRIBUTE), product.category):
            if text and text.strip().isdigit():
                return int(text)
        return self.category_id

    def _logistics(self) -> list[dict[str, Any]]:
        with self._channels_lock:
            if self._channels is None:
                answer = self._get("logistics/get_channel_list", {})
                self._channels = [
                    {"logistic_id": c["logistics_channel_id"], "enabled": True}
                    for c in answer.get("logistics_channel_list") or []
                    if isinstance(c, dict) and c.get("enabled")
                ]
            return list(self._channels)

    def image_id_for(self, source: str) -> str:
        """The Shopee image id of an image the product names: a URL's bytes, uploaded only
        if never before; anything else is an id already (a local file the engine uploaded
        through :meth:`upload_image`)."""
        if not is_url(source):
            return source
        data = self.image_source(source)
        return self._image_id(data, hashlib.sha256(data).hexdigest(), source)

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """Put a local image file in the media space (once per content: the image space
        answers a file uploaded before, by this or any other ledger, from its hash)."""
        return RemoteImage(image_id=self._image_id(content, content_hash, None))

    def _image_id(self, data: bytes, digest: str, source: str | None) -> str:
        known = self.images.get(digest)
        if known is not None:
            return known
        kind = "image/png" if data.startswith(b"\x89PNG") else "image/jpeg"
        payload, form = multipart_form("image", "image", kind, data)
        what = "POST /api/v2/media_space/upload_image"
        url = self.client.base_url + API + "media_space/upload_image"

        def send(auth: requests.auth.AuthBase, remaining: float) -> requests.Response:
            self.client.stats.add("requests")
            try:
                return self.client.transport.send(
                    "POST",
                    url,
                    timeout=(5.0, min(60.0, max(remaining, 0.001))),
                    auth=auth,
                    headers={"Content-Type": form},
                    content=payload,
                )
            except requests.RequestException as error:
                raise classify_exception(error, what=what) from error

        def attempt(remaining: float) -> dict[str, Any]:
            # An upload that Shopee never answered only leaves an unused image behind, so
            # it is retried; the multipart body is why it does not go through request().
            auth = self.auth.authorize()
            response = send(auth, remaining)
            verdict = self.client.wire.classify(response, what=what)
            if isinstance(verdict, TokenRejected):
                replacement = self.auth.reauthorize(auth)
                if replacement is not None:
                    response = send(replacement, remaining)
                    verdict = self.client.wire.classify(response, what=what)
            if verdict is not None:
                raise verdict
            return _response_body(response.json())

        answer: dict[str, Any] = self.client.retry.call(attempt, what=what)
        image_id = (answer.get("image_info") or {}).get("image_id")
        if not isinstance(image_id, str):
            raise APIError("Shopee's upload_image answered without an image_id.")
        self.images.put(digest, image_id, source)
        return image_id

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError(N_("Removing products from Shopee is not supported yet."))

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """Items by ``item_sku``, or by a model's SKU (the engine looks an item with models
        up by its first variant's): ``search_item``, by the journal's handle where a SKU
        is a model's, then the recent writes search may not see yet."""
        return {sku: found.product for sku, found in self._locate(skus).items()}

    def _search(self, item_skus: Sequence[str]) -> dict[str, int]:
        """``item_sku → item_id`` for those ``search_item`` finds (the oldest of each)."""
        ids: dict[str, int] = {}
        for sku in dict.fromkeys(item_skus):
            found = self._get("product/search_item", {"item_sku": sku, "page_size": str(PAGE)})
            item_ids = found.get("item_id_list") or []
            if item_ids:
                ids[sku] = int(min(item_ids))
        return ids

    def _find_item(self, item_sku: str) -> int | None:
        """The item whose ``item_sku`` is ``item_sku``: searched, else among recent writes."""
        found = self._search([item_sku]).get(item_sku)
        if found is not None:
            return found
        since = int(self.wall_clock() - SEARCH_LAG_ALLOWANCE)
        for item in self._items(update_time_from=since, only={item_sku}):
            if item.item_sku == item_sku:
                return int(item.product.product_id)
        return None

    def _locate(self, skus: Sequence[str]) -> dict[str, _Located]:
        wanted = list(dict.fromkeys(skus))
        ids = self._search(wanted)
        handles = self.journal.handles([sku for sku in wanted if sku not in ids])
        by_handle = self._search(sorted(set(handles.values())))
        ids.update((sku, by_handle[h]) for sku, h in handles.items() if h in by_handle)
        items = {
            int(found.product.product_id): found
            for found in self._base_info(sorted(set(ids.values())))
        }
        out: dict[str, _Located] = {}
        for sku, item_id in ids.items():
            found = items.get(item_id)
            if found is not None and sku in found.model_ids:
                out[sku] = found
        missing = {sku for sku in wanted if sku not in out}
        if missing:
            since = int(self.wall_clock() - SEARCH_LAG_ALLOWANCE)
            candidates = missing | set(self.journal.handles(sorted(missing)).values())
            for found in self._items(update_time_from=since, only=candidates):
                for sku in missing & set(found.model_ids):
                    out.setdefault(sku, found)
        return out

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Every item, ``get_item_list`` page by page, read by ``get_item_base_info`` (and
        ``get_model_list`` for an item with models)."""
        for found in self._items(update_time_from=None, page_size=page_size):
            yield found.product

    def _items(
        self,
        *,
        update_time_from: int | None,
        page_size: int = PAGE,
        only: Collection[str] | None = None,
    ) -> Iterator[_Located]:
        """Items page by page (updated since ``update_time_from``); with ``only``, just
        those whose ``item_sku`` is in it, so no other item's models are read."""
        offset = 0
        while True:
            params = {"offset": str(offset), "page_size": str(min(page_size, PAGE))}
            params["item_status"] = "NORMAL"
            if update_time_from is not None:
                params["update_time_from"] = str(update_time_from)
                params["update_time_to"] = str(int(self.wall_clock()) + 60)
            answer = self._get("product/get_item_list", params)
            item_ids = [int(i["item_id"]) for i in answer.get("item") or [] if isinstance(i, dict)]
            yield from self._base_info(item_ids, only)
            if not answer.get("has_next_page") or not item_ids:
                return
            offset = int(answer.get("next_offset", offset + len(item_ids)))

    def _base_info(
        self, item_ids: Sequence[int], only: Collection[str] | None = None
    ) -> list[_Located]:
        out: list[_Located] = []
        for start in range(0, len(item_ids), BASE_INFO_CHUNK):
            chunk = ",".join(str(i) for i in item_ids[start : start + BASE_INFO_CHUNK])
            answer = self._get("product/get_item_base_info", {"item_id_list": chunk})
            items = [i for i in answer.get("item_list") or [] if isinstance(i, dict)]
            if only is not None:
                items = [i for i in items if str(i.get("item_sku") or "") in only]
            models = {
                int(item["item_id"]): self._get(
                    "product/get_model_list", {"item_id": str(item["item_id"])}
                )
                for item in items
                if item.get("has_model")
            }
            ids = [i for item in items for i in _image_ids(item)]
            ids += [i for m in models.values() for i in tier_images(m).values()]
            sources = self.images.sources(ids)
            out.extend(_located(item, sources, models.get(int(item["item_id"]))) for item in items)
        return out

    # -- inventory -----------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """``update_stock`` per item, for every model of it the changes name (setting a
        count; Shopee has no delta or CAS)."""
        located = self._locate([c.sku for c in changes])
        results: dict[int, ItemResult] = {}
        per_item: dict[int, list[tuple[int, StockChange]]] = {}
        for position, change in enumerate(changes):
            found = located.get(change.sku)
            if found is None:
                results[position] = ItemResult(
                    sku=change.sku,
                    ok=False,
                    code="error_item_not_found",
                    message=f"No Shopee item or model has the SKU {change.sku}.",
                    item_code=ItemCode.NOT_FOUND,
                )
            elif change.stock is None:
                results[position] = _refused(
                    change.sku, "unsupported", "Shopee sets stock; it takes no deltas.", "stock"
                )
            else:
                per_item.setdefault(int(found.product.product_id), []).append((position, change))
        for item_id, entries in per_item.items():
            found = located[entries[0][1].sku]
            body = {
                "item_id": item_id,
                "stock_list": [
                    {"model_id": found.model_ids[c.sku], "seller_stock": [{"stock": c.stock}]}
                    for _, c in entries
                ],
            }
            try:
                self._check_stock(
                    item_id, self._post("product/update_stock", body, ambiguous_ok=True)
                )
            except APIError as error:
                if error.code not in _REFUSALS:
                    raise
                for position, change in entries:
                    results[position] = _refused(
                        change.sku, str(error.code), error.message, "stock"
                    )
                continue
            for position, change in entries:
                results[position] = ItemResult(
                    sku=change.sku,
                    ok=True,
                    product_id=found.product.product_id,
                    stock=change.stock,
                    item_code=ItemCode.OK,
                )
        return [results[i] for i in range(len(changes))]

    def _set_stock(self, item_id: int, stock: int) -> int:
        body = {
            "item_id": item_id,
            "stock_list": [{"model_id": 0, "seller_stock": [{"stock": stock}]}],
        }
        self._check_stock(item_id, self._post("product/update_stock", body, ambiguous_ok=True))
        return stock

    @staticmethod
    def _check_stock(item_id: int, answer: Mapping[str, Any]) -> None:
        failures = answer.get("failure_list") or []
        if failures:
            reason = failures[0].get("failed_reason") if isinstance(failures[0], dict) else None
            raise APIError(
                f"Shopee refused the stock of item {item_id}: {reason}", code="error_param"
            )

    # -- orders --------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``get_order_list`` by update time in 15-day windows, each read by
        ``get_order_detail``, oldest update first."""
        now = datetime.fromtimestamp(self.wall_clock(), tz=timezone.utc)
        start = updated_since or now - ORDER_HISTORY
        if start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        while start <= now:
            end = min(start + ORDER_WINDOW, now)
            sns = list(
                self._order_sns(int(start.timestamp()), int(end.timestamp()), status, page_size)
            )
            orders = self._details(sns)
            yield from sorted(orders, key=lambda o: (o.updated_at, o.order_id))
            start = end + timedelta(seconds=1)

    def _order_sns(
        self, time_from: int, time_to: int, status: str | None, page_size: int
    ) -> Iterator[str]:
        cursor = ""
        while True:
            params = {
                "time_range_field": "update_time",
                "time_from": str(time_from),
                "time_to": str(time_to),
                "page_size": str(min(page_size, PAGE)),
            }
            if cursor:
                params["cursor"] = cursor
            if status:
                params["order_status"] = status
            answer = self._get("order/get_order_list", params)
            for order in answer.get("order_list") or []:
                if isinstance(order, dict) and order.get("order_sn"):
                    yield str(order["order_sn"])
            cursor = str(answer.get("next_cursor") or "")
            if not answer.get("more") or not cursor:
                return

    def _details(self, sns: Sequence[str]) -> list[RemoteOrder]:
        out: list[RemoteOrder] = []
        for start in range(0, len(sns), BASE_INFO_CHUNK):
            chunk = ",".join(sns[start : start + BASE_INFO_CHUNK])
            answer = self._get("order/get_order_detail", {"order_sn_list": chunk})
            out.extend(_order(o) for o in answer.get("order_list") or [] if isinstance(o, dict))
        return out

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``get_order_detail`` of one order, or None."""
        orders = self._details([order_id])
        return orders[0] if orders else None

    # -- the rest ------------------------------------------------------------------------

    def exchange_code(self, code: str) -> AuthStatus:
        """Turn an authorisation code (from the redirect after the seller agreed) into a
        token pair, saved 0600 before this returns (``shopsync auth shopee --code``)."""
        register_secret(code)
        tokens = self.auth.exchange_code(code)
        return AuthStatus(
            token_url=self.client.base_url + TOKEN_PATH,
            client_id=str(self.auth.partner_id),
            granted_scopes=None,
            expires_in=max(0.0, tokens.expires_at - self.wall_clock()),
        )

    @property
    def token_path(self) -> Path:
        """Where the shop's token pair is kept."""
        return self.auth.token_file.path

    def check_auth(self) -> AuthStatus:
        """Refresh the tokens unless a usable pair is saved, then make one signed shop call
        (the shop's logistics channels, kept for ``add_item``): the pair, the partner key
        and the shop id all work."""
        tokens = self.auth.refresh()
        with self._channels_lock:
            self._channels = None
        self._logistics()
        return AuthStatus(
            token_url=self.client.base_url + REFRESH_PATH,
            client_id=str(self.auth.partner_id),
            granted_scopes=None,
            expires_in=max(0.0, tokens.expires_at - self.wall_clock()),
        )

    def stats(self) -> dict[str, int]:
        """The client's traffic counters, with token refreshes."""
        return {**self.client.stats.snapshot(), "token_refreshes": self.auth.refreshes}

    def close(self) -> None:
        """Close the client, the image store and the journal."""
        self.client.close()
        self.images.close()
        self.journal.close()


def _response(answer: ApiResponse) -> dict[str, Any]:
    return _response_body(answer.body)


def _response_body(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {}
    if body.get("error"):
        raise envelope_error(body, "Shopee call", 200)
    response = body.get("response")
    return response if isinstance(response, dict) else {}


def _refused(sku: str, code: str, message: str, field: str | None) -> ItemResult:
    return ItemResult(
        sku=sku, ok=False, code=code, message=message, field=field, item_code=ItemCode.INVALID
    )


def _new_model(variant: Variant, index: list[int]) -> dict[str, Any]:
    """A model of ``init_tier_variation`` / ``add_model``."""
    return {
        "tier_index": index,
        "original_price": variant.price,
        "model_sku": variant.sku,
        "seller_stock": [{"stock": variant.stock}],
    }


def _variant_of(
    model: RemoteModel, names: Sequence[str], values: Sequence[Sequence[str]]
) -> Variant:
    """A remote model as a variant (its option values from its tier index)."""
    return Variant.model_validate(
        {
            "sku": model.sku,
            "option_values": {
                name: values[level][i]
                for level, (name, i) in enumerate(zip(names, model.tier_index, strict=True))
            },
            "price": model.price,
            "stock": model.stock,
        }
    )


def _attribute_list(attributes: Mapping[str, str]) -> list[dict[str, Any]]:
    out = []
    for name, value in attributes.items():
        if name.startswith(ATTRIBUTE_PREFIX) and name[len(ATTRIBUTE_PREFIX) :].isdigit():
            out.append(
                {
                    "attribute_id": int(name[len(ATTRIBUTE_PREFIX) :]),
                    "attribute_value_list": [{"value_id": 0, "original_value_name": value}],
                }
            )
    return out


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _image_ids(item: Mapping[str, Any]) -> list[str]:
    ids = (item.get("image") or {}).get("image_id_list") or []
    return [str(i) for i in ids]


@dataclass(frozen=True)
class _Located:
    """An item read back, and the model id of each SKU it sells (0: the item's own)."""

    product: RemoteProduct
    model_ids: Mapping[str, int]
    item_sku: str


def _located(
    item: Mapping[str, Any], sources: Mapping[str, str], models: Mapping[str, Any] | None
) -> _Located:
    """An item as the catalog would write it: images by the source they were uploaded
    from (an id this shop did not upload stays an id), a description that is the title
    (what :meth:`ShopeePlatform._create` sends for none) as none, and with models, the
    handle, options and variants."""
    description = item.get("description")
    fields: dict[str, Any] = {
        "title": item.get("item_name"),
        "description": None if description == item.get("item_name") else description,
        "images": [sources.get(i, i) for i in _image_ids(item)],
    }
    if item.get("weight") is not None:
        fields["weight_kg"] = str(item["weight"])
    sku = own = str(item.get("item_sku") or "")
    model_ids: dict[str, int] = {sku: 0}
    if models is not None and models.get("model"):
        names, values, remote = remote_models(models)
        images = {value: sources.get(i, i) for value, i in tier_images(models).items()}
        variants = []
        for model in sorted(remote, key=lambda m: m.tier_index):
            variant: dict[str, Any] = {
                "sku": model.sku,
                "option_values": _variant_of(model, names, values).option_values,
                "price": str(_decimal(model.price).quantize(Decimal("0.01"))),
                "stock": model.stock,
            }
            if "weight_kg" in fields:
                # The item's weight: each variant's, as add_item sent the first one's.
                variant["weight_kg"] = fields["weight_kg"]
            first = variant["option_values"].get(names[0]) if names else None
            if first in images:
                variant["image"] = images[first]
            variants.append(variant)
        fields.update(handle=sku, options=names, variants=variants)
        model_ids = {model.sku: model.model_id for model in remote}
        sku = str(variants[0]["sku"])
    else:
        prices = item.get("price_info") or [{}]
        fields["price"] = str(
            _decimal(prices[0].get("original_price", 0)).quantize(Decimal("0.01"))
        )
        fields["stock"] = ((item.get("stock_info_v2") or {}).get("summary_info") or {}).get(
            "total_available_stock"
        )
    product = RemoteProduct(
        product_id=str(item.get("item_id")),
        sku=sku,
        fields=fields,
        updated_at=_stamp(item.get("update_time")),
    )
    return _Located(product, model_ids, own)


def _stamp(epoch: Any) -> str:
    try:
        moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    except (TypeError, ValueError):
        return ""
    return format_timestamp(moment, digits=0)


def _order(item: Mapping[str, Any]) -> RemoteOrder:
    lines = tuple(
        OrderLine(
            sku=str(line.get("model_sku") or line.get("item_sku") or ""),
            quantity=int(line.get("model_quantity_purchased", 0)),
            unit_price=_decimal(line.get("model_discounted_price", 0)).quantize(Decimal("0.01")),
        )
        for line in item.get("item_list") or []
        if isinstance(line, dict)
    )
    return RemoteOrder(
        order_id=str(item.get("order_sn", "")),
        status=str(item.get("order_status", "")),
        created_at=_stamp(item.get("create_time")),
        updated_at=_stamp(item.get("update_time")),
        currency=str(item.get("currency", "")),
        total=_decimal(item.get("total_amount", 0)).quantize(Decimal("0.01")),
        lines=lines,
        buyer_name=item.get("buyer_username"),
        buyer_country=item.get("region"),
    )


__all__ = [
    "HOSTS",
    "SETTINGS",
    "ImageSpace",
    "ShopeePlatform",
    "authorisation_url",
    "endpoint_of",
    "fetch_image",
]
