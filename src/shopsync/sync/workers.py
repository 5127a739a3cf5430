"""Worker threads behind a bounded queue: how every run that writes sends its batches.

:class:`SendLoop` is the loop itself, shared by the engine (products) and the stock
sync: batches handed to worker threads, the first fatal error kept and the run stopped
on it, and one rule for how far a failure reaches (the batch, or the run).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from shopsync.errors import AuthError, Interrupted, PlatformError, ShopsyncError
from shopsync.http.redact import redacting_logger
from shopsync.i18n import N_
from shopsync.platforms.base import ErrorScope, error_code_of, error_scope_of

T = TypeVar("T")
log = redacting_logger(__name__)


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last one shorter), as they come."""
    chunk: list[T] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class WorkerPool(Generic[T]):
    """A few daemon threads taking batches from a bounded queue.

    Bounded, so reading the file never runs far ahead of sending (memory stays flat and
    the first batch leaves before the file is read). Daemon threads, so a run that
    gave up waiting for a hung request can still exit.
    """

    def __init__(self, workers: int, handle: Callable[[T], None]) -> None:
        """Start ``workers`` threads that call ``handle`` on each submitted item."""
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=max(1, workers) * 2)
        self._handle = handle
        self._threads = [
            threading.Thread(target=self._run, name=f"shopsync-worker-{n}", daemon=True)
            for n in range(max(1, workers))
        ]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            self._handle(batch)

    def submit(self, batch: T, stop: threading.Event) -> None:
        """Queue ``batch``, waiting for room unless ``stop`` is set meanwhile."""
        while not stop.is_set():
            try:
                self._queue.put(batch, timeout=0.1)
                return
            except queue.Full:
                continue

    def close(self, timeout: float | None) -> bool:
        """Finish queued batches (all of them, or within ``timeout``); True if all settled."""
        if timeout is not None:
            # Stopping: batches still queued are dropped unsent (their rows are simply
            # not done; the next run plans them again).
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        for _ in self._threads:
            self._queue.put(None)
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._threads:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            thread.join(remaining)
        return not any(thread.is_alive() for thread in self._threads)


def send_batches(
    batches: Iterable[T],
    send: Callable[[T], None],
    *,
    workers: int,
    stop: threading.Event,
    grace_seconds: float,
    fatal: Callable[[], ShopsyncError | None],
) -> None:
    """Hand ``batches`` to ``workers`` threads calling ``send``, until done, stopped or failed.

    Raises the error ``fatal()`` reports once the batches in flight are settled, or
    :class:`~shopsync.errors.Interrupted` if ``stop`` was set (after waiting at most
    ``grace_seconds`` for answers to batches already sent).
    """
    pool: WorkerPool[T] = WorkerPool(workers, send)
    try:
        for batch in batches:
            if stop.is_set() or fatal() is not None:
                break
            pool.submit(batch, stop)
    finally:
        settled = pool.close(grace_seconds if stop.is_set() else None)
    error = fatal()
    if error is not None:
        raise error
    if stop.is_set():
        raise Interrupted(
            N_(
                "Interrupted: no new batches were sent. The ledger is saved: run the same "
                "command again to resume."
            )
            if settled
            else N_(
                "Interrupted: no new batches were sent; some sent batches had no answer yet. "
                "The ledger is saved: run the same command again to resume."
            ),
        )


class SendLoop(Generic[T]):
    """Sends a run's batches on worker threads: what the engine and the stock sync share.

    ``send(batch)`` sends one batch and records its results (each kind of batch has its
    own reconciling and recording). What it raises is settled here, by one rule: a
    refusal of the batch as a whole (:attr:`ErrorScope.BATCH <ErrorScope>`, never an auth
    failure) fails that batch's items through ``fail(batch, code, message)`` and the run
    goes on; anything about the platform or the credentials is fatal: no new batch is
    sent, the batches in flight settle, and :meth:`run` raises it (their rows stay out of
    the failed file and the next run sends them). An unexpected exception is fatal too,
    its batch failed as ``INTERNAL`` where ``fail_unexpected``.
    """

    def __init__(
        self,
        platform: object,
        send: Callable[[T], None],
        fail: Callable[[T, str, str], None],
        *,
        stop: threading.Event,
        workers: int,
        grace_seconds: float,
        fail_unexpected: bool = True,
    ) -> None:
        """``platform`` decides the scope of its errors (``error_scope``)."""
        self.platform = platform
        self.stop = stop
        self.workers = workers
        self.grace_seconds = grace_seconds
        self._send = send
        self._fail = fail
        self._fail_unexpected = fail_unexpected
        self._lock = threading.Lock()
        self._fatal: ShopsyncError | None = None

    @property
    def fatal(self) -> ShopsyncError | None:
        """The error that stopped the run, if one did."""
        return self._fatal

    @property
    def stopping(self) -> bool:
        """Whether no new batch may be sent: told to stop, or a fatal error came."""
        return self.stop.is_set() or self._fatal is not None

    def set_fatal(self, error: ShopsyncError) -> None:
        """Stop the run for ``error`` (the first one is kept)."""
        with self._lock:
            if self._fatal is None:
                self._fatal = error

    def batch_only(self, error: ShopsyncError) -> bool:
        """Whether ``error`` concerns only the batch it answered (the platform refused it
        whole: too large, malformed), not the platform or the credentials."""
        return not isinstance(error, AuthError) and (
            error_scope_of(self.platform, error) is ErrorScope.BATCH
        )

    def settle(self, batch: T, error: ShopsyncError) -> None:
        """Fail ``batch`` for ``error`` if it concerns only the batch; else stop the run."""
        if self.batch_only(error):
            self._fail(batch, error_code_of(error), error.message)
        else:
            self.set_fatal(error)

    def send_safely(self, batch: T) -> None:
        """Send ``batch`` unless the run is stopping, settling whatever it raises."""
        if self.stopping:
            # Queued before the run had to stop: not sent, so not failed either; the
            # next run plans these rows again.
            return
        try:
            self._send(batch)
        except ShopsyncError as error:
            self.settle(batch, error)
        except Exception as error:  # a worker must record, never die silently
            log.exception("unexpected error while sending a batch")
            if self._fail_unexpected:
                self._fail(batch, "INTERNAL", str(error))
            self.set_fatal(
                PlatformError(N_("unexpected error while sending: {error}").format(error=error))
            )

    def run(self, batches: Iterable[T]) -> None:
        """Send ``batches`` until done, stopped or failed (see :func:`send_batches`)."""
        send_batches(
            batches,
            self.send_safely,
            workers=self.workers,
            stop=self.stop,
            grace_seconds=self.grace_seconds,
            fatal=lambda: self._fatal,
        )
