"""Shared fixtures.

The sandbox fixtures start the project's own platform server (``shopsync.sandbox``) on a
free loopback port in a background thread: tests talk to it over real sockets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import requests

from shopsync.i18n import set_language
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox

# The suite asserts English messages, whatever the machine's locale: no variable that
# would choose Chinese reaches the code under test (tests/test_i18n.py sets them itself).
for _name in ("SHOPSYNC_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
    if os.environ.get(_name, "").lower().startswith("zh") or _name == "SHOPSYNC_LANG":
        os.environ.pop(_name, None)


class SandboxApi:
    """A ``requests`` session with a bearer token for a sandbox, and paths relative to it."""

    def __init__(self, handle: SandboxHandle, *, scopes: tuple[str, ...] | None = None) -> None:
        self.handle = handle
        self.session = requests.Session()
        self.token = handle.issue_token(scopes)
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """``method`` on ``base_url + path`` (10 s timeout unless given)."""
        kwargs.setdefault("timeout", 10)
        return self.session.request(method, self.handle.base_url + path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def close(self) -> None:
        self.session.close()


@pytest.fixture(autouse=True)
def _english_messages() -> Iterator[None]:
    """Each test starts in English; a test that ran the CLI with ``--lang zh`` leaves none."""
    set_language("en")
    yield
    set_language("en")


@pytest.fixture(autouse=True)
def _restore_shopsync_logger() -> Iterator[None]:
    """Undo what a CLI invocation does to the ``shopsync`` logger.

    The CLI gives the logger its own stderr handler and stops propagation, which is right
    for a process that runs one command; in a test session it would leave a handler on a
    closed CliRunner stream and hide later records from ``caplog``.
    """
    logger = logging.getLogger("shopsync")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


@pytest.fixture
def sandbox() -> Iterator[SandboxHandle]:
    """A sandbox with the default settings (no faults, 100 req/s), empty, in memory."""
    with running_sandbox(SandboxConfig()) as handle:
        yield handle


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxHandle]]:
    """A factory: ``make_sandbox(latency_ms=50, seed=3)`` starts a sandbox with those settings
    (fields of :class:`SandboxConfig`); every one started is stopped after the test."""
    with ExitStack() as stack:

        def make(**settings: Any) -> SandboxHandle:
            return stack.enter_context(running_sandbox(SandboxConfig(**settings)))

        yield make


@pytest.fixture
def api_for() -> Iterator[Callable[..., SandboxApi]]:
    """A factory of :class:`SandboxApi` clients: ``api_for(handle, scopes=("orders",))``."""
    made: list[SandboxApi] = []

    def make(handle: SandboxHandle, **kwargs: Any) -> SandboxApi:
        client = SandboxApi(handle, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def api(sandbox: SandboxHandle, api_for: Callable[..., SandboxApi]) -> SandboxApi:
    """An authenticated client (all scopes) of the ``sandbox`` fixture."""
    return api_for(sandbox)
