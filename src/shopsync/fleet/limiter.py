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
``Retry-After`` and halves the shared rate; ``RateLimit-Remaining`` running low sets it
just under the platform's refill rate, measured from every machine's answers; each
quiet second adds back a twentieth of the configured rate. The caller sleeps outside
Redis, as with the local limiter.
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

# KEYS[1]: the bucket. ARGV: op, max_rate, burst, min_rate, step, cooldown, argument,
# and for 'answer' the RateLimit Limit and Reset.
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
local v = redis.call('HMGET', KEYS[1], 'tat', 'rate', 'paused', 'changed', 'cut', 'hard',
  'refill', 'w_at', 'w_rem', 'w_ans')
local tat = tonumber(v[1]) or now
local rate = math.min(tonumber(v[2]) or max_rate, max_rate)
local paused = tonumber(v[3]) or 0
local changed = tonumber(v[4]) or now
local cut = tonumber(v[5]) or 0
local hard = tonumber(v[6]) or 0
local refill = tonumber(v[7])
local w_at = tonumber(v[8])
local w_rem = tonumber(v[9])
local w_ans = tonumber(v[10]) or 0

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
elseif op == 'answer' then
  -- arg: RateLimit-Remaining; ARGV[8], ARGV[9]: its Limit and Reset (-1 if absent).
  -- The platform's refill is measured as the local limiter does, with every machine's
  -- answers counted: a window opens at one answer, and a second (and ten answers)
  -- later the bucket gained remaining2 - remaining1 plus one token per answer.
  local limit = tonumber(ARGV[8]) or -1
  local reset = tonumber(ARGV[9]) or -1
  if limit >= 0 and arg >= limit - 1 then
    w_at = nil  -- a full bucket drops tokens it cannot hold: its refill is invisible
  elseif w_at == nil then
    w_at, w_rem, w_ans = now, arg, 0
  else
    w_ans = w_ans + 1
    local elapsed = now - w_at
    if elapsed >= 1 and w_ans >= 10 then
      local measured = (arg - w_rem + w_ans) / elapsed
      w_at, w_rem, w_ans = now, arg, 0
      if measured > 0 then
        if refill then refill = (refill + measured) / 2 else refill = measured end
      end
    end
  end
  if arg <= math.max(2, math.max(limit, 0) * 0.2) then
    local estimate = nil
    if refill then
      -- 3% under the measured refill, the platform's bucket fills slowly back up. A
      -- measurement outranks an earlier estimate, so it may raise the rate too, but
      -- not within a 429's cooldown.
      estimate = refill
      local target = math.max(min_rate, math.min(max_rate, refill * 0.97))
      if target < rate or now - hard >= cooldown then rate = target end
    elseif limit > 0 and reset > 0 and limit > arg and reset ~= math.floor(reset) then
      -- An exact Reset: the refill it implies, less 10% for the answers in flight. A
      -- whole-second one is rounded up and bounds the refill from below only (a bucket
      -- of 5 at 12/s reads 4/s), so it caps nothing.
      estimate = (limit - arg) / reset
      if estimate * 0.9 < rate then slow_to(math.max(min_rate, estimate * 0.9)) end
    elseif arg <= 0 and now - cut >= cooldown then
      slow_to(math.max(min_rate, rate * 0.8))
      cut = now
    end
    changed = math.max(changed, now)  -- not raised while the platform's bucket is low
    if arg <= 0 then pause(1 / (estimate or rate)) end
  end
elseif op == 'pause' then
  pause(arg)
elseif op == 'cap' then
  if arg < rate then slow_to(math.max(min_rate, arg)) end
  changed = math.max(changed, now)
end

redis.call('HSET', KEYS[1], 'tat', tostring(tat), 'rate', tostring(rate),
  'paused', tostring(paused), 'changed', tostring(changed), 'cut', tostring(cut),
  'hard', tostring(hard), 'max_rate', tostring(max_rate), 'burst', tostring(burst),
  'refill', refill and tostring(refill) or '', 'w_at', w_at and tostring(w_at) or '',
  'w_rem', w_rem and tostring(w_rem) or '', 'w_ans', tostring(w_ans))
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

    def _call(
        self, op: str, argument: float = 0.0, *extra: float
    ) -> tuple[float, float, float, float]:
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
                    *(repr(float(value)) for value in extra),
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
        """Every answer's bucket state, for the whole fleet: as the local limiter does.

        The platform's refill rate is measured in Redis from all machines' answers
        (each one spent a token). When ``RateLimit-Remaining`` runs low, the shared
        rate is set just under the measured refill; before a measurement, an exact
        (fractional) ``RateLimit-Reset`` caps it at ``(limit - remaining) / reset``
        less 10%. A whole-second Reset is rounded up and says only that the refill is
        at least that (a bucket of 5 refilled at 12/s reads 4/s), so it caps nothing.
        With the bucket empty every machine waits one refill interval, and without
        either figure the rate is cut by a fifth (once per cooldown).
        """
        if remaining is None:
            return
        self._call(
            "answer",
            remaining,
            -1.0 if limit is None else limit,
            -1.0 if reset is None else reset,
        )

    @property
    def measured_refill(self) -> float | None:
        """The platform's refill rate as measured from every machine's answers, if yet."""
        value = self._redis.hget(self.key, "refill")
        return float(value) if value else None

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
