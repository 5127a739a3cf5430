"""The generic dialect's ASGI app: the platform contract (docs/platform-api.md) on starlette.

A request goes through these steps, in this order::

    outer wrapper   request id, fault draw (reset / 5xx answered here; slow waits here),
                    stats, X-Request-Id and RateLimit-* on every answer, commit-then-drop
    starlette       routing; 404 / 405 as problem+json
    _api            body (5 MiB) → bearer token and scope → rate limit → content type →
                    JSON → idempotency (replay, mismatch, in flight, reserve) → latency →
                    validation → one SQLite transaction: the change and the stored answer

Everything between the idempotency check and the end of the transaction runs on the event
loop thread; the only ``await`` in that stretch is the latency sleep, and the key is
reserved before it. So two concurrent requests with one key cannot both run, without a
lock held across an ``await``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from shopsync.sandbox.config import ALL_SCOPES, SandboxConfig
from shopsync.sandbox.dialect import DialectApp
from shopsync.sandbox.dialects.generic.openapi import openapi_document
from shopsync.sandbox.dialects.generic.validation import (
    CREATE_FIELD_SET,
    INVENTORY_FIELD_SET,
    MAX_INTEGER,
    PATCH_FIELD_SET,
    PER_VARIANT_FIELDS,
    PRODUCT_FIELDS,
    UPDATE_FIELD_SET,
    VARIANT_FIELDS,
    VARIANT_PRODUCT_FIELDS,
    FieldError,
    StockChange,
    per_variant_errors,
    unknown_fields,
    validate_product_values,
    validate_stock_update,
    validate_variant_values,
    variant_agreement,
    variant_defaults,
)
from shopsync.sandbox.faults import Fault
from shopsync.sandbox.idempotency import IdempotencyKeys, KeyInFlight, KeyReused, Reservation
from shopsync.sandbox.orders import ORDER_STATUSES
from shopsync.sandbox.ratelimit import RateLimiter
from shopsync.sandbox.store import ProductRow, Store, TokenInfo
from shopsync.sandbox.timefmt import normalize_rfc3339, rfc3339
from shopsync.sandbox.wire import (
    DRAIN_LIMIT,
    LOOPBACK,
    WRITE_METHODS,
    Reply,
    RequestContext,
    abort_connection,
    after_abort,
    drain,
    dumps_json,
)

logger = logging.getLogger("shopsync.sandbox")

T = TypeVar("T")

PROBLEM_TYPE = "application/problem+json"
REALM = "shopsync-sandbox"
MAX_SKUS_PER_LOOKUP = 100
MAX_PAGE = 100
DEFAULT_PAGE = 50
MAX_MEDIA_BYTES = 20 * 1024 * 1024
"""An uploaded image's size limit (the body limit of other endpoints is smaller)."""
MEDIA_HOST = "https://media.sandbox.shopsync.invalid"
"""Where the sandbox says uploaded images are (a reserved name: nothing fetches it)."""
_MEDIA_MAGIC: dict[str, Callable[[bytes], bool]] = {
    "image/jpeg": lambda head: head.startswith(b"\xff\xd8\xff"),
    "image/png": lambda head: head.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/gif": lambda head: head[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda head: head[:4] == b"RIFF" and head[8:12] == b"WEBP",
}


class ApiError(Exception):
    """An error answer, as RFC 9457 problem details with the contract's ``code``."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Iterable[FieldError] = (),
        headers: Iterable[tuple[str, str]] = (),
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = list(headers)
        self.extra = extra or {}

    def reply(self) -> Reply:
        """The problem+json answer."""
        body: dict[str, Any] = {
            # about:blank: the status says what happened, ``code`` says why (RFC 9457 §4.2.1).
            "type": "about:blank",
            "title": HTTPStatus(self.status).phrase,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
            "errors": [error.as_dict() for error in self.errors],
        }
        body.update(self.extra)
        return Reply(self.status, dumps_json(body), PROBLEM_TYPE, list(self.headers))


class OAuthError(Exception):
    """An RFC 6749 §5.2 error of the token endpoint."""

    def __init__(self, error: str, description: str, *, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status

    def reply(self) -> Reply:
        """The ``{"error", "error_description"}`` answer."""
        headers = [("Cache-Control", "no-store"), ("Pragma", "no-cache")]
        if self.status == 401:
            headers.append(("WWW-Authenticate", f'Basic realm="{REALM}"'))
        body = {"error": self.error, "error_description": self.description}
        return Reply.json(self.status, body, headers)


def _validation_error(errors: list[FieldError], detail: str | None = None) -> ApiError:
    if detail is None:
        count = len(errors)
        detail = f"{count} field{'s' if count != 1 else ''} failed validation: " + "; ".join(
            f"{e.field} {e.message}" for e in errors[:5]
        )
    return ApiError(422, "VALIDATION_ERROR", detail, errors=errors)


@dataclass(frozen=True)
class Principal:
    """The client an access token stands for, and its scopes."""

    client_id: str
    scopes: frozenset[str]


@dataclass
class CreateItem:
    """One ``create`` item of a batch, validated."""

    sku: str | None
    values: dict[str, Any]
    errors: list[FieldError]


@dataclass
class UpdateItem:
    """One ``update`` item of a batch, validated."""

    sku: str | None
    product_id: str | None
    changes: dict[str, Any]
    errors: list[FieldError]


@dataclass
class BatchPlan:
    """A validated ``POST /products/batch``."""

    creates: list[CreateItem]
    updates: list[UpdateItem]


@dataclass(frozen=True)
class Upload:
    """The raw body of ``POST /media``: its bytes, their SHA-256 and declared type."""

    content: bytes
    sha256: str
    content_type: str
    filename: str

    def fingerprint(self) -> dict[str, str]:
        """What makes two uploads under one key "the same request"."""
        return {"sha256": self.sha256, "content_type": self.content_type}


@dataclass
class StockItem:
    """One item of ``POST /inventory/batch``, validated."""

    sku: str | None
    change: StockChange | None
    errors: list[FieldError]


def endpoint_label(method: str, path: str) -> str:
    """The route template a request is counted under in the stats."""
    parts = path.rstrip("/").split("/")
    if len(parts) == 3 and parts[1] == "products" and parts[2] != "batch":
        return f"{method} /products/{{product_id}}"
    if len(parts) == 3 and parts[1] == "orders":
        return f"{method} /orders/{{order_id}}"
    known = {
        "/auth/token",
        "/products",
        "/products/batch",
        "/inventory/batch",
        "/media",
        "/orders",
        "/openapi.json",
        "/_sandbox/stats",
        "/_sandbox/reset",
    }
    return f"{method} {path}" if path in known else f"{method} (unknown)"


def _product_json(row: ProductRow, matched_sku: str | None = None) -> dict[str, Any]:
    """A stored product as the API answers it: the 13 fields of §2, then the server's.

    A product with variants (§2a) answers its first variant's ``sku``, ``price``,
    ``stock``, ``barcode`` and ``weight_kg`` as its own (what a v1 client reads), then
    ``handle``, ``options`` and ``variants``; found by a variant's SKU, it names that
    variant in ``matched_variant``.
    """
    out: dict[str, Any] = {"product_id": row.product_id}
    variants = row.values.get("variants")
    first = variants[0] if variants else None
    for name in PRODUCT_FIELDS:
        if first is not None and name in PER_VARIANT_FIELDS:
            out[name] = first.get(name)
        else:
            out[name] = row.values.get(name)
    if variants:
        out["handle"] = row.values["handle"]
        out["options"] = list(row.values.get("options") or [])
        out["variants"] = [
            {name: variant.get(name) for name in VARIANT_FIELDS} for variant in variants
        ]
        if matched_sku is not None:
            out["matched_variant"] = matched_sku
    out["created_at"] = row.created_at
    out["updated_at"] = row.updated_at
    out["version"] = row.version
    return out


def _encode_cursor(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode_cursor(text: str, kind: str) -> dict[str, Any]:
    try:
        padded = text + "=" * (-len(text) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError):
        value = None
    if not isinstance(value, dict) or value.get("k") != kind:
        raise _validation_error([FieldError("cursor", "is not a cursor this server gave")])
    return value


def _page_limit(request: Request) -> int:
    raw = request.query_params.get("limit")
    if raw is None:
        return DEFAULT_PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise _validation_error([FieldError("limit", f"must be an integer from 1 to {MAX_PAGE}")])
    return int(raw)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
        # RFC 8259 §8.1: a parser may ignore a byte order mark; clients on Windows send one.
        text = text.removeprefix("\ufeff")
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(400, "MALFORMED_JSON", f"The body is not UTF-8: {exc.reason}.") from None
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            "MALFORMED_JSON",
            f"The body is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno}).",
        ) from None
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "MALFORMED_JSON", f"The body is not valid JSON: {exc}.") from None


def _object(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _validation_error([FieldError("body", "must be a JSON object")])
    return payload


def _product_values(
    data: dict[str, Any], *, partial: bool
) -> tuple[dict[str, Any], list[FieldError]]:
    """A product's v1 fields (§2) and v2 fields (§2a), checked and normalized."""
    values, errors = validate_product_values(data, partial=partial)
    if "variants" in data and not partial:
        for name in PER_VARIANT_FIELDS:  # defaults of a v1 product: kept per variant here
            if name not in data:
                values.pop(name, None)
    extra, problems = validate_variant_values(data, partial=partial)
    values.update(extra)
    return values, errors + problems


def _skus_of(values: dict[str, Any]) -> list[str]:
    """The SKUs a product's values take: its variants', or its own."""
    variants = values.get("variants")
    if variants is not None:
        return [variant["sku"] for variant in variants]
    return [values["sku"]] if "sku" in values else []


def _stock_outcome(current: int, change: StockChange) -> tuple[int, dict[str, Any] | None]:
    """The count an inventory change makes of ``current``, or the item's error."""
    if change.expected is not None and current != change.expected:
        return current, _item_error(
            "STOCK_CONFLICT",
            f"The stock is {current}, not the expected {change.expected}.",
            "expected",
            current_stock=current,
        )
    if change.stock is not None:
        return change.stock, None
    assert change.delta is not None
    new = current + change.delta
    if new < 0:
        return new, _item_error(
            "STOCK_NEGATIVE",
            f"The stock is {current}; a delta of {change.delta} would make it {new}.",
            "delta",
            current_stock=current,
        )
    if new > MAX_INTEGER:
        return new, _item_error(
            "VALIDATION_ERROR", f"The stock would exceed {MAX_INTEGER}.", "delta"
        )
    return new, None


def _merged_variants(
    stored: list[dict[str, Any]], sent: list[dict[str, Any]], removals: set[str]
) -> list[dict[str, Any]]:
    """The stored variants with the sent ones merged in (by SKU: the fields given change)
    or added, less the removals."""
    variants = [dict(variant) for variant in stored]
    position = {variant["sku"]: index for index, variant in enumerate(variants)}
    for index, variant in enumerate(sent):
        if variant["sku"] in position:
            variants[position[variant["sku"]]].update(variant)
            continue
        if "price" not in variant:
            raise _validation_error(
                [FieldError(f"variants[{index}].price", "is required for a new variant")]
            )
        position[variant["sku"]] = len(variants)
        variants.append({**variant_defaults(), **variant})
    # Each variant's fields in contract order, as created ones are stored.
    return [
        {name: variant[name] for name in VARIANT_FIELDS if name in variant}
        for variant in variants
        if variant["sku"] not in removals
    ]


def _item_shape_errors(name: str, items: list[Any], allowed: frozenset[str]) -> list[FieldError]:
    """Items that are not objects, and unknown fields, with paths like ``create[3].colour``."""
    errors: list[FieldError] = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            errors.append(FieldError(f"{name}[{index}]", "must be an object"))
        else:
            errors.extend(e.prefixed(f"{name}[{index}]") for e in unknown_fields(item, allowed))
    return errors


def _item_error(code: str, message: str, field_name: str | None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "field": field_name}
    error.update(extra)
    return error


def _validation_item_error(errors: list[FieldError]) -> dict[str, Any]:
    first = errors[0]
    return _item_error(
        "VALIDATION_ERROR",
        f"{first.field} {first.message}",
        first.field,
        errors=[error.as_dict() for error in errors],
    )


class SandboxApp(DialectApp):
    """The ASGI application, with its store, limiter, fault injector and counters."""

    def __init__(self, config: SandboxConfig, store: Store | None = None) -> None:
        super().__init__(config, store, unique_skus=not config.allow_duplicate_skus)
        self.limiter = RateLimiter(config.rate, config.burst)
        self.keys = IdempotencyKeys(self.store, config)
        self._token_cache: dict[str, TokenInfo] = {}
        # Uploaded images, by content hash: kept in memory (the shop's products keep
        # their URLs); the same content uploaded again is the same image.
        self.media: dict[str, dict[str, Any]] = {}
        self._openapi = dumps_json(openapi_document(config))
        self._starlette = Starlette(
            routes=self._routes(),
            exception_handlers={
                HTTPException: self._http_exception,
                Exception: self._server_error,
            },
            lifespan=self.lifespan,
        )

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The outer wrapper: request id, faults, extra headers, stats."""
        if scope["type"] != "http":
            await self._starlette(scope, receive, send)
            return
        method: str = scope["method"]
        path: str = scope["path"]
        internal = path.startswith("/_sandbox/") or path == "/openapi.json"
        ctx = RequestContext(uuid.uuid4().hex, None if internal else self.faults.draw())
        scope.setdefault("state", {})["sandbox"] = ctx
        label = endpoint_label(method, path)
        write = method in WRITE_METHODS and not internal and path != "/auth/token"
        recorded = False

        def record(outcome: str) -> None:
            # Counted before the answer (or the cut) leaves: a client that reads the stats
            # right after its response must find that response counted.
            nonlocal recorded
            if not recorded and not internal:
                recorded = True
                self.stats.request(label, outcome, write=write)

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
                headers.extend((k.lower().encode(), v.encode()) for k, v in ctx.headers)
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
                error = ApiError(
                    status,
                    {500: "INTERNAL_ERROR", 502: "BAD_GATEWAY", 503: "SERVICE_UNAVAILABLE"}[status],
                    "An injected fault: the sandbox was told to fail this request.",
                    headers=headers,
                )
                await error.reply().response()(scope, receive, send_wrapped)
                return
            if ctx.fault is Fault.SLOW:
                await asyncio.sleep(self.config.slow_ms / 1000.0)
            await self._starlette(scope, receive, send_wrapped)
        finally:
            record("incomplete")

    def on_startup(self) -> None:
        """Forget idempotency keys past their lifetime."""
        self.keys.purge()

    def _routes(self) -> list[Route]:
        return [
            Route("/auth/token", self.token, methods=["POST"]),
            # One route per path, so that a 405 lists every method of the path in Allow.
            Route(
                "/products",
                self._by_method(POST=self.create_product, GET=self.list_products),
                methods=["GET", "POST"],
            ),
            Route("/products/batch", self.batch_products, methods=["POST"]),
            Route(
                "/products/{product_id}",
                self._by_method(
                    GET=self.get_product, PATCH=self.patch_product, DELETE=self.delete_product
                ),
                methods=["GET", "PATCH", "DELETE"],
            ),
            Route("/inventory/batch", self.inventory_batch, methods=["POST"]),
            Route("/media", self.upload_media, methods=["POST"]),
            Route("/orders", self.list_orders, methods=["GET"]),
            Route("/orders/{order_id}", self.get_order, methods=["GET"]),
            Route("/openapi.json", self.openapi, methods=["GET"]),
            Route("/_sandbox/stats", self.sandbox_stats, methods=["GET"]),
            Route("/_sandbox/reset", self.sandbox_reset, methods=["POST"]),
        ]

    @staticmethod
    def _by_method(
        **endpoints: Callable[[Request], Awaitable[Response]],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def dispatch(request: Request) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await endpoints[method](request)

        return dispatch

    async def _http_exception(self, _request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:
            error = ApiError(
                405,
                "METHOD_NOT_ALLOWED",
                "This path does not take that method.",
                headers=list((exc.headers or {}).items()),
            )
        elif exc.status_code == 404:
            error = ApiError(404, "NOT_FOUND", "There is nothing at this path.")
        else:
            error = ApiError(exc.status_code, "HTTP_ERROR", str(exc.detail))
        return error.reply().response()

    async def _server_error(self, _request: Request, _exc: Exception) -> Response:
        return (
            ApiError(500, "INTERNAL_ERROR", "The sandbox failed; see its log.").reply().response()
        )

    # -- the request pipeline ------------------------------------------------------------

    async def _read_body(self, request: Request, limit: int | None = None) -> bytes:
        limit = limit or self.config.max_body_bytes
        declared = request.headers.get("content-length", "")
        too_big = declared.isdigit() and int(declared) > limit
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    too_big = True
                if too_big:
                    if size > DRAIN_LIMIT:
                        break
                    continue
                chunks.append(chunk)
        except ClientDisconnect:
            raise ApiError(400, "CLIENT_DISCONNECTED", "The client went away.") from None
        if too_big:
            raise ApiError(
                413,
                "BODY_TOO_LARGE",
                f"The request body is larger than {limit} bytes.",
                extra={"max_bytes": limit},
            )
        return b"".join(chunks)

    def _authenticate(self, request: Request, needed: str) -> Principal:
        header = request.headers.get("authorization")
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise ApiError(
                401,
                "UNAUTHORIZED",
                "This endpoint needs 'Authorization: Bearer <token>'; get a token from "
                "POST /auth/token.",
                headers=[("WWW-Authenticate", f'Bearer realm="{REALM}"')],
            )
        info = self._token_cache.get(token)
        if info is None:
            info = self.store.token(token)
            if info is not None:
                if len(self._token_cache) > 10_000:
                    self._token_cache.clear()
                self._token_cache[token] = info
        now = self.config.clock()
        if info is None or info.client_id != self.config.client_id or info.expires_at <= now:
            why = "expired" if info is not None and info.expires_at <= now else "is not known"
            raise ApiError(
                401,
                "INVALID_TOKEN",
                f"The access token {why}; get a new one from POST /auth/token.",
                headers=[
                    (
                        "WWW-Authenticate",
                        f'Bearer realm="{REALM}", error="invalid_token", '
                        f'error_description="The access token {why}"',
                    )
                ],
            )
        if needed not in info.scopes:
            raise ApiError(
                403,
                "INSUFFICIENT_SCOPE",
                f"The access token lacks the '{needed}' scope.",
                headers=[
                    (
                        "WWW-Authenticate",
                        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{needed}"',
                    )
                ],
                extra={"required_scope": needed},
            )
        return Principal(info.client_id, info.scopes)

    async def _api(
        self,
        request: Request,
        scope: str,
        parse: Callable[[Request, Any], T],
        execute: Callable[[T], Reply],
        *,
        json_body: bool,
        raw_body: bool = False,
    ) -> Response:
        ctx: RequestContext = request.state.sandbox
        try:
            raw = await self._read_body(request, MAX_MEDIA_BYTES if raw_body else None)
            principal = self._authenticate(request, scope)
            decision = self.limiter.acquire(principal.client_id)
            ctx.headers.extend(h for h in decision.headers() if h[0] != "Retry-After")
            if not decision.allowed:
                self.stats.rate_limited()
                raise ApiError(
                    429,
                    "RATE_LIMITED",
                    f"Over the rate limit of {self.config.rate:g} requests per second "
                    f"(burst {self.config.burst}); retry after {decision.retry_after} s.",
                    headers=[("Retry-After", str(decision.retry_after))],
                )
            payload: Any = None
            if json_body:
                self._check_json_type(request)
                payload = _parse_json(raw)
            elif raw_body:
                payload = Upload(
                    raw,
                    hashlib.sha256(raw).hexdigest(),
                    request.headers.get("content-type", "").partition(";")[0].strip().lower(),
                    request.query_params.get("filename", ""),
                )
            reservation: Reservation | None = None
            key = request.headers.get("idempotency-key")
            if (
                request.method == "POST"
                and key is not None
                and not self.config.ignore_idempotency_keys
            ):
                begun = self._idempotency_begin(
                    principal,
                    key,
                    request,
                    payload.fingerprint() if isinstance(payload, Upload) else payload,
                )
                if isinstance(begun, Reply):
                    return begun.response()
                reservation = begun
            try:
                delay = self.faults.latency()
                if delay > 0:
                    await asyncio.sleep(delay)
                parsed = parse(request, payload)
                reply = self._run(execute, parsed, reservation)
            finally:
                if reservation is not None:
                    self.keys.release(reservation)
        except ApiError as error:
            reply = error.reply()
        return reply.response()

    @staticmethod
    def _check_json_type(request: Request) -> None:
        header = request.headers.get("content-type")
        media_type, _, params = (header or "").partition(";")
        ok = media_type.strip().lower() == "application/json"
        for param in params.split(";"):
            name, _, value = param.partition("=")
            if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in (
                "utf-8",
                "utf8",
            ):
                ok = False
        if not ok:
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                f"Send the body as 'Content-Type: application/json' (UTF-8), not {header!r}."
                if header
                else "The body needs 'Content-Type: application/json'.",
            )

    def _idempotency_begin(
        self, principal: Principal, key: str, request: Request, payload: Any
    ) -> Reply | Reservation:
        if not 1 <= len(key) <= 255 or any(not " " <= ch <= "~" for ch in key):
            raise ApiError(
                400,
                "INVALID_IDEMPOTENCY_KEY",
                "Idempotency-Key must be 1 to 255 printable ASCII characters.",
            )
        try:
            begun = self.keys.begin(
                principal.client_id, key, request.method, request.url.path, payload
            )
        except KeyReused:
            raise ApiError(
                422,
                "IDEMPOTENCY_KEY_REUSED",
                "This Idempotency-Key was used with another request; use a new key for a "
                "new request.",
            ) from None
        except KeyInFlight:
            raise ApiError(
                409,
                "IDEMPOTENCY_IN_FLIGHT",
                "A request with this Idempotency-Key is still being processed; retry "
                "the same request shortly.",
                headers=[("Retry-After", "1")],
            ) from None
        if isinstance(begun, Reservation):
            return begun
        self.stats.replayed()
        headers = [h for h in begun.headers if h[0].lower() != "content-type"]
        content_type = next((v for k, v in begun.headers if k.lower() == "content-type"), None)
        headers.append(("Idempotent-Replayed", "true"))
        return Reply(begun.status, begun.body, content_type, headers)

    def _run(
        self, execute: Callable[[T], Reply], parsed: T, reservation: Reservation | None
    ) -> Reply:
        with self.store.transaction():
            try:
                with self.store.savepoint():
                    reply = execute(parsed)
            except ApiError as error:
                # A refusal by the endpoint itself (SKU_EXISTS, NOT_FOUND) is its answer to
                # the key, and kept like a success; the savepoint undid any partial write.
                reply = error.reply()
            if reservation is not None:
                self.keys.keep(reservation, reply)
        return reply

    # -- token endpoint ------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        """``POST /auth/token``: OAuth 2.0 client credentials (RFC 6749 §4.4)."""
        try:
            try:
                raw = await self._read_body(request)
            except ApiError as error:
                raise OAuthError("invalid_request", error.detail) from None
            return self._issue_token(request, raw).response()
        except OAuthError as error:
            return error.reply().response()

    def _issue_token(self, request: Request, raw: bytes) -> Reply:
        content_type = request.headers.get("content-type", "")
        if content_type.partition(";")[0].strip().lower() != "application/x-www-form-urlencoded":
            raise OAuthError(
                "invalid_request",
                "The token request must be 'application/x-www-form-urlencoded'.",
            )
        try:
            pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
        except (UnicodeDecodeError, ValueError):
            raise OAuthError("invalid_request", "The form body is not UTF-8.") from None
        form: dict[str, str] = {}
        for name, value in pairs:
            if name in form:
                # RFC 6749 §3.2: parameters must not be included more than once.
                raise OAuthError("invalid_request", f"The parameter '{name}' is repeated.")
            form[name] = value
        if not form.get("grant_type"):
            raise OAuthError("invalid_request", "The 'grant_type' parameter is missing.")

        client_id, client_secret = self._client_credentials(request, form)
        id_ok = hmac.compare_digest(client_id.encode(), self.config.client_id.encode())
        secret_ok = hmac.compare_digest(client_secret.encode(), self.config.client_secret.encode())
        if not (id_ok and secret_ok):
            raise OAuthError("invalid_client", "Unknown client or wrong secret.", status=401)
        if form["grant_type"] != "client_credentials":
            raise OAuthError(
                "unsupported_grant_type",
                f"The grant type '{form['grant_type']}' is not supported; use "
                "'client_credentials'.",
            )
        requested = form.get("scope", "").split()
        unknown = [s for s in requested if s not in ALL_SCOPES]
        if unknown:
            raise OAuthError(
                "invalid_scope",
                f"Unknown scope {' '.join(unknown)!r}; the scopes are {' '.join(ALL_SCOPES)}.",
            )
        granted = frozenset(requested) if requested else frozenset(ALL_SCOPES)
        token = secrets.token_urlsafe(32)
        ttl = self.config.token_ttl
        self.store.save_token(token, TokenInfo(client_id, granted, self.config.clock() + ttl))
        self.stats.token_issued()
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": max(1, math.ceil(ttl)),
            "scope": " ".join(s for s in ALL_SCOPES if s in granted),
        }
        return Reply.json(200, body, [("Cache-Control", "no-store"), ("Pragma", "no-cache")])

    @staticmethod
    def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str, str]:
        header = request.headers.get("authorization")
        if header is None:
            if "client_id" not in form:
                raise OAuthError(
                    "invalid_client",
                    "No client authentication: send HTTP Basic credentials or "
                    "client_id and client_secret.",
                    status=401,
                )
            return form["client_id"], form.get("client_secret", "")
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            raise OAuthError(
                "invalid_client", "Only HTTP Basic client authentication is taken.", status=401
            )
        if "client_secret" in form:
            # RFC 6749 §2.3: a client must not use more than one authentication method.
            raise OAuthError(
                "invalid_request",
                "Send the client secret in the Basic header or the body, not both.",
            )
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise OAuthError(
                "invalid_client", "The Basic credentials are not valid base64.", status=401
            ) from None
        user, sep, password = decoded.partition(":")
        if not sep:
            raise OAuthError(
                "invalid_client", "The Basic credentials have no ':' separator.", status=401
            )
        # RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding.
        client_id, client_secret = unquote_plus(user), unquote_plus(password)
        if "client_id" in form and form["client_id"] != client_id:
            raise OAuthError(
                "invalid_request", "The client_id in the body differs from the Basic one."
            )
        return client_id, client_secret

    # -- products ------------------------------------------------------------------------

    def _new_row(self, values: dict[str, Any], now: str) -> ProductRow:
        return ProductRow(0, "prod_" + uuid.uuid4().hex[:20], 1, now, now, values)

    async def create_product(self, request: Request) -> Response:
        """``POST /products``."""
        return await self._api(
            request, "products", self._parse_create, self._exec_create, json_body=True
        )

    @staticmethod
    def _parse_create(_request: Request, payload: Any) -> dict[str, Any]:
        data = _object(payload)
        values, errors = _product_values(data, partial=False)
        errors = unknown_fields(data, CREATE_FIELD_SET) + errors
        if errors:
            raise _validation_error(errors)
        return values

    def _exec_create(self, values: dict[str, Any]) -> Reply:
        existing = self._taken_skus(_skus_of(values))
        for sku in _skus_of(values):
            if sku in existing:
                raise self._sku_exists(sku, existing[sku])
        clash = self._taken_handle(values.get("handle"))
        if clash is not None:
            raise self._handle_exists(values["handle"], clash)
        row = self._new_row(values, rfc3339(self.config.clock()))
        self.store.insert_products([row])
        return Reply.json(201, _product_json(row), [("Location", f"/products/{row.product_id}")])

    def _taken_skus(self, skus: Iterable[str]) -> dict[str, str]:
        """Product ids by SKU for the SKUs a create or a rename may not take (none at all
        where duplicate SKUs are allowed)."""
        if self.config.allow_duplicate_skus:
            return {}
        return self.store.product_ids_by_skus(skus)

    def _taken_handle(self, handle: str | None) -> str | None:
        """The id of the live product with ``handle``, which a create may not take."""
        if handle is None or self.config.allow_duplicate_skus:
            return None
        return self.store.product_id_by_handle(handle)

    @staticmethod
    def _handle_exists(handle: str, product_id: str) -> ApiError:
        return ApiError(
            409,
            "HANDLE_EXISTS",
            f"A product with handle {handle!r} exists already ({product_id}).",
            errors=[FieldError("handle", "is taken by another product")],
            extra={"product_id": product_id, "handle": handle},
        )

    @staticmethod
    def _sku_exists(sku: str, product_id: str) -> ApiError:
        return ApiError(
            409,
            "SKU_EXISTS",
            f"A product with SKU {sku!r} exists already ({product_id}).",
            errors=[FieldError("sku", "is taken by another product")],
            extra={"product_id": product_id, "sku": sku},
        )

    async def batch_products(self, request: Request) -> Response:
        """``POST /products/batch``."""
        return await self._api(
            request, "products", self._parse_batch, self._exec_batch, json_body=True
        )

    def _parse_batch(self, _request: Request, payload: Any) -> BatchPlan:
        data = _object(payload)
        errors = unknown_fields(data, frozenset({"create", "update"}))
        lists: dict[str, list[Any]] = {}
        for name in ("create", "update"):
            value = data.get(name, [])
            lists[name] = value if isinstance(value, list) else []
            if not isinstance(value, list):
                errors.append(FieldError(name, "must be an array"))
        total = len(lists["create"]) + len(lists["update"])
        self._check_batch_size(total)
        for name, allowed in (("create", CREATE_FIELD_SET), ("update", UPDATE_FIELD_SET)):
            errors.extend(_item_shape_errors(name, lists[name], allowed))
        if errors:
            raise _validation_error(errors)

        creates = []
        for item in lists["create"]:
            values, problems = _product_values(item, partial=False)
            sku = item.get("sku")
            if sku is None and not problems and values.get("variants"):
                sku = values["variants"][0]["sku"]
            creates.append(CreateItem(sku if isinstance(sku, str) else None, values, problems))
        updates = []
        for item in lists["update"]:
            changes, problems = _product_values(item, partial=True)
            product_id = item.get("product_id")
            if not isinstance(product_id, str) or not product_id:
                problems.insert(0, FieldError("product_id", "is required and must be a string"))
                product_id = None
            sku = item.get("sku")
            updates.append(
                UpdateItem(sku if isinstance(sku, str) else None, product_id, changes, problems)
            )
        return BatchPlan(creates, updates)

    def _check_batch_size(self, total: int) -> None:
        if total > self.config.max_batch:
            raise ApiError(
                413,
                "BATCH_TOO_LARGE",
                f"The batch holds {total} items; at most {self.config.max_batch} are taken.",
                extra={"max_items": self.config.max_batch},
            )

    def _exec_batch(self, plan: BatchPlan) -> Reply:
        now = rfc3339(self.config.clock())
        # Creates first, then updates, each list in input order; later items see earlier ones.
        taken = self._taken_skus(
            sku for item in plan.creates if not item.errors for sku in _skus_of(item.values)
        )
        handles: dict[str, str] = {}
        new_rows: list[ProductRow] = []
        create_results: list[dict[str, Any]] = []
        for item in plan.creates:
            if item.errors:
                create_results.append(
                    {
                        "sku": item.sku,
                        "status": "error",
                        "error": _validation_item_error(item.errors),
                    }
                )
                continue
            skus = _skus_of(item.values)
            sku = skus[0]
            clash = next(
                ((index, other) for index, other in enumerate(skus) if other in taken), None
            )
            if clash is not None:
                index, other = clash
                existing = taken[other]
                create_results.append(
                    {
                        "sku": sku,
                        "product_id": existing,
                        "status": "error",
                        "error": _item_error(
                            "SKU_EXISTS",
                            f"A product with SKU {other!r} exists already.",
                            f"variants[{index}].sku" if "variants" in item.values else "sku",
                            product_id=existing,
                        ),
                    }
                )
                continue
            handle = item.values.get("handle")
            owner = handles.get(handle) if handle else None
            if handle and owner is None:
                owner = self._taken_handle(handle)
            if owner is not None:
                create_results.append(
                    {
                        "sku": sku,
                        "product_id": owner,
                        "status": "error",
                        "error": _item_error(
                            "HANDLE_EXISTS",
                            f"A product with handle {handle!r} exists already.",
                            "handle",
                            product_id=owner,
                        ),
                    }
                )
                continue
            row = self._new_row(item.values, now)
            if not self.config.allow_duplicate_skus:
                taken.update((other, row.product_id) for other in skus)
                if handle:
                    handles[handle] = row.product_id
            new_rows.append(row)
            create_results.append({"sku": sku, "product_id": row.product_id, "status": "ok"})
        if new_rows:
            self.store.insert_products(new_rows)

        update_results = [self._apply_update(item, now) for item in plan.updates]
        return Reply.json(200, {"create": create_results, "update": update_results})

    def _apply_update(self, item: UpdateItem, now: str) -> dict[str, Any]:
        if item.errors:
            return {
                "sku": item.sku,
                "product_id": item.product_id,
                "status": "error",
                "error": _validation_item_error(item.errors),
            }
        assert item.product_id is not None
        row = self.store.product(item.product_id)
        if row is None:
            return {
                "sku": item.sku,
                "product_id": item.product_id,
                "status": "error",
                "error": _item_error(
                    "NOT_FOUND", f"No product has the id {item.product_id!r}.", "product_id"
                ),
            }
        try:
            self._change(row, item.changes, now)
        except ApiError as error:
            if error.code == "VALIDATION_ERROR" and error.errors:
                failure = _validation_item_error(error.errors)
            else:
                failure = _item_error(
                    error.code,
                    error.detail,
                    error.errors[0].field if error.errors else "sku",
                    product_id=error.extra.get("product_id"),
                )
            return {
                "sku": item.sku or row.sku,
                "product_id": item.product_id,
                "status": "error",
                "error": failure,
            }
        return {
            "sku": row.sku,
            "product_id": row.product_id,
            "status": "ok",
            "version": row.version,
        }

    def _change(self, row: ProductRow, changes: dict[str, Any], now: str) -> None:
        """Apply ``changes`` to ``row`` and store it, if anything changes at all."""
        changes = self._variant_changes(row, changes)
        new_sku = changes.get("sku")
        if new_sku is not None and new_sku != row.sku:
            other = self._taken_skus([new_sku]).get(new_sku)
            if other is not None:
                raise self._sku_exists(new_sku, other)
        if all(row.values.get(name) == value for name, value in changes.items()):
            return  # nothing changes: no new version (as an HTTP PUT of the same state)
        row.values.update(changes)
        row.version += 1
        row.updated_at = now
        self.store.update_products([row])

    def _variant_changes(self, row: ProductRow, changes: dict[str, Any]) -> dict[str, Any]:
        """``changes`` with the variants they send merged into the stored ones (§2a).

        A sent variant changes the fields it gives of the stored one with its SKU, or is
        added (it needs a price then); the SKUs in
        ``remove_variants`` go (an SKU the product does not have is ignored, so a
        repeated request changes nothing more). Refused as the item's error: v2 fields
        on a product without variants, per-variant fields on one with them, options a
        variant has no value for, a SKU another product has, removing every variant.
        """
        given = [name for name in (*VARIANT_PRODUCT_FIELDS, "remove_variants") if name in changes]
        if not row.has_variants:
            if given:
                raise _validation_error(
                    [
                        FieldError(name, "is only taken for a product with variants")
                        for name in given
                    ],
                    detail=f"The product {row.product_id} has no variants: create a product "
                    "with a handle and variants instead.",
                )
            return changes
        wrong = per_variant_errors(changes)
        if wrong:
            raise _validation_error(wrong)
        out = dict(changes)
        removals = set(out.pop("remove_variants", None) or ())
        sent = out.pop("variants", None)
        if sent is None and not removals and "options" not in out:
            return out
        variants = _merged_variants(row.values["variants"], sent or [], removals)
        if not variants:
            raise _validation_error(
                [FieldError("remove_variants", "would remove every variant")],
                detail="A product keeps at least one variant; archive it with DELETE instead.",
            )
        options = out.get("options", row.values.get("options") or [])
        problems = variant_agreement(options, variants)
        if problems:
            raise _validation_error(problems)
        before = set(row.variant_skus)
        added = [variant["sku"] for variant in variants if variant["sku"] not in before]
        taken = self._taken_skus(added)
        for sku in added:
            other = taken.get(sku)
            if other is not None and other != row.product_id:
                raise self._sku_exists(sku, other)
        handle = out.get("handle")
        if handle is not None and handle != row.values.get("handle"):
            other = self._taken_handle(handle)
            if other is not None:
                raise self._handle_exists(handle, other)
        out["variants"] = variants
        return out

    async def list_products(self, request: Request) -> Response:
        """``GET /products?sku=A,B`` or ``GET /products?cursor=&limit=``."""
        return await self._api(
            request, "products", self._parse_list, self._exec_list, json_body=False
        )

    def _parse_list(self, request: Request, _payload: Any) -> tuple[list[str] | None, int, int]:
        params = request.query_params
        if "sku" in params:
            clash = [name for name in ("cursor", "limit") if name in params]
            if clash:
                raise _validation_error(
                    [FieldError(name, "cannot be combined with sku") for name in clash]
                )
            skus = [s for value in params.getlist("sku") for s in value.split(",") if s]
            if not skus:
                raise _validation_error([FieldError("sku", "must name at least one SKU")])
            if len(skus) > MAX_SKUS_PER_LOOKUP:
                raise _validation_error(
                    [FieldError("sku", f"must name at most {MAX_SKUS_PER_LOOKUP} SKUs")]
                )
            return skus, 0, 0
        limit = _page_limit(request)
        cursor = params.get("cursor")
        after = 0
        if cursor:
            position = _decode_cursor(cursor, "products").get("after")
            if not isinstance(position, int) or isinstance(position, bool):
                raise _validation_error([FieldError("cursor", "is not a cursor this server gave")])
            after = position
        return None, after, limit

    def _exec_list(self, query: tuple[list[str] | None, int, int]) -> Reply:
        skus, after, limit = query
        if skus is not None:
            matches = self.store.products_with_skus(skus)
            items = [
                _product_json(row, sku if row.has_variants else None)
                for sku in dict.fromkeys(skus)
                for row in matches.get(sku, [])
            ]
            return Reply.json(200, {"items": items, "next_cursor": None})
        page = self.store.list_products(after, limit + 1)
        next_cursor = None
        if len(page) > limit:
            page = page[:limit]
            next_cursor = _encode_cursor({"k": "products", "after": page[-1].id})
        return Reply.json(
            200, {"items": [_product_json(row) for row in page], "next_cursor": next_cursor}
        )

    def _require_product(self, product_id: str) -> ProductRow:
        row = self.store.product(product_id)
        if row is None:
            raise ApiError(404, "NOT_FOUND", f"No product has the id {product_id!r}.")
        return row

    async def get_product(self, request: Request) -> Response:
        """``GET /products/{product_id}``."""
        return await self._api(
            request,
            "products",
            lambda req, _payload: str(req.path_params["product_id"]),
            lambda product_id: Reply.json(200, _product_json(self._require_product(product_id))),
            json_body=False,
        )

    async def patch_product(self, request: Request) -> Response:
        """``PATCH /products/{product_id}``: a partial update."""
        return await self._api(
            request, "products", self._parse_patch, self._exec_patch, json_body=True
        )

    @staticmethod
    def _parse_patch(request: Request, payload: Any) -> tuple[str, dict[str, Any]]:
        data = _object(payload)
        changes, errors = _product_values(data, partial=True)
        errors = unknown_fields(data, PATCH_FIELD_SET) + errors
        if errors:
            raise _validation_error(errors)
        return str(request.path_params["product_id"]), changes

    def _exec_patch(self, parsed: tuple[str, dict[str, Any]]) -> Reply:
        product_id, changes = parsed
        row = self._require_product(product_id)
        self._change(row, changes, rfc3339(self.config.clock()))
        return Reply.json(200, _product_json(row))

    async def delete_product(self, request: Request) -> Response:
        """``DELETE /products/{product_id}``: archive the product."""
        return await self._api(
            request,
            "products",
            lambda req, _payload: str(req.path_params["product_id"]),
            self._exec_delete,
            json_body=False,
        )

    def _exec_delete(self, product_id: str) -> Reply:
        if not self.store.archive_product(product_id, rfc3339(self.config.clock())):
            raise ApiError(404, "NOT_FOUND", f"No product has the id {product_id!r}.")
        return Reply(204, b"", None)

    # -- inventory -----------------------------------------------------------------------

    async def inventory_batch(self, request: Request) -> Response:
        """``POST /inventory/batch``."""
        return await self._api(
            request, "inventory", self._parse_inventory, self._exec_inventory, json_body=True
        )

    def _parse_inventory(self, _request: Request, payload: Any) -> list[StockItem]:
        data = _object(payload)
        errors = unknown_fields(data, frozenset({"updates"}))
        updates = data.get("updates")
        if not isinstance(updates, list):
            errors.append(FieldError("updates", "is required and must be an array"))
            raise _validation_error(errors)
        self._check_batch_size(len(updates))
        errors.extend(_item_shape_errors("updates", updates, INVENTORY_FIELD_SET))
        if errors:
            raise _validation_error(errors)
        items = []
        for item in updates:
            change, problems = validate_stock_update(item)
            sku = item.get("sku")
            items.append(StockItem(sku if isinstance(sku, str) else None, change, problems))
        return items

    def _exec_inventory(self, items: list[StockItem]) -> Reply:
        now = rfc3339(self.config.clock())
        wanted = [item.change.sku for item in items if item.change is not None]
        stocks = self.store.stocks_by_skus(wanted)
        # SKUs of variants (§2a): their counts live in their product, changed in place.
        owners = {
            sku: rows[0]
            for sku, rows in self.store.products_with_skus(
                sku for sku in wanted if sku not in stocks
            ).items()
            if rows[0].has_variants
        }
        rows_by_id: dict[int, ProductRow] = {}
        variant_of: dict[str, dict[str, Any]] = {}
        for sku, owner in owners.items():
            row = rows_by_id.setdefault(owner.id, owner)
            variant_of[sku] = next(v for v in row.values["variants"] if v["sku"] == sku)
        dirty_rows: set[int] = set()
        dirty: set[str] = set()
        results: list[dict[str, Any]] = []
        for item in items:
            change = item.change
            if change is None:
                results.append(
                    {
                        "sku": item.sku,
                        "status": "error",
                        "error": _validation_item_error(item.errors),
                    }
                )
                continue
            entry = stocks.get(change.sku)
            variant = variant_of.get(change.sku)
            if entry is None and variant is not None:
                owner = owners[change.sku]
                entry = (owner.id, int(variant["stock"]), 0)
            if entry is None:
                results.append(
                    {
                        "sku": change.sku,
                        "status": "error",
                        "error": _item_error(
                            "SKU_NOT_FOUND",
                            f"No product has the SKU {change.sku!r}; inventory updates never "
                            "create products.",
                            "sku",
                        ),
                    }
                )
                continue
            row_id, current, version = entry
            new, error = _stock_outcome(current, change)
            if error is not None:
                results.append(
                    {"sku": change.sku, "status": "error", "stock": current, "error": error}
                )
                continue
            if variant is not None:
                if new != current:
                    variant["stock"] = new
                    dirty_rows.add(row_id)
            elif new != current:
                stocks[change.sku] = (row_id, new, version + 1)
                dirty.add(change.sku)
            results.append({"sku": change.sku, "status": "ok", "stock": new})
        if dirty:
            self.store.update_stocks(
                [(stocks[sku][1], stocks[sku][2], now, stocks[sku][0]) for sku in sorted(dirty)]
            )
        if dirty_rows:
            changed = [rows_by_id[row_id] for row_id in sorted(dirty_rows)]
            for row in changed:
                row.version += 1
                row.updated_at = now
            self.store.update_products(changed)
        return Reply.json(200, {"results": results})

    # -- orders --------------------------------------------------------------------------

    async def upload_media(self, request: Request) -> Response:
        """``POST /media``: one image file as the raw body (docs/platform-api.md §3)."""
        return await self._api(
            request,
            "products",
            self._parse_upload,
            self._exec_upload,
            json_body=False,
            raw_body=True,
        )

    @staticmethod
    def _parse_upload(_request: Request, payload: Any) -> Upload:
        assert isinstance(payload, Upload)
        check = _MEDIA_MAGIC.get(payload.content_type)
        if check is None:
            raise ApiError(
                415,
                "UNSUPPORTED_MEDIA_TYPE",
                "Send an image as image/jpeg, image/png, image/gif or image/webp, not "
                f"{payload.content_type or 'no Content-Type'!r}.",
            )
        if not payload.content or not check(payload.content[:16]):
            raise ApiError(
                422,
                "NOT_AN_IMAGE",
                f"The body is not a {payload.content_type} image.",
            )
        name = payload.filename.replace("\\", "/").rsplit("/", 1)[-1]
        if not name or len(name) > 255 or any(not " " < ch <= "~" for ch in name):
            name = "image"
        return Upload(payload.content, payload.sha256, payload.content_type, name)

    def _exec_upload(self, upload: Upload) -> Reply:
        known = self.media.get(upload.sha256)
        if known is not None:
            return Reply.json(200, known)
        media_id = f"med_{upload.sha256[:24]}"
        answer = {
            "media_id": media_id,
            "url": f"{MEDIA_HOST}/{media_id}/{upload.filename}",
            "sha256": upload.sha256,
            "bytes": len(upload.content),
            "content_type": upload.content_type,
        }
        self.media[upload.sha256] = answer
        return Reply.json(201, answer)

    async def list_orders(self, request: Request) -> Response:
        """``GET /orders?updated_since=&status=&cursor=&limit=``."""
        return await self._api(
            request, "orders", self._parse_orders, self._exec_orders, json_body=False
        )

    @staticmethod
    def _parse_orders(
        request: Request, _payload: Any
    ) -> tuple[str | None, str | None, tuple[str, str] | None, int]:
        params = request.query_params
        errors: list[FieldError] = []
        since = params.get("updated_since")
        since_norm = None
        if since is not None:
            since_norm = normalize_rfc3339(since)
            if since_norm is None:
                errors.append(
                    FieldError("updated_since", "must be an RFC 3339 date-time with a time zone")
                )
        status = params.get("status")
        if status is not None and status not in ORDER_STATUSES:
            errors.append(FieldError("status", "must be one of " + ", ".join(ORDER_STATUSES)))
        if errors:
            raise _validation_error(errors)
        limit = _page_limit(request)
        after = None
        cursor = params.get("cursor")
        if cursor:
            value = _decode_cursor(cursor, "orders")
            u, o = value.get("u"), value.get("o")
            if not isinstance(u, str) or not isinstance(o, str):
                raise _validation_error([FieldError("cursor", "is not a cursor this server gave")])
            after = (u, o)
        return since_norm, status, after, limit

    def _exec_orders(
        self, query: tuple[str | None, str | None, tuple[str, str] | None, int]
    ) -> Reply:
        since, status, after, limit = query
        page = self.store.orders_page(
            updated_since=since, status=status, after=after, limit=limit + 1
        )
        next_cursor = None
        if len(page) > limit:
            page = page[:limit]
            last = page[-1]
            next_cursor = _encode_cursor(
                {"k": "orders", "u": last["updated_at"], "o": last["order_id"]}
            )
        return Reply.json(200, {"items": page, "next_cursor": next_cursor})

    async def get_order(self, request: Request) -> Response:
        """``GET /orders/{order_id}``."""

        def execute(order_id: str) -> Reply:
            order = self.store.order(order_id)
            if order is None:
                raise ApiError(404, "NOT_FOUND", f"No order has the id {order_id!r}.")
            return Reply.json(200, order)

        return await self._api(
            request,
            "orders",
            lambda req, _payload: str(req.path_params["order_id"]),
            execute,
            json_body=False,
        )

    # -- documents and the sandbox's own routes ------------------------------------------

    async def openapi(self, _request: Request) -> Response:
        """``GET /openapi.json``: the contract as an OpenAPI 3 document."""
        return Response(self._openapi, media_type="application/json")

    @staticmethod
    def _loopback_only(request: Request) -> None:
        host = request.client.host if request.client is not None else ""
        if host not in LOOPBACK:
            raise ApiError(404, "NOT_FOUND", "There is nothing at this path.")

    def stats_snapshot(self) -> dict[str, Any]:
        """What ``GET /_sandbox/stats`` answers."""
        live, archived = self.store.product_counts()
        snapshot = self.stats.snapshot()
        snapshot.update(
            {
                "products_stored": live,
                "products_archived": archived,
                "orders_stored": self.store.order_count(),
                "media_stored": len(self.media),
                "in_flight": self.keys.in_flight,
                "seed": self.config.seed,
            }
        )
        return snapshot

    async def sandbox_stats(self, request: Request) -> Response:
        """``GET /_sandbox/stats`` (loopback only; not part of the platform API)."""
        try:
            self._loopback_only(request)
        except ApiError as error:
            return error.reply().response()
        return Reply.json(200, self.stats_snapshot()).response()

    def reset(self) -> None:
        """Empty the shop and zero the counters and rate limits (tokens stay valid)."""
        self.store.reset()
        self.stats.reset()
        self.limiter.reset()
        self.media.clear()

    async def sandbox_reset(self, request: Request) -> Response:
        """``POST /_sandbox/reset`` (loopback only; not part of the platform API)."""
        try:
            self._loopback_only(request)
        except ApiError as error:
            return error.reply().response()
        self.reset()
        return Response(status_code=204)


def create_app(config: SandboxConfig | None = None) -> SandboxApp:
    """The sandbox ASGI application for ``config`` (serve it with any ASGI server)."""
    return SandboxApp(config or SandboxConfig())


__all__ = ["ApiError", "SandboxApp", "create_app", "endpoint_label"]
