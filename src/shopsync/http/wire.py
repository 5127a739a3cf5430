"""What an adapter tells the HTTP client about its platform's wire: the protocols.

The client in :mod:`shopsync.http.client` knows how to send, wait, retry and redact; it
does not know how one platform's answers read. Each adapter supplies a :class:`Wire`:

* :meth:`Wire.classify` turns an HTTP answer into ``None`` (success), a
  :class:`~shopsync.http.retry.RetriableAPIError` (retry, possibly throttled, possibly
  ambiguous) or the :class:`~shopsync.errors.ShopsyncError` to raise;
* :meth:`Wire.rate_signal` reads the answer's rate-limit signals into one normalised
  :class:`RateSignal`, whatever headers or body fields carry them;
* :meth:`Wire.request_id` and :meth:`Wire.replayed` name the answer for a support
  request and say whether an idempotency key replayed it;
* :attr:`Wire.idempotency_header` is the header an idempotency key travels in (None
  for a platform that has none).

Transport failures (no HTTP answer at all) read the same on every platform, so they are
classified here, by :func:`shopsync.http.retry.classify_exception`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import requests

from shopsync.errors import ShopsyncError
from shopsync.http.retry import RetriableAPIError

Verdict = RetriableAPIError | ShopsyncError | None
"""What an attempt's outcome means: success (None), try again, or the error to raise."""


@dataclass(frozen=True)
class RateSignal:
    """A platform's rate-limit state as one answer reported it, in one normalised form.

    Every field is optional; an adapter fills what its platform says. Units are the
    bucket's own: requests for a request-counting bucket, cost points for a cost-based
    one (Shopify's GraphQL ``throttleStatus``).

    ``limit``: the bucket's size. ``remaining``: what is left in it now.
    ``reset_after``: seconds until the bucket is full again (or the window ends).
    ``retry_after``: seconds the platform asks everyone to wait (a 429's
    ``Retry-After``). ``cost``: what the answered request cost (1 if unset).
    ``restore_rate``: the refill per second, when the platform says it.
    ``bucket``: which of the platform's buckets this is (Amazon's per-operation
    limits); None is the client's default bucket. ``throttled``: the request was refused
    for exceeding the limit.
    """

    limit: float | None = None
    remaining: float | None = None
    reset_after: float | None = None
    retry_after: float | None = None
    cost: float | None = None
    restore_rate: float | None = None
    bucket: str | None = None
    throttled: bool = False


class Wire(Protocol):
    """How one platform's HTTP answers read; each adapter supplies one."""

    idempotency_header: str | None
    """The request header that carries an idempotency key, or None."""

    def classify(
        self, response: requests.Response, *, what: str, now: float | None = None
    ) -> Verdict:
        """Decide what an HTTP answer means; ``now`` is wall-clock time for HTTP-dates."""
        ...

    def rate_signal(self, response: requests.Response, *, now: float | None = None) -> RateSignal:
        """The rate-limit signals the answer carries (an empty signal if none)."""
        ...

    def request_id(self, headers: Mapping[str, str]) -> str | None:
        """The platform's id for this answer, for a support request."""
        ...

    def replayed(self, headers: Mapping[str, str]) -> bool:
        """True if the platform answered from its idempotency store."""
        ...


__all__ = ["RateSignal", "Verdict", "Wire"]
