"""Uploading a product's local images when it is sent: once per content, per target.

The catalog turned each local image into a checked reference (what the seller wrote and
the file's SHA-256, :mod:`shopsync.domain.images`). When a product holding references is
about to be sent, :class:`ImageUploader` puts each referenced file on the platform
(:meth:`~shopsync.platforms.base.Platform.upload_image`) unless the ledger's ``image``
table already knows the content, and gives the product as the request carries it: the
platform's URL (or id) in each reference's place, in ``images`` and in each variant's
``image``. The product's body, hash and ledger
entry keep the references, so an upload never makes a product look changed.

Uploads run in the engine's worker threads, one file at a time per worker, so at most
``workers`` files are in memory (each within the platform's size limit). Two workers
wanting the same content at once share one upload: the second waits for the first.
A failed upload fails the items that needed it (their rows go to the failed file) when
the platform refused the file; it stops the run, like a failed batch, when the platform
itself is failing.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from shopsync.catalog.images import sniff_type
from shopsync.domain.images import parse_local_ref
from shopsync.domain.models import Product
from shopsync.errors import ShopsyncError
from shopsync.i18n import N_
from shopsync.platforms.base import ErrorScope, Platform, capabilities_of, error_scope_of
from shopsync.state.store import LedgerStore

_REMEMBERED = 4096
"""Content hash → platform reference, kept in memory besides the ledger's table."""


class ImageFailed(Exception):
    """An image of one product could not be uploaded; the product's item fails, the run
    goes on. ``code`` is what the failed file shows."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def has_local_images(product: Product) -> bool:
    """Whether ``product`` or one of its variants names a checked local image (and so
    needs uploads to be sent)."""
    return any(parse_local_ref(value) is not None for value in product.images) or any(
        variant.image is not None and parse_local_ref(variant.image) is not None
        for variant in product.variants
    )


class ImageUploader:
    """Uploads local images for one run against one target, remembering them in the ledger."""

    def __init__(self, platform: Platform, ledger: LedgerStore) -> None:
        """``platform`` must declare ``capabilities.images`` for anything to be uploaded."""
        self.platform = platform
        self.ledger = ledger
        self.accepts = capabilities_of(platform).images is not None
        self.uploaded = 0
        """Files this run put on the platform."""
        self._lock = threading.Lock()
        self._in_flight: dict[str, Future[str]] = {}
        self._known: OrderedDict[str, str] = OrderedDict()

    def wire_product(self, product: Product) -> Product:
        """``product`` as a request carries it: each local reference replaced by the
        platform's name for the uploaded file, uploading what is not there yet.

        Raises :class:`ImageFailed` for a file the platform refused or that is gone,
        and the platform's :class:`~shopsync.errors.ShopsyncError` when it is failing.
        """
        if not has_local_images(product):
            return product
        files = product.image_files
        images = [self._wired_value(value, files) for value in product.images]
        variants = [
            variant
            if variant.image is None or parse_local_ref(variant.image) is None
            else variant.model_copy(update={"image": self._wired_value(variant.image, files)})
            for variant in product.variants
        ]
        return product.model_copy(update={"images": images, "variants": variants})

    def wire_bodies(self, bodies: Sequence[Mapping[str, Any]]) -> tuple[Mapping[str, Any], ...]:
        """Variant bodies as the ledger keeps them, each local ``image`` reference put as
        the platform knows it where this target already has that content (nothing is
        uploaded): what an adapter compares a wired variant with, so an unchanged image
        is not sent again as a change."""
        wired: list[Mapping[str, Any]] = []
        for body in bodies:
            image = body.get("image")
            parsed = parse_local_ref(image) if isinstance(image, str) else None
            known = self._known_reference(parsed[1]) if parsed else None
            wired.append(body if known is None else {**body, "image": known})
        return tuple(wired)

    def _known_reference(self, digest: str) -> str | None:
        with self._lock:
            known = self._known.get(digest)
        return known if known is not None else self.ledger.image(digest)

    def _wired_value(self, value: str, files: Mapping[str, str]) -> str:
        parsed = parse_local_ref(value)
        if parsed is None:
            return value
        written, digest = parsed
        return self._reference(digest, written, files.get(value))

    def _reference(self, digest: str, written: str, path: str | None) -> str:
        future: Future[str] = Future()
        with self._lock:
            known = self._known.get(digest)
            if known is not None:
                return known
            waiting = self._in_flight.get(digest)
            if waiting is None:
                self._in_flight[digest] = future
        if waiting is not None:
            return waiting.result()  # another worker is uploading this content now
        try:
            reference = self.ledger.image(digest) or self._upload(digest, written, path)
        except BaseException as error:
            future.set_exception(error)
            raise
        else:
            future.set_result(reference)
            with self._lock:
                self._known[digest] = reference
                if len(self._known) > _REMEMBERED:
                    self._known.popitem(last=False)
            return reference
        finally:
            with self._lock:
                del self._in_flight[digest]

    def _upload(self, digest: str, written: str, path: str | None) -> str:
        if not self.accepts:
            raise ImageFailed(
                "IMAGE_NOT_SUPPORTED",
                N_("image {written!r}: the {name} platform takes image URLs only").format(
                    written=written, name=self.platform.name
                ),
            )
        if path is None:
            # A batch an earlier run left pending, whose file this run has not checked.
            raise ImageFailed(
                "IMAGE_NOT_UPLOADED",
                N_(
                    "image {written!r} was not uploaded before the earlier run "
                    "stopped; the next upload of the file sends it"
                ).format(written=written),
            )
        try:
            content = Path(path).read_bytes()
        except OSError as error:
            raise ImageFailed(
                "IMAGE_UNREADABLE",
                N_("image {written!r} cannot be read: {strerror}").format(
                    written=written, strerror=error.strerror
                ),
            ) from None
        if hashlib.sha256(content).hexdigest() != digest:
            raise ImageFailed(
                "IMAGE_CHANGED",
                N_("image {written!r} changed after it was checked; upload the file again").format(
                    written=written
                ),
            )
        content_type = sniff_type(content[:32]) or "application/octet-stream"
        try:
            remote = self.platform.upload_image(
                content,
                filename=Path(written.replace("\\", "/")).name,
                content_type=content_type,
                content_hash=digest,
            )
        except ShopsyncError as error:
            if error_scope_of(self.platform, error) is ErrorScope.PLATFORM:
                raise
            code = getattr(error, "code", None) or "IMAGE_REFUSED"
            raise ImageFailed(code, f"image {written!r}: {error.message}") from None
        reference = remote.reference
        self.ledger.record_image(digest, reference, url=remote.url, image_id=remote.image_id)
        with self._lock:
            self.uploaded += 1
        return reference
