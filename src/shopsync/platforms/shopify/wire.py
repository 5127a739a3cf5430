"""How Shopify's Admin API answers read, how its requests are authenticated, and its client.

* A 500, 502 or 504 may follow a mutation Shopify ran: it is retried for reads and keyed
  writes, and raised as an unknown outcome for a write without a key (503 is retried).
* Every GraphQL answer is HTTP 200, errors included; a throttled query answers
  ``errors[].extensions.code == "THROTTLED"`` with 200, or (Shopify's own SDK retries it)
  429 with ``Retry-After``: both are retried after the wait the bucket implies.
* The rate limit is a cost bucket: ``extensions.cost.throttleStatus`` on every answer
  (``maximumAvailable``, ``currentlyAvailable``, ``restoreRate``) becomes a
  :class:`~shopsync.http.wire.RateSignal` in points, and every request asks the client's
  limiter for its estimated cost, so the pace follows the bucket, not a request rate.
* Auth is ``X-Shopify-Access-Token``: a custom app's token as it is, or one fetched by the
  client-credentials grant at ``/admin/oauth/access_token`` (replaced once if rejected).
* There are no idempotency-key headers (inventory mutations take a directive instead).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from shopsync.config import Settings
from shopsync.errors import AmbiguousWriteError, APIError, AuthError, PlatformError
from shopsync.http.auth import (
    ClientCredentials,
    RequestAuth,
    StaticToken,
    TokenCache,
    TokenRejected,
)
from shopsync.http.client import HttpClient
from shopsync.http.ratelimit import RateLimiter
from shopsync.http.ratememory import RateMemory
from shopsync.http.redact import redact_text, register_secret
from shopsync.http.retry import RetriableAPIError, full_jitter
from shopsync.http.retry import parse_retry_after as _parse_retry_after
from shopsync.http.stats import ClientStats
from shopsync.http.wire import RateSignal, Verdict
from shopsync.i18n import N_

TOKEN_HEADER = "X-Shopify-Access-Token"  # noqa: S105 - a header's name
REQUEST_ID = "X-Request-Id"
TOKEN_PATH = "/admin/oauth/access_token"  # noqa: S105 - a path
RETRIABLE_STATUSES = frozenset({500, 502, 503, 504})
MAX_RESTORE_RATE = 2000.0
"""The fastest plan's restore rate (points/s): the limiter never goes faster."""
START_BUCKET = 2000.0
"""A standard plan's bucket (points): what a run assumes before the first answer."""
_BODY_ATTRIBUTE = "_shopsync_shopify_json"


def answer_json(response: requests.Response) -> dict[str, Any]:
    """The answer's JSON object, parsed once per response ({} if it is not one)."""
    cached = getattr(response, _BODY_ATTRIBUTE, None)
    if isinstance(cached, dict):
        return cached
    try:
        data = response.json()
    except ValueError:
        data = None
    body = data if isinstance(data, dict) else {}
    setattr(response, _BODY_ATTRIBUTE, body)
    return body


def throttle_status(body: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(extensions.cost, extensions.cost.throttleStatus)`` of an answer, {} where absent."""
    extensions = body.get("extensions")
    cost = extensions.get("cost") if isinstance(extensions, dict) else None
    cost = cost if isinstance(cost, dict) else {}
    status = cost.get("throttleStatus")
    return cost, status if isinstance(status, dict) else {}


def error_codes(body: Mapping[str, Any]) -> list[str]:
    """The ``extensions.code`` of each top-level GraphQL error."""
    errors = body.get("errors")
    if not isinstance(errors, list):
        return []
    codes = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(code, str):
            codes.append(code)
    return codes


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def throttle_wait(body: Mapping[str, Any]) -> float | None:
    """Seconds until the bucket holds what the refused query asked for."""
    cost, status = throttle_status(body)
    requested = _number(cost.get("requestedQueryCost"))
    available = _number(status.get("currentlyAvailable"))
    rate = _number(status.get("restoreRate"))
    if requested is None or available is None or not rate:
        return None
    return max(0.0, (requested - available) / rate)


def _errors_text(body: Mapping[str, Any]) -> str:
    errors = body.get("errors")
    if isinstance(errors, str):
        return errors
    if isinstance(errors, list):
        return "; ".join(
            str(e.get("message")) for e in errors[:3] if isinstance(e, dict) and e.get("message")
        )
    return ""


class ShopifyWire:
    """:class:`~shopsync.http.wire.Wire` for Shopify's Admin API."""

    idempotency_header: str | None = None

    def classify(  # noqa: PLR0911 - one decision table, one return per verdict
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """Shopify's decision table: THROTTLED (200 or 429) and 5xx retried, 401 refreshed
        once, 402/423 the shop unusable, 404 a wrong shop or version."""
        status = response.status_code
        if status == 200:
            body = answer_json(response)
            if "THROTTLED" in error_codes(body):
                return RetriableAPIError(
                    "THROTTLED",
                    APIError(f"{what}: throttled by Shopify.", status=status, code="THROTTLED"),
                    retry_after=throttle_wait(body),
                    throttled=True,
                )
            return None
        if status < 400:
            return None
        body = answer_json(response)
        detail = redact_text(_errors_text(body) or response.reason or "error")
        request_id = response.headers.get(REQUEST_ID)
        trace = f" [request id {request_id}]" if request_id else ""
        if status == 401:
            return TokenRejected(f"{what}: Shopify rejected the access token (HTTP 401).{trace}")
        if status == 403:
            return AuthError(
                N_("{call}: Shopify forbids this (HTTP 403): {detail}.{trace}").format(
                    call=what, detail=detail, trace=trace
                ),
                hint=N_("Check the app's access scopes (README, Shopify section)."),
            )
        if status == 429:
            return RetriableAPIError(
                "HTTP 429" + trace,
                APIError(f"{what}: throttled by Shopify (HTTP 429).", status=429, code="THROTTLED"),
                retry_after=_parse_retry_after(response.headers.get("Retry-After"), now=now)
                or throttle_wait(body),
                throttled=True,
            )
        if status == 503:
            return RetriableAPIError(
                f"HTTP {status}{trace}",
                APIError(f"{what} failed: HTTP {status}: {detail}{trace}", status=status),
                retry_after=_parse_retry_after(response.headers.get("Retry-After"), now=now),
            )
        if status in RETRIABLE_STATUSES:
            # A 500, 502 or 504 may come after Shopify ran the mutation: for a write
            # without a key it is an unknown outcome, settled by looking up.
            return RetriableAPIError(
                f"HTTP {status}{trace}",
                AmbiguousWriteError(
                    f"{what}: HTTP {status} ({detail}); the write may or may not have been "
                    f"applied.{trace}"
                ),
                retry_after=_parse_retry_after(response.headers.get("Retry-After"), now=now),
                ambiguous=True,
            )
        if status in (402, 423):
            state = N_("frozen (payment required)") if status == 402 else N_("locked")
            return PlatformError(
                N_("{call}: the Shopify shop is {state} (HTTP {status}).{trace}").format(
                    call=what, state=state, status=status, trace=trace
                ),
                hint=N_("The shop's owner must sort this out in the Shopify admin."),
            )
        if status == 404:
            return APIError(
                N_(
                    "{call}: Shopify answered 404 ({detail}): no such shop or API version.{trace}"
                ).format(call=what, detail=detail, trace=trace),
                status=status,
                hint=N_("Check the `shop` and `api_version` settings."),
            )
        return APIError(f"{what} failed: HTTP {status}: {detail}{trace}", status=status)

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """The cost bucket the answer reports, in points."""
        body = answer_json(response)
        cost, status = throttle_status(body)
        throttled = response.status_code == 429 or "THROTTLED" in error_codes(body)
        retry_after = None
        if throttled:
            retry_after = (
                _parse_retry_after(response.headers.get("Retry-After"), now=now)
                if response.status_code == 429
                else None
            ) or throttle_wait(body)
        return RateSignal(
            limit=_number(status.get("maximumAvailable")),
            remaining=_number(status.get("currentlyAvailable")),
            restore_rate=_number(status.get("restoreRate")),
            cost=_number(cost.get("actualQueryCost")),
            retry_after=retry_after,
            throttled=throttled,
        )

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """``X-Request-Id``."""
        return headers.get(REQUEST_ID)

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """Shopify never says so in a header."""
        return False


class _ShopifyToken(requests.auth.AuthBase):
    """``X-Shopify-Access-Token: <token>``; the repr never shows the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers[TOKEN_HEADER] = self.token
        return r

    def __repr__(self) -> str:
        return "_ShopifyToken(***)"


class ShopifyClientCredentials(ClientCredentials):
    """The client-credentials grant, its token sent as ``X-Shopify-Access-Token``."""

    def authorize(self) -> requests.auth.AuthBase:
        """The header with a token usable now."""
        return _ShopifyToken(self.token().value)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """A new token in place of the rejected one (single-flight)."""
        value = rejected.token if isinstance(rejected, _ShopifyToken) else ""
        return _ShopifyToken(self.refresh(value).value)


def client_from_settings(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float], float] = full_jitter,
    disk_cache: bool = True,
    rate_memory: bool | None = None,
) -> HttpClient:
    """An HttpClient for the shop ``settings`` name, with a token or client credentials.

    The limiter counts cost points: it starts with a standard plan's bucket and follows
    the ``throttleStatus`` every answer reports (restore rate included).
    """
    assert settings.base_url
    limiter = RateLimiter(MAX_RESTORE_RATE, int(START_BUCKET), clock=clock, sleep=sleep)
    remember = disk_cache if rate_memory is None else rate_memory
    client = HttpClient.from_settings(
        settings,
        ShopifyWire(),
        limiter=limiter,
        clock=clock,
        wall_clock=wall_clock,
        sleep=sleep,
        jitter=jitter,
        rate_memory=RateMemory(_rate_memory_path(settings), clock=wall_clock) if remember else None,
    )
    client.credentials = _auth(settings, client, client.stats, wall_clock, disk_cache=disk_cache)
    return client


def _auth(
    settings: Settings,
    client: HttpClient,
    stats: ClientStats,
    wall_clock: Callable[[], float],
    *,
    disk_cache: bool,
) -> RequestAuth:
    token = settings.get("access_token")
    if token:
        register_secret(str(token))
        return StaticToken(str(token), header=TOKEN_HEADER, scheme=None)
    assert settings.base_url and settings.client_id and settings.client_secret
    register_secret(settings.client_secret)
    return ShopifyClientCredentials(
        token_url=settings.base_url + TOKEN_PATH,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=None,
        request_token=client.request_token,
        cache=TokenCache(settings.token_cache_dir) if disk_cache else None,
        clock=wall_clock,
        stats=stats,
    )


def _rate_memory_path(settings: Settings) -> Path:
    assert settings.base_url
    digest = hashlib.sha256(settings.base_url.encode("utf-8")).hexdigest()[:16]
    return settings.token_cache_dir.parent / "rate" / f"{settings.profile}-{digest}.json"


__all__ = ["ShopifyClientCredentials", "ShopifyWire", "answer_json", "client_from_settings"]
