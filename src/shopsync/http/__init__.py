"""HTTP plumbing shared by every platform adapter: transport, auth, rate limits, retries.

Nothing here knows one platform. An adapter supplies a :class:`Wire` (how its answers
read: classification, rate signals, request ids) and a :class:`RequestAuth`; the
reusable auth pieces are here. The public surface is small; the modules behind it are
private details::

    HttpClient(base_url=..., wire=..., credentials=..., ...)  requests with it all
    ApiResponse                          a successful answer (+ request id, replayed flag)
    ClientStats                          counters for the run report
    Wire, RateSignal                     what an adapter says about its platform's wire
    RequestAuth                          how requests are authenticated: ClientCredentials,
                                         RefreshTokenGrant, StaticToken, HmacSigning
    RateLimiter, RateBuckets, RetryPolicy, RetryBudget  the policies, for tests and tuning
"""

from shopsync.http.auth import (
    ClientCredentials,
    HmacSigning,
    RefreshTokenGrant,
    RequestAuth,
    StaticToken,
    TokenCache,
    TokenRejected,
    bearer_refusal,
)
from shopsync.http.client import ApiResponse, HttpClient
from shopsync.http.ratelimit import BucketSpec, RateBuckets, RateLimiter
from shopsync.http.redact import redact_text, register_secret
from shopsync.http.retry import (
    RetriableAPIError,
    RetryBudget,
    RetryPolicy,
    classify_exception,
    parse_retry_after,
)
from shopsync.http.stats import ClientStats
from shopsync.http.transport import USER_AGENT
from shopsync.http.wire import RateSignal, Verdict, Wire

__all__ = [
    "USER_AGENT",
    "ApiResponse",
    "BucketSpec",
    "ClientCredentials",
    "ClientStats",
    "HmacSigning",
    "HttpClient",
    "RateBuckets",
    "RateLimiter",
    "RateSignal",
    "RefreshTokenGrant",
    "RequestAuth",
    "RetriableAPIError",
    "RetryBudget",
    "RetryPolicy",
    "StaticToken",
    "TokenCache",
    "TokenRejected",
    "Verdict",
    "Wire",
    "bearer_refusal",
    "classify_exception",
    "parse_retry_after",
    "redact_text",
    "register_secret",
]
