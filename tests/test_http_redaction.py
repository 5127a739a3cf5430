"""A canary secret and a canary token never reach a log line, an error, or a traceback."""

from __future__ import annotations

import logging
import traceback
from pathlib import Path

import pytest
from click.testing import CliRunner
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync.cli import cli
from shopsync.errors import ShopsyncError
from shopsync.http.redact import redact_headers, redact_text, register_secret
from test_http_support import (
    CANARY_SECRET,
    CANARY_TOKEN,
    CLIENT_ID,
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

__all__ = ["_loopback_server", "server", "shopsync_logs"]


def _assert_clean(text: str) -> None:
    assert CANARY_SECRET not in text
    assert CANARY_TOKEN not in text


def test_nothing_secret_in_debug_logs_errors_or_tracebacks(
    server: HTTPServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    shopsync_logs: None,
) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, urllib3's included
    TokenEndpoint().install(server)
    calls: list[int] = []

    def echo_secrets(request: Request) -> Response:
        # A hostile or buggy platform that echoes credentials back in its errors.
        calls.append(1)
        if len(calls) == 1:
            drop_connection(request)
            return Response("", status=500)
        body = {
            "code": "BAD",
            "detail": f"bad token {CANARY_TOKEN} for secret {CANARY_SECRET}",
            "errors": [{"field": "x", "message": request.headers["Authorization"]}],
        }
        return json_response(body, 400)

    server.expect_request("/products", method="POST").respond_with_handler(echo_secrets)
    with (
        make_client(tmp_path, server, FakeTime()) as client,
        pytest.raises(ShopsyncError) as caught,
    ):
        client.request("POST", "/products", json={"sku": "A"})
    error = caught.value
    assert "bad token ***" in str(error)
    _assert_clean(str(error))
    _assert_clean(repr(error))
    _assert_clean("".join(traceback.format_exception(error)))
    _assert_clean(repr(client))
    _assert_clean(repr(client.credentials))
    _assert_clean(repr(make_settings(tmp_path, "https://shop.example")))
    _assert_clean(caplog.text)
    assert "retrying POST /products" in caplog.text  # the debug log did run


def test_an_error_logged_with_its_traceback_is_masked(
    caplog: pytest.LogCaptureFixture, shopsync_logs: None
) -> None:
    register_secret(CANARY_SECRET)
    log = logging.getLogger("shopsync.http.client")  # carries the redacting filter
    caplog.set_level(logging.DEBUG)
    try:
        raise RuntimeError(f"failed with client_secret={CANARY_SECRET}")
    except RuntimeError:
        log.exception("request failed: %s", CANARY_SECRET)
    _assert_clean(caplog.text)
    assert "request failed: ***" in caplog.text


def test_secret_shapes_are_masked_even_unregistered() -> None:
    text = "Authorization: Bearer abcdefghijkl client_secret=hunter2hunter2&x=1"
    assert redact_text(text) == "Authorization: Bearer *** client_secret=***&x=1"
    headers = redact_headers({"Authorization": "Bearer zzz", "Accept": "application/json"})
    assert headers == {"Authorization": "***", "Accept": "application/json"}


def test_cli_auth_failure_output_has_no_secret(server: HTTPServer, tmp_path: Path) -> None:
    server.expect_request("/auth/token", method="POST").respond_with_json(
        {"error": "invalid_client", "error_description": f"secret {CANARY_SECRET} is wrong"},
        status=401,
    )
    env = {
        "SHOPSYNC_BASE_URL": server.url_for("").rstrip("/"),
        "SHOPSYNC_CLIENT_ID": CLIENT_ID,
        "SHOPSYNC_CLIENT_SECRET": CANARY_SECRET,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    result = CliRunner().invoke(cli, ["-vv", "--traceback", "auth", "check"], env=env)
    assert result.exit_code == 4
    assert "check the client id and secret" in result.output
    _assert_clean(result.output)
