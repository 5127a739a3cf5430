"""Fixtures for the tests against a real Medusa server (see harness.py).

One server per test session: the Medusa tests carry ``xdist_group("medusa")`` (through
``medusa_marks.MEDUSA_TESTS``) and the suite runs with ``--dist loadgroup``, so under xdist they
all go to one worker, which starts the server once. Without Node.js or PostgreSQL they
fail under ``CI=true`` and skip elsewhere, with the same message; they never pass
without the server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from faultproxy import FaultProxy
from harness import MedusaServer, ServerUnavailable, running_medusa

from servers import missing_server


@pytest.fixture(scope="session")
def medusa_server() -> Iterator[MedusaServer]:
    """A running Medusa 2.21.2 from the snapshot, shared by the session's Medusa tests."""
    try:
        with running_medusa() as server:
            yield server
    except ServerUnavailable as missing:
        missing_server(f"{missing}, which the Medusa tests need,", "nodejs npm postgresql")


@pytest.fixture
def fault_proxy(medusa_server: MedusaServer) -> Iterator[FaultProxy]:
    """A fault proxy in front of the session's Medusa, with no faults yet."""
    with FaultProxy(medusa_server.base_url) as proxy:
        yield proxy
