"""Local image files named in a catalog: found, checked by their content, and hashed.

A product's ``images`` and a variant's ``image`` may name files
(``images/tshirt-red.jpg``, ``images\\tshirt-red.jpg`` as Excel users write it,
``C:\\Users\\li\\shop\\images\\a.jpg``, or a bare ``a.jpg`` that
``--images-from DIR`` resolves). :class:`LocalImages` finds each file, reads its type
from its first bytes (JPEG, PNG, GIF, WebP: never from its name) and its size in pixels
from its header, checks them against what the platform takes
(:class:`~shopsync.domain.images.ImageLimits`), and hashes its content. A file that is
missing, unreadable, not an image or outside the limits is a row error naming the path
as the seller wrote it. A checked image becomes a local reference
(:func:`~shopsync.domain.images.local_ref`); the upload happens later, when the product
is sent (:mod:`shopsync.sync.images`).

Files are read in blocks, never whole, and each file is checked once per run however
many products name it (the last :data:`_REMEMBERED` checks are kept).
"""

from __future__ import annotations

import hashlib
import os
import re
import struct
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from shopsync.domain.images import (
    DEFAULT_LIMITS,
    GIF,
    JPEG,
    PNG,
    WEBP,
    ImageLimits,
    is_url,
    local_ref,
    parse_local_ref,
)
from shopsync.domain.models import FieldError, Product
from shopsync.i18n import N_

_BLOCK = 1024 * 1024
_REMEMBERED = 4096
"""Checked files kept per run (path, size and mtime → result), about 300 bytes each."""
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:/")
_TYPE_NAMES = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF", WEBP: "WebP"}
_MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ImageFacts:
    """What the check learned of one file."""

    content_type: str
    width: int
    height: int
    size: int
    digest: str
    """SHA-256 of the content, hex."""


class ImageProblem(Exception):
    """Why one image was refused, in words that follow the path as the seller wrote it."""


@dataclass
class LocalImages:
    """The image check of a catalog: where files are looked for, and what is allowed.

    ``platform`` names the platform whose ``limits`` apply, for messages; ``limits``
    None means the platform takes image URLs only (no media upload).
    """

    images_from: Path | None = None
    limits: ImageLimits | None = DEFAULT_LIMITS
    platform: str | None = None
    _checked: OrderedDict[tuple[str, int, int], ImageFacts | str] = field(
        default_factory=OrderedDict, repr=False
    )

    def __getstate__(self) -> dict[str, object]:
        # Sent to validate's worker processes: each keeps its own checks.
        return {
            "images_from": self.images_from,
            "limits": self.limits,
            "platform": self.platform,
            "_checked": OrderedDict(),
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    def check(
        self, product: Product, input_path: Path, column: str, variant_column: str = "image"
    ) -> Product | tuple[FieldError, ...]:
        """``product`` with its local images as checked references, or why not.

        ``input_path`` is the file the row came from (relative names are beside it);
        ``column`` the images column as the file names it, ``variant_column`` the
        variants' image column. A variant's ``image`` is checked as the product's
        ``images`` are. URLs are left as they are. A product without local images is
        returned as it is (no copy).
        """
        if not _names_local_file(product):
            return product  # most rows: no copy, no file read
        files: dict[str, str] = {}
        errors: list[FieldError] = []
        images = [
            self._checked_value(value, input_path, column, "", files, errors)
            for value in product.images
        ]
        variants = [
            variant
            if variant.image is None
            else variant.model_copy(
                update={
                    "image": self._checked_value(
                        variant.image,
                        input_path,
                        variant_column,
                        variant.sku,
                        files,
                        errors,
                    )
                }
            )
            for variant in product.variants
        ]
        if errors:
            return tuple(errors)
        return product.with_images(images, files, variants)

    def _checked_value(
        self,
        value: str,
        input_path: Path,
        column: str,
        variant_sku: str,
        files: dict[str, str],
        errors: list[FieldError],
    ) -> str:
        """``value`` as a checked reference (its file noted in ``files``), a URL as it
        is, or ``value`` unchanged with why it was refused added to ``errors`` (naming
        the variant by ``variant_sku``, empty for the product's own images)."""

        if is_url(value):
            return value
        try:
            path, facts = self._check_one(value, input_path)
        except ImageProblem as problem:
            why = problem.args[0] if problem.args else str(problem)
            message = (
                N_("variant {sku}: image {value} {problem}").format(
                    sku=variant_sku, value=repr(value), problem=why
                )
                if variant_sku
                else N_("image {value} {problem}").format(value=repr(value), problem=why)
            )
            errors.append(FieldError(column, value, message))

            return value
        ref = local_ref(value, facts.digest)
        files[ref] = str(path)
        return ref

    def _check_one(self, written: str, input_path: Path) -> tuple[Path, ImageFacts]:
        if parse_local_ref(written) is not None:
            raise ImageProblem(N_("is a checked reference, not a file name"))
        if self.limits is None:
            raise ImageProblem(
                N_(
                    "names a local file, but the {platform} platform takes image URLs "
                    "only; upload it elsewhere and give its https:// URL"
                ).format(platform=self.platform or N_("target"))
            )
        path = self.locate(written, input_path)
        try:
            stat = path.stat()
        except FileNotFoundError:
            raise ImageProblem(self._not_found(written, path)) from None
        except OSError as error:
            raise ImageProblem(
                N_("cannot be read: {reason}").format(reason=error.strerror or error)
            ) from None
        if path.is_dir():
            raise ImageProblem(N_("is a directory ({path}), not an image file").format(path=path))
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        known = self._checked.get(key)
        if known is None:
            try:
                known = self._read(path, stat.st_size)
            except ImageProblem as problem:
                known = str(problem)
            self._checked[key] = known
            if len(self._checked) > _REMEMBERED:
                self._checked.popitem(last=False)
        if isinstance(known, str):
            raise ImageProblem(known)
        return path, known

    def locate(self, written: str, input_path: Path) -> Path:
        """Where the file named ``written`` is looked for (it may not exist)."""
        text = written.replace("\\", "/")
        base = input_path.parent
        if self.images_from is not None and "/" not in text:
            return self.images_from / text
        if _WINDOWS_DRIVE.match(text) or text.startswith("//"):
            # A Windows path on another machine: the longest tail of it that exists
            # beside the input file (…\shop\images\a.jpg → images/a.jpg).
            parts = [part for part in text[2:].split("/") if part]
            for start in range(len(parts)):
                candidate = base.joinpath(*parts[start:])
                if candidate.is_file():
                    return candidate
            if os.name == "nt":
                return Path(written)
            return base.joinpath(*parts[-1:])
        return base / text

    def _not_found(self, written: str, path: Path) -> str:
        if self.images_from is not None and "/" not in written.replace("\\", "/"):
            return N_("was not found in --images-from {images_from}").format(
                images_from=self.images_from
            )
        hint = "" if self.images_from is not None else N_("; for bare names, --images-from DIR")
        return N_("was not found (looked for {path}{hint})").format(path=path, hint=hint)

    def _read(self, path: Path, size: int) -> ImageFacts:
        limits = self.limits
        assert limits is not None
        try:
            with path.open("rb") as file:
                head = file.read(32)
                kind = sniff_type(head)
                if kind is None:
                    raise ImageProblem(
                        N_(
                            "is not a JPEG, PNG, GIF or WebP image (its content says so, "
                            "whatever its name)"
                        )
                    )
                width, height = dimensions(kind, head, file)
                platform = f"the {self.platform} platform" if self.platform else "the platform"
                if kind not in limits.content_types:
                    taken = ", ".join(sorted(_TYPE_NAMES[t] for t in limits.content_types))
                    raise ImageProblem(
                        N_(
                            "is a {kind} image, which {platform} does not take (it takes {taken})"
                        ).format(kind=_TYPE_NAMES[kind], platform=platform, taken=taken)
                    )
                if size > limits.max_bytes:
                    raise ImageProblem(
                        N_("is {size:.1f} MiB; {platform} takes at most {most:g} MiB").format(
                            size=size / _MIB, platform=platform, most=limits.max_bytes / _MIB
                        )
                    )
                if not (
                    limits.min_width <= width <= limits.max_width
                    and limits.min_height <= height <= limits.max_height
                ):
                    raise ImageProblem(
                        N_(
                            "is {width}×{height} pixels; {platform} takes "
                            "{min_width}×{min_height} to {max_width}×{max_height}"
                        ).format(
                            width=width,
                            height=height,
                            platform=platform,
                            min_width=limits.min_width,
                            min_height=limits.min_height,
                            max_width=limits.max_width,
                            max_height=limits.max_height,
                        )
                    )
                file.seek(0)
                digest = hashlib.sha256()
                while block := file.read(_BLOCK):
                    digest.update(block)
        except OSError as error:
            raise ImageProblem(
                N_("cannot be read: {reason}").format(reason=error.strerror or error)
            ) from None
        return ImageFacts(kind, width, height, size, digest.hexdigest())


def _names_local_file(product: Product) -> bool:
    """Whether any image of ``product`` or of its variants may name a local file."""

    def local(value: str) -> bool:
        return not (value.startswith("https://") or is_url(value))

    return any(local(value) for value in product.images) or any(
        variant.image is not None and local(variant.image) for variant in product.variants
    )


def sniff_type(head: bytes) -> str | None:
    """The image type the first bytes of a file say (JPEG, PNG, GIF, WebP), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    return None


def dimensions(kind: str, head: bytes, file: BinaryIO) -> tuple[int, int]:
    """``(width, height)`` from the image's header; :class:`ImageProblem` if it has none."""
    try:
        if kind == PNG and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return int(width), int(height)
        if kind == GIF:
            width, height = struct.unpack("<HH", head[6:10])
            return int(width), int(height)
        if kind == WEBP:
            return _webp_size(head)
        if kind == JPEG:
            return _jpeg_size(file)
    except (struct.error, IndexError):
        pass
    raise ImageProblem(
        N_("is a damaged {kind} image (its header is cut short)").format(kind=_TYPE_NAMES[kind])
    )


def _webp_size(head: bytes) -> tuple[int, int]:
    chunk = head[12:16]
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L":
        (bits,) = struct.unpack("<I", head[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(head[24:27], "little") + 1
        height = int.from_bytes(head[27:30], "little") + 1
        return width, height
    raise struct.error("unknown WebP chunk")


_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(file: BinaryIO) -> tuple[int, int]:
    # Walk the segments to the frame header (SOFn), seeking past each one: EXIF and
    # thumbnails come first and may be large, so nothing of them is read.
    file.seek(2)
    while True:
        marker = file.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise struct.error("no frame header")
        code = marker[1]
        while code == 0xFF:  # fill bytes
            code = file.read(1)[0]
        if code in (0xD8, 0x01) or 0xD0 <= code <= 0xD7:
            continue
        (length,) = struct.unpack(">H", file.read(2))
        if code in _SOF_MARKERS:
            height, width = struct.unpack(">xHH", file.read(5))
            return int(width), int(height)
        file.seek(length - 2, os.SEEK_CUR)
