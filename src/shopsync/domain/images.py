"""Image values as a product holds them: a URL, or a local file with its content hash.

A seller's ``images`` cell names either a URL (``https://…``, sent as it is) or a file on
disk (``images/tshirt-red.jpg``, ``images\\tshirt-red.jpg``). Once the catalog has checked
a file (it exists, it is an image the platform takes), the value becomes a *local
reference*: what the seller wrote, then ``#sha256=`` and the file's content hash. That
text is what a product's body holds, what its content hash covers and what the ledger
keeps; the platform's URL for the uploaded file is put in its place only in the request
(``docs/architecture.md``, "Why a product's hash covers the image's content, not its
URL"). An unchanged file therefore leaves the product unchanged, and a changed one
changes it, whatever URL the platform gave.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LOCAL_MARK = "#sha256="
_LOCAL_REF = re.compile(r"^(?P<written>.+)#sha256=(?P<digest>[0-9a-f]{64})$", re.DOTALL)
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?://|[^\\/])")
"""A URL's scheme (``http://``, ``data:``); a Windows drive (``C:\\``, ``C:/``) is none."""

JPEG, PNG, GIF, WEBP = "image/jpeg", "image/png", "image/gif", "image/webp"
ALL_TYPES = frozenset({JPEG, PNG, GIF, WEBP})
MIB = 1024 * 1024


@dataclass(frozen=True)
class ImageLimits:
    """What a platform accepts as an uploaded image, as its adapter declares it.

    Checked at plan time, against the file's content (never its name).
    """

    content_types: frozenset[str] = ALL_TYPES
    max_bytes: int = 20 * MIB
    max_width: int = 10_000
    max_height: int = 10_000
    min_width: int = 1
    min_height: int = 1


DEFAULT_LIMITS = ImageLimits()
"""The limits ``validate`` checks with, where no platform is named."""


def is_url(value: str) -> bool:
    """Whether ``value`` is a URL (any scheme), not a file path."""
    return bool(_SCHEME.match(value))


def local_ref(written: str, digest: str) -> str:
    """The value of a checked local image: what the seller wrote and its content hash."""
    return f"{written}{LOCAL_MARK}{digest}"


def parse_local_ref(value: str) -> tuple[str, str] | None:
    """``(as written, content hash)`` of a local reference, or None for anything else."""
    if LOCAL_MARK not in value:
        return None
    match = _LOCAL_REF.match(value)
    return (match["written"], match["digest"]) if match else None
