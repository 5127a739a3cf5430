"""How the generic platform API's answers read, and how its client is built.

Everything the HTTP layer must not know about this one API lives here: errors are
problem+json (RFC 9457) with a ``code``; answers carry ``X-Request-Id``; a replayed
idempotent write says ``Idempotent-Replayed: true``; the rate limit is a token bucket
described by ``RateLimit-Limit``/``-Remaining``/``-Reset``; authentication is OAuth 2.0
client credentials with Bearer tokens.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import requests

from shopsync.config import Settings
from shopsync.errors import APIError
from shopsync.http.auth import ClientCredentials, TokenCache, bearer_refusal
from shopsync.http.client import HttpClient
from shopsync.http.ratememory import RateMemory
from shopsync.http.redact import redact_text, register_secret
from shopsync.http.retry import (
    RetriableAPIError,
    full_jitter,
    parse_retry_after,
)
from shopsync.http.wire import RateSignal, Verdict

RETRIABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Statuses the generic API documents as worth another attempt (honouring Retry-After)."""

REQUEST_ID = "X-Request-Id"
REPLAYED = "Idempotent-Replayed"


def _header_float(headers: Mapping[str, str], name: str) -> float | None:
    try:
        return float(headers[name])
    except (KeyError, ValueError):
        return None


def rate_headers(headers: Mapping[str, str]) -> dict[str, float | None]:
    """``limit``, ``remaining`` and ``reset`` from ``RateLimit-*`` headers (None if absent)."""
    return {
        "limit": _header_float(headers, "RateLimit-Limit"),
        "remaining": _header_float(headers, "RateLimit-Remaining"),
        "reset": _header_float(headers, "RateLimit-Reset"),
    }


def _body(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except (ValueError, requests.exceptions.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def problem_error(response: requests.Response, what: str, hint: str | None = None) -> APIError:
    """An :class:`APIError` from a problem+json answer: status, code, detail, field errors."""
    body = _body(response)
    code = body.get("code") if isinstance(body.get("code"), str) else None
    detail = body.get("detail") or body.get("title") or response.reason or "error"
    message = f"{what} failed: HTTP {response.status_code}"
    if code:
        message += f" {code}"
    message += f": {detail}"
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        parts = [
            f"{e.get('field')}: {e.get('message')}" if e.get("field") else str(e.get("message"))
            for e in errors[:5]
            if isinstance(e, dict)
        ]
        message += " (" + "; ".join(parts) + ")"
    request_id = response.headers.get(REQUEST_ID)
    if request_id:
        message += f" [request id {request_id}]"
    return APIError(
        redact_text(message),
        status=response.status_code,
        code=code,
        request_id=request_id,
        hint=hint,
    )


class GenericWire:
    """:class:`~shopsync.http.wire.Wire` for the generic platform API."""

    idempotency_header: str | None = "Idempotency-Key"

    def classify(
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """The generic API's decision table (docs/client.md, "Retries")."""
        status = response.status_code
        if status < 400:
            return None
        refusal = bearer_refusal(response, what)
        if refusal is not None:
            return refusal
        if status == 409 and _body(response).get("code") == "IDEMPOTENCY_IN_FLIGHT":
            return RetriableAPIError(
                "409 IDEMPOTENCY_IN_FLIGHT",
                problem_error(response, what),
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
            )
        if status in RETRIABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"), now=now)
            reason = f"HTTP {status}"
            request_id = response.headers.get(REQUEST_ID)
            if request_id:
                reason += f" [request id {request_id}]"
            return RetriableAPIError(
                reason,
                problem_error(response, what),
                retry_after=retry_after,
                throttled=status == 429,
            )
        if status == 413:
            return problem_error(response, what, hint="Lower --batch-size.")
        return problem_error(response, what)

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """A 429 with its ``Retry-After``, or the ``RateLimit-*`` headers of any answer."""
        headers = response.headers
        if response.status_code == 429:
            return RateSignal(
                retry_after=parse_retry_after(headers.get("Retry-After"), now=now),
                throttled=True,
            )
        read = rate_headers(headers)
        return RateSignal(
            limit=read["limit"], remaining=read["remaining"], reset_after=read["reset"]
        )

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """``X-Request-Id``."""
        return headers.get(REQUEST_ID)

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """``Idempotent-Replayed: true``."""
        return headers.get(REPLAYED, "").lower() == "true"


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
    """An HttpClient for the generic API configured from ``settings`` (complete credentials).

    The keyword arguments exist so tests can inject time and keep tokens off disk.
    ``rate_memory`` (default: with ``disk_cache``) keeps the platform's last reported
    bucket state per target in the data directory, so a restarted run starts as
    politely as the platform's bucket allows.
    """
    settings.require_credentials()
    assert settings.base_url and settings.token_url and settings.client_id
    assert settings.client_secret is not None
    register_secret(settings.client_secret)
    client = HttpClient.from_settings(
        settings,
        GenericWire(),
        clock=clock,
        wall_clock=wall_clock,
        sleep=sleep,
        jitter=jitter,
        rate_memory=RateMemory(_rate_memory_path(settings), clock=wall_clock)
        if (disk_cache if rate_memory is None else rate_memory)
        else None,
    )
    client.credentials = ClientCredentials(
        token_url=settings.token_url,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scope=settings.scope,
        request_token=client.request_token,
        cache=TokenCache(settings.token_cache_dir) if disk_cache else None,
        clock=wall_clock,
        stats=client.stats,
    )
    return client


def _rate_memory_path(settings: Settings) -> Path:
    """``<data_dir>/cache/rate/<profile>-<16 hex of sha256(base_url)>.json``."""
    assert settings.base_url
    digest = hashlib.sha256(settings.base_url.encode("utf-8")).hexdigest()[:16]
    return settings.token_cache_dir.parent / "rate" / f"{settings.profile}-{digest}.json"


__all__ = ["RETRIABLE_STATUSES", "GenericWire", "client_from_settings", "problem_error"]
