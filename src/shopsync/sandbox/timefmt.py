"""RFC 3339 timestamps as the sandbox writes and reads them.

Timestamps are written in UTC with exactly six fractional digits and a ``Z``, so that
their text sorts in time order: SQLite compares and indexes them as plain strings.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def rfc3339(epoch_seconds: float) -> str:
    """``2024-05-01T12:00:00.000000Z`` for a POSIX time."""
    return _format(datetime.fromtimestamp(epoch_seconds, tz=timezone.utc))


def _format(moment: datetime) -> str:
    # Not strftime: its %Y does not pad years before 1000 on every platform.
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}.{moment.microsecond:06d}Z"
    )


def parse_rfc3339(text: str) -> datetime | None:
    """An aware datetime for an RFC 3339 date-time, or ``None`` if ``text`` is not one."""
    match = _RFC3339_RE.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = (match.group(7) or "0")[:6].ljust(6, "0")
    zone = match.group(8)
    if zone in ("Z", "z"):
        tz = timezone.utc
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        # RFC 3339 allows a leap second (:60); Python cannot hold one, so it becomes :59.
        return datetime(year, month, day, hour, minute, min(second, 59), int(fraction), tzinfo=tz)
    except ValueError:
        return None


def normalize_rfc3339(text: str) -> str | None:
    """``text`` rewritten in the sandbox's own sortable UTC form, or ``None`` if invalid."""
    moment = parse_rfc3339(text)
    if moment is None:
        return None
    try:
        return _format(moment.astimezone(timezone.utc))
    except (OverflowError, ValueError):
        return None
