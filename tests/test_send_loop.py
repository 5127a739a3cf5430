"""SendLoop: the one send loop the engine and the stock sync share (issue 12).

How far a failure reaches is decided once: a batch refused whole fails its rows and the
run goes on; an outage or refused credentials stop the run, raised after the batches
in flight, with no rows failed; an unexpected exception stops it too.
"""

from __future__ import annotations

import threading

import pytest

from shopsync.errors import AuthError, PlatformError, ShopsyncError
from shopsync.platforms.base import ErrorScope
from shopsync.sync.workers import SendLoop


class Refused(ShopsyncError):
    """A refusal of one batch as a whole (the stand-in platform scopes it so)."""


class StandIn:
    """A platform whose error_scope says a Refused is about the batch (even an auth one)."""

    def error_scope(self, error: Exception) -> ErrorScope:
        return ErrorScope.BATCH if isinstance(error, Refused | AuthError) else ErrorScope.PLATFORM


def _loop(raises: dict[int, Exception]) -> tuple[SendLoop[int], list[int], list[tuple[int, str]]]:
    sent: list[int] = []
    failed: list[tuple[int, str]] = []

    def send(batch: int) -> None:
        sent.append(batch)
        if batch in raises:
            raise raises[batch]

    loop: SendLoop[int] = SendLoop(
        StandIn(),
        send,
        lambda batch, code, message: failed.append((batch, code)),
        stop=threading.Event(),
        workers=1,
        grace_seconds=1.0,
    )
    return loop, sent, failed


def test_a_batch_refused_whole_fails_its_rows_and_the_run_goes_on() -> None:
    loop, sent, failed = _loop({2: Refused("too large")})
    loop.run([1, 2, 3])
    assert sent == [1, 2, 3]
    assert failed == [(2, "Refused")]
    assert loop.fatal is None


@pytest.mark.parametrize(
    "error", [PlatformError("could not connect"), AuthError("token refused")], ids=str
)
def test_an_outage_or_refused_credentials_stop_the_run_with_no_row_failed(
    error: ShopsyncError,
) -> None:
    loop, sent, failed = _loop({1: error})
    with pytest.raises(type(error)) as raised:
        loop.run([1, 2, 3])
    assert raised.value is error
    assert sent == [1]  # the queued batches were not sent
    assert failed == []


def test_an_unexpected_exception_fails_its_batch_and_stops_the_run() -> None:
    loop, sent, failed = _loop({1: ValueError("a bug")})
    with pytest.raises(PlatformError, match="unexpected error while sending: a bug"):
        loop.run([1, 2])
    assert sent == [1]
    assert failed == [(1, "INTERNAL")]
