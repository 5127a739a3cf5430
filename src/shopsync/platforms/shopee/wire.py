"""How Shopee's answers read: the envelope ``{request_id, error, message, warning, response}``,
whose ``error`` is set on a refusal even when the HTTP status is 200.

Decisions, in order: a 5xx (or 429) is worth another attempt, except on ``add_item``,
which has no idempotency key: there its outcome is unknown and the engine reconciles by
lookup. Then the envelope: ``error_too_many_request`` is throttling (retry after a
pause); an access-token refusal is :class:`~shopsync.http.auth.TokenRejected` (refresh
once and replay); an invalid timestamp is the clock (said so); a wrong sign is the
partner key; ``error_auth`` the authorisation; anything else an :class:`APIError`
carrying Shopee's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from shopsync.errors import AmbiguousWriteError, APIError, AuthError
from shopsync.http.auth import TokenRejected
from shopsync.http.redact import redact_text
from shopsync.http.retry import RetriableAPIError
from shopsync.http.wire import RateSignal, Verdict
from shopsync.i18n import N_

THROTTLED = "error_too_many_request"
TOKEN_REFUSALS = frozenset({"invalid_access_token", "invalid_acceess_token", "error_token"})
NOT_FOUND = frozenset({"error_item_not_found", "error_not_found_item"})
THROTTLE_PAUSE = 1.0
"""Seconds every worker waits after a throttled call (Shopee sends no Retry-After)."""


def envelope(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one."""
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def envelope_error(body: Mapping[str, Any], what: str, status: int) -> APIError:
    """An :class:`APIError` for an envelope whose ``error`` is set."""
    code = str(body.get("error") or "error_unknown")
    message = str(body.get("message") or "no message")
    request_id = body.get("request_id")
    text = f"{what} failed: Shopee answered {code}: {message}"
    if request_id:
        text += f" [request id {request_id}]"
    return APIError(
        redact_text(text),
        status=status,
        code=code,
        request_id=str(request_id) if request_id else None,
    )


class ShopeeWire:
    """:class:`~shopsync.http.wire.Wire` for Shopee Open Platform v2."""

    idempotency_header: str | None = None
    """Shopee takes no idempotency keys."""

    def classify(  # noqa: PLR0911 - one decision table, one return per verdict
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """Shopee's decision table (module doc)."""
        status = response.status_code
        body = envelope(response)
        if status >= 500 or status == 429:
            error = (
                envelope_error(body, what, status)
                if body
                else APIError(f"{what} failed: HTTP {status}.", status=status)
            )
            if "add_item" in what and status >= 500:
                return AmbiguousWriteError(
                    f"{what}: Shopee answered HTTP {status}; the item may or may not have been "
                    "created (add_item takes no idempotency key)."
                )
            return RetriableAPIError(f"HTTP {status}", error, throttled=status == 429)
        code = str(body.get("error") or "")
        if status < 400 and not code:
            return None
        message = str(body.get("message") or "")
        if code == THROTTLED:
            return RetriableAPIError(
                THROTTLED, envelope_error(body, what, status), retry_after=THROTTLE_PAUSE,
                throttled=True,
            )  # fmt: skip
        if code in TOKEN_REFUSALS or (code == "error_auth" and "access_token" in message):
            return TokenRejected(f"{what}: Shopee refused the access token ({code}).")
        if "timestamp" in message.lower():
            return AuthError(
                N_(
                    "{call}: Shopee refused the call's timestamp ({code}: {message}). This "
                    "machine's clock is probably wrong: Shopee accepts a call only within 5 "
                    "minutes of its own time."
                ).format(call=what, code=code, message=redact_text(message)),
                hint=N_("Set the clock right (enable NTP: `timedatectl set-ntp true`)."),
            )
        if code == "error_sign":
            return AuthError(
                N_("{call}: Shopee says the signature is wrong (error_sign).").format(call=what),
                hint=N_(
                    "Check partner_id and partner_key: the key of the live app differs "
                    "from the test app's."
                ),
            )
        if code in ("error_auth", "error_permission", "error_shop"):
            return AuthError(
                N_("{call}: Shopee refused the authorisation ({code}: {message}).").format(
                    call=what, code=code, message=redact_text(message)
                ),
                hint=N_("Run `shopsync auth shopee --code CODE` with a new authorisation code."),
            )
        return envelope_error(body, what, status)

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """Throttled when the envelope says ``error_too_many_request`` (or HTTP 429)."""
        if response.status_code == 429 or envelope(response).get("error") == THROTTLED:
            return RateSignal(retry_after=THROTTLE_PAUSE, throttled=True)
        return RateSignal()

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """Shopee's request id travels in the body; the sandbox also sends ``X-Request-Id``."""
        return headers.get("X-Request-Id")

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """Never: Shopee has no idempotency store."""
        return False


__all__ = ["NOT_FOUND", "ShopeeWire", "envelope", "envelope_error"]
