"""The shared rate limiter: exact on an injected clock, checked against real servers too."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from shopsync.config import load_settings
from shopsync.http.ratelimit import RateLimiter
from shopsync.platforms.generic.wire import client_from_settings
from test_http_support import (
    FakeTime,
    TokenEndpoint,
    _loopback_server,
    json_response,
    make_client,
    server,
)

__all__ = ["_loopback_server", "server"]


def test_burst_then_one_request_per_interval() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(10, 5, clock=fake.clock, sleep=fake.sleep, adaptive=False)
    sent = []
    for _ in range(9):
        limiter.acquire()
        sent.append(round(fake.clock(), 9))
    assert sent == [0.0, 0.0, 0.0, 0.0, 0.0, 0.1, 0.2, 0.3, 0.4]


def test_an_idle_bucket_refills_up_to_burst_only() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(10, 3, clock=fake.clock, sleep=fake.sleep, adaptive=False)
    for _ in range(3):
        limiter.acquire()
    fake.advance(60.0)
    waits = [limiter.acquire() for _ in range(5)]
    assert [round(w, 9) for w in waits] == [0.0, 0.0, 0.0, 0.1, 0.1]


def test_sixteen_threads_get_distinct_slots_at_the_rate() -> None:
    fake = FakeTime(start=0.0)  # the clock stands still: only reservations move
    limiter = RateLimiter(20, 4, clock=fake.clock, sleep=lambda s: None, adaptive=False)
    slots: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def worker() -> None:
        barrier.wait()
        for _ in range(10):
            wait = limiter.reserve()
            with lock:
                slots.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots.sort()
    # 160 requests: 4 at once, then one every 1/20 s, none sooner.
    expected = [0.0] * 4 + [(n - 3) / 20 for n in range(4, 160)]
    assert [round(s, 9) for s in slots] == [round(e, 9) for e in expected]


def test_a_429_pauses_everyone_then_resumes_without_a_burst() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(10, 10, clock=fake.clock, sleep=fake.sleep)
    limiter.on_throttled(retry_after=2.0)
    assert limiter.rate == 5.0  # halved
    times = []
    for _ in range(3):
        limiter.acquire()
        times.append(round(fake.clock(), 9))
    assert times == [2.0, 2.2, 2.4]


def test_low_remaining_caps_the_rate_under_the_platforms_refill_rate() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(100, 20, clock=fake.clock, sleep=fake.sleep)
    limiter.on_rate_headers(limit=50, remaining=40, reset=1)
    assert limiter.rate == 100.0  # far from the wall: nothing changes
    limiter.on_rate_headers(limit=50, remaining=5, reset=1)
    assert limiter.rate == pytest.approx(45)  # whole seconds are rounded up: no margin
    limiter.on_rate_headers(limit=50, remaining=0, reset=1)
    assert limiter.rate == pytest.approx(45)  # the cap never raises the rate
    assert limiter.paused_until == pytest.approx(1 / 50)
    limiter.on_rate_headers(limit=50, remaining=5, reset=1.5)
    assert limiter.rate == pytest.approx(0.9 * 30)  # an exact Reset keeps a 10% margin


def test_the_rate_recovers_additively_once_throttling_stops() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(100, 1, clock=fake.clock, sleep=fake.sleep)
    limiter.on_throttled(retry_after=0.0)
    assert limiter.rate == 50.0
    fake.advance(3.0)
    limiter.reserve()
    assert limiter.rate == 65.0  # +5 (a twentieth of 100) per quiet second
    fake.advance(60.0)
    limiter.reserve()
    assert limiter.rate == 100.0  # never above what was configured


class _ServerBucket:
    """The platform's token bucket (docs/platform-api.md §6), with whole-second headers."""

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst, self.tokens, self.last = rate, burst, float(burst), now

    def take(self, now: float) -> tuple[bool, dict[str, Any], float]:
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now
        allowed = self.tokens >= 1
        if allowed:
            self.tokens -= 1
        headers = {
            "limit": self.burst,
            "remaining": math.floor(self.tokens),
            "reset": math.ceil((self.burst - self.tokens) / self.rate - 1e-9),
        }
        return allowed, headers, max(1, math.ceil((1 - self.tokens) / self.rate))


def _drive(
    limiter: RateLimiter,
    platform: _ServerBucket,
    fake: FakeTime,
    end: float,
    outcomes: list[tuple[float, bool]],
) -> None:
    """Send as fast as the limiter allows until ``end``, feeding it the platform's answers."""
    while fake.clock() < end:
        limiter.acquire()
        allowed, headers, retry_after = platform.take(fake.clock())
        outcomes.append((fake.clock(), allowed))
        if allowed:
            limiter.on_rate_headers(**headers)
        else:
            limiter.on_throttled(retry_after)


def test_configured_at_twice_the_limit_it_converges_and_recovers() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(100, 20, clock=fake.clock, sleep=fake.sleep)
    platform = _ServerBucket(50, 50, 0.0)
    outcomes: list[tuple[float, bool]] = []
    _drive(limiter, platform, fake, 10.0, outcomes)
    late = [ok for t, ok in outcomes if t >= 2.0]
    assert late.count(False) / len(late) < 0.05
    sent_late = len(late) / 8.0
    assert 30 < sent_late <= 55  # near the platform's 50/s, not hammering at 100/s
    platform.rate, platform.burst = 1000.0, 1000  # the platform stops throttling
    _drive(limiter, platform, fake, 25.0, outcomes)
    assert limiter.rate == 100.0


def test_sixteen_threads_never_exceed_the_rate_by_the_servers_clock(
    server: HTTPServer, tmp_path: Path
) -> None:
    TokenEndpoint().install(server)
    arrivals: list[float] = []
    lock = threading.Lock()

    def handler(request: Request) -> Response:
        with lock:
            arrivals.append(time.monotonic())
        return json_response({"items": []})

    server.expect_request("/products").respond_with_handler(handler)
    rate, burst, total = 50.0, 5, 80
    slots: list[float] = []
    with make_client(tmp_path, server, rate=rate, burst=burst) as client:
        client.token()
        limiter = client.buckets.default
        reserve, clock = limiter.reserve, limiter._clock
        read = threading.local()

        def clock_noted() -> float:
            read.now = clock()
            return read.now  # type: ignore[no-any-return]

        def reserve_noted(cost: float = 1.0) -> float:
            wait = reserve(cost)
            with lock:
                # The slot by the limiter's own reading of the clock, not a later one
                # (a thread descheduled in between would note it late).
                slots.append(read.now + wait)
            return wait

        limiter._clock = clock_noted
        limiter.reserve = reserve_noted  # type: ignore[method-assign]
        counter = iter(range(total))
        counter_lock = threading.Lock()

        def worker() -> None:
            while True:
                with counter_lock:
                    if next(counter, None) is None:
                        return
                client.request("GET", "/products")

        threads = [threading.Thread(target=worker) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert len(arrivals) == total and len(slots) == total
    arrivals.sort()
    slots.sort()
    # The slots handed out: in any window of w seconds at most burst + rate * w.
    for i, start in enumerate(slots):
        for j in range(i, len(slots)):
            assert j - i + 1 <= burst + rate * (slots[j] - start) + 1e-6, (i, j)
    # And no request reached the server before its slot, by the server's own clock (the
    # k-th arrival is at or after the k-th slot). A thread the machine runs late can
    # still land beside an on-time one: that is the machine, not the limiter, so it is
    # not asserted here, which kept this test from failing on a loaded machine.
    for arrival, slot in zip(arrivals, slots, strict=True):
        assert arrival >= slot - 0.002, (arrival, slot)
    assert arrivals[-1] - arrivals[0] >= (total - burst) / rate - 0.02


@pytest.mark.parametrize("server_rate", [50])
def test_against_the_sandbox_at_twice_its_limit_under_5_percent_429(
    make_sandbox: Any, tmp_path: Path, server_rate: int
) -> None:
    sandbox = make_sandbox(rate=server_rate, burst=server_rate)
    environ = {
        "SHOPSYNC_BASE_URL": sandbox.base_url,
        "SHOPSYNC_CLIENT_ID": sandbox.client_id,
        "SHOPSYNC_CLIENT_SECRET": sandbox.client_secret,
        "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
        "SHOPSYNC_RATE": str(2 * server_rate),
        "SHOPSYNC_BURST": "20",
    }
    settings = load_settings(config_dir=tmp_path, environ=environ)
    with client_from_settings(settings) as client:
        client.token()
        stop = time.monotonic() + 3.0
        marks: list[dict[str, int]] = []

        def worker() -> None:
            while time.monotonic() < stop:
                client.request("GET", "/products", params={"limit": "1"})

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        time.sleep(1.0)  # the first second is the ramp: measure after it
        marks.append(client.stats.snapshot())
        for thread in threads:
            thread.join()
        marks.append(client.stats.snapshot())
    sent = marks[1]["requests"] - marks[0]["requests"]
    throttled = marks[1]["throttled"] - marks[0]["throttled"]
    assert sent > 40  # it kept working
    assert throttled / sent < 0.05
    assert sandbox.stats()["rate_limited"] == marks[1]["throttled"]


def test_the_refill_rate_is_measured_from_remaining_and_the_answers_between() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(1000, 1, clock=fake.clock, sleep=fake.sleep)
    platform = _ServerBucket(40, 100, 0.0)
    assert limiter.measured_refill is None
    while fake.clock() < 3.0:
        fake.advance(1 / 60)  # the client sends 60/s; the platform refills 40/s
        allowed, headers, _ = platform.take(fake.clock())
        assert allowed
        limiter.on_rate_headers(**headers)
    assert limiter.measured_refill == pytest.approx(40, abs=1.5)


def test_a_full_bucket_hides_the_refill_so_nothing_is_measured() -> None:
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(1000, 1, clock=fake.clock, sleep=fake.sleep)
    for _ in range(300):
        fake.advance(0.1)
        limiter.on_rate_headers(limit=100, remaining=99, reset=0)
    assert limiter.measured_refill is None


def test_at_twice_a_small_burst_limit_it_sends_near_the_refill_rate() -> None:
    # With a burst of 20, "low" is 4 tokens left, where a whole-second Reset of 1 makes
    # (limit - remaining) / reset read 16/s for a platform refilling 100/s: capped
    # there, a client used about two thirds of the limit. Measured, it uses nearly all.
    fake = FakeTime(start=0.0)
    limiter = RateLimiter(200, 20, clock=fake.clock, sleep=fake.sleep)
    platform = _ServerBucket(100, 20, 0.0)
    outcomes: list[tuple[float, bool]] = []
    _drive(limiter, platform, fake, 20.0, outcomes)
    late = [ok for t, ok in outcomes if t >= 2.0]
    assert late.count(False) / len(late) < 0.02
    assert sum(late) / 18.0 >= 85  # of the platform's 100/s


def test_a_rate_the_platform_grants_above_the_default_raises_the_ceiling() -> None:
    from shopsync.http.wire import RateSignal  # noqa: PLC0415

    fake = FakeTime(start=0.0)
    limiter = RateLimiter(5, 10, clock=fake.clock, sleep=fake.sleep)
    limiter.observe(RateSignal(restore_rate=2.0))  # below the default: no raise here
    assert (limiter.rate, limiter.max_rate) == (5.0, 5.0)
    limiter.observe(RateSignal(restore_rate=200.0))  # a seller's plan of 200/s
    assert (limiter.rate, limiter.max_rate) == (200.0, 200.0)
    for _ in range(10):
        limiter.acquire()  # the burst
    sent = []
    for _ in range(3):
        limiter.acquire()
        sent.append(round(fake.clock(), 9))
    assert sent == [0.005, 0.01, 0.015]
