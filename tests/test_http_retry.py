"""Retries against a real loopback server: what is retried, how long it waits, when it stops."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest
import requests
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync.errors import (
    AmbiguousWriteError,
    APIError,
    AuthError,
    PlatformError,
    ScopeError,
    TransportError,
)
from shopsync.http.retry import (
    RetriableAPIError,
    RetryBudget,
    RetryPolicy,
    classify_exception,
    parse_retry_after,
)
from shopsync.platforms.generic.wire import client_from_settings
from test_http_support import (
    CANARY_TOKEN,
    FakeTime,
    TokenEndpoint,
    _loopback_server,
    drop_connection,
    json_response,
    make_client,
    make_settings,
    server,
    shopsync_logs,
)

__all__ = ["_loopback_server", "server", "shopsync_logs"]  # fixtures, imported to be found


def problem(status: int, code: str, **headers: str) -> Response:
    body = {"type": "about:blank", "title": code, "status": status, "detail": code, "code": code}
    return json_response(body, status, **headers)


def script(
    srv: HTTPServer, path: str, responses: list[Response | None], method: str = "GET"
) -> None:
    """Answer ``path`` with ``responses`` in order (None: drop the connection), then 599."""
    remaining = list(responses)

    def handler(request: Request) -> Response:
        if not remaining:
            return Response("script exhausted", status=599)
        answer = remaining.pop(0)
        if answer is None:
            drop_connection(request)
            return Response("", status=500)
        return answer

    srv.expect_request(path, method=method).respond_with_handler(handler)


def hits(srv: HTTPServer, path: str) -> int:
    return sum(1 for request, _ in srv.log if request.path == path)


def test_503_then_200_is_retried_after_full_jitter_backoff(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    script(server, "/products", [problem(503, "UNAVAILABLE"), json_response({"items": []})])
    fake = FakeTime()
    with make_client(tmp_path, server, fake, jitter=lambda cap: cap / 2) as client:
        answer = client.request("GET", "/products")
        assert answer.body == {"items": []}
        assert hits(server, "/products") == 2
        # Attempt 1 failed: full jitter over min(cap, 0.5 * 2**0) = 0.5, pinned to half.
        assert 0.25 in fake.sleeps
        assert client.stats.snapshot()["retries"] == 1


@pytest.mark.parametrize("form", ["delta", "date"])
def test_429_pauses_for_retry_after_in_both_forms(
    server: HTTPServer, tmp_path: Path, form: str
) -> None:
    TokenEndpoint().install(server)
    now = datetime(2030, 1, 1, 12, 0, 0, tzinfo=timezone.utc)
    value = "7" if form == "delta" else format_datetime(now.replace(second=7), usegmt=True)
    script(
        server,
        "/products",
        [problem(429, "RATE_LIMITED", Retry_After=value), json_response({"items": []})],
    )
    fake = FakeTime()
    with make_client(tmp_path, server, fake) as client:
        client._wall_clock = now.timestamp  # the HTTP-date is measured against this
        client.request("GET", "/products")
        assert hits(server, "/products") == 2
        assert fake.sleeps.count(7.0) == 1  # the retry's wait
        assert client.limiter.paused_until >= 1000.0 + 7.0  # everyone else waits too
        assert client.stats.snapshot()["throttled"] == 1


def test_parse_retry_after() -> None:
    assert parse_retry_after("120") == 120.0
    assert parse_retry_after("Wed, 01 Jan 2031 00:00:10 GMT", now=1924992000.0) == 10.0
    assert parse_retry_after("Wed, 01 Jan 2031 00:00:10 GMT", now=1924992100.0) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (400, "BAD_REQUEST", APIError),
        (404, "NOT_FOUND", APIError),
        (409, "SKU_EXISTS", APIError),
        (413, "BATCH_TOO_LARGE", APIError),
        (422, "IDEMPOTENCY_KEY_REUSED", APIError),
    ],
)
def test_fatal_statuses_are_not_retried(
    server: HTTPServer, tmp_path: Path, status: int, code: str, error: type[Exception]
) -> None:
    TokenEndpoint().install(server)
    script(server, "/products", [problem(status, code), json_response({})], method="POST")
    with make_client(tmp_path, server, FakeTime()) as client, pytest.raises(error) as caught:
        client.request("POST", "/products", json={"sku": "A"})
    assert hits(server, "/products") == 1
    assert isinstance(caught.value, APIError)
    assert caught.value.status == status
    assert caught.value.code == code
    assert caught.value.request_id == f"req-{status}"


def test_403_insufficient_scope_is_a_scope_error_without_retry(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    refused = problem(403, "FORBIDDEN")
    refused.headers["WWW-Authenticate"] = 'Bearer error="insufficient_scope", scope="orders"'
    script(server, "/orders", [refused, json_response({})])
    with (
        make_client(tmp_path, server, FakeTime()) as client,
        pytest.raises(ScopeError, match="lacks the scope 'orders'"),
    ):
        client.request("GET", "/orders")
    assert hits(server, "/orders") == 1


def test_401_invalid_token_refreshes_once_and_replays_once(
    server: HTTPServer, tmp_path: Path
) -> None:
    tokens = TokenEndpoint().install(server)
    expired = problem(401, "UNAUTHORIZED")
    expired.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    seen: list[str] = []

    def handler(request: Request) -> Response:
        seen.append(request.headers.get("Authorization", ""))
        return expired if len(seen) == 1 else json_response({"items": []})

    server.expect_request("/products").respond_with_handler(handler)
    with make_client(tmp_path, server, FakeTime()) as client:
        client.request("GET", "/products")
        assert client.stats.snapshot()["token_refreshes"] == 1
    assert tokens.count == 2
    assert seen == [f"Bearer {CANARY_TOKEN}", f"Bearer {CANARY_TOKEN}-2"]


def test_401_twice_is_an_auth_error_after_one_refresh(server: HTTPServer, tmp_path: Path) -> None:
    tokens = TokenEndpoint().install(server)
    expired = problem(401, "UNAUTHORIZED")
    expired.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
    server.expect_request("/products").respond_with_response(expired)
    with (
        make_client(tmp_path, server, FakeTime()) as client,
        pytest.raises(AuthError, match="invalid_token"),
    ):
        client.request("GET", "/products")
    assert tokens.count == 2
    assert hits(server, "/products") == 2


def test_409_in_flight_is_retried_with_the_same_idempotency_key(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    keys: list[str | None] = []

    def handler(request: Request) -> Response:
        keys.append(request.headers.get("Idempotency-Key"))
        if len(keys) == 1:
            return problem(409, "IDEMPOTENCY_IN_FLIGHT")
        if len(keys) == 2:
            return problem(502, "BAD_GATEWAY")
        return json_response({"product_id": "p1"}, 201)

    server.expect_request("/products", method="POST").respond_with_handler(handler)
    with make_client(tmp_path, server, FakeTime()) as client:
        answer = client.request("POST", "/products", json={"sku": "A"})
    assert answer.status == 201
    assert len(keys) == 3
    assert keys[0] is not None
    assert keys == [keys[0]] * 3
    assert answer.idempotency_key == keys[0]


def test_reset_connection_is_retried(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)
    script(server, "/products", [None, json_response({"items": []})])
    with make_client(tmp_path, server, FakeTime()) as client:
        assert client.request("GET", "/products").body == {"items": []}
        assert client.stats.snapshot()["transport_errors"] == 1
    assert hits(server, "/products") == 2


def test_reset_after_a_write_is_ambiguous_when_keys_are_not_trusted(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    script(server, "/products/batch", [None, json_response({})], method="POST")
    with (
        make_client(tmp_path, server, FakeTime()) as client,
        pytest.raises(AmbiguousWriteError, match="may or may not have been applied"),
    ):
        client.request("POST", "/products/batch", json={}, retry_ambiguous=False)
    assert hits(server, "/products/batch") == 1


def test_connection_refused_is_retried_then_a_transport_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    fake = FakeTime()
    settings = make_settings(tmp_path, f"http://127.0.0.1:{port}", max_attempts=3)
    with (
        client_from_settings(settings, clock=fake.clock, sleep=fake.sleep) as client,
        pytest.raises(TransportError) as raised,
    ):
        client.token()
    assert raised.value.message == (
        f"POST token endpoint: could not connect to 127.0.0.1:{port}: connection refused."
    )
    assert len(fake.sleeps) == 2


def test_attempts_are_bounded(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)
    server.expect_request("/products").respond_with_response(problem(500, "INTERNAL"))
    fake = FakeTime()
    with (
        make_client(tmp_path, server, fake, max_attempts=3) as client,
        pytest.raises(APIError, match="HTTP 500 INTERNAL") as caught,
    ):
        client.request("GET", "/products")
    assert caught.value.status == 500
    assert hits(server, "/products") == 3


def test_deadline_is_never_overrun_stop_before_delay() -> None:
    fake = FakeTime(start=0.0)
    calls: list[float] = []

    def attempt(remaining: float) -> None:
        calls.append(remaining)
        fake.advance(1.0)  # each attempt takes a second
        raise RetriableAPIError("HTTP 503", PlatformError("down"), retry_after=3.0)

    policy = RetryPolicy(max_attempts=10, deadline=10.0, clock=fake.clock, sleep=fake.sleep)
    with pytest.raises(PlatformError, match="down"):
        policy.call(attempt, what="GET /x")
    # 0-1 attempt, wait 3, 4-5 attempt, wait 3, 8-9 attempt; a wait to 12 would overrun 10.
    assert calls == [10.0, 6.0, 2.0]
    assert fake.clock() == 9.0


def test_backoff_is_exponential_full_jitter_with_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=4.0, jitter=lambda cap: cap)
    assert [policy.backoff(n) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    zero = RetryPolicy(jitter=lambda cap: 0.0)
    assert zero.backoff(3) == 0.0


def test_retry_budget_stops_a_dead_platform_from_multiplying_traffic() -> None:
    budget = RetryBudget(ratio=0.25, initial=2.0)
    fake = FakeTime()
    attempts = 0

    def attempt(remaining: float) -> None:
        nonlocal attempts
        attempts += 1
        raise RetriableAPIError("HTTP 503", PlatformError("down"))

    policy = RetryPolicy(max_attempts=5, budget=budget, clock=fake.clock, sleep=fake.sleep)
    for _ in range(20):
        with pytest.raises(PlatformError):
            policy.call(attempt, what="GET /x")
    # 20 requests; the budget allows 2 at start plus a quarter retry per request: the
    # first request retries twice, then every fourth request once: 2 + 5 retries.
    assert attempts == 20 + 7
    with pytest.raises(PlatformError, match="retry budget is spent"):
        policy.call(attempt, what="GET /x")


def test_each_retry_is_logged_at_debug_with_its_reason(
    server: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    shopsync_logs: None,
) -> None:
    TokenEndpoint().install(server)
    script(server, "/products", [problem(503, "UNAVAILABLE"), json_response({"items": []})])
    caplog.set_level(logging.DEBUG, logger="shopsync")
    with make_client(tmp_path, server, FakeTime()) as client:
        client.request("GET", "/products")
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retrying")]
    assert retries == [
        "retrying GET /products in 0.50s (attempt 1 of 5 failed: HTTP 503 [request id req-503])"
    ]


def test_classify_exceptions_never_sent_versus_ambiguous() -> None:
    try:
        requests.get("http://127.0.0.1:9/", timeout=1)  # port 9 (discard): refused
    except requests.RequestException as error:
        refused = classify_exception(error, what="GET /", retry_ambiguous=False)
    assert isinstance(refused, RetriableAPIError)
    assert not refused.ambiguous
    slow = requests.exceptions.ReadTimeout("slow")
    timeout = classify_exception(slow, what="POST /x", retry_ambiguous=False)
    assert isinstance(timeout, AmbiguousWriteError)
    ssl = classify_exception(requests.exceptions.SSLError("bad cert"), what="GET /")
    assert isinstance(ssl, TransportError)
    assert "ca-bundle" in (ssl.hint or "")
