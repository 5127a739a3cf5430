"""Shopify's own Python SDK (``shopifyapp`` 1.0.2) against the Shopify dialect.

The SDK builds ``https://{shop}.myshopify.com/...`` itself; an httpx transport sends its
requests to the loopback sandbox instead, changing nothing else. So the dialect is
checked by a client nobody here wrote: its token exchange, its GraphQL requests and its
reading of the answers.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import shopify_app

from shopify_support import shopify_sandbox

__all__ = ["shopify_sandbox"]

CREATE = """
mutation Create($input: ProductSetInput!) {
  productSet(input: $input, synchronous: true) {
    product { id title handle variants(first: 5) { nodes { sku price } } }
    userErrors { field message code }
  }
}
"""
READ = "{ products(first: 10) { nodes { id title variants(first: 5) { nodes { sku price } } } } }"


class ToLoopback(httpx.BaseTransport):
    """Sends every request to ``base_url`` (scheme, host and port), path and all unchanged."""

    def __init__(self, base_url: str) -> None:
        self.target = httpx.URL(base_url)
        self.inner = httpx.HTTPTransport()
        self.hosts: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(request.url.host)
        request.url = request.url.copy_with(
            scheme=self.target.scheme, host=self.target.host, port=self.target.port
        )
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def sdk(shopify_sandbox: Any) -> Any:
    handle = shopify_sandbox()
    transport = ToLoopback(handle.base_url)
    client = httpx.Client(transport=transport)
    yield handle, client, transport
    client.close()


def test_shopifys_sdk_gets_a_token_creates_and_reads_products(sdk: Any) -> None:
    handle, client, transport = sdk
    exchange = shopify_app.exchange_using_client_credentials(
        "sandbox",
        {
            "client_id": handle.client_id,
            "client_secret": handle.client_secret,
            "old_client_secret": None,
        },
        http_client=client,
    )
    assert exchange.ok, exchange.log
    token = exchange.access_token.token
    created = shopify_app.admin_graphql_request(
        CREATE,
        shop="sandbox",
        access_token=token,
        api_version="2026-07",
        variables={
            "input": {
                "title": "Jasmine tea",
                "productOptions": [
                    {"name": "Size", "values": [{"name": "50 g"}, {"name": "100 g"}]}
                ],
                "variants": [
                    {
                        "optionValues": [{"optionName": "Size", "name": "50 g"}],
                        "sku": "JT-50",
                        "price": "18.00",
                    },
                    {
                        "optionValues": [{"optionName": "Size", "name": "100 g"}],
                        "sku": "JT-100",
                        "price": "32.00",
                    },
                ],
            }
        },
        http_client=client,
    )
    assert created.ok, created.log
    product = created.data["productSet"]["product"]
    assert created.data["productSet"]["userErrors"] == []
    assert product["handle"] == "jasmine-tea"
    assert created.extensions["cost"]["throttleStatus"]["restoreRate"] == 100.0

    read = shopify_app.admin_graphql_request(
        READ, shop="sandbox", access_token=token, api_version="2026-07", http_client=client
    )
    assert read.ok, read.log
    assert read.data["products"]["nodes"] == [
        {
            "id": product["id"],
            "title": "Jasmine tea",
            "variants": {
                "nodes": [{"sku": "JT-50", "price": "18.00"}, {"sku": "JT-100", "price": "32.00"}]
            },
        }
    ]
    assert set(transport.hosts) == {"sandbox.myshopify.com"}


def test_the_sdk_sees_an_invalid_document_and_a_wrong_token_as_shopify_answers_them(
    sdk: Any,
) -> None:
    handle, client, _ = sdk
    exchange = shopify_app.exchange_using_client_credentials(
        "sandbox",
        {
            "client_id": handle.client_id,
            "client_secret": handle.client_secret,
            "old_client_secret": None,
        },
        http_client=client,
    )
    token = exchange.access_token.token
    invalid = shopify_app.admin_graphql_request(
        "{ products(first: 1) { nodes { noSuchField } } }",
        shop="sandbox",
        access_token=token,
        api_version="2026-07",
        http_client=client,
    )
    assert (invalid.ok, invalid.log.code) == (False, "graphql_errors")
    wrong = shopify_app.admin_graphql_request(
        READ,
        shop="sandbox",
        access_token="shpat_wrong",
        api_version="2026-07",
        http_client=client,
    )
    assert (wrong.ok, wrong.response.status) == (False, 401)
