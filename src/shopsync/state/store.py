"""The ledger as the planner and the engine use it, whichever database holds it.

Two ledgers keep the same records with the same semantics: the SQLite one of a single
machine (:class:`shopsync.state.ledger.Ledger`, the default, no server) and the
PostgreSQL one every machine of a fleet can reach
(:class:`shopsync.state.ledger_pg.PgLedger`, chosen by ``ledger_url``). Both pass one
test suite (tests/test_ledger.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from shopsync.state.ledger import Ledger, LedgerEntry, PendingBatch


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

    def close(self) -> None:
        """Let go of every connection."""

    def __enter__(self) -> LedgerStore: ...

    def __exit__(self, *exc: object) -> None: ...


def open_ledger(directory: Path, *, url: str | None = None, target: str = "") -> LedgerStore:
    """The SQLite ledger in ``directory``, or with ``url`` the PostgreSQL one of ``target``.

    psycopg is imported only for a ``postgresql://`` URL, so a single-machine run never
    loads it.
    """
    if url is None:
        return Ledger(directory)
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415 - the fleet extra

    return PgLedger(url, target=target)
