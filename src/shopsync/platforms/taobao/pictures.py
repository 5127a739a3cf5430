"""Taobao's picture space (图片空间): an item's pictures must be uploaded there first.

``taobao.picture.upload`` takes the image file (multipart; file parameters are not
signed) and answers its ``picture_path``, which ``taobao.item.add`` / ``update`` take as
``pic_path``. :class:`PictureSpace` remembers, per shop, the path of every image's
SHA-256, so an image used by fifty items, or by the next run, is uploaded once.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import requests

from shopsync.domain.images import GIF, JPEG, PNG, ImageLimits
from shopsync.errors import PlatformError
from shopsync.http.auth import private_dir

MAX_PICTURE_BYTES = 3 * 1024 * 1024
"""TOP's limit on one uploaded picture."""
IMAGE_LIMITS = ImageLimits(content_types=frozenset({JPEG, PNG, GIF}), max_bytes=MAX_PICTURE_BYTES)
"""What the picture space takes, checked at plan time for local files."""


def picture_type(data: bytes) -> str | None:
    """The image type of ``data`` by its content (``jpg``, ``png``, ``gif``), or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    return None


def fetch_picture(url: str) -> bytes:
    """The bytes of an image the catalog names by URL (Taobao takes only files)."""
    try:
        response = requests.get(url, timeout=(5, 30))
        response.raise_for_status()
    except requests.RequestException as error:
        raise PlatformError(f"The image {url} could not be fetched: {error}") from None
    return response.content


class PictureSpace:
    """``sha256 → picture_path`` of the images uploaded to one shop, in a SQLite file."""

    def __init__(self, path: Path) -> None:
        private_dir(path.parent)
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS pictures (sha256 TEXT PRIMARY KEY, path TEXT NOT NULL)"
        )

    def get(self, digest: str) -> str | None:
        """The picture path uploaded for ``digest``, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT path FROM pictures WHERE sha256 = ?", (digest,)
            ).fetchone()
        return None if row is None else str(row[0])

    def holds_path(self, path: str) -> bool:
        """Whether ``path`` is a picture this shop's picture space was given."""
        with self._lock:
            row = self._conn.execute("SELECT 1 FROM pictures WHERE path = ?", (path,)).fetchone()
        return row is not None

    def put(self, digest: str, path: str) -> None:
        """Remember ``path`` for ``digest``."""
        with self._lock:
            self._conn.execute("INSERT OR REPLACE INTO pictures VALUES (?, ?)", (digest, path))

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._conn.close()
