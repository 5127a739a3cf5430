"""Fleet mode end to end: separate ``shopsync worker`` processes, one ``upload --queue``.

Real servers throughout: Redis (broker and shared limit) and PostgreSQL (the ledger)
from tests/servers.py, the sandbox as the shop. The sandbox's own counters and request
times are the evidence: every product exactly once (each created once, never updated
after), the shop's limit held by all workers together, and a worker SIGKILLed mid-run
changes neither.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from servers import fresh_database, postgres_url, redis_url, wait_until  # noqa: F401
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.state.ledger_pg import LATEST_VERSION, migrate

SHOPSYNC = str(Path(sys.executable).with_name("shopsync"))
RATE, BURST = 20.0, 10
"""The shop's limit (the sandbox enforces it per client); the profile says the same rate."""


@dataclass
class Fleet:
    sandbox: SandboxHandle
    env: dict[str, str]
    ledger_url: str
    request_times: list[tuple[float, str]]
    workers: dict[str, subprocess.Popen[bytes]]
    tmp: Path

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.tmp / f"{name}.log").open("wb")
        process = subprocess.Popen(
            [SHOPSYNC, "worker", "--concurrency", "2", "--name", name, "--lease", "3"],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers[name] = process
        return process

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.ledger_url, autocommit=True) as db:
            return db.execute(sql, args).fetchall()  # type: ignore[call-overload]

    def upload(self, path: Path, *flags: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [SHOPSYNC, "upload", str(path), "--queue", *flags],
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


@pytest.fixture
def fleet(
    tmp_path: Path,
    redis_url: str,  # noqa: F811
    fresh_database: str,  # noqa: F811
) -> Iterator[Fleet]:
    import redis  # noqa: PLC0415

    migrate(fresh_database)
    # The session's Redis is shared by this process's tests: an earlier test's workers,
    # stopped, put the tasks they held back (tasks put off for later, mostly).
    with redis.Redis.from_url(f"{redis_url}/0") as broker:
        broker.flushdb()
    with running_sandbox(SandboxConfig(rate=RATE, burst=BURST, latency_ms=40)) as sandbox:
        # The sandbox counts each request as it answers: note when, by its own clock.
        times: list[tuple[float, str]] = []
        count = sandbox.app.stats.request

        def timed(endpoint: str, outcome: str, *, write: bool) -> None:
            times.append((time.time(), endpoint))
            count(endpoint, outcome, write=write)

        sandbox.app.stats.request = timed  # type: ignore[method-assign]
        config = tmp_path / "config.toml"
        config.write_text(
            "[profiles.shop]\n"
            f'base_url = "{sandbox.base_url}"\n'
            f'client_id = "{sandbox.client_id}"\n'
            'client_secret_env = "SHOP_SECRET"\n'
            f"rate = {RATE}\n"
            "burst = 5\n"
            "batch_size = 50\n"
            f'ledger_url = "{fresh_database}"\n'
            f'broker_url = "{redis_url}/0"\n'
        )
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "SHOPSYNC_CONFIG": str(config),
            "SHOPSYNC_PROFILE": "shop",
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            "SHOP_SECRET": sandbox.client_secret,
        }
        made = Fleet(sandbox, env, fresh_database, times, {}, tmp_path)
        try:
            yield made
        finally:
            for process in made.workers.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in made.workers.values():
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _catalog(path: Path, count: int) -> Path:
    lines = ["sku,title,price,stock"]
    lines += [f"F-{n:05d},Product {n},{n % 97 + 1}.50,{n % 13}" for n in range(count)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _most_in_any_second(times: list[float]) -> int:
    times = sorted(times)
    most, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most


def _api_times(fleet: Fleet) -> list[float]:
    return [at for at, endpoint in fleet.request_times if endpoint != "POST /auth/token"]


def _assert_each_product_once(sandbox: SandboxHandle, count: int) -> None:
    products = sandbox.store.list_products(0, count + 100)
    skus = [product.sku for product in products]
    assert len(skus) == count and len(set(skus)) == count
    assert {product.version for product in products} == {1}  # created once, never again
    assert sandbox.store.product_counts() == (count, 0)


def _wait_for_workers(fleet: Fleet, names: list[str]) -> None:
    wait_until(
        lambda: {row[0] for row in fleet.query("SELECT name FROM shopsync_worker")} >= set(names),
        timeout=60,
        what="the workers starting",
    )


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_three_workers_send_5000_products_exactly_once_within_the_shops_limit(
    fleet: Fleet,
) -> None:
    names = ["w1", "w2", "w3"]
    for name in names:
        fleet.start_worker(name)
    _wait_for_workers(fleet, names)
    upload = fleet.upload(_catalog(fleet.tmp / "products.csv", 5_000), "--wait")
    out, err = upload.communicate(timeout=150)
    assert upload.returncode == 0, out + err
    assert "Queued 100 batches (5000 products)" in out
    assert "Done: 5000 created, 0 updated, 0 failed, 0 unchanged, 0 rejected" in out
    _assert_each_product_once(fleet.sandbox, 5_000)
    stats = fleet.sandbox.stats()
    assert stats["requests"]["POST /products/batch"] == {"200": 100}
    # The shop's limit, for all three workers together: a token bucket of RATE/s with
    # BURST lets at most RATE + BURST through in any one second.
    assert _most_in_any_second(_api_times(fleet)) <= RATE + BURST
    assert stats["rate_limited"] == 0
    served = {row[0]: row[1] for row in fleet.query("SELECT name, batches FROM shopsync_worker")}
    assert sum(served.values()) == 100
    # Shared between machines: one thread alone cannot keep up with the shop's limit
    # at this latency, so others join (a drain may leave one worker out).
    assert sum(1 for name in names if served.get(name)) >= 2

    # Run again, unchanged: nothing is queued, nothing is sent.
    again = fleet.upload(fleet.tmp / "products.csv", "--wait")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 0, out + err
    assert "Queued 0 batches (0 products)" in out and "5000 unchanged" in out
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 100}


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_a_worker_killed_mid_run_leaves_a_lease_another_worker_finishes(fleet: Fleet) -> None:
    names = ["w1", "w2", "w3"]
    for name in names:
        fleet.start_worker(name)
    _wait_for_workers(fleet, names)
    upload = fleet.upload(_catalog(fleet.tmp / "products.csv", 5_000), "--wait")
    victim: list[str] = []

    def holding_a_lease() -> bool:
        rows = fleet.query(
            "SELECT lease_owner FROM shopsync_batch WHERE state = 'pending' "
            "AND lease_until > now() AND lease_owner IS NOT NULL "
            "AND (SELECT count(*) FROM shopsync_batch WHERE state = 'done') >= 20 LIMIT 1"
        )
        if rows:
            victim.append(rows[0][0])
        return bool(rows)

    wait_until(holding_a_lease, timeout=120, what="a worker holding a lease mid-run")
    killed = fleet.workers[victim[0]]
    killed.send_signal(signal.SIGKILL)  # mid-batch: no chance to give anything back
    killed.wait()
    out, err = upload.communicate(timeout=150)
    assert upload.returncode == 0, out + err
    assert "Done: 5000 created, 0 updated, 0 failed" in out
    _assert_each_product_once(fleet.sandbox, 5_000)
    # The batch the victim held was claimed again (a second attempt) and sent with the
    # same key: the sandbox answered it from its idempotency store if it had it already.
    [(attempts,)] = fleet.query("SELECT sum(attempts) FROM shopsync_batch")
    assert attempts > 100
    stats = fleet.sandbox.stats()
    assert stats["requests"]["POST /products/batch"].get("200", 0) >= 100
    assert _most_in_any_second(_api_times(fleet)) <= RATE + BURST
    [(done,)] = fleet.query("SELECT count(*) FROM shopsync_batch WHERE state = 'done'")
    assert done == 100


def test_a_task_delivered_twice_or_late_does_nothing(
    fleet: Fleet,
) -> None:
    from shopsync.config import load_settings  # noqa: PLC0415
    from shopsync.fleet.runner import BatchRunner  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    def settings_for(profile: str) -> Any:
        return load_settings(config_dir=fleet.tmp, environ=fleet.env, flags={"profile": profile})

    namespace = f"shop|{fleet.sandbox.base_url}"
    body = '{"body":{"sku":"T-1","title":"Mug","price":"3.00"},"file":"f.csv","line":2}'
    with PgLedger(fleet.ledger_url, target=namespace) as ledger:
        ledger.begin_batch("key-twice", '{"creates":[' + body + '],"updates":[]}', items=1)
    first, second = BatchRunner(settings_for, name="a"), BatchRunner(settings_for, name="b")
    try:
        # Connect one after the other (a worker process has one runner; two in one
        # process racing to create the token cache's key is not what is tested here).
        assert first.defer_for("shop") == 0.0 and second.defer_for("shop") == 0.0
        results: list[str] = []
        both = threading.Barrier(2)

        def run(runner: BatchRunner) -> None:
            both.wait()
            results.append(runner.run("shop", "key-twice"))

        threads = [threading.Thread(target=run, args=(r,)) for r in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results) == ["done", "skipped"]
        assert first.run("shop", "key-twice") == "skipped"  # late, after it was done
    finally:
        first.close()
        second.close()
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 1}
    _assert_each_product_once(fleet.sandbox, 1)


def _single_batches(fleet: Fleet, count: int) -> list[str]:
    """``count`` pending batches of one product each, oldest first; their keys."""
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    keys = [f"key-{n}" for n in range(count)]
    with PgLedger(fleet.ledger_url, target=f"shop|{fleet.sandbox.base_url}") as ledger:
        for n, key in enumerate(keys):
            body = (
                f'{{"body":{{"sku":"D-{n}","title":"Mug {n}","price":"3.00"}},'
                f'"file":"f.csv","line":{n + 2}}}'
            )
            ledger.begin_batch(key, '{"creates":[' + body + '],"updates":[]}', items=1)
    return keys


def _runner(fleet: Fleet, **options: Any) -> Any:
    from shopsync.config import load_settings  # noqa: PLC0415
    from shopsync.fleet.runner import BatchRunner  # noqa: PLC0415

    def settings_for(profile: str) -> Any:
        return load_settings(config_dir=fleet.tmp, environ=fleet.env, flags={"profile": profile})

    return BatchRunner(settings_for, **options)


def test_a_thread_goes_on_with_the_shops_next_batches_while_it_has_slots(
    fleet: Fleet,
) -> None:
    keys = _single_batches(fleet, 4)
    requeued: list[tuple[str, str, float, bool]] = []
    runner = _runner(fleet, name="a", requeue=lambda *task: requeued.append(task))
    try:
        assert runner.run("shop", keys[1]) == "done"  # its own, then the other three
        assert runner.run("shop", keys[0]) == "skipped"  # their tasks find them done
    finally:
        runner.close()
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 4}
    _assert_each_product_once(fleet.sandbox, 4)
    assert fleet.query("SELECT state, count(*) FROM shopsync_batch GROUP BY state") == [("done", 4)]
    assert fleet.query("SELECT batches FROM shopsync_worker WHERE name = 'a'") == [(4,)]
    assert requeued == []  # nothing left to hand back


def test_after_its_time_slice_a_thread_hands_the_shop_back_to_the_queue(
    fleet: Fleet,
) -> None:
    import itertools  # noqa: PLC0415

    from shopsync.fleet.runner import DRAIN_SECONDS  # noqa: PLC0415

    keys = _single_batches(fleet, 5)
    requeued: list[tuple[str, str, float, bool]] = []
    # Each look at the clock is 0.4 of the slice later: its own batch and two more.
    ticks = itertools.count(step=DRAIN_SECONDS * 0.4)
    runner = _runner(
        fleet, name="a", requeue=lambda *task: requeued.append(task), clock=lambda: next(ticks)
    )
    try:
        assert runner.run("shop", keys[0]) == "done"
    finally:
        runner.close()
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 3}
    pending = fleet.query("SELECT key FROM shopsync_batch WHERE state = 'pending' ORDER BY key")
    assert pending == [(keys[3],), (keys[4],)]
    # A task for the oldest one is queued at once, in the lane of runs' first batches;
    # the others still have their own tasks.
    assert requeued == [("shop", keys[3], 0.0, True)]


def test_a_task_whose_shop_another_thread_sends_for_is_put_off(fleet: Fleet) -> None:
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415

    keys = _single_batches(fleet, 2)
    runner = _runner(fleet, name="a")
    other = PgLedger(fleet.ledger_url, target=f"shop|{fleet.sandbox.base_url}")
    try:
        assert other.try_drain_slot(0)  # another machine sends for this shop
        limiter = runner._open("shop")[2].client.limiter
        for _ in range(8):  # and has booked the shop's slots 0.2 s ahead
            limiter.reserve()
        assert runner.run("shop", keys[0]) == "busy"
        assert fleet.query("SELECT attempts, lease_owner FROM shopsync_batch") == [
            (0, None),
            (0, None),
        ]
        assert other.claim_batch(keys[1], owner="other", lease_seconds=30) is not None
        assert runner.run("shop", keys[1]) == "skipped"  # held: nothing to put off
        other.release_drain_slot(0)
        assert runner.run("shop", keys[0]) == "done"
    finally:
        other.close()
        runner.close()
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 1}


def test_task_messages_carry_the_profile_and_batch_key_only(
    fleet: Fleet,
    redis_url: str,  # noqa: F811
) -> None:
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    import redis  # noqa: PLC0415

    first = fleet.upload(_catalog(fleet.tmp / "products.csv", 120))  # no workers yet
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    assert "Queued 3 batches (120 products)" in out
    broker = redis.Redis.from_url(f"{redis_url}/0")
    # The run's first batch is queued ahead of the others: on Redis, a list per priority.
    first, rest = broker.lrange("shopsync", 0, -1), broker.lrange("shopsync\x06\x163", 0, -1)
    assert (len(first), len(rest)) == (1, 2)
    queued = first + rest
    keys = {row[0] for row in fleet.query("SELECT key FROM shopsync_batch")}
    assert len(queued) == 3 and len(keys) == 3
    for raw in queued:
        assert b"demo-secret" not in raw and fleet.sandbox.client_secret.encode() not in raw
        envelope = json.loads(raw)
        args, kwargs, _ = json.loads(base64.b64decode(envelope["body"]))
        assert args[0] == "shop" and args[1] in keys and len(args) == 2 and kwargs == {}
        assert fleet.sandbox.base_url not in raw.decode()

    # Planned again while those are pending: refused, nothing new planned or queued.
    again = fleet.upload(fleet.tmp / "products.csv")
    out, err = again.communicate(timeout=60)
    assert again.returncode == 6, out + err
    assert "3 batches of an earlier run for profile 'shop' are still pending" in err
    assert "--wait" in err
    [(runs,)] = fleet.query("SELECT count(*) FROM shopsync_run")
    assert runs == 1

    # With --wait and a worker, the earlier batches go first, then the plan finds
    # nothing left to do: each product was sent once.
    fleet.start_worker("w1")
    waited = fleet.upload(fleet.tmp / "products.csv", "--wait")
    out, err = waited.communicate(timeout=90)
    assert waited.returncode == 0, out + err
    assert "Waiting for 3 batches of an earlier run first." in err
    assert "Queued 0 batches (0 products)" in out and "120 unchanged" in out
    _assert_each_product_once(fleet.sandbox, 120)


def test_fleet_status_shows_targets_runs_workers_and_the_shared_limit(fleet: Fleet) -> None:
    import json  # noqa: PLC0415

    fleet.start_worker("w1")
    _wait_for_workers(fleet, ["w1"])
    metrics, succeeded = fleet.tmp / "upload.prom", fleet.tmp / "succeeded.csv"
    upload = fleet.upload(
        _catalog(fleet.tmp / "products.csv", 100),
        "--wait",
        "--metrics-file",
        str(metrics),
        "--succeeded",
        str(succeeded),
    )
    out, err = upload.communicate(timeout=90)
    assert upload.returncode == 0, out + err
    # The succeeded file of a plain run: each product once, with the shop's own id.
    import csv  # noqa: PLC0415

    with succeeded.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["sku"] for row in rows] == [f"F-{n:05d}" for n in range(100)]
    assert {row["action"] for row in rows} == {"created"}
    for row in rows:
        product = fleet.sandbox.store.product_by_sku(row["sku"])
        assert product is not None and row["product_id"] == product.product_id
    # The metrics of a plain `upload`, without the requests (the workers sent them).
    written = metrics.read_text(encoding="utf-8")
    assert 'shopsync_last_run_items{command="upload",profile="shop",outcome="created"} 100' in (
        written
    )
    assert 'shopsync_last_run_exit_code{command="upload",profile="shop"} 0' in written
    assert "shopsync_last_run_requests" not in written
    shown = subprocess.run(
        [SHOPSYNC, "fleet", "status", "--json"],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    status = json.loads(shown.stdout)
    namespace = f"shop|{fleet.sandbox.base_url}"
    assert status["targets"] == [
        {"target": namespace, "pending": 0, "leased": 0, "done": 2, "failed": 0}
    ]
    [run] = status["runs"]
    assert (run["profile"], run["batches"], run["items"], run["settled_batches"]) == (
        "shop",
        2,
        100,
        2,
    )
    assert [worker["name"] for worker in status["workers"]] == ["w1"]
    assert status["workers"][0]["batches"] == 2
    limit = status["limiters"][run["limiter"]]
    assert (limit["max_rate"], limit["burst"]) == (RATE, 5)
    text = subprocess.run(
        [SHOPSYNC, "fleet", "status"], env=fleet.env, capture_output=True, text=True, check=False
    )
    assert f"  {namespace}: 0 pending, 0 leased, 2 done, 0 failed" in text.stdout
    assert "  w1: 2 batches, last seen" in text.stdout


def test_ledger_migrate_brings_a_new_database_to_the_schema(
    tmp_path: Path,
    fresh_database: str,  # noqa: F811
) -> None:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SHOPSYNC_LEDGER_URL": fresh_database,
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [SHOPSYNC, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    before = run("fleet", "status")
    assert before.returncode == 2
    assert "has schema version 0" in before.stderr and "shopsync ledger migrate" in before.stderr
    first = run("ledger", "migrate")
    assert first.returncode == 0 and first.stdout.startswith(
        f"Applied migration(s) {', '.join(map(str, range(1, LATEST_VERSION + 1)))} to "
    )
    second = run("ledger", "migrate")
    assert second.returncode == 0 and "nothing to do" in second.stdout
    after = run("fleet", "status")
    assert after.returncode == 0 and "Targets: none yet" in after.stdout


def test_single_machine_commands_load_nothing_of_the_fleet(tmp_path: Path) -> None:
    probe = (
        "import sys; from shopsync.cli import cli\n"
        "try:\n    cli.main(['--help'], prog_name='shopsync')\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('celery', 'kombu', 'redis', 'psycopg', 'psycopg_binary')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert done.stdout.strip().splitlines()[-1] == "[]"
