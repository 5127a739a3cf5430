"""OAuth2 client credentials: the token cache, single-flight refresh, errors, and transport."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync import __version__
from shopsync.errors import AuthError, ExitCode
from shopsync.platforms.generic.wire import client_from_settings
from test_http_support import (
    CANARY_SECRET,
    CANARY_TOKEN,
    CLIENT_ID,
    FakeTime,
    TokenEndpoint,
    _loopback_server,
    json_response,
    make_client,
    make_settings,
    server,
)

__all__ = ["_loopback_server", "server"]

_SUBPROCESS = """
import json, sys
from pathlib import Path
from shopsync.config import load_settings
from shopsync.platforms.generic.wire import client_from_settings
environ = json.loads(sys.argv[1])
settings = load_settings(config_dir=Path(sys.argv[2]), environ=environ)
with client_from_settings(settings) as client:
    answer = client.request("GET", "/products")
print(json.dumps({"status": answer.status, "fetches": client.stats.token_fetches}))
"""


def test_token_is_cached_on_disk_and_reused_by_another_process(
    server: HTTPServer, tmp_path: Path
) -> None:
    tokens = TokenEndpoint(expires_in=3600).install(server)
    server.expect_request("/products").respond_with_json({"items": []})
    base = server.url_for("").rstrip("/")
    with make_client(tmp_path, server) as client:
        client.request("GET", "/products")
    assert tokens.count == 1
    environ = {
        "SHOPSYNC_BASE_URL": base,
        "SHOPSYNC_CLIENT_ID": CLIENT_ID,
        "SHOPSYNC_CLIENT_SECRET": CANARY_SECRET,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
    }
    done = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS, json.dumps(environ), str(tmp_path / "config")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == {"status": 200, "fetches": 0}
    assert tokens.count == 1  # the second process used the first one's token
    auth = [r.headers["Authorization"] for r, _ in server.log if r.path == "/products"]
    assert auth == [f"Bearer {CANARY_TOKEN}"] * 2

    # Past expiry minus the margin (a minute), the cached token is not used any more.
    settings = make_settings(tmp_path, base)
    later = __import__("time").time() + 3600 - 59
    with client_from_settings(settings, wall_clock=lambda: later) as client:
        client.request("GET", "/products")
    assert tokens.count == 2


def test_token_cache_directory_is_private(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)
    with make_client(tmp_path, server) as client:
        client.token()
        cache_dir = tmp_path / "data" / "cache" / "tokens"
        assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
        for child in cache_dir.iterdir():
            assert stat.S_IMODE(child.stat().st_mode) & 0o077 == 0


def test_sixteen_threads_at_expiry_make_exactly_one_token_request(
    server: HTTPServer, tmp_path: Path
) -> None:
    tokens = TokenEndpoint(expires_in=600).install(server)
    server.expect_request("/products").respond_with_json({"items": []})
    now = [1_000_000.0]
    settings = make_settings(tmp_path, server.url_for("").rstrip("/"))
    client = client_from_settings(settings, wall_clock=lambda: now[0])
    with client:
        client.request("GET", "/products")
        assert tokens.count == 1
        now[0] += 600  # every thread now finds the token expired
        barrier = threading.Barrier(16)
        errors: list[BaseException] = []

        def worker() -> None:
            try:
                barrier.wait()
                client.request("GET", "/products")
            except BaseException as error:
                errors.append(error)

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    assert tokens.count == 2
    assert client.stats.snapshot()["token_fetches"] == 2


def test_sixteen_threads_rejected_token_make_one_refresh(
    server: HTTPServer, tmp_path: Path
) -> None:
    tokens = TokenEndpoint().install(server)

    def handler(request: Request) -> Response:
        if request.headers.get("Authorization") == f"Bearer {CANARY_TOKEN}":
            answer = json_response({"code": "UNAUTHORIZED"}, 401)
            answer.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return answer
        return json_response({"items": []})

    server.expect_request("/products").respond_with_handler(handler)
    with make_client(tmp_path, server, disk_cache=False) as client:
        client.token()
        barrier = threading.Barrier(16)

        def worker() -> None:
            barrier.wait()
            client.request("GET", "/products")

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert client.stats.snapshot()["token_refreshes"] == 1
    assert tokens.count == 2


@pytest.mark.parametrize(
    ("code", "sentence"),
    [
        ("invalid_client", "check the client id and secret"),
        ("invalid_scope", "check the scope setting"),
        ("unsupported_grant_type", "does not support the client-credentials grant"),
        ("invalid_request", "malformed (invalid_request)"),
    ],
)
def test_oauth_errors_become_plain_sentences_and_exit_4(
    server: HTTPServer, tmp_path: Path, code: str, sentence: str
) -> None:
    server.expect_request("/auth/token", method="POST").respond_with_json(
        {"error": code, "error_description": "no"}, status=400 if code != "invalid_client" else 401
    )
    with make_client(tmp_path, server, FakeTime()) as client, pytest.raises(AuthError) as caught:
        client.token()
    assert sentence in caught.value.message
    assert caught.value.message.endswith("The platform says: no")
    assert caught.value.exit_code == ExitCode.AUTH
    assert len(server.log) == 1  # never retried


def test_token_request_is_a_form_with_client_credentials(
    server: HTTPServer, tmp_path: Path
) -> None:
    tokens = TokenEndpoint().install(server)
    with make_client(tmp_path, server, scope="products orders") as client:
        token = client.token()
    assert tokens.forms == [
        {
            "grant_type": "client_credentials",
            "client_id": CLIENT_ID,
            "client_secret": CANARY_SECRET,
            "scope": "products orders",
        }
    ]
    # By path: a request an earlier test's server dropped can be noted late.
    [request] = [r for r, _ in server.log if r.path == "/auth/token"]
    assert request.content_type == "application/x-www-form-urlencoded"
    assert token.scope == "products inventory orders"
    assert CANARY_TOKEN not in repr(token)


def test_every_request_has_user_agent_and_bearer_and_post_has_a_key(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    server.expect_request("/products", method="POST").respond_with_json({}, status=201)
    with make_client(tmp_path, server) as client:
        client.request("POST", "/products", json={"sku": "A"})
    for request, _ in server.log:
        assert request.headers["User-Agent"] == f"shopsync/{__version__}"
    api = server.log[-1][0]
    assert api.headers["Authorization"] == f"Bearer {CANARY_TOKEN}"
    assert len(api.headers["Idempotency-Key"]) == 36  # a uuid4 when none is derived


def test_redirect_to_another_host_drops_authorization(server: HTTPServer, tmp_path: Path) -> None:
    other = HTTPServer(host="127.0.0.1", port=0)
    other.expect_request("/elsewhere").respond_with_json({"items": []})
    other.start()
    try:
        TokenEndpoint().install(server)
        target = other.url_for("/elsewhere").replace("127.0.0.1", "localhost")
        server.expect_request("/products").respond_with_response(
            Response(status=302, headers={"Location": target})
        )
        netrc = tmp_path / "netrc"
        netrc.write_text("machine localhost login someone password netrc-password-77\n")
        netrc.chmod(0o600)
        os.environ["NETRC"] = str(netrc)  # requests would re-add these credentials
        try:
            with make_client(tmp_path, server) as client:
                assert client.request("GET", "/products").body == {"items": []}
        finally:
            del os.environ["NETRC"]
        redirected = other.log[0][0]
        assert "Authorization" not in redirected.headers
    finally:
        other.stop()


def test_redirect_to_the_same_origin_keeps_authorization(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    server.expect_request("/old").respond_with_response(
        Response(status=307, headers={"Location": server.url_for("/new")})
    )
    server.expect_request("/new").respond_with_json({"ok": True})
    with make_client(tmp_path, server) as client:
        client.request("GET", "/old")
    assert server.log[-1][0].headers["Authorization"] == f"Bearer {CANARY_TOKEN}"


def test_read_timeout_is_applied_and_retried(server: HTTPServer, tmp_path: Path) -> None:
    TokenEndpoint().install(server)
    release = threading.Event()
    calls = []

    def handler(request: Request) -> Response:
        calls.append(1)
        if len(calls) == 1:
            release.wait(5)  # longer than the read timeout
        return json_response({"items": []})

    server.expect_request("/products").respond_with_handler(handler)
    try:
        with make_client(tmp_path, server, FakeTime(), read_timeout=1.0) as client:
            assert client.request("GET", "/products").body == {"items": []}
    finally:
        release.set()
    assert len(calls) == 2


def test_threads_of_one_process_making_the_installation_key_at_once_share_one(
    tmp_path: Path,
) -> None:
    # Fleet workers open platforms from several threads; each used to write the same
    # per-process temporary file, and one thread's unlink broke another's link.
    from shopsync.http.auth import _installation_key  # noqa: PLC0415 - the unit under test

    path = tmp_path / "tokens.key"
    start = threading.Barrier(16)
    keys: list[bytes] = []
    errors: list[BaseException] = []

    def make() -> None:
        start.wait()
        try:
            keys.append(_installation_key(path))
        except BaseException as error:  # the test reports any of them
            errors.append(error)

    threads = [threading.Thread(target=make) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(keys) == 16
    assert set(keys) == {path.read_bytes()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokens.key"]
    assert path.stat().st_mode & 0o777 == 0o600
