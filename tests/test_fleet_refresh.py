"""``upload --queue --refresh`` notes the refresh in the shared ledger, as a plain upload
does, so ``plan``'s drift warning counts from it. Real PostgreSQL, Redis and sandbox."""

from __future__ import annotations

from pathlib import Path

from servers import fresh_database, postgres_url, redis_url  # noqa: F401
from test_fleet import Fleet, _catalog, fleet

__all__ = ["fleet"]  # the fixture, used by name


def test_a_queued_refreshing_upload_marks_the_ledger_refreshed(
    fleet: Fleet, tmp_path: Path
) -> None:
    path = _catalog(tmp_path / "c.csv", 3)
    assert fleet.query("SELECT refreshed_at FROM shopsync_target") == []
    refreshing = fleet.upload(path, "--refresh")
    assert refreshing.wait(timeout=120) == 0, refreshing.communicate()
    assert len(fleet.query("SELECT refreshed_at FROM shopsync_target")) == 1
