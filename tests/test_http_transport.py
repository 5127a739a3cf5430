"""The transport honours the environment's proxy settings, read once per origin."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from shopsync.http.transport import Transport


def test_requests_go_through_the_proxy_the_environment_names(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test server plays the proxy: a proxied request arrives with the absolute URL.
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for("/"))
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    httpserver.expect_request("/products").respond_with_json({"via": "proxy"})
    transport = Transport()
    try:
        for _ in range(2):
            answer = transport.send("GET", "http://shop.invalid/products", timeout=(2, 2))
            assert answer.json() == {"via": "proxy"}
    finally:
        transport.close()
    assert len(httpserver.log) == 2


def test_no_proxy_is_honoured_and_the_environment_is_read_once(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # nothing listens there
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    httpserver.expect_request("/ping").respond_with_json({"ok": True})
    transport = Transport()
    try:
        assert transport.send("GET", httpserver.url_for("/ping"), timeout=(2, 2)).ok
        # Changed now, it is not looked at again for the same origin.
        monkeypatch.delenv("NO_PROXY")
        assert transport.send("GET", httpserver.url_for("/ping"), timeout=(2, 2)).ok
        assert transport.environment_for(httpserver.url_for("/x"))["proxies"] == {}
    finally:
        transport.close()
