"""How Medusa v2's admin API answers read, and how its client is built.

Errors are ``{"type": "invalid_data" | "not_found" | "unauthorized" | ..., "message"}``;
a batch is all or nothing, and its one error's message names the item that failed it
(``Product variant with sku: X, already exists.``, ``Field 'create, 0, variants, 0,
prices, 0, amount' is required``). Medusa takes no ``Idempotency-Key`` (seen on 2.21.2:
a repeated request is applied again), reports no rate limit and no request id.
A secret API key authenticates as HTTP Basic with the key as the user name.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from shopsync.config import Settings
from shopsync.errors import APIError, AuthError
from shopsync.http.auth import StaticToken
from shopsync.http.client import HttpClient
from shopsync.http.redact import redact_text, register_secret
from shopsync.http.retry import (
    RetriableAPIError,
    full_jitter,
    parse_retry_after,
)
from shopsync.http.wire import RateSignal, Verdict
from shopsync.i18n import N_

RETRIABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
"""Answers another attempt may fix; Medusa's own 4xx are about the request."""


def error_body(response: requests.Response) -> tuple[str | None, str]:
    """Medusa's error ``type`` and ``message`` (the reason phrase if the body has none)."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return None, response.reason or f"HTTP {response.status_code}"
    kind = body.get("type") if isinstance(body.get("type"), str) else None
    message = body.get("message")
    return kind, str(message) if message else (response.reason or "error")


def medusa_error(response: requests.Response, what: str) -> APIError:
    """An :class:`APIError` carrying Medusa's error type as its code and message."""
    kind, message = error_body(response)
    text = f"{what} failed: HTTP {response.status_code}"
    if kind:
        text += f" {kind}"
    return APIError(redact_text(f"{text}: {message}"), status=response.status_code, code=kind)


class MedusaWire:
    """:class:`~shopsync.http.wire.Wire` for Medusa's admin API."""

    idempotency_header: str | None = None
    """Medusa has none: the adapter reconciles ambiguous writes by looking them up."""

    def classify(
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """Success, a retriable 429/5xx, a refused key, or Medusa's error as APIError."""
        status = response.status_code
        if status < 400:
            return None
        if status in (401, 403):
            return AuthError(
                N_("{call}: Medusa refused the API key (HTTP {status}).").format(
                    call=what, status=status
                ),
                hint=N_(
                    "Check api_key (SHOPSYNC_API_KEY): a secret key (sk_…) from the "
                    "Medusa admin's Settings → Secret API Keys."
                ),
            )
        if status in RETRIABLE_STATUSES:
            return RetriableAPIError(
                f"HTTP {status}",
                medusa_error(response, what),
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
                throttled=status == 429,
            )
        if status == 413:
            error = medusa_error(response, what)
            error.hint = "Medusa takes request bodies up to 2 MB; lower --batch-size."
            return error
        return medusa_error(response, what)

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """A 429's ``Retry-After`` (Medusa sends no rate headers otherwise)."""
        if response.status_code == 429:
            return RateSignal(
                retry_after=parse_retry_after(response.headers.get("Retry-After"), now=now),
                throttled=True,
            )
        return RateSignal()

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """None: Medusa names no answer."""
        return None

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """False: Medusa never replays."""
        return False


def basic_key_auth(api_key: str) -> StaticToken:
    """``Authorization: Basic base64("sk_…:")``; the key and its encoding are redacted."""
    register_secret(api_key)
    encoded = base64.b64encode(f"{api_key}:".encode()).decode("ascii")
    return StaticToken(encoded, scheme="Basic")


def client_from_settings(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.monotonic,
    wall_clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    jitter: Callable[[float], float] = full_jitter,
    **_ignored: Any,
) -> HttpClient:
    """An HttpClient for Medusa's admin API from ``settings`` (``base_url``, ``api_key``)."""
    api_key = settings.get("api_key")
    assert settings.base_url and isinstance(api_key, str)
    return HttpClient.from_settings(
        settings,
        MedusaWire(),
        credentials=basic_key_auth(api_key),
        clock=clock,
        wall_clock=wall_clock,
        sleep=sleep,
        jitter=jitter,
    )
