"""Every GraphQL document the Shopify adapter sends, in one place.

:func:`all_documents` lists them all (each batch size, each API version's inventory
input), so a test can validate every one against Shopify's schemas of every supported
version: a field renamed by Shopify fails there, not in a seller's run.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

IDEMPOTENT_FROM = "2026-04"
"""From this version the inventory mutations take ``@idempotent(key:)`` (required) and
``changeFromQuantity``; before it, ``compareQuantity`` and ``ignoreCompareQuantity``."""

PRODUCT_SET_COST = 12
"""What one aliased productSet below costs: 10 for the mutation, 1 for the product, 1 for
its user errors (Shopify's published rules; the answer's ``extensions.cost`` confirms)."""

_SET_RESULT = "product { id } userErrors { field message code }"


def product_set(count: int) -> str:
    """``count`` aliased ``productSet`` mutations (``p0`` ... ), inputs ``$p0`` ...,
    identifiers ``$i0`` ... (null for a create)."""
    params = ", ".join(
        f"$p{n}: ProductSetInput!, $i{n}: ProductSetIdentifiers" for n in range(count)
    )
    fields = " ".join(
        f"p{n}: productSet(input: $p{n}, identifier: $i{n}, synchronous: true) {{ {_SET_RESULT} }}"
        for n in range(count)
    )
    return f"mutation ShopsyncProductSet({params}) {{ {fields} }}"


def bulk_product_set(name: str) -> str:
    """The mutation a bulk operation runs once per JSONL line (``$input``, ``$identifier``),
    named ``name`` so the operation can be told apart by its ``query``."""
    return (
        f"mutation {name}($input: ProductSetInput!, $identifier: ProductSetIdentifiers) "
        "{ productSet(input: $input, identifier: $identifier, synchronous: true) "
        f"{{ {_SET_RESULT} }} }}"
    )


BULK_RUN = (
    "mutation ShopsyncBulkRun($mutation: String!, $path: String!) { "
    "bulkOperationRunMutation(mutation: $mutation, stagedUploadPath: $path, "
    "groupObjects: false) { bulkOperation { id status } userErrors { field message code } } }"
)
"""Start a bulk mutation (``groupObjects`` is required before 2026-01)."""

STAGED_UPLOADS = (
    "mutation ShopsyncStage($input: [StagedUploadInput!]!) { stagedUploadsCreate(input: $input) "
    "{ stagedTargets { url resourceUrl parameters { name value } } userErrors { field message } } }"
)

FILE_CREATE = (
    "mutation ShopsyncFileCreate($files: [FileCreateInput!]!) { fileCreate(files: $files) "
    "{ files { id fileStatus } userErrors { field message code } } }"
)
"""A file of the shop's Files from a staged upload: its id is what productSet's ``files``
take (``FileSetInput.id``), for as long as the file is kept, whatever product uses it."""

_BULK_FIELDS = "id status errorCode objectCount url partialDataUrl query"
CURRENT_BULK = (
    "query ShopsyncCurrentBulk($type: BulkOperationType!) { "
    f"currentBulkOperation(type: $type) {{ {_BULK_FIELDS} }} }}"
)
"""The app's newest bulk operation of a type on the shop (deprecated from 2026-01, still
served)."""

BULK_QUERY_RUN = (
    "mutation ShopsyncBulkQuery($query: String!) { "
    "bulkOperationRunQuery(query: $query, groupObjects: false) { bulkOperation { id status } "
    "userErrors { field message code } } }"
)
VARIANT_SKUS = (
    "query ShopsyncVariantSkus { productVariants { edges { node { sku product { id } } } } }"
)
"""The bulk query that exports every variant's SKU and product: the adoption lookup of a
large batch, free of the cost bucket."""
BULK_BY_ID = (
    "query ShopsyncBulkById($id: ID!) { "
    f"node(id: $id) {{ ... on BulkOperation {{ {_BULK_FIELDS} }} }} }}"
)
"""One bulk operation, by ``node(id:)`` (``bulkOperation(id:)`` is 2026-01+ only)."""

PRODUCT_DELETE_COST = 11
"""One aliased productDelete below: 10 for the mutation, 1 for its user errors."""


def product_delete(count: int) -> str:
    """``count`` aliased ``productDelete`` mutations (``d0`` ...), ids ``$d0`` ..."""
    params = ", ".join(f"$d{n}: ID!" for n in range(count))
    fields = " ".join(
        f"d{n}: productDelete(input: {{id: $d{n}}}, synchronous: true) "
        "{ deletedProductId userErrors { field message } }"
        for n in range(count)
    )
    return f"mutation ShopsyncProductDelete({params}) {{ {fields} }}"


VARIANT_FIELDS = (
    "sku price compareAtPrice barcode inventoryQuantity inventoryItem { id } "
    "product { id title descriptionHtml vendor productType status updatedAt }"
)

LOOKUP_SKUS = (
    "query ShopsyncLookup($q: String!, $n: Int!, $after: String) { "
    f"productVariants(first: $n, after: $after, query: $q) {{ nodes {{ {VARIANT_FIELDS} }} "
    "pageInfo { hasNextPage endCursor } } }"
)
"""Variants whose SKU Shopify's search matches (loosely: the adapter keeps exact ones)."""

ADOPT_LOOKUP = (
    "query ShopsyncAdopt($q: String!, $n: Int!) { "
    "productVariants(first: $n, query: $q) { nodes { sku product { id } } } }"
)
"""Before creating: which SKUs of a batch a product holds already (2 + n points)."""

PRODUCT_VARIANTS = (
    "query ShopsyncProductVariants($id: ID!, $n: Int!, $after: String) { "
    "product(id: $id) { id options { name values } "
    "variants(first: $n, after: $after) { nodes { id sku selectedOptions { name value } } "
    "pageInfo { hasNextPage endCursor } } } }"
)
"""What a product holds, for an update that changes some of its variants: productSet
replaces the list, so the ones the update leaves alone are sent back as they are."""

PRODUCTS_PAGE = (
    "query ShopsyncProducts($n: Int!, $after: String) { "
    "products(first: $n, after: $after) { nodes { id title descriptionHtml vendor "
    "productType status updatedAt variants(first: 1) { nodes { sku price compareAtPrice "
    "barcode inventoryQuantity inventoryItem { id } } } } "
    "pageInfo { hasNextPage endCursor } } }"
)

PRIMARY_LOCATION = "query ShopsyncPrimaryLocation { location { id name } }"
LOCATION_BY_NAME = (
    "query ShopsyncLocation($q: String!) { locations(first: 5, query: $q) { nodes { id name } } }"
)
LOCATION_BY_ID = "query ShopsyncLocationById($id: ID!) { location(id: $id) { id name } }"

AUTH_CHECK = (
    "query ShopsyncAuthCheck { shop { name myshopifyDomain } "
    "currentAppInstallation { accessScopes { handle } } }"
)

_ORDER_FIELDS = (
    "id name createdAt updatedAt cancelledAt currencyCode displayFinancialStatus "
    "displayFulfillmentStatus totalPriceSet { shopMoney { amount currencyCode } } "
    "customer { displayName } shippingAddress { countryCodeV2 } "
    "lineItems(first: 10) { nodes { sku quantity originalUnitPriceSet { shopMoney { amount } } } }"
)
ORDERS_PAGE = (
    "query ShopsyncOrders($n: Int!, $after: String, $q: String) { "
    "orders(first: $n, after: $after, query: $q, sortKey: UPDATED_AT) { "
    f"nodes {{ {_ORDER_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)
ORDER = f"query ShopsyncOrder($id: ID!) {{ order(id: $id) {{ {_ORDER_FIELDS} }} }}"


def stock_counts(count: int) -> str:
    """The ``available`` count of ``count`` inventory items (``$i0`` ...) at ``$loc``."""
    params = ", ".join(["$loc: ID!", *(f"$i{n}: ID!" for n in range(count))])
    fields = " ".join(
        f"c{n}: inventoryItem(id: $i{n}) {{ id inventoryLevel(locationId: $loc) "
        '{ quantities(names: ["available"]) { quantity } } }'
        for n in range(count)
    )
    return f"query ShopsyncStockCounts({params}) {{ {fields} }}"


@dataclass(frozen=True)
class InventoryCall:
    """One inventory mutation inside a document: which, under which alias, with a key?"""

    alias: str
    delta: bool


def inventory(calls: Sequence[InventoryCall], version: str) -> str:
    """The inventory mutations ``calls`` in one document, as API ``version`` spells them.

    Each call's input is ``$<alias>``; from :data:`IDEMPOTENT_FROM` each carries
    ``@idempotent(key: $<alias>_key)``.
    """
    keyed = version >= IDEMPOTENT_FROM
    params = []
    fields = []
    for call in calls:
        kind = "InventoryAdjustQuantitiesInput" if call.delta else "InventorySetQuantitiesInput"
        name = "inventoryAdjustQuantities" if call.delta else "inventorySetQuantities"
        params.append(f"${call.alias}: {kind}!")
        directive = ""
        if keyed:
            params.append(f"${call.alias}_key: String!")
            directive = f" @idempotent(key: ${call.alias}_key)"
        fields.append(
            f"{call.alias}: {name}(input: ${call.alias}){directive} {{ inventoryAdjustmentGroup "
            "{ changes { name delta quantityAfterChange item { id } } } "
            "userErrors { field message code } }"
        )
    return f"mutation ShopsyncInventory({', '.join(params)}) {{ {' '.join(fields)} }}"


def all_documents(version: str, max_batch: int) -> Iterator[tuple[str, str]]:
    """``(label, document)`` for every document the adapter may send to ``version``."""
    for count in range(1, max_batch + 1):
        yield f"productSet x{count}", product_set(count)
        yield f"productDelete x{count}", product_delete(count)
        yield f"stock counts x{count}", stock_counts(count)
    yield "bulk productSet", bulk_product_set("shopsync_0123abcd_0123abcd")
    yield "bulk run", BULK_RUN
    yield "staged uploads", STAGED_UPLOADS
    yield "file create", FILE_CREATE
    yield "current bulk operation", CURRENT_BULK
    yield "bulk query run", BULK_QUERY_RUN
    yield "variant SKUs (a bulk query)", VARIANT_SKUS
    yield "bulk operation by id", BULK_BY_ID
    yield "lookup", LOOKUP_SKUS
    yield "adopt lookup", ADOPT_LOOKUP
    yield "product variants", PRODUCT_VARIANTS
    yield "products page", PRODUCTS_PAGE
    yield "primary location", PRIMARY_LOCATION
    yield "location by name", LOCATION_BY_NAME
    yield "location by id", LOCATION_BY_ID
    yield "auth check", AUTH_CHECK
    yield "orders page", ORDERS_PAGE
    yield "order", ORDER
    shapes = [
        [InventoryCall("s0", delta=False)],
        [InventoryCall("d0", delta=True)],
        [InventoryCall("s0", delta=False), InventoryCall("s1", delta=False)],
        [InventoryCall("s0", delta=False), InventoryCall("d0", delta=True)],
    ]
    for shape in shapes:
        yield "inventory " + "+".join(c.alias for c in shape), inventory(shape, version)
