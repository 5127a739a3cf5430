"""The WooCommerce REST API v3 adapter (issue 19; specs/woocommerce/, platforms.md).

Mapping, one catalog product to one WooCommerce product; a product with variants to a
``variable`` product under its handle and one variation per variant (mapping.py):

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

A variable product's variations follow its parent in the same call, through
``POST /products/{id}/variations/batch`` (creates, updates of changed fields, deletes of
the variants the engine removes; at most :data:`MAX_BATCH` a request). An update reads
the parent's variations first, so a variant already there is never created again; a lost
answer to a variations create is settled by reading them again and sending only the
missing ones. ``GET /products?sku=`` finds variations too (WooCommerce searches both post
types by SKU), which is how a variant's stock is set and a product found by its first
variant's SKU.
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
from shopsync.domain.images import ALL_TYPES, MIB, ImageLimits
from shopsync.domain.models import Product, Variant
from shopsync.domain.timefmt import format_timestamp, parse_timestamp
from shopsync.errors import AmbiguousWriteError, APIError, AuthError, UsageError
from shopsync.http.client import HttpClient
from shopsync.http.multipart import multipart_form
from shopsync.http.ratelimit import RateLimiter
from shopsync.http.redact import redacting_logger
from shopsync.http.retry import RetryPolicy, full_jitter
from shopsync.http.stats import ClientStats
from shopsync.http.transport import Transport
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
from shopsync.platforms.woocommerce.auth import ApplicationPasswordAuth, ConsumerKeyAuth
from shopsync.platforms.woocommerce.mapping import (
    identity_sku,
    option_values,
    product_body,
    variant_changes,
    variation_body,
)
from shopsync.platforms.woocommerce.wire import WooCommerceWire

log = redacting_logger(__name__)

API = "/wp-json/wc/v3/"
MEDIA = "/wp-json/wp/v2/media"
MAX_BATCH = 100
"""Objects per batch request that WooCommerce accepts by default (a shop can raise it)."""
MAX_SKU = 100
"""Characters of a SKU (WooCommerce's product lookup table keeps 100)."""
PAGE = 100
LOOKUP_SKUS = 50
"""SKUs per lookup request (comma-separated in one ``sku`` filter; the URL stays short)."""
INVALID_SKU = "product_invalid_sku"
NOT_FOUND = frozenset({"woocommerce_rest_product_invalid_id", "woocommerce_rest_invalid_id"})
RECONCILE_ROUNDS = 3
"""Times a variations batch whose answer was lost is checked and its missing creates
resent, before the outcome is left to the engine."""

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
    # Redeclared from the shared settings: a request carries as many objects as the shop
    # takes (the shared default, 50, would double the requests), unless set otherwise.
    Setting(
        "batch_size",
        int_between(1, 1000),
        MAX_BATCH,
        help="items per batch request (WooCommerce takes 100 by default)",
    ),
    Setting(
        "wp_username",
        parse_text,
        help="a WordPress user who may upload media (for local image files; REST API keys "
        "do not open the media library)",
    ),
    Setting(
        "wp_application_password",
        parse_text,
        secret=True,
        help="that user's application password (Users > Profile > Application Passwords)",
    ),
    Setting(
        "media_max_mb",
        int_between(1, 1024),
        2,
        help="the site's upload limit in MB (Media > Add New shows it; PHP's default: 2)",
    ),
)


class WooCommercePlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for the WooCommerce REST API v3."""

    name = "woocommerce"
    max_batch_size = MAX_BATCH
    settings: tuple[Setting, ...] = SETTINGS

    def __init__(
        self,
        client: HttpClient,
        auth: ConsumerKeyAuth,
        *,
        batch_limit: int,
        media: HttpClient | None = None,
        media_limits: ImageLimits | None = None,
    ) -> None:
        self.client = client
        self.auth = auth
        self.media = media
        """The client for WordPress's media library (an application password), or None:
        image URLs only."""
        self.max_batch_size = batch_limit
        self.capabilities = Capabilities(
            max_batch_size=batch_limit,
            idempotency_keys="ignored",
            lookup_by_sku=True,
            unique_skus=True,
            stock_set=True,
            stock_cas=False,
            stock_delta=False,
            variants=True,
            images=media_limits if media is not None else None,
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
        limiter = RateLimiter(settings.rate, settings.burst, clock=clock, sleep=sleep)
        transport = Transport.from_settings(settings)

        def client_with(credentials: ConsumerKeyAuth | ApplicationPasswordAuth) -> HttpClient:
            # One limiter, transport and set of counters: the host's WAF sees one client.
            return HttpClient(
                base_url=str(settings.base_url),
                wire=WooCommerceWire(),
                credentials=credentials,
                limiter=limiter,
                retry=RetryPolicy.from_settings(
                    settings, stats=stats, clock=clock, sleep=sleep, jitter=jitter
                ),
                transport=transport,
                timeout=settings.timeout,
                stats=stats,
                wall_clock=wall_clock,
            )

        media: HttpClient | None = None
        user, password = settings.get("wp_username"), settings.get("wp_application_password")
        if user and password:
            media = client_with(
                ApplicationPasswordAuth(settings.base_url, str(user), str(password))
            )
        elif user or password:
            raise UsageError(
                N_(
                    "WooCommerce's media library needs both wp_username and "
                    "wp_application_password; only one is set."
                ),
                hint=N_("Set both to upload local image files, or neither to use image URLs."),
            )
        megabytes = int(settings.get("media_max_mb") or 2)
        return cls(
            client_with(auth),
            auth,
            batch_limit=int(settings.get("batch_limit") or MAX_BATCH),
            media=media,
            media_limits=ImageLimits(content_types=ALL_TYPES, max_bytes=megabytes * MIB),
        )

    def error_scope(self, error: Exception) -> ErrorScope:
        """The default rule: a 4xx to the batch (413: too many objects) is the batch's."""
        return default_error_scope(error)

    # -- products ------------------------------------------------------------------------

    def check_product(self, product: Product) -> list[ProductProblem]:
        """WooCommerce's rules a product breaks, as ``(field, message)``; empty if none.

        For plan time (issue 12's constraints seam), and checked again before a create.
        """
        problems: list[ProductProblem] = []
        for sku in product.skus:
            if len(sku) > MAX_SKU:
                problems.append(
                    (
                        "sku",
                        sku,
                        N_("must be at most {limit} characters on WooCommerce").format(
                            limit=MAX_SKU
                        ),
                    )
                )
        if product.variants and product.handle:
            if len(product.handle) > MAX_SKU:
                problems.append(
                    ("handle", N_("must be at most {limit} characters on WooCommerce (it is the "
                     "variable product's SKU)").format(limit=MAX_SKU))
                )  # fmt: skip
            if product.handle in product.skus:
                problems.append(
                    ("handle", N_("must differ from every variant's SKU on WooCommerce (the "
                     "variable product takes it as its SKU, and SKUs are unique)"))
                )  # fmt: skip
        if product.category and not product.category.strip().isdigit():
            problems.append(
                ("category", N_("must be a WooCommerce category id (a number, see Products > "
                 "Categories)"))
            )  # fmt: skip
        return problems

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """One ``POST /products/batch`` with the creates and the updates (changed fields),
        then each variable product's variations (``/products/{id}/variations/batch``)."""
        created: list[ItemResult | None] = []
        sent: list[Product] = []
        body_creates: list[dict[str, Any]] = []
        for product in creates:
            problems = self.check_product(product)
            if problems:
                field, *_, message = problems[0]
                created.append(_refused(product.sku, "invalid", f"{field} {message}", field))
                continue
            created.append(None)
            sent.append(product)
            body_creates.append(product_body(product, None))
        parents = [_parent_update(update) for update in updates]
        body_updates = [
            {"id": int(update.product_id), **parent}
            for update, parent in zip(updates, parents, strict=True)
            if parent
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
        create_results = self._create_results(sent, answer.get("create") or [])
        for position, product in enumerate(sent):
            result = create_results[position]
            if product.handle is not None and result.ok and result.product_id:
                create_results[position] = self._with_variations(
                    result, product, fresh=True, before={}, removed=()
                )
        update_answers = iter(answer.get("update") or [])
        update_results: list[ItemResult] = []
        for update, parent in zip(updates, parents, strict=True):
            if parent:
                result = _update_result(update, next(update_answers, None))
            else:  # only variations changed: the parent is not written
                result = ItemResult(
                    sku=update.sku, ok=True, product_id=update.product_id, item_code=ItemCode.OK
                )
            touches_variants = (
                update.fields is None or "variants" in update.fields or update.removed_variants
            )
            if update.product.handle is not None and result.ok and touches_variants:
                before = {str(v.get("sku")): v for v in update.variants_before}
                result = self._with_variations(
                    result,
                    update.product,
                    fresh=False,
                    before=before,
                    removed=update.removed_variants,
                )
            update_results.append(result)
        created_answers = iter(create_results)
        return BatchResult(
            created=[item if item is not None else next(created_answers) for item in created],
            updated=update_results,
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
            # (an image that failed to sideload): what is on the platform says which. A
            # variable product is filed under its handle; the engine then updates it
            # (variations and all), never creating it twice.
            found = self._find([identity_sku(sent[i]) for i in suspects])
            for position in suspects:
                remote = found.get(identity_sku(sent[position]))
                if remote is None or _int(remote.get("parent_id")):
                    continue
                refused = results[position]
                log.info(
                    "create of %s answered %s, but WooCommerce holds it as product %s",
                    refused.sku,
                    refused.code,
                    remote.get("id"),
                )
                results[position] = ItemResult(
                    sku=refused.sku,
                    ok=False,
                    product_id=str(remote.get("id")),
                    code=refused.code,
                    message=refused.message,
                    reconciled=True,
                    item_code=ItemCode.EXISTS,
                )
        return results

    # -- variations ----------------------------------------------------------------------

    def _with_variations(
        self,
        result: ItemResult,
        product: Product,
        *,
        fresh: bool,
        before: Mapping[str, Mapping[str, Any]],
        removed: Sequence[str],
    ) -> ItemResult:
        """``result`` (the parent's), or the first variation that failed in its stead."""
        assert result.product_id is not None
        failure = self._sync_variations(
            result.product_id, product, fresh=fresh, before=before, removed=removed
        )
        if failure is None:
            return result
        sku, code, message = failure
        return ItemResult(
            sku=result.sku,
            ok=False,
            product_id=result.product_id,
            code=code,
            message=f"variant {sku}: {message}",
            field="variants",
            item_code=ItemCode.INVALID,
        )

    def _sync_variations(
        self,
        parent_id: str,
        product: Product,
        *,
        fresh: bool,
        before: Mapping[str, Mapping[str, Any]],
        removed: Sequence[str],
    ) -> tuple[str, str, str] | None:
        """Create, update and delete the variations of ``parent_id`` so that ``product``'s
        variants (the new or changed ones the engine hands over) are on it; the first
        failure as ``(sku, code, message)``, or None.

        Unless the parent was just created, its variations are read first, so a variant
        already there is updated, not created twice (a resent batch, an adopted product).
        The product's first variant is created last: the engine finds a product whose
        answer was lost by that SKU, and finding it then means every other create of the
        product was made before it.
        """
        held = {} if fresh else self._held_variations(parent_id)
        first = product.sku  # the first variant's, also when the update narrows them
        deletes = [held[sku]["id"] for sku in removed if sku in held]
        updates: list[dict[str, Any]] = []
        creates: list[Variant] = []
        for variant in product.variants:
            if variant.sku in held:
                changed = variant_changes(variant, before.get(variant.sku))
                body = variation_body(variant, product.options, changed)
                body.pop("sku", None)
                if body:
                    updates.append({"id": int(held[variant.sku]["id"]), **body})
            else:
                creates.append(variant)
        creates.sort(key=lambda v: v.sku == first)  # stable: the first variant goes last
        path = API + f"products/{quote(parent_id)}/variations/batch"
        failure: tuple[str, str, str] | None = None
        operations: list[tuple[str, Any]] = [
            *(("delete", i) for i in deletes),
            *(("update", u) for u in updates),
            *(("create", v) for v in creates),
        ]
        for start in range(0, len(operations), self.max_batch_size):
            chunk = operations[start : start + self.max_batch_size]
            failure = failure or self._variations_batch(path, parent_id, product, chunk)
        return failure

    def _variations_batch(
        self, path: str, parent_id: str, product: Product, chunk: Sequence[tuple[str, Any]]
    ) -> tuple[str, str, str] | None:
        deletes = [value for kind, value in chunk if kind == "delete"]
        updates = [value for kind, value in chunk if kind == "update"]
        creates: list[Variant] = [value for kind, value in chunk if kind == "create"]
        for round_ in range(RECONCILE_ROUNDS + 1):
            body: dict[str, Any] = {}
            if creates:
                body["create"] = [variation_body(v, product.options, None) for v in creates]
            if updates:
                body["update"] = updates
            if deletes:
                body["delete"] = deletes
            if not body:
                return None
            try:
                response = self.client.request("POST", path, json=body, retry_ambiguous=not creates)
            except AmbiguousWriteError:
                if round_ == RECONCILE_ROUNDS:
                    raise
                # The answer was lost: the updates and deletes are safe to send again;
                # the creates only where the parent does not hold them now.
                held = self._held_variations(parent_id)
                creates = [v for v in creates if v.sku not in held]
                continue
            answer = response.body if isinstance(response.body, dict) else {}
            return self._variation_failures(parent_id, creates, answer, updates)
        return None

    def _variation_failures(
        self,
        parent_id: str,
        creates: Sequence[Variant],
        answer: Mapping[str, Any],
        updates: Sequence[Mapping[str, Any]],
    ) -> tuple[str, str, str] | None:
        """The first variation the answer refused, after looking up the refused creates
        (created, and reported as an error, as for products)."""
        refused: dict[str, tuple[str, str]] = {}
        for variant, item in zip(creates, _padded(answer.get("create"), len(creates)), strict=True):
            if not (isinstance(item, dict) and "error" not in item and item.get("id")):
                error = item.get("error") if isinstance(item, dict) else None
                refused[variant.sku] = _error_of(error, "WooCommerce answered no result.")
        if refused:
            found = self._find(list(refused))
            for sku in list(refused):
                if _int((found.get(sku) or {}).get("parent_id")) == int(parent_id):
                    log.info(
                        "variation %s answered %s, but WooCommerce holds it", sku, refused[sku][0]
                    )
                    del refused[sku]
        for sku, (code, message) in refused.items():
            return sku, code, message
        by_id = {int(u["id"]): u for u in updates}
        for item in _padded(answer.get("update"), len(updates)):
            if isinstance(item, dict) and "error" in item:
                code, message = _error_of(item["error"], "refused")
                return (
                    str(item.get("sku") or by_id.get(_int(item.get("id")), {}).get("id")),
                    code,
                    message,
                )
        return None

    def _held_variations(self, parent_id: str) -> dict[str, dict[str, Any]]:
        """The variations WooCommerce holds for a parent, by SKU."""
        return {
            str(item.get("sku")): item
            for item in self._pages(
                f"products/{quote(parent_id)}/variations", {"order": "asc"}, PAGE
            )
            if item.get("sku")
        }

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """Put a file in WordPress's media library (``POST /wp-json/wp/v2/media``) once per
        content: its slug is named by the content hash, and looked for first, so a file
        whose upload answer was lost, or a run killed before it recorded it, is not
        uploaded twice. Answered by its media id, which products and variations name
        (``images: [{id}]``: a URL would be sideloaded into the library again)."""
        if self.media is None:
            raise UsageError(
                N_(
                    "Uploading image files to WooCommerce needs wp_username and "
                    "wp_application_password (the media library does not take REST API keys)."
                ),
                hint=N_("Set both, or give image URLs, which WooCommerce downloads itself."),
            )
        try:
            return self._upload(content, filename, content_type, content_hash)
        except AuthError as error:
            raise AuthError(
                N_(
                    "WordPress refused the media library's credentials (wp_username and "
                    "wp_application_password)."
                ),
                hint=N_(
                    "Check the user and its application password (Users > Profile > "
                    "Application Passwords); the user needs the upload_files capability."
                ),
            ) from error

    def _upload(
        self, content: bytes, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        assert self.media is not None
        slug = "shopsync-" + content_hash[:32]
        found = self._media_by_slug(slug)
        if found is None:
            body, form = multipart_form(
                "file", filename, content_type, content, boundary="shopsync-" + content_hash[:24]
            )
            try:
                response = self.media.request(
                    "POST",
                    MEDIA,
                    params={"slug": slug, "title": filename.rsplit(".", 1)[0]},
                    content=body,
                    content_type=form,
                    retry_ambiguous=False,
                )
            except AmbiguousWriteError:
                found = self._media_by_slug(slug)
                if found is None:
                    raise
            else:
                found = response.body if isinstance(response.body, dict) else None
        if not found or not _int(found.get("id")):
            raise APIError("WordPress answered a media upload without an id.")
        return RemoteImage(url=None, image_id=str(found["id"]))

    def _media_by_slug(self, slug: str) -> dict[str, Any] | None:
        assert self.media is not None
        answer = self.media.request("GET", MEDIA, params={"slug": slug, "per_page": "1"})
        items = answer.body if isinstance(answer.body, list) else []
        return next((i for i in items if isinstance(i, dict) and i.get("slug") == slug), None)

    def close(self) -> None:
        """Close both clients."""
        if self.media is not None:
            self.media.close()
        super().close()

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError(N_("Removing products from WooCommerce is not supported yet."))

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """Products by SKU: ``GET /products?sku=`` for each (SKUs are unique). A variant's
        SKU finds its variation, answered as its parent product (the id the ledger keeps)."""
        return {sku: _remote(item) for sku, item in self._find(skus).items()}

    def _find(self, skus: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The objects (products or variations, as the products endpoint shows them) that
        hold those SKUs: ``GET /products?sku=A,B,C``, up to :data:`LOOKUP_SKUS` a request
        (WooCommerce splits the filter at commas; a SKU with a comma is asked alone)."""
        wanted = list(dict.fromkeys(skus))
        groups = [[sku] for sku in wanted if "," in sku]
        plain = [sku for sku in wanted if "," not in sku]
        groups += [plain[i : i + LOOKUP_SKUS] for i in range(0, len(plain), LOOKUP_SKUS)]
        out: dict[str, dict[str, Any]] = {}
        for group in groups:
            answer = self.client.request(
                "GET", API + "products", params={"sku": ",".join(group), "per_page": str(PAGE)}
            )
            asked = set(group)
            for item in answer.body if isinstance(answer.body, list) else []:
                if isinstance(item, dict) and item.get("sku") in asked:
                    out[str(item["sku"])] = item
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
        """``stock_quantity`` set through ``POST /products/batch`` updates, a variation's
        through its parent's ``variations/batch`` (no deltas, no compare-and-set:
        WooCommerce has neither). Setting a count twice changes nothing, so these are
        resent after a lost answer."""
        found = self._find([c.sku for c in changes])
        results: list[ItemResult | None] = []
        # Where each change is sent: "" for products/batch, else the parent's id.
        targets: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        for position, change in enumerate(changes):
            item = found.get(change.sku)
            if item is None:
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
                owner = _int(item.get("parent_id"))
                targets.setdefault(str(owner) if owner else "", []).append(
                    (
                        position,
                        {
                            "id": _int(item.get("id")),
                            "manage_stock": True,
                            "stock_quantity": change.stock,
                        },
                    )
                )
        for parent, sent in targets.items():
            path = f"products/{quote(parent)}/variations/batch" if parent else "products/batch"
            response = self.client.request(
                "POST", API + path, json={"update": [body for _, body in sent]}
            )
            answer = response.body if isinstance(response.body, dict) else {}
            for (position, body), item in zip(
                sent, _padded(answer.get("update"), len(sent)), strict=True
            ):
                results[position] = _stock_result(changes[position].sku, body, item)
        return [result for result in results if result is not None]

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


def _parent_update(update: ProductUpdate) -> dict[str, Any]:
    """The parent's part of an update: its changed fields; for a variable product, its
    attributes again when its options' values change (a new variant's value must be one
    of the parent's), from every variant it keeps and the ones the update brings."""
    product = update.product
    fields = frozenset(update.fields) if update.fields is not None else None
    if product.handle is None:
        return product_body(product, fields)
    removed = set(update.removed_variants)
    given = {v.sku: v.model_dump() for v in product.variants}
    known = [v for v in update.variants_before if str(v.get("sku")) not in removed]
    known_skus = {str(v.get("sku")) for v in known}
    # In the order WooCommerce holds them (the known variants'), new values last.
    after = option_values(
        product.options,
        [
            *(given.get(str(v.get("sku")), v) for v in known),
            *(v for sku, v in given.items() if sku not in known_skus),
        ],
    )
    options_changed = (
        fields is None
        or "options" in fields
        or not update.variants_before
        or after != option_values(product.options, update.variants_before)
    )
    every = frozenset(product.model_fields_set | {"title"})
    wanted = (every if fields is None else fields) - {"variants", "options", "handle"}
    return product_body(product, wanted, after if options_changed else None)


def _stock_result(sku: str, sent: Mapping[str, Any], item: Any) -> ItemResult:
    if isinstance(item, dict) and "error" not in item:
        return ItemResult(
            sku=sku,
            ok=True,
            product_id=str(item.get("parent_id") or sent["id"]),
            stock=_int(item.get("stock_quantity"), int(sent["stock_quantity"])),
            item_code=ItemCode.OK,
        )
    code, message = _error_of(item.get("error") if isinstance(item, dict) else None, "no result")
    return ItemResult(
        sku=sku,
        ok=False,
        code=code,
        message=message,
        item_code=ItemCode.NOT_FOUND if code in NOT_FOUND else ItemCode.INVALID,
        field="stock",
    )


def _padded(items: Any, length: int) -> list[Any]:
    """An answer's list, as long as what was sent (missing answers as None)."""
    given = list(items) if isinstance(items, list) else []
    return given[:length] + [None] * (length - len(given))


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
    parent = _int(item.get("parent_id"))
    return RemoteProduct(
        product_id=str(parent or item.get("id")),
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
