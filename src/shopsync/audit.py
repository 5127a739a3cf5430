"""The audit log: one JSON line per change shopsync made (or tried to make) on a platform.

Append-only, in the data directory (``Settings.audit_path``), so "who changed this
price, when, and with which request?" has an answer months later. Each line holds the
time, run id, profile, action, SKU, product id, HTTP status, request id, idempotency key
and outcome: never a credential or a token.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from operator import attrgetter
from pathlib import Path
from typing import Any

from shopsync.errors import ConfigError


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One mutation of one item."""

    time: str
    run_id: str
    profile: str
    action: str
    sku: str
    product_id: str | None
    http_status: int | None
    request_id: str | None
    idempotency_key: str | None
    outcome: str
    code: str | None = None
    message: str | None = None


_FIELDS: tuple[str, ...] = tuple(item.name for item in fields(AuditRecord))
_values = attrgetter(*_FIELDS)
_encode_line = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class AuditLog:
    """Appends records to the JSON Lines audit log; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        """Create the directory (mode 0700) if needed; the file is opened per write."""
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        except OSError as error:
            raise ConfigError(f"cannot create {path.parent}: {error.strerror}.") from None

    def append(self, records: Iterable[AuditRecord]) -> None:
        """Append ``records`` and fsync, so an acknowledged change is never missing from the log."""
        # A flat dict by field name, not dataclasses.asdict(): the fields are all scalars,
        # and asdict's recursive deep copy was two thirds of the cost of a line.
        lines = "".join(
            _encode_line(dict(zip(_FIELDS, _values(record), strict=True))) + "\n"
            for record in records
        )
        if not lines:
            return
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, lines.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)


def read_audit(
    path: Path, *, run_id: str | None = None, sku: str | None = None
) -> Iterator[dict[str, Any]]:
    """Records from the log at ``path``, oldest first, filtered by run id and SKU."""
    if not path.exists():
        return
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by a crash mid-write
            if run_id and record.get("run_id") != run_id:
                continue
            if sku and record.get("sku") != sku:
                continue
            yield record
