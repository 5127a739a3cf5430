"""The Shopify dialect's ASGI application: the Admin GraphQL endpoint, the client-credentials
token endpoint, Shopify's cost-based throttling, and the core's fault injection.

Endpoints (as on ``https://{shop}.myshopify.com``):

* ``POST /admin/oauth/access_token``: ``grant_type=client_credentials`` with ``client_id``
  and ``client_secret``, as a form or as JSON (Shopify's own SDK sends JSON); answers
  ``{access_token, scope, expires_in}``, scopes comma-separated as Shopify writes them.
* ``POST /admin/api/{version}/graphql.json`` with ``X-Shopify-Access-Token``: the document
  is parsed and validated against that version's schema (an invalid one is answered 200
  with ``errors``, as Shopify does), charged its cost from a leaky bucket, and executed.
* ``GET /_sandbox/stats``, ``POST /_sandbox/reset``: loopback only, not Shopify's.

Throttling: one bucket per shop of ``20 * rate`` points refilled at ``rate`` points per
second (``SandboxConfig.rate``: 100 points/s is Shopify's standard plan). A query the
bucket cannot pay for is answered ``THROTTLED`` in ``errors``, with HTTP 200 by default or
429 with ``Retry-After`` when :attr:`ShopifyApp.throttle_status` is 429. Every answer
carries ``extensions.cost``.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import secrets
import threading
import time
import uuid
from collections import Counter
from typing import Any
from urllib.parse import parse_qsl

from graphql import (
    ExecutionResult,
    FieldNode,
    GraphQLError,
    OperationType,
    execute,
    get_operation_ast,
    parse,
    validate,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.shopify.bulk import FILES_PATH, UPLOAD_PATH, BulkOperations
from shopsync.sandbox.dialects.shopify.schema import available_versions, load_schema, query_cost
from shopsync.sandbox.dialects.shopify.shop import Shop
from shopsync.sandbox.faults import Fault
from shopsync.sandbox.store import TokenInfo
from shopsync.sandbox.wire import (
    LOOPBACK,
    Reply,
    RequestContext,
    abort_connection,
    after_abort,
    drain,
)

logger = logging.getLogger("shopsync.sandbox")

SHOPIFY_SCOPES: tuple[str, ...] = (
    "read_products",
    "write_products",
    "read_inventory",
    "write_inventory",
    "read_orders",
    "read_locations",
    "write_files",
)
"""What a token of the demo app is granted (what shopsync's README asks for, and reads)."""
FIELD_SCOPES: dict[str, str] = {
    "productSet": "write_products",
    "productDelete": "write_products",
    "bulkOperationRunMutation": "write_products",  # the bulk mutation served is productSet
    "bulkOperationRunQuery": "read_products",  # the bulk query served reads variants
    "fileCreate": "write_files",
    "inventorySetQuantities": "write_inventory",
    "inventoryAdjustQuantities": "write_inventory",
    "products": "read_products",
    "product": "read_products",
    "productVariants": "read_products",
    "productVariant": "read_products",
    "inventoryItem": "read_inventory",
    "orders": "read_orders",
    "order": "read_orders",
    "locations": "read_locations",
    "location": "read_locations",
}
"""The access scope each root field needs (a ``write_`` scope grants its ``read_``)."""
SINGLE_QUERY_MAX_COST = 1000
BUCKET_SECONDS = 20
"""Shopify's bucket holds twenty seconds of its restore rate."""
TOKEN_HEADER = "x-shopify-access-token"  # noqa: S105 - a header name
_INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"  # noqa: S105


class CostBucket:
    """A leaky bucket of cost points, as Shopify keeps per app and store."""

    def __init__(self, restore_rate: float, clock: Any = time.monotonic) -> None:
        self.restore_rate = restore_rate
        self.maximum = restore_rate * BUCKET_SECONDS
        self._clock = clock
        self._lock = threading.Lock()
        self._available = self.maximum
        self._last = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._available = min(
            self.maximum, self._available + max(0.0, now - self._last) * self.restore_rate
        )
        self._last = now

    def take(self, cost: int) -> bool:
        """Take ``cost`` points if the bucket holds them."""
        with self._lock:
            self._refill()
            if self._available < cost:
                return False
            self._available -= cost
            return True

    def status(self) -> dict[str, float]:
        """``throttleStatus`` as Shopify writes it."""
        with self._lock:
            self._refill()
            return {
                "maximumAvailable": float(self.maximum),
                "currentlyAvailable": float(math.floor(self._available)),
                "restoreRate": float(self.restore_rate),
            }

    def wait_for(self, cost: int) -> float:
        """Seconds until ``cost`` points are there."""
        with self._lock:
            self._refill()
            return max(0.0, (cost - self._available) / self.restore_rate)

    def reset(self) -> None:
        """Full again."""
        with self._lock:
            self._available = self.maximum
            self._last = self._clock()


def _has_scope(scopes: frozenset[str], needed: str) -> bool:
    return needed in scopes or (
        needed.startswith("read_") and "write_" + needed.removeprefix("read_") in scopes
    )


def _denied(operation: Any, scopes: frozenset[str]) -> list[dict[str, Any]]:
    """Shopify's ``ACCESS_DENIED`` error for each root field the token's scopes do not
    reach (GraphQL answers 200, the field null)."""
    errors = []
    for selection in operation.selection_set.selections:
        if not isinstance(selection, FieldNode):
            continue
        needed = FIELD_SCOPES.get(selection.name.value)
        if needed is None or _has_scope(scopes, needed):
            continue
        name = selection.name.value
        errors.append(
            {
                "message": f"Access denied for {name} field. Required access: `{needed}` "
                "access scope.",
                "locations": [
                    {
                        "line": selection.loc.start_token.line,
                        "column": selection.loc.start_token.column,
                    }
                ]
                if selection.loc
                else [],
                "extensions": {
                    "code": "ACCESS_DENIED",
                    "documentation": "https://shopify.dev/api/usage/access-scopes",
                    "requiredAccess": f"`{needed}` access scope.",
                },
                "path": [selection.alias.value if selection.alias else name],
            }
        )
    return errors


def _errors_reply(status: int, message: str, headers: list[tuple[str, str]] | None = None) -> Reply:
    # Shopify's answer outside GraphQL: {"errors": "<sentence>"}.
    return Reply.json(status, {"errors": message}, headers or [])


class ShopifyApp(DialectApp):
    """The ASGI application, with its shop, cost bucket, fault injector and counters."""

    def __init__(self, config: SandboxConfig) -> None:
        super().__init__(config, unique_skus=False)
        self.shop = Shop(self.store, config.clock)
        self.bulk = BulkOperations(self.shop, load_schema)
        self.bucket = CostBucket(config.rate)
        self.throttle_status = 200
        """The HTTP status of a THROTTLED answer: 200 (GraphQL's usual) or 429."""
        self.fields: Counter[str] = Counter()
        self.cost_spent = 0
        self._starlette = Starlette(
            routes=[
                Route("/admin/oauth/access_token", self.token, methods=["POST"]),
                Route("/admin/api/{version}/graphql.json", self.graphql, methods=["POST"]),
                Route(UPLOAD_PATH, self.staged_upload, methods=["POST"]),
                Route(FILES_PATH + "{key:path}", self.staged_file, methods=["GET"]),
                Route("/_sandbox/stats", self.sandbox_stats, methods=["GET"]),
                Route("/_sandbox/reset", self.sandbox_reset, methods=["POST"]),
            ],
            lifespan=self.lifespan,
        )

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The outer wrapper: request id, injected faults, stats."""
        if scope["type"] != "http":
            await self._starlette(scope, receive, send)
            return
        path: str = scope["path"]
        internal = path.startswith("/_sandbox/")
        ctx = RequestContext(uuid.uuid4().hex, None if internal else self.faults.draw())
        scope.setdefault("state", {})["sandbox"] = ctx
        label = "POST /admin/oauth/access_token" if "oauth" in path else "POST /graphql.json"
        if path.startswith("/_staged/"):
            label = f"{scope['method']} /_staged"
        recorded = False

        def record(outcome: str) -> None:
            nonlocal recorded
            if not recorded and not internal:
                recorded = True
                self.stats.request(label, outcome, write=bool(scope["state"].get("write")))

        async def send_wrapped(message: Message) -> None:
            if ctx.dropped:
                return
            if message["type"] == "http.response.start":
                if ctx.fault is Fault.DROP_AFTER_COMMIT:
                    record("dropped")
                    if abort_connection(receive):
                        ctx.dropped = True
                        await after_abort(receive)
                        return
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", ctx.request_id.encode()))
                message = {**message, "headers": headers}
                record(str(message["status"]))
            await send(message)

        try:
            if ctx.fault is not None:
                self.stats.fault(ctx.fault)
            if ctx.fault is Fault.RESET:
                record("reset")
                if abort_connection(receive):
                    await after_abort(receive)
                    return
            status = ctx.fault.status if ctx.fault is not None else None
            if status is not None:
                await drain(receive)
                headers = [("Retry-After", "1")] if status == 503 else []
                text = {
                    500: "Internal Server Error",
                    502: "Bad Gateway",
                    503: "Service Unavailable",
                }[status]
                await _errors_reply(status, text, headers).response()(scope, receive, send_wrapped)
                return
            if ctx.fault is Fault.SLOW:
                await asyncio.sleep(self.config.slow_ms / 1000.0)
            await self._starlette(scope, receive, send_wrapped)
        finally:
            record("incomplete")

    # -- the token endpoint --------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        """``POST /admin/oauth/access_token`` (client credentials grant)."""
        raw = await request.body()
        kind = request.headers.get("content-type", "")
        try:
            form = (
                json.loads(raw or b"{}")
                if "json" in kind
                else dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
            )
        except (ValueError, UnicodeDecodeError):
            form = {}
        if not isinstance(form, dict) or form.get("grant_type") != "client_credentials":
            return Reply.json(
                400,
                {
                    "error": "unsupported_grant_type",
                    "error_description": "Only client_credentials is served.",
                },
            ).response()
        given_id = str(form.get("client_id") or "")
        given_secret = str(form.get("client_secret") or "")
        if not (
            hmac.compare_digest(given_id.encode(), self.config.client_id.encode())
            and hmac.compare_digest(given_secret.encode(), self.config.client_secret.encode())
        ):
            return Reply.json(
                401,
                {"error": "invalid_client", "error_description": "Client authentication failed."},
            ).response()
        token = "shpat_" + secrets.token_hex(16)
        expires = self.config.clock() + self.config.token_ttl
        self.store.save_token(token, TokenInfo(given_id, frozenset(SHOPIFY_SCOPES), expires))
        self.stats.token_issued()
        return Reply.json(
            200,
            {
                "access_token": token,
                "scope": ",".join(SHOPIFY_SCOPES),
                "expires_in": int(self.config.token_ttl),
            },
        ).response()

    # -- GraphQL -------------------------------------------------------------------------

    async def graphql(self, request: Request) -> Response:  # noqa: PLR0911, PLR0912 - one pipeline, one answer per way out
        """``POST /admin/api/{version}/graphql.json``."""
        version = request.path_params["version"]
        raw = await request.body()
        info = self.store.token(request.headers.get(TOKEN_HEADER, ""))
        if info is None or info.expires_at <= self.config.clock():
            return _errors_reply(401, _INVALID_TOKEN).response()
        schema = load_schema(version)
        if schema is None:
            return _errors_reply(
                404, f"Not Found: API version {version} (known: {', '.join(available_versions())})"
            ).response()
        try:
            body = json.loads(raw)
            query = body["query"]
            variables = body.get("variables") or {}
            operation_name = body.get("operationName")
            if not isinstance(query, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return _errors_reply(400, "Bad Request: a JSON body with `query` is needed.").response()
        try:
            document = parse(query)
        except GraphQLError as error:
            return Reply.json(200, {"errors": [error.formatted]}).response()
        problems = validate(schema, document)
        if problems:
            return Reply.json(200, {"errors": [p.formatted for p in problems]}).response()
        operation = get_operation_ast(document, operation_name)
        if operation is None:
            return Reply.json(200, {"errors": [{"message": "No operation to run."}]}).response()
        mutation = operation.operation is OperationType.MUTATION
        request.state.write = mutation
        denied = _denied(operation, info.scopes)
        if denied:
            return Reply.json(
                200, {"errors": denied, "data": {e["path"][0]: None for e in denied}}
            ).response()
        cost = query_cost(schema, document, operation, variables)
        if cost > SINGLE_QUERY_MAX_COST:
            return Reply.json(
                200,
                {
                    "errors": [
                        {
                            "message": f"Query cost is {cost}, which exceeds the single query "
                            f"max cost limit ({SINGLE_QUERY_MAX_COST}).",
                            "extensions": {
                                "code": "MAX_COST_EXCEEDED",
                                "cost": cost,
                                "maxCost": SINGLE_QUERY_MAX_COST,
                            },
                        }
                    ]
                },
            ).response()
        if not self.bucket.take(cost):
            return self._throttled(cost)
        self.cost_spent += cost
        for selection in operation.selection_set.selections:
            if isinstance(selection, FieldNode):
                self.fields[selection.name.value] += 1
        delay = self.faults.latency()
        if delay > 0:
            await asyncio.sleep(delay)
        if mutation:
            root = self.shop.mutation_root() | self.bulk.mutation_fields()
        else:
            root = self.shop.query_root() | self.bulk.query_fields()
        context = {
            "version": version,
            "scopes": info.scopes,
            "shop": request.url.hostname or "sandbox",
            "origin": str(request.base_url).rstrip("/"),
        }
        result = execute(  # every resolver is synchronous: never an awaitable
            schema,
            document,
            root_value=root,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
        )
        assert isinstance(result, ExecutionResult)
        answer: dict[str, Any] = {}
        if result.errors:
            answer["errors"] = [error.formatted for error in result.errors]
        answer["data"] = result.data
        answer["extensions"] = {"cost": self._cost(cost, cost)}
        return Reply.json(200, answer).response()

    def _cost(self, requested: int, actual: int | None) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": self.bucket.status(),
        }

    def _throttled(self, cost: int) -> Response:
        self.stats.rate_limited()
        body = {
            "errors": [
                {
                    "message": "Throttled",
                    "extensions": {
                        "code": "THROTTLED",
                        "documentation": "https://shopify.dev/api/usage/rate-limits",
                    },
                }
            ],
            "extensions": {"cost": self._cost(cost, None)},
        }
        headers = []
        if self.throttle_status == 429:
            headers.append(("Retry-After", str(max(1, math.ceil(self.bucket.wait_for(cost))))))
        return Reply.json(self.throttle_status, body, headers).response()

    # -- staged uploads (Shopify's are on its storage host) -------------------------------

    async def staged_upload(self, request: Request) -> Response:
        """``POST`` of a staged upload's form (its parameters, then ``file``)."""
        status, message = self.bulk.store_upload(
            request.headers.get("content-type", ""), await request.body()
        )
        if status >= 400:
            return Response(
                f"<Error><Message>{message}</Message></Error>", status, None, "text/xml"
            )
        return Response(f"<PostResponse><Key>{message}</Key></PostResponse>", 201, None, "text/xml")

    async def staged_file(self, request: Request) -> Response:
        """``GET`` of a stored file: a bulk operation's results, or an uploaded image."""
        content = self.bulk.read_file(request.path_params["key"])
        if content is None:
            return Response("<Error><Code>NoSuchKey</Code></Error>", 404, None, "text/xml")
        return Response(content, 200, None, "application/jsonl")

    # -- the sandbox's own endpoints -----------------------------------------------------

    def stats_snapshot(self) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers."""
        snapshot = self.stats.snapshot()
        with self.shop.lock:
            snapshot.update(
                {
                    "products_stored": len(self.shop.products),
                    "variants_stored": self.shop.variant_count(),
                    "orders_stored": self.store.order_count(),
                    "graphql_fields": dict(sorted(self.fields.items())),
                    "cost_spent": self.cost_spent,
                    "idempotent_replays": self.shop.replays,
                    "staged_uploads": self.bulk.uploads,
                    "bulk_operations": self.bulk.submitted,
                    "bulk_refused_in_progress": self.bulk.refused_in_progress,
                    "seed": self.config.seed,
                }
            )
        return snapshot

    async def sandbox_stats(self, request: Request) -> Response:
        """``GET /_sandbox/stats``."""
        if (request.client.host if request.client else "") not in LOOPBACK:
            return _errors_reply(404, "Not Found").response()
        return Reply.json(200, self.stats_snapshot()).response()

    def reset(self) -> None:
        """Empty the shop, zero the counters, fill the bucket (tokens stay valid)."""
        self.shop.reset()
        self.bulk.reset()
        self.store.reset()
        self.stats.reset()
        self.bucket.reset()
        self.fields.clear()
        self.cost_spent = 0

    async def sandbox_reset(self, request: Request) -> Response:
        """``POST /_sandbox/reset``."""
        if (request.client.host if request.client else "") not in LOOPBACK:
            return _errors_reply(404, "Not Found").response()
        self.reset()
        return Response(status_code=204)
