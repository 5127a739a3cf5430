"""The ledger as the planner and the engine use it, whichever database holds it.

Two ledgers keep the same records with the same semantics: the SQLite one of a single
machine (:class:`shopsync.state.ledger.Ledger`, the default, no server) and the
PostgreSQL one every machine of a fleet can reach
(:class:`shopsync.state.ledger_pg.PgLedger`, chosen by ``ledger_url``). Both pass one
test suite (tests/test_ledger.py).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from shopsync.state.ledger import Ledger, LedgerEntry, PendingBatch
from shopsync.state.lock import ProfileLock


class LedgerStore(Protocol):
    """What shopsync has put on one platform target, and the batches still in flight."""

    def get(self, sku: str) -> LedgerEntry | None:
        """The entry for ``sku``, or None."""

    def get_many(self, skus: Sequence[str]) -> dict[str, LedgerEntry]:
        """The entries of those ``skus`` that the ledger holds."""

    def stocks(self, skus: Sequence[str]) -> dict[str, int]:
        """The counts shopsync last set for those ``skus`` that have one."""

    def record(
        self,
        entries: Mapping[str, LedgerEntry],
        *,
        stocks: Mapping[str, int] | None = None,
        finished_batch: str | None = None,
    ) -> None:
        """Record one batch's results and settle it, atomically."""

    def skus(self) -> Iterator[str]:
        """Every SKU in the ledger, in order."""

    def __len__(self) -> int: ...

    def mark_done(self, key: str) -> None:
        """Remember that the one-off write ``key`` was applied for good."""

    def is_done(self, key: str) -> bool:
        """Whether the one-off write ``key`` was applied."""

    def begin_batch(self, key: str, request: str | Mapping[str, Any]) -> None:
        """Note that the batch ``key`` is about to be sent."""

    def finish_batch(self, key: str) -> None:
        """Settle a pending batch without results."""

    def pending_batches(self) -> list[PendingBatch]:
        """Batches left unsettled, oldest first."""

    def image(self, content_hash: str) -> str | None:
        """What the platform calls the image with this content hash, if uploaded before."""

    def record_image(
        self, content_hash: str, reference: str, *, url: str | None, image_id: str | None
    ) -> None:
        """Remember that the image with this content hash is on the platform as ``reference``."""

    def forget(self, skus: Sequence[str]) -> None:
        """Drop ``skus``: removed on the platform, so a product that returns is created again."""

    def mark_refreshed(self, at: float | None = None) -> None:
        """Note that the platform's state was read into the ledger (``--refresh``) now."""

    def state_as_of(self) -> float | None:
        """When the ledger last learned the platform's state (None: it is empty)."""

    def close(self) -> None:
        """Let go of every connection."""

    def __enter__(self) -> LedgerStore: ...

    def __exit__(self, *exc: object) -> None: ...


def open_ledger(
    directory: Path, *, url: str | None = None, target: str = "", profile: str = ""
) -> LedgerStore:
    """The SQLite ledger in ``directory``, or with ``url`` the PostgreSQL one of ``target``.

    A PostgreSQL ledger opened here is for an ordinary run of one process: every batch it
    sends is claimed under a lease, as a fleet worker claims it
    (:class:`~shopsync.state.ledger_pg.ClaimingLedger`), so the run and a fleet's workers
    never send one batch twice. psycopg is imported only for a ``postgresql://`` URL, so
    a single-machine run never loads it.
    """
    if url is None:
        return Ledger(directory)
    from shopsync.state.ledger_pg import ClaimingLedger, PgLedger  # noqa: PLC0415 - fleet extra

    owner = f"{socket.gethostname()}:{os.getpid()}"
    return ClaimingLedger(PgLedger(url, target=target), owner=owner, profile=profile)


class RunLock(Protocol):
    """One changing run per target at a time: a file lock, or PostgreSQL's advisory lock."""

    def acquire(self) -> None:
        """Take the lock now or raise :class:`~shopsync.errors.LockedError`."""

    def release(self) -> None:
        """Let it go."""


def run_lock(
    lock_path: Path | None, *, url: str | None, target: str, profile: str, command: str
) -> RunLock | None:
    """The lock a run that changes ``target`` holds: with a shared ledger (``url``) the
    fleet's advisory lock, which every machine sees; else the profile's lock file (None:
    no lock)."""
    if url is not None:
        from shopsync.state.ledger_pg import TargetLock  # noqa: PLC0415 - the fleet extra

        return TargetLock(url, target=target, profile=profile, command=command)
    if lock_path is None:
        return None
    return ProfileLock(lock_path, profile=profile, command=command)
