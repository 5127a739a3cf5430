"""The client's one RFC 3339 formatter writes what the three before it wrote."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from shopsync.domain.timefmt import format_timestamp, now_rfc3339, parse_timestamp

moments = st.datetimes(
    min_value=datetime(1000, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.just(timezone.utc),
)


@given(moments)
def test_microseconds_as_orders_wrote_them_and_milliseconds_as_the_audit_log(
    moment: datetime,
) -> None:
    assert format_timestamp(moment) == moment.strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond:06d}Z"
    )
    assert format_timestamp(moment, digits=3) == moment.isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )
    assert parse_timestamp(format_timestamp(moment)) == moment


def test_other_zones_are_written_in_utc_and_now_has_milliseconds() -> None:
    moment = datetime(2024, 5, 1, 10, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_timestamp(moment) == "2024-05-01T08:00:00.123456Z"
    assert format_timestamp(moment, digits=0) == "2024-05-01T08:00:00Z"
    assert len(now_rfc3339()) == len("2024-05-01T08:00:00.123Z")
