"""The shared rate limit: one GCRA bucket in Redis, held across processes and threads.

Against a real Redis server (tests/servers.py). Slots are counted by the time Redis
handed them out (``TIME`` inside the script), the clock every machine shares.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import pytest

from servers import redis_url  # noqa: F401
from shopsync.fleet.limiter import SharedRateLimiter, bucket_name, connect_redis

_CLIENT = r"""
import json, sys, threading
from shopsync.fleet.limiter import SharedRateLimiter, connect_redis

url, key, rate, count = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
client = connect_redis(url)
lock = threading.Lock()
print(json.dumps({"ready": True}), flush=True)
sys.stdin.readline()  # every process starts at once

def run():
    # One limiter per thread, so that last_send_at is this thread's own slot.
    own = SharedRateLimiter(connect_redis(url), key, rate, burst=1)
    for _ in range(count):
        own.acquire()
        seconds, micros = client.time()
        line = json.dumps({"slot": own.last_send_at, "sent": seconds + micros / 1e6})
        with lock:
            print(line, flush=True)

threads = [threading.Thread(target=run) for _ in range(2)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def _max_in_window(times: list[float], width: float) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= width:
            start += 1
        most = max(most, end - start + 1)
    return most


@pytest.mark.slow
def test_four_processes_of_two_threads_hold_one_shared_limit(redis_url: str) -> None:  # noqa: F811
    key = bucket_name("generic", "http://shop.test", "four-by-two")
    per_thread, rate = 6, 10.0
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CLIENT, redis_url, key, str(rate), str(per_thread)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:  # wait until each is connected, then let them all go
        assert process.stdout is not None
        assert json.loads(process.stdout.readline()) == {"ready": True}
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    records = []
    for process in processes:
        out, _ = process.communicate(timeout=60)
        assert process.returncode == 0
        records += [json.loads(line) for line in out.splitlines()]
    slots = sorted(record["slot"] for record in records)
    assert len(slots) == 4 * 2 * per_thread
    # Never more than 10 slots in any second, by the one clock all processes share ...
    assert _max_in_window(slots, 1.0 - 1e-6) <= 10
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 0.1 - 1e-6
    # ... and the limit used, not wasted: 47 intervals of 0.1 s after the first slot.
    assert slots[-1] - slots[0] == pytest.approx((len(slots) - 1) / rate, abs=0.05)
    # Requests left when their slot came (after the sleep), never before it.
    assert all(record["sent"] >= record["slot"] - 0.002 for record in records)


def test_a_429_seen_by_one_machine_pauses_and_slows_every_machine(redis_url: str) -> None:  # noqa: F811
    key = bucket_name("generic", "http://shop.test", "throttled")
    waits: list[float] = []
    first = SharedRateLimiter(connect_redis(redis_url), key, 20.0, burst=5, sleep=waits.append)
    second = SharedRateLimiter(connect_redis(redis_url), key, 20.0, burst=5, sleep=waits.append)
    assert first.reserve() == 0.0  # a full bucket lets the first go at once
    first.on_throttled(3.0)
    assert second.pause_remaining() == pytest.approx(3.0, abs=0.1)
    assert second.rate == pytest.approx(10.0)
    assert second.reserve() == pytest.approx(3.0, abs=0.1)  # the other machine waits too
    state = second.state()
    assert state["max_rate"] == 20.0 and state["rate"] == pytest.approx(10.0)


def test_a_low_remaining_header_caps_the_shared_rate_at_an_exact_reset(
    redis_url: str,  # noqa: F811
) -> None:
    key = bucket_name("generic", "http://shop.test", "low")
    first = SharedRateLimiter(connect_redis(redis_url), key, 10.0, burst=1, cooldown=60)
    second = SharedRateLimiter(connect_redis(redis_url), key, 10.0, burst=1, cooldown=60)
    first.on_rate_headers(limit=100, remaining=50, reset=1.5)  # far from the wall: nothing
    assert first.rate == pytest.approx(10.0)
    # A whole-second Reset is rounded up: 98 short and "2 s" may be 49/s or 98/s.
    first.on_rate_headers(limit=100, remaining=2, reset=2)
    assert second.rate == pytest.approx(10.0)
    # An exact one: 98 tokens short, full again in 19.6 s, so 5/s, less 10%.
    first.on_rate_headers(limit=100, remaining=2, reset=19.6)
    assert second.rate == pytest.approx(4.5)
    # Empty: every machine waits one refill interval as well (a cap never raises).
    second.on_rate_headers(limit=100, remaining=0, reset=20.0 - 0.0001)
    assert first.rate == pytest.approx(4.5)
    assert first.pause_remaining() == pytest.approx(1 / 5, abs=0.05)


def test_an_empty_bucket_without_an_exact_reset_cuts_by_a_fifth_once_per_cooldown(
    redis_url: str,  # noqa: F811
) -> None:
    key = bucket_name("generic", "http://shop.test", "bare")
    limiter = SharedRateLimiter(connect_redis(redis_url), key, 10.0, burst=1, cooldown=60)
    limiter.on_rate_headers(limit=None, remaining=1, reset=None)  # low, not empty: nothing
    assert limiter.rate == pytest.approx(10.0)
    limiter.on_rate_headers(limit=None, remaining=0, reset=None)
    limiter.on_rate_headers(limit=None, remaining=0, reset=None)  # within the cooldown
    assert limiter.rate == pytest.approx(8.0)
    assert limiter.pause_remaining() == pytest.approx(1 / 8, abs=0.05)


@pytest.mark.slow
def test_the_refill_is_measured_from_every_machines_answers(
    redis_url: str,  # noqa: F811
) -> None:
    """Two machines share a platform bucket of 30 tokens refilled at 20/s and send 25/s
    between them: each answer's Remaining, with both machines' answers counted, shows the
    refill; once the bucket runs low the shared rate is set 3% under it."""
    import time  # noqa: PLC0415 - Redis's clock is the limiter's: real time, one second

    key = bucket_name("generic", "http://shop.test", "measured")
    machines = [
        SharedRateLimiter(connect_redis(redis_url), key, 25.0, burst=1, cooldown=60)
        for _ in range(2)
    ]
    refill, tokens = 20.0, 30.0
    started = last = time.monotonic()
    answers = 0
    while time.monotonic() - started < 1.3:
        now = time.monotonic()
        tokens = min(30.0, tokens + (now - last) * refill) - 1
        last = now
        machines[answers % 2].on_rate_headers(limit=None, remaining=int(tokens), reset=None)
        answers += 1
        time.sleep(1 / 25)
    measured = machines[0].measured_refill
    assert measured == pytest.approx(refill, rel=0.15)
    # One machine alone would have counted half the answers and read about 7.5/s.
    machines[1].on_rate_headers(limit=None, remaining=1, reset=None)
    assert machines[0].rate == pytest.approx(measured * 0.97, rel=0.01)
    machines[0].on_throttled(0.0)  # halved, and not raised again within its cooldown
    machines[0].on_rate_headers(limit=None, remaining=1, reset=None)
    assert machines[1].rate == pytest.approx(measured * 0.97 / 2, rel=0.01)


def test_an_unreachable_limiter_is_a_fleet_error_naming_the_setting() -> None:
    from shopsync.errors import FleetError  # noqa: PLC0415

    with pytest.raises(FleetError) as caught:
        connect_redis("redis://:pw-canary@127.0.0.1:1/0")
    assert "pw-canary" not in caught.value.message
    assert "limiter_url" in (caught.value.hint or "")


def test_buckets_are_per_shop_and_hold_no_url_or_client_id() -> None:
    one = bucket_name("generic", "https://a.example/v1", "client-1")
    assert one == bucket_name("generic", "https://a.example/v1", "client-1")
    assert one != bucket_name("generic", "https://a.example/v1", "client-2")
    assert one.startswith("shopsync:limit:generic:")
    assert "a.example" not in one and "client-1" not in one
