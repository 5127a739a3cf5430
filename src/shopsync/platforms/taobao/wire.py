"""How TOP's answers read: the ``error_response`` envelope, usually with HTTP 200.

``{"error_response": {"code", "msg", "sub_code", "sub_msg", "request_id"}}``: code 7 is
"call limited" (the app, or the app on this seller, made too many calls; ``sub_msg``
says for how many more seconds the ban lasts); codes 25 to 31 are the signature, the
session, the app key or the timestamp refused; ``isp.*`` sub-codes are the platform's
failure (worth another attempt), ``isv.*`` the caller's (not). Success is
``{"<method with _ for .>_response": {...}}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import requests

from shopsync.errors import APIError, AuthError
from shopsync.http.redact import redact_text
from shopsync.http.retry import RetriableAPIError, parse_retry_after
from shopsync.http.wire import RateSignal, Verdict
from shopsync.i18n import N_

CALL_LIMITED = 7
"""The code of a throttled call: TOP's only rate signal."""
AUTH_CODES = {
    24: N_("the request's signature is missing"),
    25: N_("the signature does not match: app_secret or sign_method is wrong"),
    26: N_("the seller's session key is missing"),
    27: N_("the seller's session key is not valid (expired or revoked)"),
    28: N_("the app key is missing"),
    29: N_("the app key is not known"),
}
"""Codes that mean these credentials will not work, whatever is retried."""
TIMESTAMP_CODES = frozenset({30, 31})
"""Missing or invalid timestamp: TOP refuses a clock more than 10 minutes off."""
RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""HTTP statuses of the gateway itself (a request that did not reach TOP's services)."""
_BAN_SECONDS = re.compile(r"(\d+)\s*(?:more\s*)?second", re.IGNORECASE)


def error_response(body: Any) -> dict[str, Any] | None:
    """The ``error_response`` object of an answer, or None for a success."""
    if isinstance(body, dict):
        error = body.get("error_response")
        if isinstance(error, dict):
            return error
    return None


def _json(response: requests.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def ban_seconds(error: Mapping[str, Any]) -> float | None:
    """Seconds a "call limited" ban lasts, as its ``sub_msg`` says (None if it does not)."""
    match = _BAN_SECONDS.search(str(error.get("sub_msg") or ""))
    return float(match.group(1)) if match else None


def top_error(error: Mapping[str, Any], what: str, *, status: int | None = 200) -> APIError:
    """An :class:`APIError` for an ``error_response``; ``code`` is the sub-code if any."""
    code = _int(error.get("code"))
    sub_code = error.get("sub_code")
    message = f"{what} failed: TOP error {code}"
    if error.get("msg"):
        message += f" {error['msg']}"
    if sub_code:
        message += f" ({sub_code}"
        message += f": {error['sub_msg']})" if error.get("sub_msg") else ")"
    request_id = error.get("request_id")
    if request_id:
        message += f" [request id {request_id}]"
    return APIError(
        redact_text(message),
        status=status,
        code=str(sub_code) if sub_code else (f"top-{code}" if code is not None else None),
        request_id=str(request_id) if request_id else None,
    )


def is_platform_failure(error: Mapping[str, Any]) -> bool:
    """True for an ``isp.*`` failure, or a gateway error without a caller's sub-code."""
    sub_code = str(error.get("sub_code") or "")
    if sub_code.startswith("isp."):
        return True
    return not sub_code and _int(error.get("code")) in (15, 50)


class TopWire:
    """:class:`~shopsync.http.wire.Wire` for the Taobao Open Platform's REST gateway."""

    idempotency_header: str | None = None
    """TOP has no idempotency keys: an ambiguous write is reconciled by ``outer_id``."""

    def classify(  # noqa: PLR0911 - one decision table, one return per verdict
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """TOP's decision table (see the module doc): HTTP status first, then the envelope."""
        status = response.status_code
        body = _json(response)
        error = error_response(body)
        if status in RETRIABLE_STATUSES:
            problem = (
                top_error(error, what, status=status)
                if error
                else APIError(f"{what} failed: HTTP {status} from the TOP gateway.", status=status)
            )
            return RetriableAPIError(
                f"HTTP {status}",
                problem,
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
                throttled=status == 429,
            )
        if status >= 400:
            return top_error(error or {}, what, status=status)
        if error is None:
            return None
        code = _int(error.get("code"))
        if code == CALL_LIMITED or str(error.get("sub_code") or "").startswith("accesscontrol."):
            return RetriableAPIError(
                "TOP call limited (code 7)",
                top_error(error, what),
                retry_after=ban_seconds(error),
                throttled=True,
            )
        if code in AUTH_CODES:
            return AuthError(
                N_("Taobao refused the credentials: {reason} (TOP error {code}).").format(
                    reason=AUTH_CODES[code], code=code
                ),
                hint=N_(
                    "Check app_key, app_secret, sign_method and session "
                    "(a seller's session key expires; authorise the app again to get a new one)."
                ),
            )
        if code in TIMESTAMP_CODES:
            return AuthError(
                N_(
                    "Taobao refused the request's timestamp (TOP error {code}): this machine's "
                    "clock is more than 10 minutes off."
                ).format(code=code),
                hint=N_("Set the clock right (NTP); TOP compares it with Beijing time."),
            )
        if is_platform_failure(error):
            return RetriableAPIError(f"TOP {error.get('sub_code') or code}", top_error(error, what))
        return top_error(error, what)

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """A code-7 answer is the only signal: throttled, for the seconds its ban lasts."""
        if response.status_code == 429:
            return RateSignal(
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
                throttled=True,
            )
        error = error_response(_json(response)) if response.status_code == 200 else None
        if error is not None and _int(error.get("code")) == CALL_LIMITED:
            return RateSignal(retry_after=ban_seconds(error) or 1.0, throttled=True)
        return RateSignal()

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """TOP puts its request id in the body; the gateway's trace header if present."""
        return headers.get("X-Request-Id") or headers.get("Top-Request-Id")

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """Never: TOP has no idempotency store."""
        return False
