"""Plan: decide for each validated product whether it is created, updated (only the changed
fields) or unchanged, from the ledger (and, with ``--refresh``, the platform's state).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shopsync.domain.digest import hash_text
from shopsync.domain.models import FieldError, Product, RowError, SourceRow, ValidRow
from shopsync.errors import UsageError
from shopsync.i18n import N_
from shopsync.io.headers import HANDLE_WHEN_SKU_ELSEWHERE, PRODUCT_ALIASES, normalize
from shopsync.platforms.base import (
    Capabilities,
    Platform,
    capabilities_of,
)
from shopsync.state.ledger import LedgerEntry
from shopsync.state.store import LedgerStore
from shopsync.sync.workers import chunked

ChangeKind = Literal["create", "update", "unchanged"]


REQUIRED_FIELDS = frozenset({"sku", "title", "price"})
_HANDLE_NAMES = frozenset(PRODUCT_ALIASES["handle"]) | HANDLE_WHEN_SKU_ELSEWHERE


def refuse_variants(
    outcomes: Iterable[ValidRow[Product] | RowError],
    capabilities: Capabilities,
    platform: str,
) -> Iterator[ValidRow[Product] | RowError]:
    """``outcomes`` with each product of several variants made a row error where the
    platform's ``capabilities`` say it has no variants: refused at plan time, naming the
    file, line and handle column, rather than by the platform when it is sent.

    A product with a handle and one variant is a single product on any platform.
    """
    for outcome in outcomes:
        if (
            capabilities.variants
            or not isinstance(outcome, ValidRow)
            or len(outcome.product.variants) < 2  # one variant: a product anywhere
        ):
            yield outcome
            continue
        product = outcome.product
        yield RowError(
            outcome.row,
            (
                FieldError(
                    _handle_column(outcome.row),
                    str(product.handle),
                    N_(
                        "product {handle} has {count} variants ({names}) and the "
                        "{platform} platform takes none; give each variant its own row "
                        "without a handle, or upload to a platform with variants"
                    ).format(
                        handle=product.handle,
                        count=len(product.variants),
                        names=", ".join(product.skus),
                        platform=platform,
                    ),
                ),
            ),
        )


def _handle_column(row: SourceRow) -> str:
    """The name the file gives its handle column (``handle`` for JSON)."""
    for name in row.header or ():
        if normalize(name) in _HANDLE_NAMES:
            return name
    return "handle"


def managed_fields(product: Product) -> frozenset[str]:
    """The fields the input file speaks for: the required ones and every column it filled.

    A column the file does not have (no ``stock`` column, say) is never changed by an
    update, so a file that carries only prices cannot reset everything else.
    """
    return REQUIRED_FIELDS | product.model_fields_set


# Not frozen, though never changed after construction: a frozen dataclass's __init__ sets
# each field through object.__setattr__, six times slower, and one is made per product.
@dataclass(slots=True)
class Change:
    """What the plan decided for one product."""

    kind: ChangeKind
    row: SourceRow
    product: Product
    entry: LedgerEntry | None
    fields: frozenset[str] | None = None
    """For updates: the fields that changed, the only ones sent."""
    _text: str = ""
    _digest: str = ""
    kept_variants: tuple[str, ...] = ()
    """SKUs of variants the platform has (by the ledger) that the file no longer lists:
    left on the platform and reported, unless the planner removes them."""
    removed_variants: tuple[str, ...] = ()
    """SKUs of such variants the update removes (``remove_missing_variants``)."""
    forced: bool = False
    """Sent whatever the ledger says (``--force``): every variant, whole."""

    @property
    def body_json(self) -> str:
        """The body's JSON text (:attr:`Product.api_json`, unless restored from a ledger)."""
        if not self._text:
            self._text = self.product.api_json
        return self._text

    @property
    def content_hash(self) -> str:
        """The digest of :attr:`body_json`, worked out when first needed: a ``plan`` of
        new products never needs it, an upload needs it when it batches them."""
        if not self._digest:
            self._digest = hash_text(self.body_json)
        return self._digest

    @property
    def sku(self) -> str:
        """What identifies the product in the ledger: its SKU, or the handle of a product
        with variants (:attr:`Product.key`)."""
        return self.product.key

    def changed_variants(self) -> list[dict[str, Any]]:
        """An update's variants that are new or changed, as their bodies: the only ones
        sent (the platform keeps the others as they are)."""
        if self.entry is None or self.forced:
            return list(self.body.get("variants", []))
        before = {variant["sku"]: variant for variant in self.entry.body.get("variants", [])}
        return [
            variant
            for variant in self.body.get("variants", [])
            if before.get(variant["sku"]) != variant
        ]

    @property
    def body(self) -> dict[str, Any]:
        """The product's full API body (a new dict; made only when something needs it:
        planning a create, or an unchanged product, needs only its hash)."""
        return self.product.to_api()

    def diff(self) -> list[tuple[str, Any, Any]]:
        """``(field, before, after)`` for each changed field of an update, in field order."""
        if self.kind != "update" or self.entry is None or self.fields is None:
            return []
        before, after = self.entry.body, self.body
        lines: list[tuple[str, Any, Any]] = []
        for name in after:
            if name not in self.fields:
                continue
            if name == "variants":
                lines.extend(_variant_diff(before.get(name) or [], after[name]))
            else:
                lines.append((name, before.get(name), after.get(name)))
        lines.extend((f"variant {sku}", "present", "removed") for sku in self.removed_variants)
        return lines


class Planner:
    """Decides create / update / unchanged for each product from the ledger."""

    def __init__(
        self,
        ledger: LedgerStore,
        *,
        force: bool = False,
        refresh_from: Platform | None = None,
        chunk_size: int = 100,
        remove_missing_variants: bool = False,
    ) -> None:
        """``refresh_from``: first reconcile the ledger with that platform (``--refresh``).

        ``chunk_size`` SKUs are looked up at once (the platform takes at most 100).
        ``remove_missing_variants``: a variant the ledger knows and the file no longer
        lists is removed (by default it is kept on the platform and reported).
        Raises :class:`~shopsync.errors.UsageError` if that platform has no lookup by SKU.
        """
        if refresh_from is not None and not capabilities_of(refresh_from).lookup_by_sku:
            raise UsageError(
                N_(
                    "The {name} platform cannot look products up by SKU, so "
                    "--refresh cannot read their state back."
                ).format(name=refresh_from.name),
                hint=N_("Drop --refresh: the ledger of earlier uploads decides what changed."),
            )
        self.ledger = ledger
        self.force = force
        self.remove_missing_variants = remove_missing_variants
        self.refresh_from = refresh_from
        self.chunk_size = chunk_size

    def plan(self, rows: Iterable[ValidRow[Product]]) -> Iterator[Change]:
        """One :class:`Change` per row, in input order, streaming."""
        for chunk in chunked(rows, self.chunk_size):
            yield from self._plan_chunk(chunk)

    def _plan_chunk(self, rows: list[ValidRow[Product]]) -> Iterator[Change]:
        # Rows are planned in chunks so that the ledger (and with --refresh, the
        # platform) is asked about many SKUs at once, not one query per row.
        skus = [row.product.key for row in rows]
        recorded = self.ledger.get_many(skus)
        if self.refresh_from is None:
            for row in rows:
                yield self.decide(row, recorded.get(row.product.key))
            return
        # A product with variants is looked up by its first variant's SKU (its handle is
        # no SKU), and found under its key.
        lookup = {row.product.sku: row.product.key for row in rows}
        remote = {
            lookup[sku]: found
            for sku, found in self.refresh_from.lookup_skus(list(lookup)).items()
            if sku in lookup
        }
        refreshed: dict[str, LedgerEntry] = {}
        for sku in skus:
            found = remote.get(sku)
            if found is None:
                continue
            body = _normalized_remote_body(found.fields, found.sku)
            known = recorded.get(sku)
            known_body = known.body if known is not None else {}
            if "stock" in known_body:
                # Stock on the platform moves with orders and stock syncs; what the
                # product file said last time is what decides if its stock changed.
                body["stock"] = known_body["stock"]
            if isinstance(body.get("variants"), list):
                _keep_known_stocks(body["variants"], known_body.get("variants") or [])
            refreshed[sku] = LedgerEntry.of(found.product_id, body, "refreshed")
        # One transaction for the chunk, before any of its changes is acted on.
        if refreshed:
            self.ledger.record(refreshed)
        for row in rows:
            yield self.decide(row, refreshed.get(row.product.key))

    def decide(self, row: ValidRow[Product], entry: LedgerEntry | None) -> Change:
        """The change for one row given what the ledger knows of its SKU."""
        product = row.product
        if entry is None:
            return Change("create", row.row, product, None)
        text = product.api_json
        digest = hash_text(text)
        kept: tuple[str, ...] = ()
        removed: tuple[str, ...] = ()
        known_variants = entry.body.get("variants") or []
        if product.variants and known_variants:
            listed = set(product.skus)
            missing = tuple(v["sku"] for v in known_variants if v["sku"] not in listed)
            if self.remove_missing_variants:
                removed = missing
            else:
                kept = missing
        if self.force:
            fields = frozenset(managed_fields(product) - {"sku"})
            return Change(
                "update", row.row, product, entry, fields, text, digest, kept, removed, forced=True
            )
        if entry.content_hash == digest and entry.outcome != "failed":
            return Change("unchanged", row.row, product, entry, None, text, digest)
        body = product.to_api()
        before = entry.body
        if kept or removed:
            # Compared without the variants the file no longer lists: only a removal
            # (asked for) changes the product because of them. The entry keeps them:
            # a kept variant is still on the platform, and the ledger must remember it.
            gone = {*kept, *removed}
            before = {**before, "variants": [v for v in known_variants if v["sku"] not in gone]}
        changed = frozenset(
            name
            for name in managed_fields(product)
            if name != "sku" and before.get(name) != body.get(name)
        )
        if removed:
            changed |= {"variants"}
        if not changed:
            return Change(
                "unchanged", row.row, product, entry, None, text, digest, kept_variants=kept
            )
        return Change("update", row.row, product, entry, changed, text, digest, kept, removed)


def _variant_diff(
    before: list[dict[str, Any]], after: list[dict[str, Any]]
) -> Iterator[tuple[str, Any, Any]]:
    """``(what, before, after)`` per added variant and per changed field of a variant."""
    known = {variant["sku"]: variant for variant in before}
    for variant in after:
        sku = variant["sku"]
        old = known.get(sku)
        if old is None:
            values = " / ".join(str(value) for value in variant.get("option_values", {}).values())
            yield f"variant {sku}", None, f"added ({values or 'no options'})"
            continue
        for name in dict.fromkeys([*old, *variant]):
            if name != "sku" and old.get(name) != variant.get(name):
                yield f"variant {sku} {name}", old.get(name), variant.get(name)


def _keep_known_stocks(variants: list[Any], known: list[Any]) -> None:
    """Each remote variant's stock as the ledger last had it (as a product's, above)."""
    stocks = {v.get("sku"): v.get("stock") for v in known if isinstance(v, dict)}
    for variant in variants:
        if isinstance(variant, dict) and stocks.get(variant.get("sku")) is not None:
            variant["stock"] = stocks[variant["sku"]]


def _normalized_remote_body(fields: Mapping[str, Any], sku: str) -> dict[str, Any]:
    """A remote product's content in the shape of :meth:`Product.to_api`, for comparison."""
    known = {name: value for name, value in fields.items() if name in Product.model_fields}
    known["sku"] = sku
    try:
        return Product.model_validate(known).to_api()
    except ValueError:
        # Content the platform holds but our rules refuse: compare it as it is, so
        # whatever the file says is sent.
        return {name: str(value) if value is not None else None for name, value in known.items()}
