"""The shop behind the Shopify dialect: products with options and variants, inventory at
locations, and the resolvers graphql-core calls to answer Shopify's Admin API.

Objects reach graphql-core as dicts; a field that takes arguments is a callable
``(info, **arguments)``, which is how graphql-core's default resolver calls it. Only the
fields the adapter, the contract tests and Shopify's own SDK ask for are filled: a query
for any other field validates against the schema (as on Shopify) and answers null.

Rules kept from Shopify's reference text (the schema's descriptions):
* ``productSet`` upserts; list fields it is given (options, variants, files) replace the
  stored list whole, so a variant left out is deleted; other fields left out stay.
* SKUs may repeat across products and variants; ``productVariants(query: "sku:X")``
  matches case-insensitively, as Shopify's search does.
* ``inventorySetQuantities`` and ``inventoryAdjustQuantities`` apply all changes or none;
  from 2026-04 they need ``@idempotent(key:)`` and an explicit ``changeFromQuantity`` per
  change (null skips the check), before that ``compareQuantity`` / ``ignoreCompareQuantity``.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, value_from_ast_untyped
from graphql import GraphQLResolveInfo as _Info

from shopsync.sandbox.store import Store
from shopsync.sandbox.timefmt import rfc3339

MAX_OPTIONS = 3
MAX_VARIANTS = 2048
MAX_TITLE = 255
MAX_QUANTITIES = 250
DEFAULT_OPTION = ("Title", "Default Title")
IDEMPOTENCY_REQUIRED_FROM = "2026-04"
"""The first version in which inventory mutations need ``@idempotent`` and
``changeFromQuantity`` (and no longer know ``compareQuantity``)."""

_SKU_TERM = re.compile(r"""sku:(?:"((?:[^"\\]|\\.)*)"|'((?:[^'\\]|\\.)*)'|(\S+))""")
_UPDATED_TERM = re.compile(r"""updated_at:(>=|>)\s*['"]?([^'"\s]+)['"]?""")

Obj = dict[str, Any]
Info = _Info[Any]
"""What graphql-core hands a resolver (context: a dict of version, scopes, shop)."""


def gid(kind: str, number: int) -> str:
    """``gid://shopify/Kind/N``."""
    return f"gid://shopify/{kind}/{number}"


def parse_gid(value: Any, kind: str) -> int | None:
    """N of ``gid://shopify/Kind/N``, or None."""
    prefix = f"gid://shopify/{kind}/"
    text = str(value or "")
    if text.startswith(prefix) and text[len(prefix) :].split("?", maxsplit=1)[0].isdigit():
        return int(text[len(prefix) :].split("?", maxsplit=1)[0])
    return None


def _cursor(position: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"last_id": position}).encode()).decode()


def _position(cursor: str | None) -> int:
    if not cursor:
        return -1
    try:
        return int(json.loads(base64.urlsafe_b64decode(cursor.encode()))["last_id"])
    except (ValueError, KeyError, TypeError):
        raise GraphQLError(f"Invalid cursor: {cursor!r}.") from None


def connection(items: Sequence[Obj], args: Mapping[str, Any]) -> Obj:
    """A Relay connection over ``items`` for ``first``/``after`` (or ``last``/``before``)."""
    start = _position(args.get("after")) + 1
    end = _position(args.get("before")) if args.get("before") else len(items)
    window = list(enumerate(items))[start:end]
    if args.get("first") is not None:
        window = window[: int(args["first"])]
    elif args.get("last") is not None:
        window = window[-int(args["last"]) :] if int(args["last"]) else []
    edges = [{"node": item, "cursor": _cursor(n)} for n, item in window]
    return {
        "nodes": [item for _, item in window],
        "edges": edges,
        "pageInfo": {
            "hasNextPage": bool(window) and window[-1][0] < len(items) - 1,
            "hasPreviousPage": bool(window) and window[0][0] > 0,
            "startCursor": edges[0]["cursor"] if edges else None,
            "endCursor": edges[-1]["cursor"] if edges else None,
        },
    }


def user_error(path: Sequence[Any], message: str, code: str) -> Obj:
    """A ``userErrors`` entry: ``field`` is the input path, as Shopify gives it."""
    return {"field": [str(part) for part in path], "message": message, "code": code}


@dataclass
class Variant:
    """One variant; its inventory item has the same number."""

    number: int
    options: tuple[str, ...]
    sku: str | None = None
    price: str = "0.00"
    compare_at_price: str | None = None
    barcode: str | None = None
    position: int = 1
    weight: Obj | None = None
    created_at: str = ""
    updated_at: str = ""


@dataclass
class Product:
    """One product as the shop keeps it."""

    number: int
    title: str
    handle: str
    created_at: str
    updated_at: str
    description_html: str = ""
    vendor: str = ""
    product_type: str = ""
    status: str = "ACTIVE"
    tags: list[str] = field(default_factory=list)
    options: list[tuple[str, list[str]]] = field(default_factory=list)
    variants: list[Variant] = field(default_factory=list)
    files: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Location:
    """A place stock is kept."""

    number: int
    name: str
    primary: bool = False


class Shop:
    """Products, inventory and locations, behind one lock; orders live in the core store."""

    def __init__(self, store: Store, clock: Callable[[], float], *, name: str = "sandbox") -> None:
        self.store = store
        self.clock = clock
        self.name = name
        self.lock = threading.RLock()
        self.locations = [Location(1, "Shop location", primary=True), Location(2, "Warehouse")]
        self.reset()

    def reset(self) -> None:
        """Empty the shop (products, stock, kept idempotent answers)."""
        with self.lock:
            self.products: dict[int, Product] = {}
            self.handles: dict[str, int] = {}
            self.stock: dict[tuple[int, int], int] = {}
            self.kept: dict[str, tuple[str, Obj]] = {}
            self.replays = 0
            self._next = 1

    def _number(self) -> int:
        number = self._next
        self._next += 1
        return number

    def now(self) -> str:
        """The clock's time as Shopify writes it."""
        return rfc3339(self.clock()).replace(".000000Z", "Z")

    def variant_count(self) -> int:
        """How many variants the shop holds."""
        with self.lock:
            return sum(len(p.variants) for p in self.products.values())

    # -- the root fields -----------------------------------------------------------------

    def query_root(self) -> Obj:
        """The ``QueryRoot`` resolvers."""
        return {
            "shop": self._shop_obj,
            "currentAppInstallation": lambda info: {
                "id": gid("AppInstallation", 1),
                "accessScopes": [{"handle": s} for s in sorted(info.context["scopes"])],
            },
            "product": lambda info, id: self._product_by_id(id),
            "products": lambda info, **args: connection(
                [self.product_obj(p) for p in self._sorted_products()], args
            ),
            "productVariant": lambda info, id: self._variant_by_id(id),
            "productVariants": lambda info, **args: self._variants_query(args),
            "location": lambda info, id=None: self._location_obj(self._location(id)),
            "locations": lambda info, **args: connection(
                [
                    _present(self._location_obj(loc))
                    for loc in self._locations_query(args.get("query"))
                ],
                args,
            ),
            "inventoryItem": lambda info, id: self._inventory_item(id),
            "orders": lambda info, **args: self._orders(args),
            "order": lambda info, id: self._order(id),
        }

    def mutation_root(self) -> Obj:
        """The ``Mutation`` resolvers."""
        return {
            "productSet": self._product_set,
            "productDelete": self._product_delete,
            "inventorySetQuantities": self._inventory_set,
            "inventoryAdjustQuantities": self._inventory_adjust,
        }

    # -- objects -------------------------------------------------------------------------

    def _shop_obj(self, info: Info) -> Obj:
        return {
            "id": gid("Shop", 1),
            "name": self.name,
            "myshopifyDomain": f"{info.context['shop']}.myshopify.com",
            "currencyCode": "CNY",
        }

    def product_obj(self, product: Product) -> Obj:
        """``Product``."""
        return {
            "id": gid("Product", product.number),
            "title": product.title,
            "handle": product.handle,
            "descriptionHtml": product.description_html,
            "vendor": product.vendor,
            "productType": product.product_type,
            "status": product.status,
            "tags": list(product.tags),
            "createdAt": product.created_at,
            "updatedAt": product.updated_at,
            "totalInventory": lambda info: sum(self._available(v.number) for v in product.variants),
            "options": lambda info, first=None: [
                {
                    "id": gid("ProductOption", product.number * 10 + n),
                    "name": name,
                    "position": n + 1,
                    "values": list(values),
                    "optionValues": [
                        {
                            "id": gid("ProductOptionValue", product.number * 1000 + n * 100 + k),
                            "name": value,
                        }
                        for k, value in enumerate(values)
                    ],
                }
                for n, (name, values) in enumerate(product.options[:first])
            ],
            "variants": lambda info, **args: connection(
                [self.variant_obj(product, v) for v in product.variants], args
            ),
            "variantsCount": {"count": len(product.variants), "precision": "EXACT"},
        }

    def variant_obj(self, product: Product, variant: Variant) -> Obj:
        """``ProductVariant``."""
        names = [name for name, _ in product.options]
        return {
            "id": gid("ProductVariant", variant.number),
            "sku": variant.sku,
            "price": variant.price,
            "compareAtPrice": variant.compare_at_price,
            "barcode": variant.barcode,
            "position": variant.position,
            "title": " / ".join(variant.options),
            "displayName": f"{product.title} - {' / '.join(variant.options)}",
            "createdAt": variant.created_at,
            "updatedAt": variant.updated_at,
            "inventoryQuantity": self._available(variant.number),
            "selectedOptions": [
                {"name": name, "value": value}
                for name, value in zip(names, variant.options, strict=False)
            ],
            "product": lambda info: self.product_obj(product),
            "inventoryItem": self._item_obj(variant),
        }

    def _item_obj(self, variant: Variant) -> Obj:
        def level(info: Info, locationId: str, **_: Any) -> Obj | None:
            location = self._location(locationId)
            return None if location is None else self._level_obj(variant, location)

        return {
            "id": gid("InventoryItem", variant.number),
            "sku": variant.sku,
            "tracked": True,
            "createdAt": variant.created_at,
            "updatedAt": variant.updated_at,
            "measurement": {
                "id": gid("InventoryItemMeasurement", variant.number),
                "weight": variant.weight,
            },
            "inventoryLevel": level,
        }

    def _level_obj(self, variant: Variant, location: Location) -> Obj:
        quantity = self.stock.get((variant.number, location.number), 0)
        level_id = gid("InventoryLevel", variant.number) + f"?inventory_item_id={location.number}"

        def quantities(info: Info, names: list[str]) -> list[Obj]:
            return [
                {
                    "id": f"{level_id}&name={name}",
                    "name": name,
                    "quantity": quantity if name in ("available", "on_hand") else 0,
                }
                for name in names
            ]

        return {
            "id": level_id,
            "isActive": True,
            "location": self._location_obj(location),
            "quantities": quantities,
            "createdAt": variant.created_at,
            "updatedAt": variant.updated_at,
        }

    def _location_obj(self, location: Location | None) -> Obj | None:
        if location is None:
            return None
        return {
            "id": gid("Location", location.number),
            "name": location.name,
            "isActive": True,
            "isPrimary": location.primary,
        }

    def _available(self, item: int) -> int:
        # By location, not over every count: a bulk operation builds one per line.
        return sum(self.stock.get((item, location.number), 0) for location in self.locations)

    # -- reads ---------------------------------------------------------------------------

    def _sorted_products(self) -> list[Product]:
        with self.lock:
            return [self.products[n] for n in sorted(self.products)]

    def _product_by_id(self, value: str) -> Obj | None:
        number = parse_gid(value, "Product")
        product = self.products.get(number) if number is not None else None
        return None if product is None else self.product_obj(product)

    def _find_variant(self, number: int) -> tuple[Product, Variant] | None:
        for product in self.products.values():
            for variant in product.variants:
                if variant.number == number:
                    return product, variant
        return None

    def _variant_by_id(self, value: str) -> Obj | None:
        number = parse_gid(value, "ProductVariant")
        found = self._find_variant(number) if number is not None else None
        return None if found is None else self.variant_obj(*found)

    def _variants_query(self, args: Mapping[str, Any]) -> Obj:
        text = str(args.get("query") or "")
        wanted = {
            next(g for g in match.groups() if g is not None).replace('\\"', '"').lower()
            for match in _SKU_TERM.finditer(text)
        }
        with self.lock:
            matches = [
                self.variant_obj(product, variant)
                for product in self._sorted_products()
                for variant in product.variants
                if not wanted or (variant.sku or "").lower() in wanted
            ]
        return connection(matches, args)

    def _inventory_item(self, value: str) -> Obj | None:
        found = self._find_variant(parse_gid(value, "InventoryItem") or 0)
        return None if found is None else self._item_obj(found[1])

    def _location(self, value: Any) -> Location | None:
        if value is None:
            return self.locations[0]
        number = parse_gid(value, "Location")
        return next((loc for loc in self.locations if loc.number == number), None)

    def _locations_query(self, query: str | None) -> list[Location]:
        match = re.search(r"""name:(?:"([^"]*)"|'([^']*)'|(\S+))""", query or "")
        if match is None:
            return list(self.locations)
        name = next(g for g in match.groups() if g is not None).lower()
        return [loc for loc in self.locations if loc.name.lower() == name]

    # -- orders --------------------------------------------------------------------------

    def _orders(self, args: Mapping[str, Any]) -> Obj:
        match = _UPDATED_TERM.search(str(args.get("query") or ""))
        since = match.group(2) if match else None
        strict = bool(match and match.group(1) == ">")
        rows = self.store.orders_page(
            updated_since=_sandbox_time(since) if since else None,
            status=None,
            after=None,
            limit=25_000,
        )
        if since and strict:
            rows = [row for row in rows if _shopify_time(row["updated_at"]) > since]
        if args.get("sortKey") not in (None, "UPDATED_AT"):
            rows.sort(key=lambda row: row["order_id"])
        if args.get("reverse"):
            rows.reverse()
        return connection([_order_obj(row) for row in rows], args)

    def _order(self, value: str) -> Obj | None:
        number = parse_gid(value, "Order")
        row = self.store.order(f"ord_{number:08d}") if number is not None else None
        return None if row is None else _order_obj(row)

    # -- productSet ----------------------------------------------------------------------

    def _product_set(
        self,
        info: Info,
        input: Obj,
        identifier: Obj | None = None,
        synchronous: bool = True,
    ) -> Obj:
        with self.lock:
            target: Product | None = None
            handle = input.get("handle")
            if identifier:
                if identifier.get("id") is not None:
                    number = parse_gid(identifier["id"], "Product")
                    target = self.products.get(number) if number is not None else None
                    if target is None:
                        return _set_payload(
                            None,
                            [
                                user_error(
                                    ["identifier", "id"],
                                    "Product does not exist",
                                    "PRODUCT_DOES_NOT_EXIST",
                                )
                            ],
                        )
                elif identifier.get("handle") is not None:
                    handle = handle or identifier["handle"]
                    number = self.handles.get(identifier["handle"])
                    target = self.products.get(number) if number is not None else None
                else:
                    return _set_payload(
                        None,
                        [
                            user_error(
                                ["identifier", "customId"],
                                "No metafield definition holds this customId.",
                                "INVALID_INPUT",
                            )
                        ],
                    )
            errors = self._check_set_input(input, target)
            if errors:
                return _set_payload(None, errors)
            now = self.now()
            if target is None:
                target = Product(
                    self._number(),
                    str(input["title"]),
                    self._free_handle(handle or input["title"]),
                    now,
                    now,
                )
                self.products[target.number] = target
                self.handles[target.handle] = target.number
                if not input.get("variants"):
                    target.options = [(DEFAULT_OPTION[0], [DEFAULT_OPTION[1]])]
                    target.variants = [
                        Variant(
                            self._number(), (DEFAULT_OPTION[1],), created_at=now, updated_at=now
                        )
                    ]
            self._apply(target, input, now)
            return _set_payload(self.product_obj(target), [])

    def _product_delete(self, info: Info, input: Obj, synchronous: bool = True) -> Obj:
        """``productDelete``: the product, its variants and their stock are gone."""
        with self.lock:
            number = parse_gid(input.get("id"), "Product")
            product = self.products.pop(number, None) if number is not None else None
            if product is None:
                return {
                    "deletedProductId": None,
                    "productDeleteOperation": None,
                    "userErrors": [{"field": ["id"], "message": "Product does not exist"}],
                }
            self.handles.pop(product.handle, None)
            for variant in product.variants:
                for location in self.locations:
                    self.stock.pop((variant.number, location.number), None)
            return {
                "deletedProductId": gid("Product", product.number),
                "productDeleteOperation": None,
                "userErrors": [],
            }

    def _check_set_input(self, data: Obj, target: Product | None) -> list[Obj]:  # noqa: PLR0912 - one check per rule
        errors: list[Obj] = []
        title = data.get("title")
        if target is None and not (title or "").strip():
            errors.append(user_error(["input", "title"], "Title can't be blank", "INVALID_INPUT"))
        if title is not None and len(title) > MAX_TITLE:
            errors.append(
                user_error(
                    ["input", "title"],
                    f"Title is too long (maximum is {MAX_TITLE} characters)",
                    "INVALID_INPUT",
                )
            )
        options = data.get("productOptions")
        if options is not None and len(options) > MAX_OPTIONS:
            errors.append(
                user_error(
                    ["input", "productOptions"],
                    f"Can only specify a maximum of {MAX_OPTIONS} options",
                    "OPTIONS_OVER_LIMIT",
                )
            )
        variants = data.get("variants")
        if variants is None:
            return errors
        if len(variants) > MAX_VARIANTS:
            errors.append(
                user_error(
                    ["input", "variants"],
                    f"Can only specify a maximum of {MAX_VARIANTS} variants",
                    "VARIANTS_OVER_LIMIT",
                )
            )
        if options is None and target is None:
            errors.append(
                user_error(
                    ["input", "productOptions"],
                    "Options are required when variants are given",
                    "PRODUCT_OPTIONS_INPUT_MISSING",
                )
            )
            return errors
        known = (
            {(o.get("name") or ""): {v.get("name") for v in o.get("values") or []} for o in options}
            if options is not None
            else {name: set(values) for name, values in (target.options if target else [])}
        )
        seen: set[tuple[str, ...]] = set()
        for n, variant in enumerate(variants):
            path = ["input", "variants", str(n)]
            values = tuple(v.get("name") or "" for v in variant.get("optionValues") or [])
            for k, chosen in enumerate(variant.get("optionValues") or []):
                if chosen.get("name") not in known.get(chosen.get("optionName") or "", set()):
                    errors.append(
                        user_error(
                            [*path, "optionValues", str(k)],
                            "Option value does not exist",
                            "OPTION_VALUE_DOES_NOT_EXIST",
                        )
                    )
            if values in seen:
                errors.append(
                    user_error(
                        [*path, "optionValues"],
                        "The variant's option values repeat another's",
                        "DUPLICATED_OPTION_VALUE",
                    )
                )
            seen.add(values)
            price = _decimal(variant.get("price"))
            if price is not None and price < 0:
                errors.append(
                    user_error([*path, "price"], "Price must be at least 0", "INVALID_VARIANT")
                )
            for k, quantity in enumerate(variant.get("inventoryQuantities") or []):
                if self._location(quantity.get("locationId")) is None:
                    errors.append(
                        user_error(
                            [*path, "inventoryQuantities", str(k), "locationId"],
                            "Location does not exist",
                            "INVALID_INPUT",
                        )
                    )
        return errors

    def _apply(self, product: Product, data: Obj, now: str) -> None:
        scalars = {
            "title": "title",
            "descriptionHtml": "description_html",
            "vendor": "vendor",
            "productType": "product_type",
            "status": "status",
        }
        for name, attribute in scalars.items():
            if data.get(name) is not None:
                setattr(product, attribute, data[name])
        if data.get("tags") is not None:
            product.tags = list(data["tags"])
        if data.get("handle") and data["handle"] != product.handle:
            self.handles.pop(product.handle, None)
            product.handle = self._free_handle(data["handle"])
            self.handles[product.handle] = product.number
        if data.get("files") is not None:
            # A file of the shop's Files by its id, or a new one from a URL.
            product.files = [
                str(f.get("id") or f.get("originalSource") or "") for f in data["files"]
            ]
        if data.get("productOptions") is not None:
            product.options = [
                (o.get("name") or "", [v.get("name") or "" for v in o.get("values") or []])
                for o in data["productOptions"]
            ]
        if data.get("variants") is not None:
            self._set_variants(product, data["variants"], now)
        product.updated_at = now

    def _set_variants(self, product: Product, given: Sequence[Obj], now: str) -> None:
        by_options = {v.options: v for v in product.variants}
        by_number = {v.number: v for v in product.variants}
        kept: list[Variant] = []
        for position, data in enumerate(given, start=1):
            options = tuple(v.get("name") or "" for v in data.get("optionValues") or [])
            number = parse_gid(data.get("id"), "ProductVariant")
            variant = by_number.get(number) if number is not None else by_options.get(options)
            if variant is None:
                variant = Variant(self._number(), options, created_at=now)
            variant.options = options
            variant.position = position
            item = data.get("inventoryItem") or {}
            sku = data.get("sku", item.get("sku"))
            if sku is not None or "sku" in data:
                variant.sku = sku
            if data.get("price") is not None:
                variant.price = f"{_decimal(data['price']):.2f}"
            if "compareAtPrice" in data:
                cap = _decimal(data["compareAtPrice"])
                variant.compare_at_price = None if cap is None else f"{cap:.2f}"
            if "barcode" in data:
                variant.barcode = data["barcode"]
            if item.get("measurement") is not None:
                variant.weight = item["measurement"].get("weight")
            variant.updated_at = now
            for quantity in data.get("inventoryQuantities") or []:
                location = self._location(quantity["locationId"])
                assert location is not None  # checked before
                self.stock[(variant.number, location.number)] = int(quantity["quantity"])
            kept.append(variant)
        gone = {v.number for v in product.variants} - {v.number for v in kept}
        for number in gone:
            for location in self.locations:
                self.stock.pop((number, location.number), None)
        product.variants = kept

    def _free_handle(self, text: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "product"
        handle, n = base, 1
        while handle in self.handles:
            handle, n = f"{base}-{n}", n + 1
        return handle

    # -- inventory -----------------------------------------------------------------------

    def _inventory_set(self, info: Info, input: Obj) -> Obj:
        return self._inventory(info, input, "quantities", delta=False)

    def _inventory_adjust(self, info: Info, input: Obj) -> Obj:
        return self._inventory(info, input, "changes", delta=True)

    def _inventory(self, info: Info, data: Obj, list_name: str, *, delta: bool) -> Obj:
        version: str = info.context["version"]
        modern = version >= IDEMPOTENCY_REQUIRED_FROM
        key = _idempotency_key(info)
        if modern and key is None:
            raise GraphQLError(
                "The @idempotent directive with a key is required for this mutation "
                f"as of API version {IDEMPOTENCY_REQUIRED_FROM}."
            )
        fingerprint = json.dumps(data, sort_keys=True, default=str)
        with self.lock:
            if key is not None and key in self.kept:
                kept_fingerprint, answer = self.kept[key]
                if kept_fingerprint != fingerprint:
                    return _inventory_payload(
                        None,
                        [
                            user_error(
                                ["input"],
                                "The same idempotency key cannot be used with different "
                                "operation parameters.",
                                "IDEMPOTENCY_KEY_PARAMETER_MISMATCH",
                            )
                        ],
                    )
                self.replays += 1
                return answer
            answer = self._apply_inventory(data, list_name, delta=delta, modern=modern)
            if key is not None:
                self.kept[key] = (fingerprint, answer)
            return answer

    def _apply_inventory(self, data: Obj, list_name: str, *, delta: bool, modern: bool) -> Obj:
        entries: list[Obj] = list(data.get(list_name) or [])
        errors: list[Obj] = []
        if data.get("name") not in ("available", "on_hand"):
            errors.append(
                user_error(
                    ["input", "name"],
                    "The quantity name must be either 'available' or 'on_hand'.",
                    "INVALID_NAME",
                )
            )
        if len(entries) > MAX_QUANTITIES:
            errors.append(
                user_error(
                    ["input", list_name],
                    f"At most {MAX_QUANTITIES} changes per call.",
                    "INVALID_INPUT",
                )
            )
        planned: list[tuple[int, int, int, int]] = []  # item, location, before, after
        for n, entry in enumerate(entries):
            path = ["input", list_name, str(n)]
            found = self._find_variant(
                parse_gid(entry.get("inventoryItemId"), "InventoryItem") or 0
            )
            location = self._location(entry.get("locationId"))
            if found is None:
                errors.append(
                    user_error(
                        [*path, "inventoryItemId"],
                        "The specified inventory item could not be found.",
                        "INVALID_INVENTORY_ITEM",
                    )
                )
                continue
            if location is None:
                errors.append(
                    user_error(
                        [*path, "locationId"],
                        "The specified location could not be found.",
                        "INVALID_LOCATION",
                    )
                )
                continue
            item = found[1].number
            before = self.stock.get((item, location.number), 0)
            after = before + int(entry["delta"]) if delta else int(entry["quantity"])
            errors.extend(
                self._compare_errors(entry, path, before, data, modern=modern, delta=delta)
            )
            if after < 0:
                errors.append(
                    user_error(
                        [*path, "delta" if delta else "quantity"],
                        "The quantity can't be negative.",
                        "INVALID_QUANTITY_NEGATIVE",
                    )
                )
            planned.append((item, location.number, before, after))
        if errors:
            return _inventory_payload(None, errors)
        changes = []
        for item, location_number, before, after in planned:
            self.stock[(item, location_number)] = after
            changes.append(
                {
                    "name": data["name"],
                    "delta": after - before,
                    "quantityAfterChange": after,
                    "item": {"id": gid("InventoryItem", item)},
                    "location": self._location_obj(
                        self._location(gid("Location", location_number))
                    ),
                }
            )
        group = {
            "id": gid("InventoryAdjustmentGroup", self._number()),
            "createdAt": self.now(),
            "reason": data.get("reason") or "correction",
            "referenceDocumentUri": data.get("referenceDocumentUri"),
            "changes": changes,
        }
        return _inventory_payload(group, [])

    @staticmethod
    def _compare_errors(
        entry: Obj, path: list[str], before: int, data: Obj, *, modern: bool, delta: bool
    ) -> list[Obj]:
        if modern:
            if "changeFromQuantity" not in entry:
                return [
                    user_error(
                        [*path, "changeFromQuantity"],
                        "changeFromQuantity must be given (null skips the check).",
                        "INVALID_INPUT",
                    )
                ]
            expected = entry["changeFromQuantity"]
            code = "CHANGE_FROM_QUANTITY_STALE"
            name = "changeFromQuantity"
        else:
            if delta:
                return []
            if data.get("ignoreCompareQuantity"):
                return []
            if "compareQuantity" not in entry or entry["compareQuantity"] is None:
                return [
                    user_error(
                        [*path, "compareQuantity"],
                        "The compareQuantity argument must be given to each quantity "
                        "or ignored using ignoreCompareQuantity.",
                        "COMPARE_QUANTITY_REQUIRED",
                    )
                ]
            expected = entry["compareQuantity"]
            code = "COMPARE_QUANTITY_STALE"
            name = "compareQuantity"
        if expected is not None and int(expected) != before:
            return [
                user_error([*path, name], f"The {name} value does not match persisted value.", code)
            ]
        return []


def _present(value: Obj | None) -> Obj:
    assert value is not None
    return value


def _set_payload(product: Obj | None, errors: list[Obj]) -> Obj:
    return {"product": product, "productSetOperation": None, "userErrors": errors}


def _inventory_payload(group: Obj | None, errors: list[Obj]) -> Obj:
    return {"inventoryAdjustmentGroup": group, "userErrors": errors}


def _idempotency_key(info: Info) -> str | None:
    for node in info.field_nodes:
        for directive in node.directives or ():
            if directive.name.value != "idempotent":
                continue
            for argument in directive.arguments or ():
                if argument.name.value == "key":
                    # graphql-core 3.3 wraps the coerced values; 3.2 gives the dict itself.
                    given: Any = info.variable_values
                    value = value_from_ast_untyped(argument.value, getattr(given, "coerced", given))
                    return None if value is None else str(value)
    return None


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def _shopify_time(text: str) -> str:
    # The core store writes six fractional digits; Shopify writes whole seconds.
    return text.split(".", maxsplit=1)[0] + "Z" if "." in text else text


def _sandbox_time(text: str) -> str:
    return text.replace("Z", ".000000Z") if "." not in text else text


_FINANCIAL = {
    "pending": "PENDING",
    "paid": "PAID",
    "shipped": "PAID",
    "delivered": "PAID",
    "cancelled": "VOIDED",
    "refunded": "REFUNDED",
}
_FULFILMENT = {"shipped": "FULFILLED", "delivered": "FULFILLED"}


def _order_obj(row: Mapping[str, Any]) -> Obj:
    number = int(str(row["order_id"]).rsplit("_", 1)[-1])
    currency = str(row.get("currency") or "CNY")
    status = str(row.get("status") or "pending")
    lines = [
        {
            "id": gid("LineItem", number * 100 + n),
            "sku": line.get("sku"),
            "quantity": int(line.get("quantity", 0)),
            "name": str(line.get("sku")),
            "title": str(line.get("sku")),
            "originalUnitPriceSet": _money(line.get("unit_price", "0"), currency),
        }
        for n, line in enumerate(row.get("lines") or [])
    ]
    buyer = row.get("buyer") or {}
    return {
        "id": gid("Order", number),
        "name": f"#{1000 + number}",
        "createdAt": _shopify_time(str(row["created_at"])),
        "updatedAt": _shopify_time(str(row["updated_at"])),
        "cancelledAt": _shopify_time(str(row["updated_at"])) if status == "cancelled" else None,
        "currencyCode": currency,
        "displayFinancialStatus": _FINANCIAL.get(status, "PENDING"),
        "displayFulfillmentStatus": _FULFILMENT.get(status, "UNFULFILLED"),
        "totalPriceSet": _money(row.get("total", "0"), currency),
        "tags": [],
        "lineItems": lambda info, **args: connection(lines, args),
        "customer": {"id": gid("Customer", number), "displayName": buyer.get("name")}
        if buyer.get("name")
        else None,
        "shippingAddress": {
            "id": gid("MailingAddress", number),
            "countryCodeV2": buyer.get("country"),
        }
        if buyer.get("country")
        else None,
    }


def _money(amount: Any, currency: str) -> Obj:
    return {"shopMoney": {"amount": str(amount), "currencyCode": currency}}
