"""TOP's request signature and timestamp, as Taobao's documentation states them.

Sort every parameter but ``sign`` (and file parameters) by name, join each name with its
value, then ``upper(hex(md5(secret + s + secret)))`` (``sign_method=md5``) or
``upper(hex(hmac_md5(secret, s)))`` (``sign_method=hmac``). Timestamps are
``yyyy-MM-dd HH:mm:ss`` in GMT+8, whatever the caller's time zone.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

SIGN_METHODS = ("md5", "hmac")
CHINA_TIME = timezone(timedelta(hours=8), "GMT+8")


def signature(parameters: Mapping[str, str], secret: str, method: str = "md5") -> str:
    """The ``sign`` of ``parameters`` (``sign`` itself is left out if present)."""
    text = "".join(f"{name}{parameters[name]}" for name in sorted(parameters) if name != "sign")
    key = secret.encode("utf-8")
    if method == "md5":
        material = key + text.encode("utf-8") + key
        # MD5 is what the platform specifies for this signature; it is not our choice.
        return hashlib.md5(material, usedforsecurity=False).hexdigest().upper()
    if method == "hmac":
        return hmac.new(key, text.encode("utf-8"), hashlib.md5).hexdigest().upper()
    raise ValueError(f"sign_method must be one of {', '.join(SIGN_METHODS)}, not {method!r}")


def top_timestamp(epoch_seconds: float) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8 for a POSIX time."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=CHINA_TIME)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def parse_top_time(text: str) -> datetime | None:
    """An aware datetime for TOP's ``yyyy-MM-dd HH:mm:ss`` (GMT+8), or None."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA_TIME)
    except ValueError:
        return None


def top_time(moment: datetime) -> str:
    """An aware datetime as TOP writes it (GMT+8)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")
