"""The OpenAPI 3.0 document of the platform contract, served at ``GET /openapi.json``.

Written by hand from docs/platform-api.md (not generated from the code), so that a test that
checks the sandbox against it (schemathesis) checks the code against the contract.
The sandbox's own ``/_sandbox`` routes are not part of the platform API and not in it.
"""

from __future__ import annotations

from typing import Any

from shopsync.sandbox.config import SandboxConfig

_SKU = {"type": "string", "pattern": "^[A-Za-z0-9._-]{1,64}$", "example": "TSHIRT-RED-M"}
_DECIMAL_TEXT = "^[0-9]+(\\.[0-9]+)?$"
_MONEY_TEXT = "^[0-9]+\\.[0-9]{2}$"
_TIMESTAMP = {"type": "string", "format": "date-time", "example": "2024-05-01T12:00:00.000000Z"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


def _product_fields(*, output: bool) -> dict[str, Any]:
    decimal_in = {
        "anyOf": [
            {"type": "string", "pattern": _DECIMAL_TEXT},
            {"type": "number", "minimum": 0},
        ]
    }
    short = {"type": "string", "maxLength": 255}
    fields: dict[str, Any] = {
        "sku": _SKU,
        "title": {"type": "string", "minLength": 1, "maxLength": 255},
        "price": (
            {"type": "string", "pattern": _MONEY_TEXT, "example": "3999.00"}
            if output
            else {
                "description": "A decimal > 0 with at most 2 decimal places.",
                "anyOf": [
                    {"type": "string", "pattern": _DECIMAL_TEXT, "example": "3999.00"},
                    {"type": "number", "exclusiveMinimum": True, "minimum": 0},
                ],
            }
        ),
        "currency": {"type": "string", "pattern": "^[A-Z]{3}$", "default": "CNY"},
        "stock": {"type": "integer", "minimum": 0, "default": 0},
        "images": {
            "type": "array",
            "maxItems": 20,
            "items": {"type": "string", "format": "uri", "pattern": "^https://"},
        },
        "description": _nullable({"type": "string", "maxLength": 20000}),
        "category": _nullable(short),
        "brand": _nullable(short),
        "barcode": _nullable(short),
        "weight_kg": _nullable({"type": "string", "pattern": _DECIMAL_TEXT})
        if output
        else _nullable(decimal_in),
        "status": {"type": "string", "enum": ["active", "draft"], "default": "active"},
        "attributes": {
            "type": "object",
            "maxProperties": 50,
            "additionalProperties": {"type": "string"},
        },
    }
    return fields


_PER_VARIANT = ("sku", "price", "stock", "barcode", "weight_kg")
"""A v1 product's fields that a product with variants has per variant instead (§2a)."""


def _variant_fields(product: dict[str, Any], *, output: bool) -> dict[str, Any]:
    """A variant's fields (§2a), its price and weight written as the product's are."""
    short = {"type": "string", "maxLength": 255}
    return {
        "sku": _SKU,
        "option_values": {
            "type": "object",
            "description": "One value per option of the product, by option name.",
            "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255},
        },
        "price": product["price"],
        "compare_at_price": _nullable(product["price"]),
        "stock": {"type": "integer", "minimum": 0} if output else product["stock"],
        "barcode": _nullable(short),
        "weight_kg": product["weight_kg"],
        "image": _nullable({"type": "string", "maxLength": 2048}),
    }


def _variant_product_fields(product: dict[str, Any], variant_ref: str) -> dict[str, Any]:
    """What API v2 adds to a product: its handle, option names and variants."""
    return {
        "handle": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^\\S+$"},
        "options": {
            "type": "array",
            "maxItems": 10,
            "uniqueItems": True,
            "items": {"type": "string", "minLength": 1, "maxLength": 64},
        },
        "variants": {"type": "array", "minItems": 1, "maxItems": 100, "items": _ref(variant_ref)},
    }


def _problem_response(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }
    if headers:
        out["headers"].update(headers)
    return out


def _json_response(
    description: str, schema: dict[str, Any], *, rate_limited: bool = True
) -> dict[str, Any]:
    headers: dict[str, Any] = {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}}
    if rate_limited:
        for name in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
            headers[name] = {"$ref": f"#/components/headers/{name}"}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": schema}},
    }


_FAULTS = {
    "500": {"$ref": "#/components/responses/ServerError"},
    "502": {"$ref": "#/components/responses/BadGateway"},
    "503": {"$ref": "#/components/responses/Unavailable"},
    "504": {"$ref": "#/components/responses/GatewayTimeout"},
}


def _api_errors(*codes: str) -> dict[str, Any]:
    common = ("401", "403", "429")
    out: dict[str, Any] = {
        code: {"$ref": f"#/components/responses/E{code}"} for code in (*common, *codes)
    }
    out.update(_FAULTS)
    return out


def _body(schema_name: str) -> dict[str, Any]:
    return {
        "required": True,
        "content": {"application/json": {"schema": _ref(schema_name)}},
    }


_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "1–255 printable ASCII characters; see §5 of the contract.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}
_WRITE_ERRORS = ("400", "409", "413", "415", "422")


def openapi_document(config: SandboxConfig) -> dict[str, Any]:
    """The document, with the limits of this sandbox's ``config`` filled in."""
    product_in = _product_fields(output=False)
    product_out = _product_fields(output=True)
    shared_in = {name: schema for name, schema in product_in.items() if name not in _PER_VARIANT}
    variants_in = _variant_product_fields(product_in, "VariantIn")
    # An update names only the variants it adds or changes: none is as good as some.
    variants_update = {
        **variants_in,
        "variants": {**variants_in["variants"], "minItems": 0, "items": _ref("VariantChange")},
    }
    removals = {
        "remove_variants": {
            "type": "array",
            "description": "SKUs of variants to remove; one the product lacks is ignored.",
            "items": _SKU,
        }
    }
    scopes = {
        "products": "Read and write products.",
        "inventory": "Change stock counts.",
        "orders": "Read orders.",
    }
    write_responses = {**_api_errors(*_WRITE_ERRORS)}
    batch_note = f"At most {config.max_batch} items in all (more: 413 BATCH_TOO_LARGE)."
    product_id_param = {
        "name": "product_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }
    limit_param = {
        "name": "limit",
        "in": "query",
        "required": False,
        "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 50},
    }
    cursor_param = {
        "name": "cursor",
        "in": "query",
        "required": False,
        "description": "Opaque: the next_cursor of the previous page.",
        "schema": {"type": "string"},
    }

    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Generic e-commerce platform API (shopsync sandbox)",
            "version": "2",
            "description": (
                "The platform contract of shopsync (docs/platform-api.md), as served by "
                "`shopsync sandbox serve`. Every response carries X-Request-Id; errors other "
                "than the token endpoint's are RFC 9457 problem details. Any request may "
                "also be answered 500, 502, 503 or 504. The sandbox's /_sandbox routes are "
                "not part of this API."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"oauth2": []}],
        "paths": {
            "/auth/token": {
                "post": {
                    "operationId": "createToken",
                    "summary": "Client credentials grant (RFC 6749 §4.4)",
                    "security": [{}, {"clientBasic": []}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": _ref("TokenRequest")}
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "A token.",
                            "headers": {
                                "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}
                            },
                            "content": {"application/json": {"schema": _ref("Token")}},
                        },
                        "400": {"$ref": "#/components/responses/OAuthError"},
                        "401": {"$ref": "#/components/responses/OAuthError"},
                        **_FAULTS,
                    },
                }
            },
            "/products": {
                "post": {
                    "operationId": "createProduct",
                    "security": [{"oauth2": ["products"]}],
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": _body("ProductCreate"),
                    "responses": {
                        "201": _json_response("The stored product.", _ref("Product")),
                        **write_responses,
                    },
                },
                "get": {
                    "operationId": "listProducts",
                    "summary": "Look products up by SKU, or page through all of them",
                    "security": [{"oauth2": ["products"]}],
                    "parameters": [
                        {
                            "name": "sku",
                            "in": "query",
                            "required": False,
                            "description": "Comma-separated SKUs, at most 100; not with "
                            "cursor or limit.",
                            "schema": {"type": "string"},
                        },
                        cursor_param,
                        limit_param,
                    ],
                    "responses": {
                        "200": _json_response("A page of products.", _ref("ProductPage")),
                        **_api_errors("422"),
                    },
                },
            },
            "/products/batch": {
                "post": {
                    "operationId": "batchProducts",
                    "description": batch_note,
                    "security": [{"oauth2": ["products"]}],
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": _body("ProductBatch"),
                    "responses": {
                        "200": _json_response(
                            "One result per item, in input order.", _ref("ProductBatchResult")
                        ),
                        **write_responses,
                    },
                }
            },
            "/products/{product_id}": {
                "parameters": [product_id_param],
                "get": {
                    "operationId": "getProduct",
                    "security": [{"oauth2": ["products"]}],
                    "responses": {
                        "200": _json_response("The product.", _ref("Product")),
                        **_api_errors("404"),
                    },
                },
                "patch": {
                    "operationId": "updateProduct",
                    "security": [{"oauth2": ["products"]}],
                    "requestBody": _body("ProductPatch"),
                    "responses": {
                        "200": _json_response("The updated product.", _ref("Product")),
                        **_api_errors("400", "404", "409", "413", "415", "422"),
                    },
                },
                "delete": {
                    "operationId": "archiveProduct",
                    "security": [{"oauth2": ["products"]}],
                    "responses": {
                        "204": {
                            "description": "Archived.",
                            "headers": {
                                "X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}
                            },
                        },
                        **_api_errors("404"),
                    },
                },
            },
            "/inventory/batch": {
                "post": {
                    "operationId": "batchInventory",
                    "description": batch_note,
                    "security": [{"oauth2": ["inventory"]}],
                    "parameters": [_IDEMPOTENCY],
                    "requestBody": _body("InventoryBatch"),
                    "responses": {
                        "200": _json_response(
                            "One result per item, in input order.", _ref("InventoryBatchResult")
                        ),
                        **write_responses,
                    },
                }
            },
            "/orders": {
                "get": {
                    "operationId": "listOrders",
                    "summary": "Orders by updated_at, then order_id",
                    "security": [{"oauth2": ["orders"]}],
                    "parameters": [
                        {
                            "name": "updated_since",
                            "in": "query",
                            "required": False,
                            "description": "RFC 3339; inclusive.",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                        {
                            "name": "status",
                            "in": "query",
                            "required": False,
                            "schema": _ref("OrderStatus"),
                        },
                        cursor_param,
                        limit_param,
                    ],
                    "responses": {
                        "200": _json_response("A page of orders.", _ref("OrderPage")),
                        **_api_errors("422"),
                    },
                }
            },
            "/orders/{order_id}": {
                "parameters": [
                    {
                        "name": "order_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
                "get": {
                    "operationId": "getOrder",
                    "security": [{"oauth2": ["orders"]}],
                    "responses": {
                        "200": _json_response("The order.", _ref("Order")),
                        **_api_errors("404"),
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "auth/token", "scopes": scopes}},
                },
                "clientBasic": {"type": "http", "scheme": "basic"},
            },
            "headers": {
                "X-Request-Id": {
                    "required": True,
                    "description": "Identifies the request for support.",
                    "schema": {"type": "string"},
                },
                "RateLimit-Limit": {"required": True, "schema": {"type": "integer"}},
                "RateLimit-Remaining": {"required": True, "schema": {"type": "integer"}},
                "RateLimit-Reset": {
                    "required": True,
                    "description": "Seconds until the bucket is full again.",
                    "schema": {"type": "integer"},
                },
                "Retry-After": {"required": True, "schema": {"type": "integer"}},
            },
            "responses": {
                "E400": _problem_response("Malformed JSON or a bad Idempotency-Key."),
                "E401": _problem_response(
                    "No token, or an expired or unknown one (WWW-Authenticate says which).",
                    {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                ),
                "E403": _problem_response(
                    "The token lacks the scope (insufficient_scope).",
                    {"WWW-Authenticate": {"required": True, "schema": {"type": "string"}}},
                ),
                "E404": _problem_response("NOT_FOUND."),
                "E409": _problem_response("SKU_EXISTS (with product_id) or IDEMPOTENCY_IN_FLIGHT."),
                "E413": _problem_response("BODY_TOO_LARGE or BATCH_TOO_LARGE."),
                "E415": _problem_response("The body is not application/json."),
                "E422": _problem_response(
                    "VALIDATION_ERROR (errors name each field path) or IDEMPOTENCY_KEY_REUSED."
                ),
                "E429": _problem_response(
                    "Over the rate limit.",
                    {
                        "Retry-After": {"$ref": "#/components/headers/Retry-After"},
                        "RateLimit-Limit": {"$ref": "#/components/headers/RateLimit-Limit"},
                        "RateLimit-Remaining": {"$ref": "#/components/headers/RateLimit-Remaining"},
                        "RateLimit-Reset": {"$ref": "#/components/headers/RateLimit-Reset"},
                    },
                ),
                "ServerError": _problem_response("Internal error."),
                "BadGateway": _problem_response("Bad gateway."),
                "Unavailable": _problem_response(
                    "Unavailable; may carry Retry-After.",
                    {"Retry-After": {"required": False, "schema": {"type": "integer"}}},
                ),
                "GatewayTimeout": _problem_response("Gateway timeout."),
                "OAuthError": {
                    "description": "RFC 6749 §5.2 error.",
                    "headers": {"X-Request-Id": {"$ref": "#/components/headers/X-Request-Id"}},
                    "content": {"application/json": {"schema": _ref("OAuthError")}},
                },
            },
            "schemas": {
                "TokenRequest": {
                    "type": "object",
                    "required": ["grant_type"],
                    "properties": {
                        "grant_type": {"type": "string", "enum": ["client_credentials"]},
                        "client_id": {"type": "string"},
                        "client_secret": {"type": "string"},
                        "scope": {"type": "string", "example": "products inventory"},
                    },
                },
                "Token": {
                    "type": "object",
                    "required": ["access_token", "token_type", "expires_in", "scope"],
                    "properties": {
                        "access_token": {"type": "string"},
                        "token_type": {"type": "string", "enum": ["Bearer"]},
                        "expires_in": {"type": "integer", "minimum": 1},
                        "scope": {"type": "string"},
                    },
                },
                "OAuthError": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "string",
                            "enum": [
                                "invalid_request",
                                "invalid_client",
                                "unsupported_grant_type",
                                "invalid_scope",
                            ],
                        },
                        "error_description": {"type": "string"},
                    },
                },
                "Problem": {
                    "type": "object",
                    "description": "RFC 9457 problem details with the contract's code.",
                    "required": ["type", "title", "status", "code"],
                    "properties": {
                        "type": {"type": "string"},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "code": {"type": "string", "example": "VALIDATION_ERROR"},
                        "errors": {"type": "array", "items": _ref("FieldError")},
                        "product_id": {
                            "type": "string",
                            "description": "With SKU_EXISTS: the existing product.",
                        },
                    },
                },
                "FieldError": {
                    "type": "object",
                    "required": ["field", "message"],
                    "properties": {
                        "field": {"type": "string", "example": "create[3].price"},
                        "message": {"type": "string"},
                    },
                },
                "ProductCreate": {
                    "description": "A product (v1), or a product with variants (v2, §2a).",
                    "oneOf": [_ref("SingleProductCreate"), _ref("VariantProductCreate")],
                },
                "SingleProductCreate": {
                    "type": "object",
                    "required": ["sku", "title", "price"],
                    "additionalProperties": False,
                    "properties": product_in,
                },
                "VariantProductCreate": {
                    "type": "object",
                    "required": ["title", "handle", "variants"],
                    "additionalProperties": False,
                    "properties": {**shared_in, **variants_in},
                },
                "VariantIn": {
                    "type": "object",
                    "required": ["sku", "price"],
                    "additionalProperties": False,
                    "description": "A new variant, whole: a field left out is unset.",
                    "properties": _variant_fields(product_in, output=False),
                },
                "VariantChange": {
                    "type": "object",
                    "required": ["sku"],
                    "additionalProperties": False,
                    "description": "A variant in an update: a known SKU changes in the "
                    "fields given; a new one needs a price.",
                    "properties": _variant_fields(product_in, output=False),
                },
                "VariantOut": {
                    "type": "object",
                    "required": list(_variant_fields(product_out, output=True)),
                    "properties": _variant_fields(product_out, output=True),
                },
                "ProductPatch": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {**product_in, **variants_update, **removals},
                },
                "ProductUpdate": {
                    "type": "object",
                    "required": ["product_id"],
                    "additionalProperties": False,
                    "properties": {
                        "product_id": {"type": "string"},
                        **product_in,
                        **variants_update,
                        **removals,
                    },
                },
                "Product": {
                    "type": "object",
                    "required": [
                        "product_id",
                        "sku",
                        "title",
                        "price",
                        "currency",
                        "stock",
                        "status",
                        "created_at",
                        "updated_at",
                        "version",
                    ],
                    "properties": {
                        "product_id": {"type": "string"},
                        **product_out,
                        **_variant_product_fields(product_out, "VariantOut"),
                        "matched_variant": {
                            **_SKU,
                            "description": "In a lookup by SKU: the variant that SKU names.",
                        },
                        "created_at": _TIMESTAMP,
                        "updated_at": _TIMESTAMP,
                        "version": {"type": "integer", "minimum": 1},
                    },
                },
                "ProductPage": {
                    "type": "object",
                    "required": ["items", "next_cursor"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Product")},
                        "next_cursor": {"type": "string", "nullable": True},
                    },
                },
                "ProductBatch": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "create": {
                            "type": "array",
                            "maxItems": config.max_batch,
                            "items": _ref("ProductCreate"),
                        },
                        "update": {
                            "type": "array",
                            "maxItems": config.max_batch,
                            "items": _ref("ProductUpdate"),
                        },
                    },
                },
                "ItemError": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {
                            "type": "string",
                            "example": "SKU_EXISTS",
                            "description": "VALIDATION_ERROR, SKU_EXISTS, HANDLE_EXISTS, "
                            "NOT_FOUND, SKU_NOT_FOUND, STOCK_NEGATIVE or STOCK_CONFLICT.",
                        },
                        "message": {"type": "string"},
                        "field": {"type": "string", "nullable": True},
                        "product_id": {"type": "string", "nullable": True},
                        "current_stock": {"type": "integer"},
                    },
                },
                "ItemResult": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "sku": {"type": "string", "nullable": True},
                        "product_id": {"type": "string", "nullable": True},
                        "status": {"type": "string", "enum": ["ok", "error"]},
                        "version": {"type": "integer"},
                        "error": _ref("ItemError"),
                    },
                },
                "ProductBatchResult": {
                    "type": "object",
                    "required": ["create", "update"],
                    "properties": {
                        "create": {"type": "array", "items": _ref("ItemResult")},
                        "update": {"type": "array", "items": _ref("ItemResult")},
                    },
                },
                "InventoryUpdate": {
                    "type": "object",
                    "required": ["sku"],
                    "additionalProperties": False,
                    "description": "Exactly one of stock and delta; expected makes it a "
                    "compare-and-set.",
                    "properties": {
                        "sku": _SKU,
                        "stock": {"type": "integer", "minimum": 0},
                        "delta": {"type": "integer"},
                        "expected": {"type": "integer", "minimum": 0},
                    },
                },
                "InventoryBatch": {
                    "type": "object",
                    "required": ["updates"],
                    "additionalProperties": False,
                    "properties": {
                        "updates": {
                            "type": "array",
                            "maxItems": config.max_batch,
                            "items": _ref("InventoryUpdate"),
                        }
                    },
                },
                "InventoryResult": {
                    "type": "object",
                    "required": ["status"],
                    "properties": {
                        "sku": {"type": "string", "nullable": True},
                        "status": {"type": "string", "enum": ["ok", "error"]},
                        "stock": {"type": "integer", "description": "The count now."},
                        "error": _ref("ItemError"),
                    },
                },
                "InventoryBatchResult": {
                    "type": "object",
                    "required": ["results"],
                    "properties": {"results": {"type": "array", "items": _ref("InventoryResult")}},
                },
                "OrderStatus": {
                    "type": "string",
                    "enum": ["pending", "paid", "shipped", "delivered", "cancelled", "refunded"],
                },
                "Order": {
                    "type": "object",
                    "required": [
                        "order_id",
                        "status",
                        "created_at",
                        "updated_at",
                        "currency",
                        "total",
                        "lines",
                        "buyer",
                    ],
                    "properties": {
                        "order_id": {"type": "string"},
                        "status": _ref("OrderStatus"),
                        "created_at": _TIMESTAMP,
                        "updated_at": _TIMESTAMP,
                        "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                        "total": {"type": "string", "pattern": _MONEY_TEXT},
                        "lines": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["sku", "quantity", "unit_price"],
                                "properties": {
                                    "sku": {"type": "string"},
                                    "quantity": {"type": "integer", "minimum": 1},
                                    "unit_price": {"type": "string", "pattern": _MONEY_TEXT},
                                },
                            },
                        },
                        "buyer": {
                            "type": "object",
                            "required": ["name", "country"],
                            "properties": {
                                "name": {"type": "string"},
                                "country": {"type": "string"},
                            },
                        },
                    },
                },
                "OrderPage": {
                    "type": "object",
                    "required": ["items", "next_cursor"],
                    "properties": {
                        "items": {"type": "array", "items": _ref("Order")},
                        "next_cursor": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    }
