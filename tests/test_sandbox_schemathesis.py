"""Property-based check of the sandbox against its own OpenAPI document (schemathesis).

Bounded: a few examples per operation and no deadline, so it stays fast on two cores. It
asserts no server error and no status code, content type, header or body outside the
document.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.dialects.generic.openapi import openapi_document

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# A high rate limit: the fuzzer must not meet 429s that would hide other answers.
CONFIG = SandboxConfig(rate=10_000, burst=10_000, orders=20)
# The document is the one the sandbox serves (the first test checks that), loaded without a
# server so that test collection needs none.
schema = schemathesis.openapi.from_dict(openapi_document(CONFIG))


@pytest.fixture(scope="module")
def live_sandbox() -> Iterator[SandboxHandle]:
    with running_sandbox(CONFIG) as handle:
        yield handle


def test_the_served_document_is_the_one_fuzzed(live_sandbox: SandboxHandle) -> None:
    served = requests.get(f"{live_sandbox.base_url}/openapi.json", timeout=10).json()
    assert served == openapi_document(CONFIG)


@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_document(case: schemathesis.Case, live_sandbox: SandboxHandle) -> None:
    token = live_sandbox.issue_token()
    headers = {} if case.path == "/auth/token" else {"Authorization": f"Bearer {token}"}
    case.call_and_validate(base_url=live_sandbox.base_url, headers=headers, checks=CHECKS)
