"""RFC 3339 time strings, the client's one formatter and parser (the sandbox keeps its own).

Audit records are stamped to the millisecond (:func:`now_rfc3339`); order cursors and
``--since`` keep microseconds, as platforms write them (:func:`format_timestamp`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

_RFC3339_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})"
)


def format_timestamp(moment: datetime, *, digits: int = 6) -> str:
    """``2024-05-01T08:00:00.000000Z``: UTC, with ``digits`` of the second (0 to 6).

    A naive ``moment`` is taken as local time, as :meth:`datetime.astimezone` does.
    """
    utc = moment.astimezone(timezone.utc)
    # Not strftime: its %Y does not pad years before 1000 on every platform.
    text = (
        f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T"
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}"
    )
    if digits > 0:
        text += "." + f"{utc.microsecond:06d}"[: min(digits, 6)]
    return text + "Z"


def now_rfc3339() -> str:
    """The current UTC time as RFC 3339 with milliseconds."""
    return format_timestamp(datetime.now(timezone.utc), digits=3)


def parse_timestamp(text: str) -> datetime | None:
    """An aware datetime for an RFC 3339 date-time, or None if ``text`` is not one.

    Written here rather than with ``datetime.fromisoformat``, which before Python 3.11
    accepts neither ``Z`` nor fractions other than 3 or 6 digits.
    """
    match = _RFC3339_RE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    # Digits past microseconds are cut, not rounded: a cursor may only move backwards.
    fraction = int((match.group(7) or "0")[:6].ljust(6, "0"))
    zone = match.group(8)
    tz = timezone.utc
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[4:6])
        if hours > 23 or minutes > 59:
            return None
        tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        # A leap second (:60) cannot be held by datetime; :59 is within a second of it.
        return datetime(year, month, day, hour, minute, min(second, 59), fraction, tzinfo=tz)
    except ValueError:
        return None
