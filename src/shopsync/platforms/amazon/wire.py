"""How the Selling Partner API's answers read.

Errors are ``{"errors": [{code, message, details}]}``; every answer carries
``x-amzn-RequestId`` and, for the operations with a usage plan, ``x-amzn-RateLimit-Limit``
(the rate, requests per second, applied to that operation). Decisions, in order: 403
``Unauthorized`` is a refused access token (refresh once and replay); 429 is
``QuotaExceeded``, retried after one request's worth of the operation's rate; 5xx is
retried (every SP-API write here is a put or patch by SKU, which sets values, so a resend
is harmless); anything else an :class:`APIError` carrying Amazon's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from shopsync.errors import APIError
from shopsync.http.auth import TokenRejected
from shopsync.http.redact import redact_text
from shopsync.http.retry import RetriableAPIError
from shopsync.http.wire import RateSignal, Verdict

REQUEST_ID = "x-amzn-RequestId"
RATE_LIMIT = "x-amzn-RateLimit-Limit"
USAGE_PLANS: dict[str, tuple[float, int]] = {
    "putListingsItem": (5.0, 10),
    "patchListingsItem": (5.0, 5),
    "getListingsItem": (5.0, 10),
    "deleteListingsItem": (5.0, 5),
    "searchListingsItems": (5.0, 5),
    "getOrders": (0.0167, 20),
    "getOrder": (0.5, 30),
    "getOrderItems": (0.5, 30),
    "createFeedDocument": (0.5, 15),
    "createFeed": (0.0083, 15),
    "getFeed": (2.0, 15),
    "getFeedDocument": (0.0222, 10),
    "searchOrders": (0.0056, 20),
    "getOrder2026": (0.5, 30),
}
"""Default rate (requests per second) and burst per operation, from the models' usage plans."""


_FEED_OPERATIONS = {
    ("documents", True): "createFeedDocument",
    ("feeds", True): "createFeed",
    ("documents", False): "getFeedDocument",
    ("feeds", False): "getFeed",
}
"""Feeds 2021-06-30 operations by (collection, whether the path ends at it)."""


def operation_of(method: str, path: str) -> str | None:  # noqa: PLR0911 - a return per API
    """The SP-API operation a request is (its own rate bucket), from its method and path."""
    parts = [part for part in path.split("/") if part]
    if parts[:3] == ["listings", "2021-08-01", "items"]:
        if len(parts) == 4:
            return "searchListingsItems"
        return {
            "PUT": "putListingsItem",
            "PATCH": "patchListingsItem",
            "GET": "getListingsItem",
            "DELETE": "deleteListingsItem",
        }.get(method)
    if parts[:2] == ["feeds", "2021-06-30"] and len(parts) >= 3:
        return _FEED_OPERATIONS.get((parts[2], len(parts) == 3))
    if parts[:2] == ["orders", "2026-01-01"] and len(parts) >= 3:
        return "searchOrders" if len(parts) == 3 else "getOrder2026"
    if parts[:2] == ["orders", "v0"] and len(parts) >= 3:
        if len(parts) == 3:
            return "getOrders"
        return "getOrderItems" if parts[-1] == "orderItems" else "getOrder"
    return None


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def error_list(response: requests.Response, what: str) -> APIError:
    """An :class:`APIError` from Amazon's ``ErrorList``: status, first code, message."""
    errors = _body(response).get("errors")
    first = errors[0] if isinstance(errors, list) and errors and isinstance(errors[0], dict) else {}
    code = str(first.get("code") or f"HTTP_{response.status_code}")
    text = f"{what} failed: HTTP {response.status_code} {code}: {first.get('message') or 'error'}"
    if first.get("details"):
        text += f" ({first['details']})"
    request_id = response.headers.get(REQUEST_ID)
    if request_id:
        text += f" [request id {request_id}]"
    return APIError(
        redact_text(text), status=response.status_code, code=code, request_id=request_id
    )


def _rate_of(response: requests.Response) -> float | None:
    try:
        rate = float(response.headers[RATE_LIMIT])
    except (KeyError, ValueError):
        operation = _operation(response)
        return USAGE_PLANS[operation][0] if operation in USAGE_PLANS else None
    return rate if rate > 0 else None


def _operation(response: requests.Response) -> str | None:
    request = response.request
    if request is None or request.url is None or request.method is None:
        return None
    return operation_of(request.method, urlsplit(str(request.url)).path)


class AmazonWire:
    """:class:`~shopsync.http.wire.Wire` for the Selling Partner API."""

    idempotency_header: str | None = None
    """The SP-API takes no idempotency keys."""

    def classify(
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """The decision table of the module doc."""
        status = response.status_code
        if status < 400:
            return None
        error = error_list(response, what)
        if status == 403 and error.code == "Unauthorized":
            return TokenRejected(f"{what}: Amazon refused the access token ({error.message}).")
        if status == 429 or status >= 500:
            rate = _rate_of(response)
            return RetriableAPIError(
                f"HTTP {status} {error.code}",
                error,
                retry_after=(1.0 / rate) if status == 429 and rate else None,
                throttled=status == 429,
            )
        return error

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """The operation's bucket; throttled on 429, paced at ``x-amzn-RateLimit-Limit``."""
        operation = _operation(response)
        rate = _rate_of(response)
        if response.status_code == 429:
            return RateSignal(
                retry_after=(1.0 / rate) if rate else 1.0, throttled=True, bucket=operation
            )
        plan = USAGE_PLANS.get(operation or "")
        if rate is not None and plan is not None and rate < plan[0]:
            # The seller's plan is below the default: Amazon says no more than the rate, so
            # the operation's bucket paces at it (one request per 1/rate seconds, no burst).
            return RateSignal(limit=1.0, remaining=0.0, restore_rate=rate, bucket=operation)
        return RateSignal(restore_rate=rate, bucket=operation)

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """``x-amzn-RequestId``."""
        return headers.get(REQUEST_ID)

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """Never: the SP-API has no idempotency store."""
        return False


__all__ = ["USAGE_PLANS", "AmazonWire", "error_list", "operation_of"]
