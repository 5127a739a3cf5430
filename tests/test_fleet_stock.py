"""``stock FILES --queue [--wait]``: a stock file sent by a fleet's workers, end to end.

As tests/test_fleet.py: separate ``shopsync worker`` processes, Redis and PostgreSQL
from tests/servers.py, the sandbox as the shop, whose own counts and request counters
are the evidence: the counts the file sets, one inventory request per batch, nothing
sent again for an unchanged file, a delta file applied once however often it is queued.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from servers import fresh_database, postgres_url, redis_url  # noqa: F401
from test_fleet import SHOPSYNC, Fleet, _catalog, _wait_for_workers, fleet  # noqa: F401


def _stock(fleet: Fleet, path: Path, *flags: str, timeout: float = 90) -> tuple[int, str, str]:  # noqa: F811
    done = subprocess.run(
        [SHOPSYNC, "stock", str(path), "--queue", *flags],
        env=fleet.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def _upload_products(fleet: Fleet, count: int) -> None:  # noqa: F811
    upload = fleet.upload(_catalog(fleet.tmp / "products.csv", count), "--wait")
    out, err = upload.communicate(timeout=90)
    assert upload.returncode == 0, out + err
    assert f"Done: {count} created" in out


def _counts(fleet: Fleet, skus: list[str]) -> list[int]:  # noqa: F811
    found = []
    for sku in skus:
        product = fleet.sandbox.store.product_by_sku(sku)
        assert product is not None, sku
        found.append(int(product.values["stock"]))
    return found


def _inventory_requests(fleet: Fleet) -> dict[str, int]:  # noqa: F811
    requests: dict[str, dict[str, int]] = fleet.sandbox.stats()["requests"]
    return requests.get("POST /inventory/batch", {})


SKUS = [f"F-{n:05d}" for n in range(300)]


@pytest.mark.timeout(180)
def test_a_queued_stock_file_sets_every_count_once_and_again_sends_nothing(
    fleet: Fleet,  # noqa: F811
) -> None:
    fleet.start_worker("w1")
    fleet.start_worker("w2")
    _wait_for_workers(fleet, ["w1", "w2"])
    _upload_products(fleet, 300)
    assert _inventory_requests(fleet) == {}  # the upload set the catalog's counts itself
    wanted = [n % 13 + 100 for n in range(300)]  # every count differs from the upload's
    stock = fleet.tmp / "stock.csv"
    stock.write_text(
        "sku,stock\n"
        + "".join(f"{sku},{count}\n" for sku, count in zip(SKUS, wanted, strict=True)),
        encoding="utf-8",
    )
    metrics = fleet.tmp / "stock.prom"
    code, out, err = _stock(
        fleet,
        stock,
        "--wait",
        "--report",
        str(fleet.tmp / "report.json"),
        "--metrics-file",
        str(metrics),
    )
    assert code == 0, out + err
    assert "Queued 6 batches (300 counts)" in out and "0 unchanged, 0 unknown SKUs" in out
    assert "Done: 300 updated, 0 failed, 0 unchanged, 0 rejected" in out
    assert _counts(fleet, SKUS) == wanted
    assert _inventory_requests(fleet) == {"200": 6}  # one request per batch of 50
    import json  # noqa: PLC0415

    report = json.loads((fleet.tmp / "report.json").read_text(encoding="utf-8"))
    assert (report["command"], report["exit_code"]) == ("stock --queue --wait", 0)
    assert (report["counts"]["queued"], report["counts"]["updated"]) == (300, 300)
    # Metrics as a plain `stock` run's, so the same alerts watch a queued one; the
    # requests were the workers', on their machines, so none are claimed here.
    written = metrics.read_text(encoding="utf-8")
    labels = '{command="stock",profile="shop"'
    assert f"shopsync_last_run_exit_code{labels}}} 0" in written
    assert f'shopsync_last_run_items{labels},outcome="updated"}} 300' in written
    assert f"shopsync_last_success_timestamp_seconds{labels}}}" in written
    assert "shopsync_last_run_requests" not in written
    # The batches as the workers settled them: done, 50 updated each, in the ledger's
    # stock counts too.
    assert fleet.query(
        "SELECT state, count(*), sum(updated), sum(failed) FROM shopsync_batch "
        "WHERE request LIKE '{\"stock\"%%' GROUP BY state"
    ) == [("done", 6, 300, 0)]
    [(known,)] = fleet.query("SELECT sum(count) FROM shopsync_stock")
    assert known == sum(wanted)

    # The same file again: every count is what shopsync last set, so nothing is queued.
    code, out, err = _stock(fleet, stock, "--wait")
    assert code == 0, out + err
    assert "Queued 0 batches (0 counts)" in out and "300 unchanged" in out
    assert "Done: 0 updated, 0 failed, 300 unchanged, 0 rejected" in out
    assert _inventory_requests(fleet) == {"200": 6}


@pytest.mark.timeout(180)
def test_a_delta_file_queued_twice_is_applied_exactly_once(fleet: Fleet) -> None:  # noqa: F811
    fleet.start_worker("w1")
    _wait_for_workers(fleet, ["w1"])
    _upload_products(fleet, 120)
    skus = SKUS[:120]
    before = _counts(fleet, skus)
    assert before == [n % 13 for n in range(120)]
    delta = fleet.tmp / "delta.csv"
    delta.write_text(
        "sku,delta\n" + "".join(f"{sku},{n % 3 + 1}\n" for n, sku in enumerate(skus)),
        encoding="utf-8",
    )
    after = [count + n % 3 + 1 for n, count in enumerate(before)]

    code, out, err = _stock(fleet, delta, "--wait")
    assert code == 0, out + err
    assert "Queued 3 batches (120 counts)" in out
    assert "Done: 120 updated, 0 failed, 0 unchanged" in out
    assert _counts(fleet, skus) == after
    assert _inventory_requests(fleet) == {"200": 3}
    # Every batch's key is remembered as applied, in the transaction that settled it.
    [(done_keys,)] = fleet.query(
        "SELECT count(*) FROM shopsync_done d JOIN shopsync_batch b USING (target, key) "
        "WHERE b.request LIKE '{\"stock\"%%'"
    )
    assert done_keys == 3

    # Queued again (by mistake, or a cron job run twice): nothing is applied twice.
    code, out, err = _stock(fleet, delta, "--wait")
    assert code == 0, out + err
    assert "Queued 0 batches (0 counts)" in out and "120 unchanged" in out
    assert _counts(fleet, skus) == after
    assert _inventory_requests(fleet) == {"200": 3}


@pytest.mark.timeout(180)
def test_a_delta_file_queued_again_while_its_batches_wait_is_refused_then_applied_once(
    fleet: Fleet,  # noqa: F811
) -> None:
    fleet.start_worker("w1")
    _wait_for_workers(fleet, ["w1"])
    _upload_products(fleet, 60)
    stopped = fleet.workers.pop("w1")
    stopped.terminate()  # the batches queued below wait for a worker
    stopped.wait(timeout=30)
    skus = SKUS[:60]
    before = _counts(fleet, skus)
    delta = fleet.tmp / "delta.csv"
    delta.write_text("sku,delta\n" + "".join(f"{sku},2\n" for sku in skus), encoding="utf-8")

    code, out, err = _stock(fleet, delta)
    assert code == 0, out + err
    assert "Queued 2 batches (60 counts)" in out
    code, out, err = _stock(fleet, delta)
    assert code == 6, out + err
    assert "2 batches of an earlier run for profile 'shop' are still pending" in err

    fleet.start_worker("w2")
    code, out, err = _stock(fleet, delta, "--wait")
    assert code == 0, out + err
    assert "Waiting for 2 batches of an earlier run first." in err
    assert "Queued 0 batches (0 counts)" in out and "60 unchanged" in out
    assert _counts(fleet, skus) == [count + 2 for count in before]
    assert _inventory_requests(fleet) == {"200": 2}


@pytest.mark.timeout(180)
def test_an_unknown_sku_goes_to_the_failed_file_as_a_plain_stock_run_puts_it(
    fleet: Fleet,  # noqa: F811
) -> None:
    fleet.start_worker("w1")
    _wait_for_workers(fleet, ["w1"])
    _upload_products(fleet, 3)
    stock = fleet.tmp / "stock.csv"
    stock.write_text("sku,stock\nF-00000,40\nNO-SUCH-SKU,4\nF-00002,42\n", encoding="utf-8")
    failed = fleet.tmp / "failed.csv"
    code, out, err = _stock(fleet, stock, "--wait", "--failed", str(failed))
    # Items refused: exit 1 (ITEMS_FAILED), as `shopsync stock` without --queue.
    assert code == 1, out + err
    assert "Queued 1 batches (2 counts)" in out and "1 unknown SKUs" in out
    assert "Done: 2 updated, 1 failed, 0 unchanged, 0 rejected" in out
    assert failed.read_text(encoding="utf-8").splitlines() == [
        "sku,stock,error_code,error_message",
        "NO-SUCH-SKU,4,SKU_NOT_FOUND,no product with this SKU on the platform; "
        "stock updates never create products",
    ]
    assert _counts(fleet, ["F-00000", "F-00002"]) == [40, 42]
    assert fleet.sandbox.store.product_by_sku("NO-SUCH-SKU") is None
    assert _inventory_requests(fleet) == {"200": 1}


def test_stock_queue_refuses_what_it_cannot_do(fleet: Fleet) -> None:  # noqa: F811
    stock = fleet.tmp / "stock.csv"
    stock.write_text("sku,stock\nF-00000,40\n", encoding="utf-8")
    code, _, err = _stock(fleet, stock, "--sandbox")
    assert code == 2 and "--wait goes with --queue" in err
    code, _, err = _stock(fleet, stock, "--failed", str(fleet.tmp / "f.csv"))
    assert code == 2 and "--failed with --queue needs --wait" in err
    code, _, err = _stock(fleet, stock, "--metrics-file", str(fleet.tmp / "m.prom"))
    assert code == 2 and "--metrics-file with --queue needs --wait" in err
    wait_alone = subprocess.run(
        [SHOPSYNC, "stock", str(stock), "--wait"],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wait_alone.returncode == 2 and "--wait goes with --queue" in wait_alone.stderr
    assert fleet.query("SELECT count(*) FROM shopsync_batch") == [(0,)]


@pytest.mark.timeout(180)
def test_a_plain_upload_on_the_shared_ledger_leaves_queued_stock_batches_to_the_workers(
    fleet: Fleet,  # noqa: F811
) -> None:
    fleet.start_worker("w1")
    _wait_for_workers(fleet, ["w1"])
    _upload_products(fleet, 60)
    stopped = fleet.workers.pop("w1")
    stopped.terminate()
    stopped.wait(timeout=30)
    stock = fleet.tmp / "stock.csv"
    stock.write_text(
        "sku,stock\n" + "".join(f"{sku},{n + 500}\n" for n, sku in enumerate(SKUS[:60])),
        encoding="utf-8",
    )
    code, out, err = _stock(fleet, stock)
    assert code == 0 and "Queued 2 batches (60 counts)" in out, out + err

    # An ordinary upload resumes the ledger's pending product batches; these are not
    # its to send (its engine would settle them with nothing sent).
    plain = subprocess.run(
        [SHOPSYNC, "upload", str(fleet.tmp / "products.csv")],
        env=fleet.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert fleet.query(
        "SELECT state, attempts, count(*) FROM shopsync_batch "
        "WHERE request LIKE '{\"stock\"%%' GROUP BY state, attempts"
    ) == [("pending", 0, 2)]

    fleet.start_worker("w2")
    code, out, err = _stock(fleet, stock, "--wait")
    assert code == 0, out + err
    assert "Waiting for 2 batches of an earlier run first." in err
    assert "Queued 0 batches (0 counts)" in out and "60 unchanged" in out
    assert _counts(fleet, SKUS[:60]) == [n + 500 for n in range(60)]
    assert _inventory_requests(fleet) == {"200": 2}


def test_a_delta_batch_claimed_again_after_its_worker_died_is_applied_once(
    fleet: Fleet,  # noqa: F811
) -> None:
    import json  # noqa: PLC0415
    import time  # noqa: PLC0415

    from shopsync.platforms.base import StockChange  # noqa: PLC0415
    from shopsync.state.ledger_pg import PgLedger  # noqa: PLC0415
    from test_fleet import _runner, _single_batches  # noqa: PLC0415

    runner = _runner(fleet, name="a")
    try:
        [product] = _single_batches(fleet, 1)
        assert runner.run("shop", product) == "done"  # D-0 on the shop, stock 0
        platform = runner._open("shop")[2]
        # The dead worker's send: applied by the shop, its answer never read.
        platform.update_inventory([StockChange("D-0", delta=3)], idempotency_key="k-dead")
        request = {
            "stock": {
                "mode": "delta",
                "changes": [{"sku": "D-0", "delta": 3}, {"sku": "D-0", "delta": 1}],
                "lasts": [0, None],
                "rows": [
                    {"file": "d.csv", "line": 2, "cells": {"sku": "D-0", "delta": "3"}},
                    {"file": "d.csv", "line": 3, "cells": {"sku": "D-0", "delta": "1"}},
                ],
            }
        }
        with PgLedger(fleet.ledger_url, target=f"shop|{fleet.sandbox.base_url}") as ledger:
            ledger.begin_batch("k-dead", json.dumps(request), run_id="r", items=2)
            assert ledger.claim_batch("k-dead", owner="dead", lease_seconds=0.2) is not None
            time.sleep(0.5)  # its lease runs out
            assert runner.run("shop", "k-dead") == "done"
            assert ledger.is_done("k-dead")
            # The keys of the generic platform may be ignored: the +3 went again as a
            # compare-and-set from 0, answered by a conflict at 3 (applied already);
            # the +1, whose count before is unknown, was not sent at all.
            [failure] = ledger.failures("r")
        assert (failure.sku, failure.code, failure.cells) == (
            "D-0",
            "UNKNOWN_OUTCOME",
            {"sku": "D-0", "delta": "1"},
        )
    finally:
        runner.close()
    product_now = fleet.sandbox.store.product_by_sku("D-0")
    assert product_now is not None and int(product_now.values["stock"]) == 3
    assert fleet.query(
        "SELECT state, attempts, updated, failed FROM shopsync_batch WHERE key = 'k-dead'"
    ) == [("done", 2, 1, 1)]
    [(count,)] = fleet.query("SELECT count FROM shopsync_stock WHERE sku = 'D-0'")
    assert count == 3
