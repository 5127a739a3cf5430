"""Keeping secrets out of logs, errors, reports and tracebacks.

Two layers: values registered at run time (the client secret, every access token) are
replaced wherever they appear, and patterns catch the shapes secrets take in text
(``Authorization: Bearer ...``, ``client_secret=...``) even when nobody registered them.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Mapping

MASK = "***"

_PATTERNS = (
    re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)(bearer|basic)\s+[^\s'\",}]+"),
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)((?:client_secret|access_token|refresh_token|password|secret)['\"]?\s*[:=]\s*['\"]?)"
        r"[^\s&'\",}]+"
    ),
)

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember ``value`` so that :func:`redact_text` masks it from now on.

    Very short values are ignored: masking every "a" in a log would hide more than it saves.
    """
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every secret-shaped fragment masked."""
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    text = _PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)} {MASK}", text)
    text = _PATTERNS[1].sub(lambda m: f"{m.group(1)} {MASK}", text)
    return _PATTERNS[2].sub(lambda m: f"{m.group(1)}{MASK}", text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the formatted message of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_text(message)
        if redacted != message:
            record.msg = redacted
            record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            # The formatter would print the exception's own text: render it here, masked.
            import traceback  # noqa: PLC0415 - only when an exception is logged

            record.exc_text = redact_text("".join(traceback.format_exception(*record.exc_info)))
            record.exc_info = None
        return True


_installed: set[str] = set()


def redacting_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with a :class:`RedactingFilter` on the logger itself.

    A filter on a logger (not a handler) runs before any handler sees the record, so
    the masking holds for every handler, pytest's ``caplog`` and third-party ones
    included, not only for the handler the CLI installs.
    """
    logger = logging.getLogger(name)
    with _lock:
        if name not in _installed:
            logger.addFilter(RedactingFilter())
            _installed.add(name)
    return logger


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of ``headers`` fit for a log: credentials replaced by the mask."""
    sensitive = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
    return {
        key: (MASK if key.lower() in sensitive else redact_text(value))
        for key, value in headers.items()
    }
