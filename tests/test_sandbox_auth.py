"""The token endpoint (RFC 6749 §4.4, §5.2) and bearer tokens (RFC 6750) of the sandbox."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests

from shopsync.sandbox import SandboxHandle

FORM = {"grant_type": "client_credentials"}


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_request(sandbox: SandboxHandle, **kwargs: object) -> requests.Response:
    return requests.post(f"{sandbox.base_url}/auth/token", timeout=10, **kwargs)  # type: ignore[arg-type]


def test_form_credentials_give_a_bearer_token_with_all_scopes(sandbox: SandboxHandle) -> None:
    response = token_request(
        sandbox,
        data={**FORM, "client_id": sandbox.client_id, "client_secret": sandbox.client_secret},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "products inventory orders"
    assert len(body["access_token"]) >= 32
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Request-Id"]
    ok = requests.get(
        f"{sandbox.base_url}/products",
        headers={"Authorization": f"Bearer {body['access_token']}"},
        timeout=10,
    )
    assert ok.status_code == 200


def test_http_basic_client_authentication(sandbox: SandboxHandle) -> None:
    response = token_request(
        sandbox, data={**FORM, "scope": "orders"}, auth=(sandbox.client_id, sandbox.client_secret)
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "orders"


def test_basic_credentials_are_form_decoded(make_sandbox: Callable[..., SandboxHandle]) -> None:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
    sandbox = make_sandbox(client_id="shop:1", client_secret="p@ss word")
    encoded = base64.b64encode(b"shop%3A1:p%40ss+word").decode()
    response = token_request(sandbox, data=FORM, headers={"Authorization": f"Basic {encoded}"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("kwargs", "status", "error"),
    [
        (
            {"data": {"client_id": "demo-client", "client_secret": "demo-secret"}},
            400,
            "invalid_request",
        ),
        ({"json": {"grant_type": "client_credentials"}}, 400, "invalid_request"),
        (
            {
                "data": "grant_type=client_credentials&grant_type=client_credentials"
                "&client_id=demo-client&client_secret=demo-secret",
                "headers": {"Content-Type": "application/x-www-form-urlencoded"},
            },
            400,
            "invalid_request",
        ),
        (
            {"data": {**FORM, "client_id": "demo-client", "client_secret": "wrong"}},
            401,
            "invalid_client",
        ),
        (
            {"data": {**FORM, "client_id": "nobody", "client_secret": "demo-secret"}},
            401,
            "invalid_client",
        ),
        ({"data": FORM}, 401, "invalid_client"),
        ({"data": FORM, "headers": {"Authorization": "Basic %%%"}}, 401, "invalid_client"),
        ({"data": FORM, "auth": ("demo-client", "nope")}, 401, "invalid_client"),
        (
            {
                "data": {**FORM, "client_secret": "demo-secret"},
                "auth": ("demo-client", "demo-secret"),
            },
            400,
            "invalid_request",
        ),
        (
            {
                "data": {
                    "grant_type": "password",
                    "client_id": "demo-client",
                    "client_secret": "demo-secret",
                }
            },
            400,
            "unsupported_grant_type",
        ),
        (
            {"data": {**FORM, "scope": "products admin"}, "auth": ("demo-client", "demo-secret")},
            400,
            "invalid_scope",
        ),
    ],
    ids=[
        "no-grant-type",
        "json-body",
        "repeated-parameter",
        "wrong-secret",
        "unknown-client",
        "no-client-auth",
        "bad-basic",
        "wrong-basic-secret",
        "two-auth-methods",
        "password-grant",
        "unknown-scope",
    ],
)
def test_token_errors_follow_rfc_6749(
    sandbox: SandboxHandle, kwargs: dict[str, object], status: int, error: str
) -> None:
    response = token_request(sandbox, **kwargs)
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["error"] == error
    assert body["error_description"]
    assert response.headers["X-Request-Id"]
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Basic ")


def test_missing_token_is_401_with_a_bearer_challenge(sandbox: SandboxHandle) -> None:
    response = requests.get(f"{sandbox.base_url}/products", timeout=10)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="shopsync-sandbox"'
    assert response.json()["code"] == "UNAUTHORIZED"


def test_unknown_token_is_invalid_token(sandbox: SandboxHandle) -> None:
    response = requests.get(
        f"{sandbox.base_url}/orders", headers={"Authorization": "Bearer forged"}, timeout=10
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.json()["code"] == "INVALID_TOKEN"


def test_token_expires_after_its_lifetime(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    clock = FakeClock()
    sandbox = make_sandbox(token_ttl=60, clock=clock)
    issued = token_request(sandbox, data=FORM, auth=(sandbox.client_id, sandbox.client_secret))
    assert issued.json()["expires_in"] == 60
    headers = {"Authorization": f"Bearer {issued.json()['access_token']}"}
    clock.now += 59.9
    assert (
        requests.get(f"{sandbox.base_url}/products", headers=headers, timeout=10).status_code == 200
    )
    clock.now += 0.1
    expired = requests.get(f"{sandbox.base_url}/products", headers=headers, timeout=10)
    assert expired.status_code == 401
    assert expired.headers["WWW-Authenticate"] == (
        'Bearer realm="shopsync-sandbox", error="invalid_token", '
        'error_description="The access token expired"'
    )
    # A new token works at once: there is no refresh token, a client just asks again.
    renewed = token_request(sandbox, data=FORM, auth=(sandbox.client_id, sandbox.client_secret))
    fresh = {"Authorization": f"Bearer {renewed.json()['access_token']}"}
    assert (
        requests.get(f"{sandbox.base_url}/products", headers=fresh, timeout=10).status_code == 200
    )


@pytest.mark.parametrize(
    ("scopes", "method", "path", "needed"),
    [
        (("orders",), "GET", "/products", "products"),
        (("products",), "POST", "/inventory/batch", "inventory"),
        (("products", "inventory"), "GET", "/orders", "orders"),
        (("inventory",), "POST", "/products/batch", "products"),
    ],
)
def test_missing_scope_is_403_insufficient_scope(
    sandbox: SandboxHandle,
    api_for: Callable[..., Any],
    scopes: tuple[str, ...],
    method: str,
    path: str,
    needed: str,
) -> None:
    client = api_for(sandbox, scopes=scopes)
    response = client.request(method, path, json={"updates": []} if method == "POST" else None)
    assert response.status_code == 403
    assert response.json()["code"] == "INSUFFICIENT_SCOPE"
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="shopsync-sandbox", error="insufficient_scope", scope="{needed}"'
    )


def test_scoped_token_from_the_endpoint_is_limited(sandbox: SandboxHandle) -> None:
    issued = token_request(
        sandbox,
        data={**FORM, "scope": "inventory"},
        auth=(sandbox.client_id, sandbox.client_secret),
    ).json()
    headers = {"Authorization": f"Bearer {issued['access_token']}"}
    assert (
        requests.get(f"{sandbox.base_url}/products", headers=headers, timeout=10).status_code == 403
    )
    inventory = requests.post(
        f"{sandbox.base_url}/inventory/batch", json={"updates": []}, headers=headers, timeout=10
    )
    assert inventory.status_code == 200
