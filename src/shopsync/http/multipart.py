"""One file (and some plain fields) as a ``multipart/form-data`` body.

Every media upload is one: Shopee's media space, Taobao's picture space, WordPress's
media library, Medusa's file module, Shopify's staged-upload targets. requests would
build it too, but the body must be bytes handed to :meth:`HttpClient.request
<shopsync.http.client.HttpClient.request>` (which signs, retries and paces it), not a
``files=`` argument of one attempt.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping


def multipart_form(
    file_field: str,
    filename: str,
    content_type: str,
    content: bytes,
    *,
    fields: Mapping[str, str] | None = None,
    boundary: str | None = None,
) -> tuple[bytes, str]:
    """The body, and its ``Content-Type`` header: ``fields`` in order, then the file.

    Quotes and line breaks are dropped from ``filename``: inside the header's quoted
    string they would end it (or the header) early. ``boundary`` defaults to a random one.
    """
    boundary = boundary or "shopsync-" + secrets.token_hex(12)
    safe = filename.replace('"', "").replace("\r", "").replace("\n", "")
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in (fields or {}).items()
    ]
    parts.append(
        (
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{file_field}"; filename="{safe}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
    )
    parts.append(content)
    parts.append(f"\r\n--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"
