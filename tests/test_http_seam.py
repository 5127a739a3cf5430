"""The pieces http/ offers every adapter: auth objects, normalised rate signals, buckets,
the keyed token cache, and what an outage or a foreign answer reads like."""

from __future__ import annotations

import hashlib
import hmac
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Response

from shopsync.cli import cli
from shopsync.errors import AmbiguousWriteError, ExitCode, PlatformError
from shopsync.http import (
    BucketSpec,
    HmacSigning,
    RateBuckets,
    RateLimiter,
    RateSignal,
    RefreshTokenGrant,
    StaticToken,
    TokenCache,
)
from shopsync.sandbox.server import SandboxHandle
from test_http_support import (
    CANARY_SECRET,
    FakeTime,
    TokenEndpoint,
    _loopback_server,
    make_client,
    server,
)

__all__ = ["_loopback_server", "server"]  # fixtures, imported to be found

EXAMPLES = Path(__file__).parent.parent / "examples"


# -- auth objects ---------------------------------------------------------------------


def _prepared(url: str = "http://127.0.0.1/x?b=2&a=1") -> requests.PreparedRequest:
    return requests.Request("GET", url).prepare()


def test_static_token_goes_in_the_header_the_platform_names() -> None:
    auth = StaticToken("shpat_canary", header="X-Shopify-Access-Token", scheme=None)
    request = auth.authorize()(_prepared())
    assert request.headers["X-Shopify-Access-Token"] == "shpat_canary"
    assert auth.reauthorize(auth.authorize()) is None
    assert "shpat_canary" not in repr(auth) + repr(auth.authorize())
    bearer = StaticToken("tok").authorize()(_prepared())
    assert bearer.headers["Authorization"] == "Bearer tok"


def test_hmac_signing_signs_the_adapters_canonical_text_at_the_injected_time() -> None:
    def canonical(request: requests.PreparedRequest, at: float) -> str:
        return f"{request.method}{request.path_url}{int(at)}"

    def stamp(request: requests.PreparedRequest, signature: str, at: float) -> None:
        request.headers["X-Sign"] = signature
        request.headers["X-Timestamp"] = str(int(at))

    signer = HmacSigning("s3cret", canonical=canonical, stamp=stamp, clock=lambda: 1700000000.5)
    request = signer.authorize()(_prepared())
    expected = hmac.new(b"s3cret", b"GET/x?b=2&a=11700000000", hashlib.sha256).hexdigest()
    assert request.headers["X-Sign"] == expected
    assert request.headers["X-Timestamp"] == "1700000000"
    assert signer.reauthorize(signer.authorize()) is None


def test_refresh_token_grant_posts_its_form_and_keeps_a_rotated_token() -> None:
    forms: list[dict[str, str]] = []
    rotated: list[str] = []

    def request_token(url: str, form: Mapping[str, str]) -> Mapping[str, Any]:
        forms.append(dict(form))
        n = len(forms)
        return {"access_token": f"at-{n}", "expires_in": 3600, "refresh_token": f"rt-{n + 1}"}

    grant = RefreshTokenGrant(
        token_url="https://auth.example/token",
        client_id="app",
        refresh_token="rt-1",
        request_token=request_token,
        on_rotated=rotated.append,
        clock=lambda: 1000.0,
    )
    first = grant.authorize()
    assert getattr(first, "token", None) == "at-1"
    replaced = grant.reauthorize(first)
    assert getattr(replaced, "token", None) == "at-2"
    assert forms == [
        {"grant_type": "refresh_token", "refresh_token": "rt-1", "client_id": "app"},
        {"grant_type": "refresh_token", "refresh_token": "rt-2", "client_id": "app"},
    ]
    assert rotated == ["rt-2", "rt-3"]


# -- the token cache key ----------------------------------------------------------------


def test_token_cache_key_is_keyed_by_a_private_random_key(tmp_path: Path) -> None:
    cache = TokenCache(tmp_path / "tokens")
    key_file = tmp_path / "tokens.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(key_file.read_bytes()) == 32
    one = cache.key_for(("url", "id"), "secret-a")
    assert cache.key_for(("url", "id"), "secret-a") == one
    assert cache.key_for(("url", "id"), "secret-b") != one
    # The same secret on another installation gives another key: nothing to precompute.
    other = TokenCache(tmp_path / "elsewhere")
    assert other.key_for(("url", "id"), "secret-a") != one
    cache.close()
    other.close()
    # Reopened, the installation keeps its key (a cron job's tokens stay usable).
    again = TokenCache(tmp_path / "tokens")
    assert again.key_for(("url", "id"), "secret-a") == one
    again.close()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "tokens").rglob("*") if p.is_file())
    assert b"secret-a" not in stored
    assert hashlib.sha256(b"secret-a").hexdigest().encode() not in stored


def _env(handle: SandboxHandle, secret: str) -> dict[str, str]:
    return {
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": secret,
    }


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG", "SHOPSYNC_CLIENT_SECRET_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def test_a_wrong_secret_does_not_ride_on_a_warm_token_cache(
    runner: CliRunner, sandbox: SandboxHandle
) -> None:
    good = runner.invoke(
        cli, ["upload", str(EXAMPLES / "products.csv")], env=_env(sandbox, sandbox.client_secret)
    )
    assert good.exit_code == 0, good.output
    requests_after_good = sandbox.stats()["requests_total"]
    wrong = runner.invoke(
        cli,
        ["upload", str(EXAMPLES / "products.csv"), "--force"],
        env=_env(sandbox, "not-the-secret"),
    )
    assert wrong.exit_code == ExitCode.AUTH, wrong.output
    assert "invalid_client" in wrong.output
    # Only the refused token request reached the platform (once, not once per worker):
    # no API call rode on the old token.
    assert sandbox.stats()["requests_total"] == requests_after_good + 1
    assert sandbox.stats()["write_requests"] == 4  # the first run's four batches of 50


# -- normalised rate signals --------------------------------------------------------------


def test_a_cost_bucket_spends_points_and_caps_at_the_stated_restore_rate() -> None:
    fake = FakeTime()
    # Shopify-like: a 1000-point bucket refilled at 50 points/s.
    limiter = RateLimiter(50, 1000, clock=fake.clock, sleep=fake.sleep)
    assert limiter.acquire(cost=600) == 0
    assert limiter.acquire(cost=400) == 0
    # The bucket is spent: 100 points more take 100 / 50 = 2 seconds of refill.
    assert limiter.acquire(cost=100) == pytest.approx(2.0)
    limiter.observe(RateSignal(limit=1000, remaining=900, restore_rate=50, cost=100))
    assert limiter.rate == 50
    limiter.observe(RateSignal(limit=1000, remaining=100, restore_rate=40, cost=100))
    assert limiter.rate == pytest.approx(40)


def test_two_named_buckets_pace_independently() -> None:
    fake = FakeTime()
    default = RateLimiter(100, 10, clock=fake.clock, sleep=fake.sleep)
    buckets = RateBuckets(
        default,
        {"getOrders": BucketSpec(rate=0.5, burst=2), "putListingsItem": BucketSpec(5, 1)},
        clock=fake.clock,
        sleep=fake.sleep,
    )
    waits = [buckets.acquire("getOrders") for _ in range(3)]
    assert waits == [0, 0, pytest.approx(2.0)]
    # getOrders being spent does not hold up the other operation.
    assert buckets.acquire("putListingsItem") == 0
    buckets.observe(RateSignal(throttled=True, retry_after=7, bucket="putListingsItem"))
    assert buckets.get("putListingsItem").pause_remaining() == pytest.approx(7)
    assert buckets.get("getOrders").pause_remaining() == 0
    assert buckets.default.pause_remaining() == 0
    assert buckets.pause_remaining() == pytest.approx(7)


# -- outages and foreign answers ----------------------------------------------------------


def test_html_from_a_proxy_answering_a_write_is_an_unknown_outcome(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    page = "<html><body>Please log in to the hotel Wi-Fi</body></html>"
    server.expect_request("/products/batch", method="POST").respond_with_response(
        Response(page, status=200, content_type="text/html; charset=utf-8")
    )
    with make_client(tmp_path, server, FakeTime()) as client:
        with pytest.raises(AmbiguousWriteError) as raised:
            client.request("POST", "/products/batch", json={}, retry_ambiguous=False)
        host = server.url_for("").split("//")[1].rstrip("/")
        assert raised.value.message == (
            f"POST /products/batch: the answer was not the platform's: HTML from {host} "
            "(HTTP 200); the write may or may not have been applied."
        )
        # With trusted keys it is retried with the same key, then left unknown.
        with pytest.raises(AmbiguousWriteError):
            client.request("POST", "/products/batch", json={})
        server.expect_request("/products", method="GET").respond_with_response(
            Response(page, status=200, content_type="text/html")
        )
        with pytest.raises(PlatformError, match="not the platform's: HTML from"):
            client.request("GET", "/products")


def _upload_to_a_closed_port(runner: CliRunner) -> tuple[int, str]:
    import socket  # noqa: PLC0415

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    result = runner.invoke(
        cli,
        ["upload", str(EXAMPLES / "products.csv"), "--max-attempts", "1"],
        env={
            "SHOPSYNC_BASE_URL": f"http://127.0.0.1:{port}",
            "SHOPSYNC_CLIENT_ID": "client",
            "SHOPSYNC_CLIENT_SECRET": CANARY_SECRET,
        },
    )
    assert result.exit_code == ExitCode.PLATFORM, result.output
    return port, result.output


def test_an_unreachable_platform_is_said_in_one_sentence(runner: CliRunner) -> None:
    port, output = _upload_to_a_closed_port(runner)
    assert f"could not connect to 127.0.0.1:{port}: connection refused." in output
    assert "Max retries" not in output
    assert "NewConnectionError" not in output


def test_an_unreachable_platform_leaves_rows_for_the_next_run(
    runner: CliRunner, tmp_path: Path
) -> None:
    _upload_to_a_closed_port(runner)
    assert list(tmp_path.rglob("*failed*.csv")) == []
