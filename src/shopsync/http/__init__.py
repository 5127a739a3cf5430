"""HTTP plumbing shared by every platform adapter: transport, auth, rate limits, retries.

The public surface is small; the modules behind it are private details::

    HttpClient.from_settings(settings)   authenticated, rate-limited, retrying requests
    ApiResponse                          a successful answer (+ request id, replayed flag)
    ClientStats                          counters for the run report
    RateLimiter, RetryPolicy, RetryBudget  the policies, for tests and tuning
"""

from shopsync.http.client import ApiResponse, HttpClient
from shopsync.http.ratelimit import RateLimiter
from shopsync.http.redact import redact_text, register_secret
from shopsync.http.retry import RetryBudget, RetryPolicy, classify, parse_retry_after
from shopsync.http.stats import ClientStats
from shopsync.http.transport import USER_AGENT

__all__ = [
    "USER_AGENT",
    "ApiResponse",
    "ClientStats",
    "HttpClient",
    "RateLimiter",
    "RetryBudget",
    "RetryPolicy",
    "classify",
    "parse_retry_after",
    "redact_text",
    "register_secret",
]
