"""The audit log's lines: exactly what json.dumps writes, one compact object per line."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shopsync.state.audit import AuditLog, AuditRecord, encode_lines, read_audit

_text = st.text(max_size=30)
_records = st.builds(
    AuditRecord,
    time=st.sampled_from(["2026-11-27T10:00:00.000Z", "2026-11-27T10:00:01.500Z"]),
    run_id=_text,
    profile=_text,
    action=st.sampled_from(["create", "update", "stock"]),
    sku=_text,
    product_id=st.none() | _text,
    http_status=st.none() | st.integers(min_value=-(2**70), max_value=2**70),
    request_id=st.none() | _text,
    idempotency_key=st.none() | _text,
    outcome=st.sampled_from(["ok", "error"]),
    code=st.none() | _text,
    message=st.none() | _text,
)


@given(st.lists(_records, max_size=8))
def test_lines_are_what_json_dumps_writes(records: list[AuditRecord]) -> None:
    expected = "".join(
        json.dumps(asdict(record), ensure_ascii=False, separators=(",", ":")) + "\n"
        for record in records
    )
    assert encode_lines(records) == expected


def test_appended_records_read_back(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "audit" / "audit.jsonl")
    first = AuditRecord("t1", "run-1", "default", "create", "A-1", "p1", 200, "r", "k", "ok")
    second = AuditRecord(
        "t1", "run-1", "default", "create", "B-2", None, 200, "r", "k", "error", "X", '"100%s"'
    )
    log.append([first, second])
    log.append([])
    assert list(read_audit(log.path)) == [asdict(first), asdict(second)]
    assert [r["sku"] for r in read_audit(log.path, sku="B-2")] == ["B-2"]


def test_appends_are_forced_to_disk_at_most_once_a_second_and_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr("shopsync.state.audit.os.fsync", counting_fsync)
    now = [100.0]
    log = AuditLog(tmp_path / "audit.jsonl", sync_interval=1.0, clock=lambda: now[0])
    record = AuditRecord("t", "run-1", "default", "create", "A-1", "p1", 200, "r", "k", "ok")
    log.append([record])
    now[0] += 0.5
    log.append([record])
    assert synced == []  # written (a killed process loses nothing), not yet forced
    now[0] += 0.6
    log.append([record])
    assert len(synced) == 1
    log.close()
    assert len(synced) == 1  # nothing appended since the last fsync
    log.append([record])
    log.close()
    assert len(synced) == 2
    assert len(list(read_audit(log.path))) == 4
