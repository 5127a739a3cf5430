"""One shop's rate limit shared by every machine of a fleet: GCRA in Redis.

The in-process :class:`~shopsync.http.ratelimit.RateLimiter` keeps its bucket (the
theoretical arrival time ``tat`` of GCRA) in memory, so three workers with a 10/s
limiter each send 30/s to a shop that allows 10. Celery's own ``rate_limit`` is per
worker too. :class:`SharedRateLimiter` keeps the same bucket in one Redis hash per
platform and shop, and changes it only in a Lua script that reads the time with Redis
``TIME``: every slot is handed out by one clock, so the machines' clocks (and their
drift) do not matter, and the script runs atomically, so no two callers get one slot.

It has the in-process limiter's interface (it is a subclass; the HTTP client cannot
tell them apart) and is fed the same platform signals: a 429 pauses every machine until
``Retry-After`` and halves the shared rate; ``RateLimit-Remaining`` running low slows
it by a fifth (at most once per cooldown); each quiet second adds back a twentieth of
the configured rate. The caller sleeps outside Redis, as with the local limiter.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING, Any

from shopsync.errors import FleetError
from shopsync.http.ratelimit import RateLimiter, Sleep
from shopsync.i18n import N_

if TYPE_CHECKING:
    import redis

_KEY_PREFIX = "shopsync:limit:"

# KEYS[1]: the bucket. ARGV: op, max_rate, burst, min_rate, step, cooldown, argument.
# Returns {wait, send_at, rate, paused_for} as strings (Lua numbers would be truncated).
# An idle shop's bucket is forgotten after a day (PEXPIRE): it would be full by then.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local op = ARGV[1]
local max_rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local min_rate = tonumber(ARGV[4])
local step = tonumber(ARGV[5])
local cooldown = tonumber(ARGV[6])
local arg = tonumber(ARGV[7])
local v = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'paused', 'changed', 'cut', 'hard')
local tat = tonumber(v[1]) or now
local rate = math.min(tonumber(v[2]) or max_rate, max_rate)
local paused = tonumber(v[3]) or 0
local changed = tonumber(v[4]) or now
local cut = tonumber(v[5]) or 0
local hard = tonumber(v[6]) or 0

if rate < max_rate then
  local steps = math.floor(now - changed)
  if steps > 0 then
    local old = rate
    rate = math.min(max_rate, rate + steps * step)
    changed = changed + steps
    if tat > now then tat = now + (tat - now) * old / rate end
  end
else
  changed = math.max(changed, now)
end

local function slow_to(new_rate)
  rate = new_rate
  tat = math.max(tat, math.max(now, paused) + (burst - 1) / rate)
end

local function pause(seconds)
  local untl = now + math.max(0, seconds)
  paused = math.max(paused, untl)
  changed = math.max(changed, untl)
  tat = math.max(tat, untl + (burst - 1) / rate)
end

local wait = 0
local send_at = now
if op == 'reserve' then
  -- A request costing arg tokens may go once the bucket holds that many.
  local interval = 1 / rate
  local tolerance = (burst - 1) * interval
  local extra = (math.max(arg, 1) - 1) * interval
  local start = math.max(tat, now)
  send_at = math.max(start + extra - tolerance, now, paused)
  tat = math.max(start, send_at - extra) + arg * interval
  wait = send_at - now
elseif op == 'peek' then
  local start = math.max(tat, now)
  send_at = math.max(start - (burst - 1) / rate, now, paused)
  wait = send_at - now
elseif op == 'throttled' then
  if arg < 0 then arg = 1 / rate end
  pause(arg)
  if now - hard >= cooldown then
    slow_to(math.max(min_rate, rate * 0.5))
    hard = now
    cut = now
    changed = math.max(changed, now)
  end
elseif op == 'low' then
  if now - cut >= cooldown then
    slow_to(math.max(min_rate, rate * 0.8))
    cut = now
  end
  changed = math.max(changed, now)
  if arg <= 0 then pause(1 / rate) end
elseif op == 'pause' then
  pause(arg)
elseif op == 'cap' then
  if arg < rate then slow_to(math.max(min_rate, arg)) end
  changed = math.max(changed, now)
end

redis.call('HSET', KEYS[1], 'tat', tostring(tat), 'rate', tostring(rate),
  'paused', tostring(paused), 'changed', tostring(changed), 'cut', tostring(cut),
  'hard', tostring(hard), 'max_rate', tostring(max_rate), 'burst', tostring(burst))
redis.call('PEXPIRE', KEYS[1], 86400000)
return {tostring(wait), tostring(send_at), tostring(rate), tostring(math.max(0, paused - now))}
"""


def bucket_name(platform: str, base_url: str, client_id: str) -> str:
    """The Redis key of one shop's bucket: per platform, base URL and client id.

    The client id is part of it because platforms meter per API client (the sandbox
    does); the key holds digests, not the URL or id themselves.
    """
    shop = hashlib.sha256(f"{base_url}|{client_id}".encode()).hexdigest()[:16]
    return f"{_KEY_PREFIX}{platform}:{shop}"


class SharedRateLimiter(RateLimiter):
    """:class:`RateLimiter`'s interface over one Redis bucket that every machine shares.

    ``rate`` and ``burst`` are the shop's limit for all machines together. ``sleep`` is
    injected as for the local limiter; time itself comes from Redis.
    """

    def __init__(
        self,
        client: redis.Redis,
        key: str,
        rate: float,
        burst: int = 1,
        *,
        sleep: Sleep = time.sleep,
        min_rate: float = 0.5,
        cooldown: float = 0.5,
    ) -> None:
        super().__init__(rate, burst, sleep=sleep, min_rate=min_rate, cooldown=cooldown)
        self._redis = client
        self.key = key
        self._script = client.register_script(_SCRIPT)
        self.last_send_at = 0.0
        """Redis time of the last slot handed out (the tests count slots with it)."""

    def _call(self, op: str, argument: float = 0.0) -> tuple[float, float, float, float]:
        import redis as redis_module  # noqa: PLC0415 - the fleet extra

        try:
            reply: Any = self._script(
                keys=[self.key],
                args=[
                    op,
                    repr(self.max_rate),
                    self.burst,
                    repr(self.min_rate),
                    repr(self._increase_step),
                    repr(self._cooldown),
                    repr(float(argument)),
                ],
            )
        except redis_module.RedisError as error:
            raise FleetError(
                N_("cannot reach the shared rate limiter: {error}.").format(error=error),
                hint=N_("Check limiter_url (SHOPSYNC_LIMITER_URL) and that Redis is running."),
            ) from None
        wait, send_at, rate, paused_for = (float(value) for value in reply)
        return wait, send_at, rate, paused_for

    @property
    def rate(self) -> float:
        """The shop's current shared rate (requests per second, all machines)."""
        return self._call("state")[2]

    def pause_remaining(self) -> float:
        """Seconds left of the shared pause after a 429 (0 when not paused)."""
        return self._call("state")[3]

    def reserve(self, cost: float = 1.0) -> float:
        """Reserve the shop's next slot (``cost`` tokens); how long to wait before sending."""
        wait, send_at, _, _ = self._call("reserve", cost)
        self.last_send_at = send_at
        return max(0.0, wait)

    def peek(self) -> float:
        """How long a request would wait for its slot now, without taking one."""
        return max(0.0, self._call("peek")[0])

    def pause(self, seconds: float) -> None:
        """Let no machine through for ``seconds``, then no burst."""
        self._call("pause", seconds)

    def start_with(self, tokens: float, *, refill: float | None = None) -> None:
        """Nothing to do: the shared bucket's state is the fleet's real one, kept in Redis."""

    def _cap(self, target: float) -> None:
        # What observe() does with a platform's stated refill rate, for every machine.
        self._call("cap", target)

    def on_throttled(self, retry_after: float | None) -> None:
        """A 429: every machine waits ``Retry-After``; the shared rate halves."""
        self._call("throttled", -1.0 if retry_after is None else retry_after)

    def on_rate_headers(
        self, *, limit: float | None, remaining: float | None, reset: float | None
    ) -> None:
        """``RateLimit-Remaining`` low: slow every machine down before the wall."""
        if remaining is None or remaining > max(2.0, (limit or 0) * 0.2):
            return
        self._call("low", remaining)

    def state(self) -> dict[str, float]:
        """The bucket as ``fleet status`` shows it: rate, configured rate, pause, backlog."""
        wait, _, rate, paused_for = self._call("state")
        backlog = self._redis.hget(self.key, "tat")
        now_s, now_us = self._redis.time()
        ahead = max(0.0, float(backlog) - (now_s + now_us / 1e6)) if backlog else 0.0
        del wait
        return {"rate": rate, "max_rate": self.max_rate, "paused_for": paused_for, "ahead": ahead}


def connect_redis(url: str) -> redis.Redis:
    """A Redis client for ``url`` (checked with a PING), or :class:`FleetError`."""
    import redis as redis_module  # noqa: PLC0415 - the fleet extra

    from shopsync.config import hide_password  # noqa: PLC0415

    client = redis_module.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=30)
    try:
        client.ping()
    except redis_module.RedisError as error:
        raise FleetError(
            N_("cannot connect to Redis at {url}: {error}.").format(
                url=hide_password(url), error=error
            ),
            hint=N_("Check limiter_url and broker_url, and that Redis is running."),
        ) from None
    return client
