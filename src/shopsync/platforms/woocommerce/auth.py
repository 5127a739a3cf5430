"""WooCommerce REST API keys on the wire: HTTP Basic over HTTPS, one-legged OAuth 1.0a over
plain HTTP (specs/woocommerce/authentication.md).

WooCommerce reads Basic credentials only over HTTPS; over HTTP it wants each request signed:
``oauth_consumer_key``, ``oauth_timestamp``, ``oauth_nonce``, ``oauth_signature_method``
and ``oauth_signature`` in the query string, the signature an HMAC-SHA256 of RFC 5849's
base string keyed with ``consumer_secret&`` (the body is not signed). A signature is made
per attempt, with a new nonce: WooCommerce refuses a nonce it has seen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import requests
from requests.auth import HTTPBasicAuth

from shopsync.errors import UsageError
from shopsync.i18n import N_


def oauth_encode(text: str) -> str:
    """RFC 3986 percent-encoding (RFC 5849 §3.6): only unreserved characters stay."""
    return quote(text, safe="~")


def oauth_signature(method: str, url: str, params: Mapping[str, str], secret: str) -> str:
    """The HMAC-SHA256 OAuth 1.0a signature of ``method url`` with ``params`` (RFC 5849
    §3.4), keyed ``secret&`` as WooCommerce keys it."""
    pairs = sorted(
        (oauth_encode(k), oauth_encode(v)) for k, v in params.items() if k != "oauth_signature"
    )
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), oauth_encode(url), oauth_encode(normalized)))
    mac = hmac.new((secret + "&").encode("utf-8"), base.encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


class OAuthQuerySigning(requests.auth.AuthBase):
    """Signs a prepared request in its query string; the repr never shows the secret."""

    def __init__(
        self,
        consumer_key: str,
        consumer_secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.clock = clock
        self.nonce = nonce

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        split = urlsplit(str(r.url))
        pairs = parse_qsl(split.query, keep_blank_values=True)
        pairs += [
            ("oauth_consumer_key", self.consumer_key),
            ("oauth_nonce", self.nonce()),
            ("oauth_signature_method", "HMAC-SHA256"),
            ("oauth_timestamp", str(int(self.clock()))),
        ]
        url = urlunsplit((split.scheme, split.netloc, split.path, "", ""))
        signature = oauth_signature(str(r.method), url, dict(pairs), self.consumer_secret)
        pairs.append(("oauth_signature", signature))
        r.url = urlunsplit((split.scheme, split.netloc, split.path, urlencode(pairs), ""))
        return r

    def __repr__(self) -> str:
        return f"OAuthQuerySigning({self.consumer_key!r}, ***)"


class ConsumerKeyAuth:
    """:class:`~shopsync.http.auth.RequestAuth` for a REST API key: Basic over HTTPS,
    signed queries over HTTP. A refused key has no replacement."""

    def __init__(
        self,
        base_url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.over_https = base_url.lower().startswith("https://")
        self.consumer_key = consumer_key
        self._basic = HTTPBasicAuth(consumer_key, consumer_secret)
        self._signing = OAuthQuerySigning(consumer_key, consumer_secret, clock=clock)

    def authorize(self) -> requests.auth.AuthBase:
        """Basic over HTTPS, else a fresh signature per attempt."""
        return self._basic if self.over_https else self._signing

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """None: a REST API key is not refreshed."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"ConsumerKeyAuth({self.consumer_key!r}, ***)"


class ApplicationPasswordAuth:
    """:class:`~shopsync.http.auth.RequestAuth` for WordPress's own REST API (the media
    library): a user's application password, HTTP Basic. WordPress takes one over HTTPS
    only (or on a local site), so it is never sent over plain HTTP beyond this machine."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        split = urlsplit(base_url)
        if split.scheme.lower() != "https" and split.hostname not in LOOPBACK:
            raise UsageError(
                N_(
                    "A WordPress application password is sent over HTTPS only, and base_url "
                    "is {address}."
                ).format(address=f"{split.scheme}://{split.hostname}"),
                hint=N_(
                    "Use the site's https:// address, or leave wp_application_password "
                    "unset and give image URLs."
                ),
            )
        self.username = username
        self._basic = HTTPBasicAuth(username, password)

    def authorize(self) -> requests.auth.AuthBase:
        """Basic, every attempt."""
        return self._basic

    def reauthorize(self, rejected: requests.auth.AuthBase) -> requests.auth.AuthBase | None:
        """None: an application password is not refreshed."""
        return None

    def close(self) -> None:
        """Nothing to release."""

    def __repr__(self) -> str:
        return f"ApplicationPasswordAuth({self.username!r}, ***)"


LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


__all__ = [
    "ApplicationPasswordAuth",
    "ConsumerKeyAuth",
    "OAuthQuerySigning",
    "oauth_encode",
    "oauth_signature",
]
