"""Signing TOP calls: every request carries ``timestamp`` and ``sign`` over all its parameters.

The system parameters travel in the query string and the business parameters in the form
body (as Taobao's own SDK sends them); the signature covers both. Each attempt is signed
when it is prepared, with the time of that attempt, so a retry after a long back-off is
not refused as a stale timestamp.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

from shopsync.http.redact import register_secret
from shopsync.platforms.taobao.signing import signature, top_timestamp


class TopSigning:
    """:class:`~shopsync.http.auth.RequestAuth` for TOP: ``md5`` or ``hmac`` signatures."""

    def __init__(
        self,
        app_secret: str,
        *,
        sign_method: str = "md5",
        clock: Callable[[], float] = time.time,
    ) -> None:
        register_secret(app_secret)
        self._secret = app_secret
        self.sign_method = sign_method
        self._clock = clock

    def sign(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        """Add ``timestamp``, ``sign_method`` and ``sign`` to ``request``'s query, in place."""
        parts = urlsplit(str(request.url))
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "sign"]
        query = [(k, v) for k, v in query if k not in ("timestamp", "sign_method")]
        query += [("timestamp", top_timestamp(self._clock())), ("sign_method", self.sign_method)]
        signed = dict(query)
        body = request.body
        content_type = str(request.headers.get("Content-Type", ""))
        # A multipart body holds only files, which TOP does not sign.
        if body and content_type.startswith("application/x-www-form-urlencoded"):
            text = body.decode("utf-8") if isinstance(body, bytes) else str(body)
            signed.update(parse_qsl(text, keep_blank_values=True))
        query.append(("sign", signature(signed, self._secret, self.sign_method)))
        request.url = urlunsplit(parts._replace(query=urlencode(query)))
        return request

    def authorize(self) -> requests.auth.AuthBase:
        """An auth object that signs the request it is applied to."""
        return _Signed(self)

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """None: a refused signature means a wrong secret, which signing again won't fix."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"TopSigning({self.sign_method}, ***)"


class _Signed(requests.auth.AuthBase):
    def __init__(self, signer: TopSigning) -> None:
        self._signer = signer

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return self._signer.sign(r)
