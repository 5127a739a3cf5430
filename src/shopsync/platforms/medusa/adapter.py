"""The adapter for a Medusa v2 shop (tested against Medusa 2.21.2 itself).

Products go to ``POST /admin/products/batch``, which is all or nothing: one refused item
refuses the batch, and Medusa's message names it. The adapter reports that item, then
sends the rest again. Medusa ignores idempotency keys, so a write whose answer was lost
is never resent blindly: the batch's SKUs are looked up (``GET
/admin/product-variants?sku[]=``) and only the creates not found are sent again
(updates and stock sets are absolute, so sending them twice changes nothing).
Stock is the ``stocked_quantity`` of each variant's inventory item at one stock
location. The store's defaults (sales channel, location, shipping profile, currency) are
asked once per run, where the settings name none.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote, urlencode

from shopsync.config import Setting, Settings, parse_text
from shopsync.domain.images import ImageLimits
from shopsync.domain.models import Product
from shopsync.errors import AmbiguousWriteError, APIError, ConfigError, UsageError
from shopsync.http.client import HttpClient
from shopsync.http.multipart import multipart_form
from shopsync.http.redact import redacting_logger
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
from shopsync.platforms.medusa.mapping import (
    StoreDefaults,
    blame,
    chunks_by_size,
    create_body,
    handle_for_sku,
    has_options,
    join_id,
    remote_fields,
    split_id,
    update_body,
    variant_changes,
)
from shopsync.platforms.medusa.wire import client_from_settings

log = redacting_logger(__name__)

MAX_BATCH = 100
"""Items per batch the engine may send; the adapter splits further by body size."""
_LOOKUP_CHUNK = 50
_MAX_LOST_ANSWERS = 3
_VARIANT_FIELDS = (
    "id,sku,barcode,product_id,*prices,product.id,product.title,product.status,"
    "product.description,product.handle,product.updated_at,"
    "inventory_items.inventory.location_levels.location_id,"
    "inventory_items.inventory.location_levels.stocked_quantity"
)
_ORDER_FIELDS = (
    "id,display_id,status,created_at,updated_at,currency_code,total,"
    "items.variant_sku,items.quantity,items.unit_price,"
    "shipping_address.first_name,shipping_address.last_name,shipping_address.country_code"
)

SETTINGS: tuple[Setting, ...] = (
    Setting("api_key", parse_text, secret=True, required=True, help="a Medusa secret API key"),
    Setting("sales_channel", parse_text, help="sales channel id (default: the store's)"),
    Setting("location", parse_text, help="stock location id (default: the store's)"),
    Setting("currency", parse_text, help="price currency, e.g. eur (default: the store's)"),
    Setting("shipping_profile", parse_text, help="shipping profile id (default: the first)"),
)


_ITEM_CODES: dict[str, ItemCode] = {
    "SKU_EXISTS": ItemCode.EXISTS,
    "NOT_FOUND": ItemCode.NOT_FOUND,
    "VALIDATION": ItemCode.INVALID,
    "HANDLE_TAKEN": ItemCode.INVALID,
    "UNSUPPORTED": ItemCode.REFUSED,
    "UNKNOWN": ItemCode.ERROR,
    "invalid_data": ItemCode.INVALID,
    "not_found": ItemCode.NOT_FOUND,
}
"""This adapter's codes (and Medusa's error types) → the outcome the core decides by."""

MEDUSA_IMAGE_LIMITS = ImageLimits(
    content_types=frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"}),
    max_bytes=10 * 1024 * 1024,
)
"""What shopsync uploads to Medusa's file module: the web image types, 10 MiB each (a
limit of shopsync's: the admin API states none, and a storefront serves them as given)."""

CAPABILITIES = Capabilities(
    max_batch_size=MAX_BATCH,
    # Seen on 2.21.2: a repeated request is applied again, whatever its key.
    idempotency_keys="ignored",
    lookup_by_sku=True,
    unique_skus=True,  # a second variant with a SKU is refused (400 invalid_data)
    stock_set=True,
    stock_cas=False,
    stock_delta=False,
    async_writes=False,
    variants=True,
    # POST /admin/uploads (multipart ``files``): the store's file module keeps the file
    # and answers its URL, which product images name.
    images=MEDUSA_IMAGE_LIMITS,
)


def _normalised(result: ItemResult) -> ItemResult:
    """``result`` with its :class:`ItemCode` set from this adapter's code, if not yet."""
    if result.item_code is None:
        if result.ok:
            result.item_code = ItemCode.OK
        else:
            result.item_code = _ITEM_CODES.get(result.code or "", ItemCode.REFUSED)
    return result


class MedusaPlatform(ClientBacked):
    """:class:`~shopsync.platforms.base.Platform` for a Medusa v2 admin API."""

    name = "medusa"
    max_batch_size = MAX_BATCH
    capabilities = CAPABILITIES
    settings: tuple[Setting, ...] = SETTINGS

    def __init__(self, client: HttpClient, *, chosen: Mapping[str, str | None]) -> None:
        self.client = client
        self._chosen = dict(chosen)
        self._defaults: StoreDefaults | None = None
        self._defaults_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, **client_options: Any) -> MedusaPlatform:
        """The adapter for ``settings``; ``client_options`` reach the HTTP client."""
        client_options.pop("trust_idempotency_keys", None)  # Medusa has none to trust
        client = client_from_settings(settings, **client_options)
        chosen = {
            name: settings.get(name)
            for name in ("sales_channel", "location", "currency", "shipping_profile")
        }
        return cls(client, chosen=chosen)

    def error_scope(self, error: Exception) -> ErrorScope:
        """The default rule: a 4xx to a batch (413 too large, 400 malformed) is about the
        batch; a refused key, a 5xx past all retries or a transport failure the platform."""
        return default_error_scope(error)

    def raw_code(self, code: ItemCode, operation: str) -> str | None:
        """This adapter's code for ``code``, for outcomes the core settles without asking."""
        for raw, known in _ITEM_CODES.items():
            if known is code and raw.isupper():
                return raw
        return None

    # -- the store's defaults ----------------------------------------------------------

    def defaults(self) -> StoreDefaults:
        """The settings' choices, else the store's defaults, asked once."""
        with self._defaults_lock:
            if self._defaults is None:
                self._defaults = self._discover()
            return self._defaults

    def _discover(self) -> StoreDefaults:
        chosen = self._chosen
        store: dict[str, Any] = {}
        if not all(chosen.get(n) for n in ("sales_channel", "location", "currency")):
            stores = _dict(self.client.request("GET", "/admin/stores").body).get("stores") or []
            store = stores[0] if stores and isinstance(stores[0], dict) else {}
        currency = chosen.get("currency") or next(
            (
                c.get("currency_code")
                for c in store.get("supported_currencies") or []
                if isinstance(c, dict) and c.get("is_default")
            ),
            None,
        )
        profile = chosen.get("shipping_profile")
        if not profile:
            answer = self.client.request("GET", "/admin/shipping-profiles").body
            profiles = _dict(answer).get("shipping_profiles") or []
            default = [p for p in profiles if isinstance(p, dict) and p.get("type") == "default"]
            profile = (default or profiles or [{}])[0].get("id")
        found = {
            "sales_channel": chosen.get("sales_channel") or store.get("default_sales_channel_id"),
            "location": chosen.get("location") or store.get("default_location_id"),
            "currency": currency,
            "shipping_profile": profile,
        }
        missing = [name for name, value in found.items() if not value]
        if missing:
            raise ConfigError(
                N_("The Medusa store has no default {missing}, and the settings name none.").format(
                    missing=", ".join(missing)
                ),
                hint=N_(
                    "Set {variables} (ids from the Medusa admin), or give the store defaults."
                ).format(variables=", ".join(f"SHOPSYNC_{n.upper()}" for n in missing)),
            )
        return StoreDefaults(
            sales_channel=str(found["sales_channel"]),
            location=str(found["location"]),
            shipping_profile=str(found["shipping_profile"]),
            currency=str(found["currency"]).lower(),
        )

    # -- products ----------------------------------------------------------------------

    def write_products(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate] = (),
        *,
        idempotency_key: str | None = None,
    ) -> BatchResult:
        """Create and update in batches of at most 2 MB; see :meth:`Platform.write_products`.

        ``idempotency_key`` is ignored: Medusa has no such thing.
        """
        if len(creates) + len(updates) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} items")
        defaults = self.defaults()
        created: dict[int, ItemResult] = {}
        updated: dict[int, ItemResult] = {}
        create_texts = [_encode(create_body(p, defaults)) for p in creates]
        update_bodies = [update_body(u.product, u.product_id, u.fields, defaults) for u in updates]
        for position, body in enumerate(update_bodies):
            if body is None:  # only stock changed: that goes to the location level
                updated[position] = ItemResult(
                    sku=updates[position].sku, ok=True, product_id=updates[position].product_id
                )
        update_texts = {i: _encode(b) for i, b in enumerate(update_bodies) if b is not None}
        for group in chunks_by_size(create_texts):
            self._send(creates, create_texts, group, {}, [], created, updated)
        update_positions = sorted(update_texts)
        texts = [update_texts[i] for i in update_positions]
        for group in chunks_by_size(texts):
            self._send(
                creates,
                [],
                [],
                updates,
                [update_positions[i] for i in group],
                created,
                updated,
                update_texts,
            )
        self._write_variants(updates, updated, defaults)
        self._set_stock_after_write(creates, updates, created, updated)
        return BatchResult(
            created=[_normalised(created[i]) for i in range(len(creates))],
            updated=[_normalised(updated[i]) for i in range(len(updates))],
        )

    def _send(
        self,
        creates: Sequence[Product],
        create_texts: Sequence[str],
        create_positions: list[int],
        updates: Sequence[ProductUpdate] | Mapping[int, ProductUpdate],
        update_positions: list[int],
        created: dict[int, ItemResult],
        updated: dict[int, ItemResult],
        update_texts: Mapping[int, str] | None = None,
    ) -> None:
        """One request for these items; refused ones reported, the rest sent again."""
        pending_c = list(create_positions)
        pending_u = list(update_positions)
        lost_answers = 0
        # Each refused round settles one item or more, so this many rounds always suffice.
        for _round in range(len(pending_c) + len(pending_u) + _MAX_LOST_ANSWERS + 1):
            if not pending_c and not pending_u:
                return
            text = (
                '{"create":['
                + ",".join(create_texts[i] for i in pending_c)
                + '],"update":['
                + ",".join((update_texts or {})[i] for i in pending_u)
                + "]}"
            )
            try:
                answer = _dict(
                    self.client.request(
                        "POST", "/admin/products/batch", json_text=text, retry_ambiguous=False
                    ).body
                )
            except AmbiguousWriteError:
                lost_answers += 1
                if lost_answers > _MAX_LOST_ANSWERS:
                    raise
                pending_c = self._reconcile(creates, pending_c, created)
                log.info("batch answer lost; %d creates still to send", len(pending_c))
                continue
            except APIError as error:
                if error.status not in (400, 404):
                    raise
                blamed = self._blame(
                    error, creates, pending_c, updates, pending_u, created, updated
                )
                if not blamed:  # nothing to tell apart: every item carries the refusal
                    for i in pending_c:
                        created[i] = _failed(creates[i].sku, error)
                    for i in pending_u:
                        updated[i] = _failed(_sku_of(updates, i), error)
                    return
                pending_c = [i for i in pending_c if i not in created]
                pending_u = [i for i in pending_u if i not in updated]
                continue
            self._record_answer(answer, creates, pending_c, updates, pending_u, created, updated)
            return
        for i in pending_c:
            created[i] = ItemResult(
                sku=creates[i].sku,
                ok=False,
                code="UNKNOWN",
                message="Medusa kept refusing the batch this item was in.",
            )
        for i in pending_u:
            updated[i] = ItemResult(
                sku=_sku_of(updates, i),
                ok=False,
                code="UNKNOWN",
                message="Medusa kept refusing the batch this item was in.",
            )

    @staticmethod
    def _record_answer(
        answer: Mapping[str, Any],
        creates: Sequence[Product],
        pending_c: list[int],
        updates: Sequence[ProductUpdate] | Mapping[int, ProductUpdate],
        pending_u: list[int],
        created: dict[int, ItemResult],
        updated: dict[int, ItemResult],
    ) -> None:
        """A batch Medusa applied: each create's new id, each update done."""
        by_sku = _variants_by_sku(answer.get("created"))
        for i in pending_c:
            variant = by_sku.get(creates[i].sku)
            created[i] = (
                ItemResult(sku=creates[i].sku, ok=True, product_id=variant, http_status=200)
                if variant
                else ItemResult(
                    sku=creates[i].sku,
                    ok=False,
                    code="UNKNOWN",
                    message="Medusa's answer did not list this SKU.",
                )
            )
        for i in pending_u:
            updated[i] = ItemResult(
                sku=_sku_of(updates, i), ok=True, product_id=_id_of(updates, i), http_status=200
            )

    def _reconcile(
        self, creates: Sequence[Product], pending: list[int], created: dict[int, ItemResult]
    ) -> list[int]:
        """Creates of a lost answer that are on Medusa are done; the rest go again."""
        found = self.lookup_skus([creates[i].sku for i in pending])
        for i in pending:
            remote = found.get(creates[i].sku)
            if remote is not None:
                created[i] = ItemResult(
                    sku=creates[i].sku, ok=True, product_id=remote.product_id, reconciled=True
                )
        return [i for i in pending if i not in created]

    def _blame(
        self,
        error: APIError,
        creates: Sequence[Product],
        pending_c: list[int],
        updates: Sequence[ProductUpdate] | Mapping[int, ProductUpdate],
        pending_u: list[int],
        created: dict[int, ItemResult],
        updated: dict[int, ItemResult],
    ) -> bool:
        """Report the items Medusa's refusal names; False if it names none of them."""
        message = error.message.split(": ", 2)[-1] if error.message else ""
        blamed_any = False
        for item in blame(message):
            if item.kind in ("sku_exists", "handle_exists"):
                # Medusa names the first duplicate only; one lookup finds them all, so a
                # batch of products that all exist costs two rounds, not one per item.
                found = self.lookup_skus([creates[i].sku for i in pending_c])
                for i in pending_c:
                    sku = creates[i].sku
                    remote = found.get(sku)
                    if remote is not None:
                        created[i] = ItemResult(
                            sku=sku,
                            ok=False,
                            code="SKU_EXISTS",
                            product_id=remote.product_id,
                            message=f"A variant with SKU {sku} already exists on Medusa.",
                            field="sku",
                            http_status=error.status,
                        )
                        blamed_any = True
                    elif item.handle is not None and handle_for_sku(sku) == item.handle:
                        created[i] = ItemResult(
                            sku=sku,
                            ok=False,
                            code="HANDLE_TAKEN",
                            field="sku",
                            message=f"Another Medusa product has the handle {item.handle}.",
                            http_status=error.status,
                        )
                        blamed_any = True
            elif item.kind == "not_found":
                for i in pending_u:
                    if split_id(_id_of(updates, i))[0] in item.product_ids:
                        updated[i] = ItemResult(
                            sku=_sku_of(updates, i),
                            ok=False,
                            code="NOT_FOUND",
                            message="The product is no longer on Medusa.",
                            http_status=error.status,
                        )
                        blamed_any = True
            elif item.position is not None:
                pending = pending_c if item.operation == "create" else pending_u
                if item.position < len(pending):
                    i = pending[item.position]
                    sku = creates[i].sku if item.operation == "create" else _sku_of(updates, i)
                    result = ItemResult(
                        sku=sku,
                        ok=False,
                        code="VALIDATION",
                        field=item.field,
                        message=message,
                        http_status=error.status,
                    )
                    (created if item.operation == "create" else updated)[i] = result
                    blamed_any = True
        return blamed_any

    def check_product(self, product: Product) -> list[tuple[str, str]]:
        """Medusa's own rules beyond the catalog's: none known that the catalog does not
        check already (its refusals of a batch are mapped to items when they come)."""
        return []

    def upload_image(
        self, content: bytes, *, filename: str, content_type: str, content_hash: str
    ) -> RemoteImage:
        """Put one file in the store's file module (``POST /admin/uploads``, multipart
        ``files``) and answer its URL, which the product's ``images`` then name.

        Medusa has no lookup of uploaded files by content, so an answer lost after the
        file was stored leaves that copy unused (a stray file, never a second product
        image): the retry stores the content again and the ledger keeps the one answered.
        """
        body, form = multipart_form(
            "files", filename, content_type, content, boundary="shopsync-" + content_hash[:32]
        )
        answer = _dict(
            self.client.request(
                "POST",
                "/admin/uploads",
                content=body,
                content_type=form,
            ).body
        )
        files = answer.get("files") or []
        if not files or not isinstance(files[0], dict) or not files[0].get("url"):
            raise APIError(
                N_("Medusa answered an upload of {filename} without the file's URL.").format(
                    filename=filename
                ),
                hint=N_("Check that the store has a file module (medusa-config's modules)."),
            )
        stored = files[0]
        return RemoteImage(url=str(stored["url"]), image_id=str(stored.get("id") or "") or None)

    def delete_products(self, product_ids: Sequence[str]) -> list[ItemResult]:
        """Not served yet (``capabilities.removal`` is None, so ``--prune`` refuses first)."""
        raise UsageError(N_("Removing products from Medusa is not supported yet."))

    def lookup_skus(self, skus: Sequence[str]) -> dict[str, RemoteProduct]:
        """``GET /admin/product-variants?sku[]=…`` in chunks of 50 SKUs."""
        found: dict[str, RemoteProduct] = {}
        unique = list(dict.fromkeys(skus))
        currency, location = self.defaults().currency, self.defaults().location
        for start in range(0, len(unique), _LOOKUP_CHUNK):
            chunk = unique[start : start + _LOOKUP_CHUNK]
            query = [("sku[]", sku) for sku in chunk]
            query += [("fields", _VARIANT_FIELDS), ("limit", str(len(chunk) * 2))]
            answer = self.client.request(
                "GET", "/admin/product-variants?" + urlencode(query, quote_via=quote)
            ).body
            for variant in _dict(answer).get("variants") or []:
                remote = _remote(variant, currency, location)
                if remote is not None:
                    found[remote.sku] = remote
        return found

    def iter_products(self, *, page_size: int = 100) -> Iterator[RemoteProduct]:
        """Every variant with a SKU, as a product, page by page (offset paging)."""
        currency, location = self.defaults().currency, self.defaults().location
        limit = min(page_size, MAX_BATCH)
        offset = 0
        while True:
            query = {
                "fields": _VARIANT_FIELDS,
                "limit": str(limit),
                "offset": str(offset),
                "order": "created_at",
            }
            answer = _dict(self.client.request("GET", "/admin/product-variants", params=query).body)
            variants = answer.get("variants") or []
            for variant in variants:
                remote = _remote(variant, currency, location)
                if remote is not None:
                    yield remote
            offset += len(variants)
            if not variants or offset >= int(answer.get("count") or 0):
                return

    # -- inventory ---------------------------------------------------------------------

    def update_inventory(
        self, changes: Sequence[StockChange], *, idempotency_key: str | None = None
    ) -> list[ItemResult]:
        """Set ``stocked_quantity`` at the location; deltas and CAS are refused per item.

        Medusa's location levels take a count, not a change: a delta read-then-written
        here would race the shop's own orders, so it is not offered.
        """
        if len(changes) > MAX_BATCH:
            raise ValueError(f"a batch holds at most {MAX_BATCH} items")
        results: dict[int, ItemResult] = {}
        sets: dict[str, int] = {}
        for n, change in enumerate(changes):
            if change.stock is None or change.expected is not None:
                results[n] = ItemResult(
                    sku=change.sku,
                    ok=False,
                    code="UNSUPPORTED",
                    message="Medusa sets stock counts; it takes no deltas or expected counts.",
                )
            else:
                sets[change.sku] = change.stock
        applied = self._set_levels(sets)
        for n, change in enumerate(changes):
            if n not in results:
                results[n] = applied[change.sku]
        return [_normalised(results[n]) for n in range(len(changes))]

    def _set_levels(self, counts: Mapping[str, int]) -> dict[str, ItemResult]:
        """Set each SKU's stocked quantity at the location; one result per SKU."""
        if not counts:
            return {}
        location = self.defaults().location
        items = self._inventory_items(list(counts))
        results: dict[str, ItemResult] = {}
        create: list[dict[str, Any]] = []
        update: list[dict[str, Any]] = []
        for sku, count in counts.items():
            item = items.get(sku)
            if item is None:
                results[sku] = ItemResult(
                    sku=sku,
                    ok=False,
                    code="NOT_FOUND",
                    message=f"Medusa has no inventory item for SKU {sku}.",
                )
                continue
            level = {
                "inventory_item_id": item[0],
                "location_id": location,
                "stocked_quantity": count,
            }
            (update if item[1] else create).append(level)
        if create or update:
            # Absolute counts: a lost answer is safely sent again, so the client may retry.
            self.client.request(
                "POST",
                "/admin/inventory-items/location-levels/batch",
                json={"create": create, "update": update},
            )
        for sku, count in counts.items():
            results.setdefault(sku, ItemResult(sku=sku, ok=True, stock=count, http_status=200))
        return results

    def _inventory_items(self, skus: Sequence[str]) -> dict[str, tuple[str, bool]]:
        """SKU → (inventory item id, whether it has a level at the location)."""
        location = self.defaults().location
        found: dict[str, tuple[str, bool]] = {}
        for start in range(0, len(skus), _LOOKUP_CHUNK):
            chunk = skus[start : start + _LOOKUP_CHUNK]
            query = [("sku[]", sku) for sku in chunk]
            query += [
                ("fields", "id,sku,location_levels.location_id"),
                ("limit", str(len(chunk) * 2)),
            ]
            answer = self.client.request(
                "GET", "/admin/inventory-items?" + urlencode(query, quote_via=quote)
            ).body
            for item in _dict(answer).get("inventory_items") or []:
                if isinstance(item, dict) and item.get("sku"):
                    levels = item.get("location_levels") or []
                    here = any(
                        isinstance(lv, dict) and lv.get("location_id") == location for lv in levels
                    )
                    found[str(item["sku"])] = (str(item["id"]), here)
        return found

    def _write_variants(
        self,
        updates: Sequence[ProductUpdate],
        updated: dict[int, ItemResult],
        defaults: StoreDefaults,
    ) -> None:
        """New and changed variants of updated products with options, one request each.

        Absolute values: a lost answer is sent again by the client's retries, except
        for new variants, which are looked up first (a repeated create would be refused
        as a duplicate SKU, so nothing is created twice either way).
        """
        for i, change in enumerate(updates):
            if not updated[i].ok or not has_options(change.product):
                continue
            skus = [variant.sku for variant in change.product.variants]
            known = {
                sku: split_id(remote.product_id)[1] or ""
                for sku, remote in self.lookup_skus(skus).items()
            }
            body = variant_changes(change.product, change.fields, known, defaults)
            if not body or not (body["create"] or body["update"]):
                continue
            product_id = split_id(change.product_id)[0]
            try:
                self.client.request(
                    "POST", f"/admin/products/{quote(product_id)}/variants/batch", json=body
                )
            except APIError as error:
                if error.status not in (400, 404):
                    raise
                updated[i] = _failed(change.sku, error)

    def _set_stock_after_write(
        self,
        creates: Sequence[Product],
        updates: Sequence[ProductUpdate],
        created: Mapping[int, ItemResult],
        updated: Mapping[int, ItemResult],
    ) -> None:
        """Stock of the products written, for the rows whose file gave it."""
        counts: dict[str, int] = {}
        # Reconciled creates too: the attempt that applied them may not have reached its
        # stock step, and setting an absolute count again is harmless.
        for i, product in enumerate(creates):
            if not created[i].ok:
                continue
            if has_options(product):  # every variant's stock is in the file
                counts.update({variant.sku: variant.stock for variant in product.variants})
            elif "stock" in product.model_fields_set:
                counts[product.sku] = product.stock
        for i, change in enumerate(updates):
            if not updated[i].ok:
                continue
            if has_options(change.product):
                if change.fields is None or "variants" in change.fields:
                    # A variant's count only where the file changed it (or the variant is
                    # new): a new price must not overwrite what orders did to the stock.
                    before = {str(v.get("sku")): v for v in change.variants_before}
                    counts.update(
                        {
                            v.sku: v.stock
                            for v in change.product.variants
                            if change.fields is None
                            or v.sku not in before
                            or before[v.sku].get("stock") != v.stock
                        }
                    )
                continue
            wanted = change.fields is None or "stock" in change.fields
            if wanted and "stock" in change.product.model_fields_set:
                counts[change.sku] = change.product.stock
        failed = {sku: r for sku, r in self._set_levels(counts).items() if not r.ok}
        if failed:
            log.warning("stock not set for %d SKUs without inventory items", len(failed))

    # -- orders ------------------------------------------------------------------------

    def iter_orders(
        self,
        *,
        updated_since: datetime | None = None,
        status: str | None = None,
        page_size: int = 100,
    ) -> Iterator[RemoteOrder]:
        """``GET /admin/orders`` by ``updated_at``, oldest first, offset paging."""
        limit = min(page_size, MAX_BATCH)
        offset = 0
        while True:
            query = [
                ("fields", _ORDER_FIELDS),
                ("order", "updated_at"),
                ("limit", str(limit)),
                ("offset", str(offset)),
            ]
            if updated_since is not None:
                if updated_since.tzinfo is None:
                    updated_since = updated_since.replace(tzinfo=timezone.utc)
                stamp = updated_since.isoformat().replace("+00:00", "Z")
                query.append(("updated_at[$gte]", stamp))
            if status:
                query.append(("status[]", status))
            answer = _dict(
                self.client.request(
                    "GET", "/admin/orders?" + urlencode(query, quote_via=quote)
                ).body
            )
            orders = answer.get("orders") or []
            for order in orders:
                if isinstance(order, dict):
                    yield _order(order)
            offset += len(orders)
            if not orders or offset >= int(answer.get("count") or 0):
                return

    def get_order(self, order_id: str) -> RemoteOrder | None:
        """``GET /admin/orders/{id}``, or None on 404."""
        try:
            answer = self.client.request(
                "GET", f"/admin/orders/{quote(order_id)}", params={"fields": _ORDER_FIELDS}
            ).body
        except APIError as error:
            if error.status == 404:
                return None
            raise
        order = _dict(answer).get("order")
        return _order(order) if isinstance(order, dict) else None

    # -- the rest ----------------------------------------------------------------------

    def check_auth(self) -> AuthStatus:
        """``GET /admin/stores`` with the key: it works, and secret keys have no scopes."""
        self.client.request("GET", "/admin/stores", params={"fields": "id"})
        return AuthStatus(
            token_url=self.client.base_url + " (secret API key)",
            client_id="secret API key",
            granted_scopes=None,
            expires_in=0.0,
        )


def _encode(body: Mapping[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _sku_of(updates: Sequence[ProductUpdate] | Mapping[int, ProductUpdate], i: int) -> str:
    return updates[i].sku


def _id_of(updates: Sequence[ProductUpdate] | Mapping[int, ProductUpdate], i: int) -> str:
    return updates[i].product_id


def _failed(sku: str, error: APIError) -> ItemResult:
    return ItemResult(
        sku=sku,
        ok=False,
        code=error.code or "REFUSED",
        message=error.message,
        http_status=error.status,
        # Refused with the whole batch, Medusa naming no item: the next batch may pass.
        item_code=ItemCode.REFUSED,
        scope=ErrorScope.BATCH,
    )


def _variants_by_sku(created: Any) -> dict[str, str]:
    found: dict[str, str] = {}
    for product in created if isinstance(created, list) else []:
        if not isinstance(product, dict):
            continue
        for variant in product.get("variants") or []:
            if isinstance(variant, dict) and variant.get("sku"):
                found[str(variant["sku"])] = join_id(str(product["id"]), str(variant["id"]))
    return found


def _remote(variant: Any, currency: str, location: str) -> RemoteProduct | None:
    if not isinstance(variant, dict) or not variant.get("sku"):
        return None
    product = _dict(variant.get("product"))
    return RemoteProduct(
        product_id=join_id(str(variant.get("product_id") or product.get("id")), str(variant["id"])),
        sku=str(variant["sku"]),
        fields=remote_fields(variant, currency, location),
        updated_at=product.get("updated_at"),
    )


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return Decimal(0)


def _order(item: Mapping[str, Any]) -> RemoteOrder:
    address = _dict(item.get("shipping_address"))
    name = " ".join(str(address[k]) for k in ("first_name", "last_name") if address.get(k))
    lines = tuple(
        OrderLine(
            sku=str(line.get("variant_sku") or ""),
            quantity=int(line.get("quantity") or 0),
            unit_price=_decimal(line.get("unit_price", "0")),
        )
        for line in item.get("items") or []
        if isinstance(line, dict)
    )
    return RemoteOrder(
        order_id=str(item.get("id", "")),
        status=str(item.get("status", "")),
        created_at=str(item.get("created_at", "")),
        updated_at=str(item.get("updated_at", "")),
        currency=str(item.get("currency_code", "")).upper(),
        total=_decimal(item.get("total", "0")),
        lines=lines,
        buyer_name=name or None,
        buyer_country=str(address["country_code"]).upper() if address.get("country_code") else None,
    )
