"""Choosing the text encoding of a seller's file, and reading it as text safely.

The rule, in order (documented in README.md, "Encodings"):

1. ``--encoding`` given: that encoding, no guessing.
2. A byte-order mark decides: UTF-32 (LE/BE), UTF-16 (LE/BE), UTF-8.
3. The whole file is valid UTF-8: UTF-8.
4. It decodes as GB18030 (a superset of GBK, what Chinese Excel writes) *and* its
   multi-byte characters look like Chinese text: GB18030.
5. Otherwise Windows-1252, what Western European Excel writes.

Step 4 needs the "look like Chinese" test because GB18030 accepts most byte strings:
``Kaffeemühle`` in Windows-1252 is also valid GB18030, for a rare ideograph. Real Chinese
text is made almost entirely of the GB2312 ideographs and punctuation (both bytes at 0xA1
or above), while Latin letters with accents are followed by plain ASCII letters.
"""

from __future__ import annotations

import codecs
import io
import re
from dataclasses import dataclass
from pathlib import Path

from shopsync.errors import InputError
from shopsync.i18n import N_

_BOMS: tuple[tuple[bytes, str], ...] = (
    # UTF-32 first: its little-endian BOM begins with UTF-16's.
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_CHUNK = 1 << 20
_SAMPLE = 1 << 20
# A GB18030 double-byte character in the GB2312 area: both bytes 0xA1-0xFE.
_GB2312_PAIR = re.compile(rb"[\xa1-\xf7][\xa1-\xfe]")
_ANY_HIGH_PAIR = re.compile(
    rb"[\x81-\xfe][\x40-\x7e\x80-\xfe]|[\x81-\xfe][\x30-\x39][\x81-\xfe][\x30-\x39]"
)


@dataclass(frozen=True, slots=True)
class Detected:
    """The encoding chosen for a file, and why (for ``--verbose`` and error hints)."""

    encoding: str
    reason: str


def sniff_binary(path: Path, head: bytes) -> None:
    """Refuse files that are not text at all, with a message that says what they are."""
    if head.startswith(b"PK\x03\x04"):
        raise InputError(
            N_(
                "{path}: this is an Excel workbook (.xlsx) or another zip file, not CSV text."
            ).format(path=path),
            hint=N_("In Excel, use File > Save As > 'CSV UTF-8 (Comma delimited)'."),
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            N_("{path}: this is an old Excel workbook (.xls), not CSV text.").format(path=path),
            hint=N_("In Excel, use File > Save As > 'CSV UTF-8 (Comma delimited)'."),
        )
    if head.startswith(b"%PDF"):
        raise InputError(
            N_("{path}: this is a PDF document, not a catalog file.").format(path=path)
        )


def detect_encoding(path: Path, override: str | None = None) -> Detected:
    """Decide how ``path`` is encoded, by the rule in this module's docstring."""
    if override:
        try:
            codecs.lookup(override)
        except LookupError:
            raise InputError(
                N_("unknown encoding {override!r}.").format(override=override),
                hint=N_("Try utf-8, utf-16, gb18030, cp1252 or latin-1."),
            ) from None
        return Detected(override, "given with --encoding")
    with path.open("rb") as handle:
        head = handle.read(4)
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return Detected(encoding, "byte-order mark")
    if _is_utf8(path):
        return Detected("utf-8", "valid UTF-8")
    with path.open("rb") as handle:
        sample = handle.read(_SAMPLE)
    if _looks_chinese(sample):
        return Detected("gb18030", N_("not UTF-8; GB18030 with Chinese text"))
    return Detected("cp1252", N_("not UTF-8 and not Chinese; Windows-1252"))


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _looks_chinese(sample: bytes) -> bool:
    try:
        sample.decode("gb18030")
    except UnicodeDecodeError as error:
        # The sample may end in the middle of a character; anything earlier is fatal.
        if error.start < len(sample) - 4:
            return False
    multibyte = len(_ANY_HIGH_PAIR.findall(sample))
    if multibyte == 0:
        return False
    return len(_GB2312_PAIR.findall(sample)) >= 0.8 * multibyte


def open_text(path: Path, detected: Detected) -> io.TextIOWrapper:
    """Open ``path`` as strict text in ``detected.encoding``, newlines untranslated for csv."""
    return io.TextIOWrapper(
        path.open("rb"), encoding=detected.encoding, errors="strict", newline=""
    )


def decode_error(path: Path, detected: Detected, error: UnicodeDecodeError) -> InputError:
    """Turn a decoding failure into one clear message with the file's byte offset and line."""
    offset, line = _locate_bad_bytes(path, detected.encoding)
    where = f"byte offset {offset}" + (f" (line {line})" if line else "")
    return InputError(
        N_(
            "{path}: the bytes at {where} are not valid {encoding} (chosen "
            "because: {reason}): {detail}."
        ).format(
            path=path,
            where=where,
            encoding=detected.encoding,
            reason=detected.reason,
            detail=error.reason,
        ),
        hint=N_(
            "Name the file's encoding with --encoding, e.g. --encoding "
            "gb18030 or --encoding cp1252, or save it from Excel as 'CSV "
            "UTF-8'."
        ),
    )


def _locate_bad_bytes(path: Path, encoding: str) -> tuple[int, int | None]:
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    consumed = 0
    newlines = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as error:
                offset = consumed - pending + error.start
                newlines += chunk[: max(offset - consumed, 0)].count(b"\n")
                # Line counting by b"\n" is only right for ASCII-compatible encodings.
                ascii_compatible = "16" not in encoding and "32" not in encoding
                return offset, (newlines + 1 if ascii_compatible else None)
            consumed += len(chunk)
            newlines += chunk.count(b"\n")
    # Only the end is left: a character cut short by the end of the file.
    return consumed - len(decoder.getstate()[0]), None
