"""How WooCommerce's answers read (specs/woocommerce/introduction.md, "Errors").

Refusals are WordPress's ``{code, message, data: {status}}`` with that HTTP status. A batch
answers 200 and puts an ``error`` on each refused item (the adapter reads those). Decisions,
in order: 429, and 503 (a host's firewall or WordPress's maintenance mode, before anything
ran) are throttling: wait ``Retry-After`` and retry. Another 5xx on a batch that creates
products may come after WordPress saved them, and a create takes no idempotency key: its
outcome is unknown, for the engine to reconcile by SKU; elsewhere a 5xx is retried (updates
and stock set values, so a second application changes nothing). 401 is the key (or the
clock, for a refused OAuth timestamp); ``rest_no_route`` a site whose REST API is not at
``/wp-json/`` or has no WooCommerce; anything else an :class:`APIError` carrying the code.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import requests

from shopsync.errors import AmbiguousWriteError, APIError, AuthError, PlatformError
from shopsync.http.redact import redact_text
from shopsync.http.retry import RetriableAPIError, parse_retry_after
from shopsync.http.wire import RateSignal, Verdict
from shopsync.i18n import N_

THROTTLE_PAUSE = 1.0
"""Seconds to wait after a 429 or 503 that names no ``Retry-After``."""


def error_body(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object, or an empty one (a WAF's HTML page)."""
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def _creates(request: requests.PreparedRequest | None) -> bool:
    """Whether the request was a batch (or single create) that creates something."""
    if request is None or request.method != "POST":
        return False
    raw = request.body
    try:
        body = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        return True  # unreadable: assume the worst
    path = urlsplit_path(str(request.url))
    if not path.endswith("/batch"):
        return True
    return isinstance(body, dict) and bool(body.get("create"))


def urlsplit_path(url: str) -> str:
    """The path of ``url``, without its query."""
    return url.split("?", 1)[0].rstrip("/")


class WooCommerceWire:
    """:class:`~shopsync.http.wire.Wire` for the WooCommerce REST API v3."""

    idempotency_header: str | None = None
    """WooCommerce takes no idempotency keys."""

    def classify(  # noqa: PLR0911 - one decision table, one return per verdict
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """WooCommerce's decision table (module doc)."""
        status = response.status_code
        if status < 400:
            return None
        body = error_body(response)
        code = str(body.get("code") or "")
        message = str(body.get("message") or "")
        error = APIError(
            redact_text(
                f"{what} failed: WooCommerce answered HTTP {status}"
                + (f" {code}: {message}" if code else "")
            ),
            status=status,
            code=code or None,
            request_id=self.request_id(response.headers),
        )
        if status in (429, 503):
            wait = parse_retry_after(response.headers.get("Retry-After"), now=now)
            return RetriableAPIError(
                f"HTTP {status}", error, retry_after=wait or THROTTLE_PAUSE, throttled=True
            )
        if status >= 500:
            if _creates(response.request):
                return AmbiguousWriteError(
                    f"{what}: WooCommerce answered HTTP {status}; the products of the batch "
                    "may or may not have been created (a create takes no idempotency key)."
                )
            return RetriableAPIError(f"HTTP {status}", error)
        if status == 401:
            if "timestamp" in message.lower():
                return AuthError(
                    N_(
                        "{call}: WooCommerce refused the request's timestamp. This machine's "
                        "clock is probably wrong: signed requests are accepted within 15 minutes."
                    ).format(call=what),
                    hint=N_("Set the clock right (enable NTP: `timedatectl set-ntp true`)."),
                )
            return AuthError(
                N_("{call}: WooCommerce refused the REST API key ({code}: {message}).").format(
                    call=what,
                    code=code or "HTTP 401",
                    message=redact_text(message) or N_("no message"),
                ),
                hint=N_(
                    "Check consumer_key and consumer_secret (WooCommerce > Settings > "
                    "Advanced > REST API); the key needs Read/Write permissions."
                ),
            )
        if code == "rest_no_route" and "/batch" not in what:
            return PlatformError(
                N_("{call}: the site has no such WooCommerce route ({message}).").format(
                    call=what, message=message
                ),
                hint=N_(
                    "base_url must be the WordPress site's address, with WooCommerce active "
                    "and permalinks other than 'Plain'."
                ),
            )
        return error

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """Throttled on 429 or 503, for ``Retry-After`` seconds (WooCommerce sends no
        rate-limit headers of its own)."""
        if response.status_code in (429, 503):
            wait = parse_retry_after(response.headers.get("Retry-After"), now=now)
            return RateSignal(retry_after=wait or THROTTLE_PAUSE, throttled=True)
        return RateSignal()

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """WordPress sends none; hosts and the sandbox send ``X-Request-Id``."""
        return headers.get("X-Request-Id")

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """Never: WooCommerce has no idempotency store."""
        return False


__all__ = ["WooCommerceWire", "error_body"]
