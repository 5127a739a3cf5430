"""The exception tree and the exit codes, in one place.

Everything the library raises on purpose is a :class:`ShopsyncError`; the CLI catches
that one class and turns it into a message and an :class:`ExitCode`. Anything else that
reaches the CLI is a bug in shopsync, reported as such (exit 70)::

    ShopsyncError
    ├── UsageError             bad flags or combination of flags                  exit 2
    │   └── ConfigError        unreadable, unsafe or incomplete configuration      exit 2
    ├── InputError             a file that cannot be read as a catalog at all      exit 3
    │   └── RowsRejected       some rows were invalid (raised by --strict)         exit 3
    ├── AuthError              the platform refused the credentials                exit 4
    │   └── ScopeError         the token lacks a scope the command needs           exit 4
    ├── PlatformError          the platform failed or could not be reached         exit 5
    │   ├── TransportError     connection refused or reset, timeout, TLS           exit 5
    │   │   └── AmbiguousWriteError  a write was sent, its outcome is unknown         exit 5
    │   └── APIError           an error answer that retrying cannot fix            exit 5
    ├── LockedError            another run holds the profile's lock                exit 6
    └── Interrupted            Ctrl-C or SIGTERM; state was saved                  exit 130
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in README.md ("Exit codes")."""

    OK = 0
    """Everything that was asked was done."""
    ITEMS_FAILED = 1
    """The run completed, but the platform refused some items."""
    USAGE = 2
    """Bad command line or configuration (click's own usage errors use 2 as well)."""
    INPUT_REJECTED = 3
    """Some input rows were invalid, or an input file could not be read."""
    AUTH = 4
    """Authentication or authorization failed."""
    PLATFORM = 5
    """The platform could not be reached or answered with an unrecoverable error."""
    LOCKED = 6
    """Another shopsync run holds the lock for this profile."""
    PLAN_STALE = 7
    """``apply`` refused a plan: the ledger or the platform moved since it was made."""
    DELETE_LIMIT = 8
    """``--prune`` would remove more products than ``--max-delete`` allows; none removed."""
    NOT_APPLIED = 9
    """The run completed, but writes the platform accepted were not applied when checked
    (``--verify``: "accepted, not live"); a re-run checks them again."""
    INTERNAL = 70
    """A bug in shopsync (EX_SOFTWARE); please report it with --traceback output."""
    INTERRUPTED = 130
    """Interrupted by Ctrl-C or SIGTERM (128 + SIGINT); a re-run resumes."""
    BROKEN_PIPE = 141
    """The reader of stdout went away (``| head``): 128 + SIGPIPE, as git and cat end."""


class ShopsyncError(Exception):
    """Root of every error shopsync raises on purpose.

    ``message`` is a complete sentence for a person; ``hint`` optionally says what to do.
    """

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(ShopsyncError):
    """Raised when flags or arguments are wrong or contradict each other."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """Raised when configuration is missing, malformed or unsafe (e.g. a world-readable secret)."""


class InputError(ShopsyncError):
    """Raised when an input file cannot be read as a catalog at all.

    Examples: a missing file, an empty file, an Excel workbook named ``.csv``, bytes that
    fit no supported encoding, a JSON document that holds no list of products.
    Individual bad rows are not errors: they become :class:`shopsync.domain.models.RowError`.
    """

    exit_code = ExitCode.INPUT_REJECTED


class RowsRejected(InputError):
    """Raised under ``--strict`` when any input row is invalid, before anything is sent."""


class AuthError(ShopsyncError):
    """Raised when the platform refuses the client credentials or the token."""

    exit_code = ExitCode.AUTH


class ScopeError(AuthError):
    """Raised on 403 ``insufficient_scope``: the credentials work but lack a needed scope."""


class PlatformError(ShopsyncError):
    """Raised when the platform cannot be used: unreachable, or failing past all retries."""

    exit_code = ExitCode.PLATFORM


class TransportError(PlatformError):
    """Raised when no HTTP answer could be had (connection refused or reset, timeout, TLS)."""


class AmbiguousWriteError(TransportError):
    """Raised when a write was sent but no answer came back (a timeout or reset after sending).

    The platform may or may not have applied it. The HTTP layer raises this instead of
    retrying only for writes it was told not to replay blindly (a platform that ignores
    ``Idempotency-Key``); the platform adapter then reconciles by reading the state back.
    """


class APIError(PlatformError):
    """Raised on an HTTP error answer that retrying will not fix (or that retries outlasted).

    ``status``, ``code`` (the problem+json ``code``) and ``request_id`` (``X-Request-Id``)
    identify the answer for a support request.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.code = code
        self.request_id = request_id


class LockedError(ShopsyncError):
    """Raised when another shopsync process holds the lock for the same profile."""

    exit_code = ExitCode.LOCKED


class PlanStale(ShopsyncError):
    """Raised by ``apply`` when the ledger or the platform's state of products the plan
    touches changed since the plan was made (the message names them)."""

    exit_code = ExitCode.PLAN_STALE


class DeleteLimitExceeded(ShopsyncError):
    """Raised before anything is removed when ``--prune`` would remove more products
    than ``--max-delete`` allows."""

    exit_code = ExitCode.DELETE_LIMIT


class Interrupted(ShopsyncError):
    """Raised after Ctrl-C or SIGTERM once in-flight work is settled and state is saved."""

    exit_code = ExitCode.INTERRUPTED


class FleetError(ShopsyncError):
    """Raised when a fleet's own server (the PostgreSQL ledger, the Redis rate limiter or
    the Celery broker) cannot be reached or refuses what shopsync asks of it."""

    exit_code = ExitCode.PLATFORM
