"""TOP's signature and time formats, as the sandbox checks them.

Written apart from the client's (``shopsync.platforms.taobao.signing``) on purpose: the
sandbox imports nothing of the client, and two implementations that agree with each
other, with Taobao's published test vector and with Taobao's own SDK are better
evidence than one.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def expected_sign(params: Mapping[str, str], secret: str, sign_method: str) -> str | None:
    """The ``sign`` TOP expects for ``params`` (all but ``sign``), or None for an unknown method."""
    text = "".join(name + params[name] for name in sorted(params) if name != "sign")
    if sign_method == "md5":
        data = (secret + text + secret).encode("utf-8")
        return hashlib.md5(data, usedforsecurity=False).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), "md5").hexdigest().upper()
    return None


def parse_timestamp(text: str) -> float | None:
    """POSIX seconds of a TOP ``timestamp``: ``yyyy-MM-dd HH:mm:ss`` in Beijing time, or the
    milliseconds since the epoch that Taobao's Python SDK sends. None if it is neither."""
    text = text.strip()
    if text.isdigit() and len(text) >= 12:
        return int(text) / 1000.0
    try:
        moment = datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None
    return moment.timestamp()


def beijing_time(epoch_seconds: float) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time, as TOP writes every time."""
    return datetime.fromtimestamp(epoch_seconds, tz=BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def parse_beijing_time(text: str) -> float | None:
    """POSIX seconds of ``yyyy-MM-dd HH:mm:ss`` in Beijing time, or None."""
    try:
        moment = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError:
        return None
    return moment.timestamp()


def taobao_length(text: str) -> int:
    """A title's length as Taobao counts it: a character outside ASCII counts two."""
    return sum(1 if ord(char) < 128 else 2 for char in text)
