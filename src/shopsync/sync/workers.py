"""Worker threads behind a bounded queue: how every run that writes sends its batches."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Generic, TypeVar

from shopsync.errors import Interrupted, ShopsyncError

T = TypeVar("T")


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
            "Interrupted: no new batches were sent"
            + ("" if settled else "; some sent batches had no answer yet")
            + ". The ledger is saved: run the same command again to resume.",
        )
