"""Sending HTTP requests safely from many threads.

``requests.Session`` is not documented as thread-safe (its cookie jar and adapters are
shared mutable state), so each worker thread gets its own session from a
``threading.local``. Each session keeps one keep-alive connection per host, so the
connections in use grow with the number of workers and no more. Every request carries
connect and read timeouts, verifies TLS (with ``ca_bundle`` if given), and identifies
itself as ``shopsync/<version>``.

Redirects: requests itself drops ``Authorization`` when a redirect changes the host,
but it then re-reads ``~/.netrc`` for the new host and may attach other credentials.
:class:`_Session` strips credentials whenever the origin (scheme, host, port) changes
and never adds any.

The environment (``HTTPS_PROXY``, ``NO_PROXY``, ``REQUESTS_CA_BUNDLE``...) is read once
per origin, not on every request: requests re-reads it for each one (about 100 µs), and
it does not change while shopsync runs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from shopsync import __version__
from shopsync.http.redact import redact_headers, redact_text, redacting_logger

if TYPE_CHECKING:
    from shopsync.config import Settings

USER_AGENT = f"shopsync/{__version__}"
log = redacting_logger(__name__)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return (parts.scheme, (parts.hostname or "").lower(), parts.port or default)


class _Session(requests.Session):
    def rebuild_auth(self, prepared_request: requests.PreparedRequest, response: Any) -> None:
        """Drop credentials on a redirect to another origin; never add netrc ones."""
        original = response.request.url
        if _origin(str(original)) != _origin(str(prepared_request.url)):
            prepared_request.headers.pop("Authorization", None)
            prepared_request.headers.pop("Cookie", None)


class _NoAuth(requests.auth.AuthBase):
    """Explicitly no auth: stops requests from reaching into ``~/.netrc``."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


class Transport:
    """A per-thread ``requests.Session`` factory with the project's fixed HTTP policy."""

    def __init__(
        self,
        *,
        verify: bool | str = True,
        user_agent: str = USER_AGENT,
        max_redirects: int = 5,
    ) -> None:
        self.verify = verify
        self.user_agent = user_agent
        self.max_redirects = max_redirects
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self._environment: dict[tuple[str, str, int | None], dict[str, Any]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> Transport:
        """The transport every adapter builds: ``ca_bundle`` verifies TLS where it is set."""
        return cls(verify=str(settings.ca_bundle) if settings.ca_bundle else True)

    def session(self) -> requests.Session:
        """This thread's session, created on first use."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = _Session()
            # One connection per host per thread: the platform plus its token host.
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=1, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = self.user_agent
            session.max_redirects = self.max_redirects
            # Proxies and CA bundle from the environment come from environment_for(),
            # resolved once per origin; ~/.netrc is never consulted (auth is explicit).
            session.trust_env = False
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def send(
        self,
        method: str,
        url: str,
        *,
        timeout: tuple[float, float],
        auth: requests.auth.AuthBase | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        data: Mapping[str, str] | None = None,
        content: bytes | None = None,
    ) -> requests.Response:
        """Send one request (no retries here); raise requests' exceptions unchanged.

        The body is ``json`` (encoded here), ``data`` (a form) or ``content`` (bytes
        sent as they are; the caller sets their Content-Type). ``auth`` is what the
        adapter's :class:`~shopsync.http.auth.RequestAuth` gave (None: no credentials).
        """
        auth = auth if auth is not None else _NoAuth()
        environment = self.environment_for(url)
        response = self.session().request(
            method,
            url,
            headers=dict(headers or {}),
            params=dict(params) if params else None,
            json=json,
            data=dict(data) if data is not None else content,
            auth=auth,
            timeout=timeout,
            verify=environment["verify"],
            cert=environment["cert"],
            proxies=environment["proxies"],
            allow_redirects=True,
        )
        if log.isEnabledFor(logging.DEBUG):
            _log_exchange(response)
        return response

    def environment_for(self, url: str) -> dict[str, Any]:
        """Proxies, CA bundle and client certificate for ``url``, from the environment.

        What ``requests`` would work out for each request with ``trust_env``: worked
        out once per origin.
        """
        origin = _origin(url)
        found = self._environment.get(origin)
        if found is None:
            probe = requests.Session()
            try:
                found = dict(probe.merge_environment_settings(url, {}, None, self.verify, None))
            finally:
                probe.close()
            with self._lock:
                self._environment[origin] = found
        return found

    def close(self) -> None:
        """Close every thread's session and its connections."""
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


_LOGGED_BODY = 2000
"""Characters of a body that ``-vv`` shows: enough to read an error, not a whole batch."""


def _log_exchange(response: requests.Response) -> None:
    """Log one request and its answer for ``-vv``, credentials and secrets masked."""
    request = response.request
    log.debug(
        "> %s %s\n%s%s",
        request.method,
        request.url,
        _header_lines(request.headers),
        _body_text(request.body),
    )
    log.debug(
        "< %d %s\n%s%s",
        response.status_code,
        response.reason or "",
        _header_lines(response.headers),
        _body_text(response.content),
    )


def _header_lines(headers: Mapping[str, str]) -> str:
    return "".join(f"{name}: {value}\n" for name, value in redact_headers(headers).items())


def _body_text(body: str | bytes | None) -> str:
    if not body:
        return ""
    # Masked before it is cut short: a cut through a secret would leave its start unmasked.
    text = redact_text(body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body))
    if len(text) > _LOGGED_BODY:
        text = f"{text[:_LOGGED_BODY]}... ({len(text)} characters)"
    return text + "\n"
