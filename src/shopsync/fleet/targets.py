"""A fleet's targets: one profile (a shop's credentials and limits) and the fleet's servers.

A task names its target by profile only; every machine resolves the profile from its
own config file and environment, so credentials never travel in task messages. For
many shops, give each profile its own ``client_secret_env`` (one variable per shop).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from shopsync.config import Settings, env_var
from shopsync.errors import ConfigError
from shopsync.i18n import N_, join_messages

if TYPE_CHECKING:
    import redis

    from shopsync.platforms.base import Platform


@dataclass(frozen=True)
class FleetTarget:
    """Everything a planner or a worker needs to know about one target."""

    settings: Settings
    ledger_url: str
    broker_url: str
    limiter_url: str | None

    @property
    def profile(self) -> str:
        """The profile's name: what a task message carries."""
        return self.settings.profile

    @property
    def namespace(self) -> str:
        """Profile and base URL: the ledger's target, and the idempotency keys' namespace."""
        return f"{self.settings.profile}|{self.settings.base_url}"

    @property
    def limiter_key(self) -> str:
        """The Redis key of this shop's shared bucket."""
        from shopsync.fleet.limiter import bucket_name  # noqa: PLC0415

        settings = self.settings
        return bucket_name(settings.platform, settings.base_url or "", settings.client_id or "")


def fleet_target(settings: Settings, *, need_broker: bool = True) -> FleetTarget:
    """``settings`` as a fleet target, or :class:`ConfigError` naming what is missing."""
    from shopsync.http.redact import register_secret  # noqa: PLC0415

    missing = [
        name
        for name in ("ledger_url", *(("broker_url",) if need_broker else ()))
        if getattr(settings, name) is None
    ]
    if missing:
        raise ConfigError(
            N_("fleet mode needs {settings} (profile {profile}).").format(
                settings=" and ".join(missing), profile=repr(settings.profile)
            ),
            hint=N_("Set {settings}; see README, 'Many shops, many machines'.").format(
                settings=join_messages(
                    [
                        N_("{variable} or {name} in the profile").format(
                            variable=env_var(name), name=name
                        )
                        for name in missing
                    ],
                    ", ",
                )
            ),
        )
    for url in (settings.ledger_url, settings.broker_url, settings.limiter_url):
        if url:
            register_secret(urlsplit(url).password)  # kept out of logs and tracebacks
    assert settings.ledger_url is not None
    return FleetTarget(
        settings=settings,
        ledger_url=settings.ledger_url,
        broker_url=settings.broker_url or "",
        limiter_url=settings.limiter_url or settings.broker_url,
    )


def connect_platform(target: FleetTarget, limiter_redis: redis.Redis | None) -> Platform:
    """The target's platform adapter (through the registry), its default rate bucket
    shared through ``limiter_redis``.

    Without a Redis client the in-process limiter stays (one machine: still correct).
    """
    from shopsync.platforms import connect  # noqa: PLC0415

    platform = connect(target.settings)
    client = getattr(platform, "client", None)
    if limiter_redis is not None and client is not None:
        from shopsync.fleet.limiter import SharedRateLimiter  # noqa: PLC0415

        shared = SharedRateLimiter(
            limiter_redis, target.limiter_key, target.settings.rate, target.settings.burst
        )
        # Every request of this adapter draws from the default bucket unless it names
        # another; that one becomes the fleet's. (Named per-operation buckets stay local.)
        client.buckets.default = shared
        client.limiter = shared
    return platform
