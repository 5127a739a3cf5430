"""An ordinary ``upload`` or ``stock`` (no ``--queue``) on a fleet's shared ledger.

With ``ledger_url`` set, a run on one machine keeps its records in the PostgreSQL ledger
every machine sees, holds the fleet's lock for the target instead of a lock file, and
claims each batch it sends under a lease exactly as a worker does: a batch a worker is
sending right now is never sent here too, and one left pending by a queued run (or a
crashed run) is sent exactly once.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from servers import fresh_database, postgres_url, redis_url, wait_until  # noqa: F401
from shopsync.state.ledger_pg import PgLedger
from test_fleet import SHOPSYNC, Fleet, _assert_each_product_once, _catalog, fleet

__all__ = ["fleet"]


def _run(fleet: Fleet, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SHOPSYNC, *argv],
        env=fleet.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _target(fleet: Fleet) -> str:
    return f"shop|{fleet.sandbox.base_url}"


def test_a_plain_upload_records_in_the_shared_ledger_and_takes_no_lock_file(
    fleet: Fleet,
) -> None:
    catalog = _catalog(fleet.tmp / "products.csv", 120)
    first = _run(fleet, "upload", str(catalog))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "120 created" in first.stdout
    rows = fleet.query("SELECT count(*) FROM shopsync_product WHERE target = %s", _target(fleet))
    assert rows == [(120,)]
    assert fleet.query("SELECT count(*) FROM shopsync_batch WHERE state <> 'done'") == [(0,)]
    data = Path(fleet.env["SHOPSYNC_DATA_DIR"])
    assert not list(data.rglob("ledger.db")) and not list(data.rglob("*.lock"))

    again = _run(fleet, "upload", str(catalog))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "120 unchanged" in again.stdout
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 3}
    _assert_each_product_once(fleet.sandbox, 120)

    stock = fleet.tmp / "stock.csv"
    stock.write_text("sku,stock\nF-00001,40\nF-00002,41\n", encoding="utf-8")
    counted = _run(fleet, "stock", str(stock))
    assert counted.returncode == 0, counted.stdout + counted.stderr
    assert dict(
        fleet.query(
            "SELECT sku, count FROM shopsync_stock WHERE target = %s AND sku IN "
            "('F-00001', 'F-00002')",
            _target(fleet),
        )
    ) == {"F-00001": 40, "F-00002": 41}


def test_batches_a_queued_run_left_pending_are_sent_once_by_a_plain_run(fleet: Fleet) -> None:
    catalog = _catalog(fleet.tmp / "products.csv", 150)
    queued = fleet.upload(catalog)  # no workers running: the batches stay pending
    out, err = queued.communicate(timeout=60)
    assert queued.returncode == 0, out + err
    assert fleet.query("SELECT count(*) FROM shopsync_batch WHERE state = 'pending'") == [(3,)]

    plain = _run(fleet, "upload", str(catalog))
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert fleet.query("SELECT count(*) FROM shopsync_batch WHERE state = 'pending'") == [(0,)]
    _assert_each_product_once(fleet.sandbox, 150)
    assert fleet.sandbox.stats()["requests"]["POST /products/batch"] == {"200": 3}


def test_a_batch_a_worker_holds_is_not_sent_by_a_plain_run(fleet: Fleet) -> None:
    catalog = _catalog(fleet.tmp / "products.csv", 100)
    queued = fleet.upload(catalog)
    out, err = queued.communicate(timeout=60)
    assert queued.returncode == 0, out + err
    with PgLedger(fleet.ledger_url, target=_target(fleet)) as ledger:
        held = ledger.pending_batches()[0].idempotency_key
        assert ledger.claim_batch(held, owner="other-host:42", lease_seconds=300) is not None

    plain = _run(fleet, "upload", str(catalog))
    assert plain.returncode == 6, plain.stdout + plain.stderr  # ExitCode.LOCKED
    assert "being sent by fleet workers" in plain.stderr
    assert "POST /products/batch" not in fleet.sandbox.stats()["requests"]
    assert fleet.query("SELECT lease_owner, state FROM shopsync_batch WHERE key = %s", held) == [
        ("other-host:42", "pending")
    ]
    # The plain run gave back what it had claimed: nothing else is leased.
    assert fleet.query(
        "SELECT count(*) FROM shopsync_batch WHERE lease_owner IS NOT NULL AND key <> %s", held
    ) == [(0,)]


@pytest.mark.timeout(240)
def test_a_worker_whose_credentials_are_refused_gives_the_batch_back(fleet: Fleet) -> None:
    # One machine with a wrong secret for the shop must not fail the run's batches for
    # good: they go back, pending, and a machine with the right secret sends them.
    bad_env = {**fleet.env, "SHOP_SECRET": "not-the-secret"}
    bad_log = (fleet.tmp / "bad.log").open("wb")
    bad = subprocess.Popen(
        [SHOPSYNC, "worker", "--concurrency", "1", "--name", "bad", "--lease", "3"],
        env=bad_env,
        stdin=subprocess.DEVNULL,
        stdout=bad_log,
        stderr=subprocess.STDOUT,
    )
    fleet.workers["bad"] = bad
    upload = fleet.upload(_catalog(fleet.tmp / "products.csv", 100), "--wait")
    wait_until(
        lambda: fleet.query("SELECT coalesce(max(attempts), 0) FROM shopsync_batch")[0][0] >= 2,
        timeout=90,
        what="the refused worker giving a batch back and claiming it again",
    )
    assert fleet.query("SELECT count(*) FROM shopsync_batch WHERE state = 'failed'") == [(0,)]
    assert "POST /products/batch" not in fleet.sandbox.stats()["requests"]

    fleet.start_worker("good")
    out, err = upload.communicate(timeout=180)
    assert upload.returncode == 0, out + err
    assert "Done: 100 created, 0 updated, 0 failed" in out
    assert fleet.query("SELECT state, count(*) FROM shopsync_batch GROUP BY state") == [("done", 2)]
    _assert_each_product_once(fleet.sandbox, 100)
    assert "not-the-secret" not in (fleet.tmp / "bad.log").read_text(errors="replace")


@pytest.mark.timeout(240)
def test_a_queued_run_ends_like_an_ordinary_one_failed_file_report_json_audit(
    fleet: Fleet, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The platform refuses two items at send time (what no plan-time rule can know).
    from shopsync.sandbox.dialects.generic import app as generic_app  # noqa: PLC0415
    from shopsync.sandbox.dialects.generic.validation import FieldError  # noqa: PLC0415

    checked = generic_app.validate_product_values

    def refusing(data: Any, *, partial: bool) -> Any:
        values, errors = checked(data, partial=partial)
        if str(data.get("sku", "")).startswith("F-0001"):
            errors = [*errors, FieldError("title", "is not allowed in this shop")]
        return values, errors

    monkeypatch.setattr(generic_app, "validate_product_values", refusing)
    fleet.start_worker("w1")
    catalog = _catalog(fleet.tmp / "products.csv", 30)  # F-00010 .. F-00019 are refused
    failed, report = fleet.tmp / "failed.csv", fleet.tmp / "report.json"
    upload = fleet.upload(
        catalog, "--wait", "--json", "--failed", str(failed), "--report", str(report)
    )
    out, err = upload.communicate(timeout=200)
    assert upload.returncode == 1, out + err  # ExitCode.ITEMS_FAILED
    document = json.loads(out)
    assert document["counts"] == {
        "queued": 30,
        "unchanged": 0,
        "rejected": 0,
        "created": 20,
        "updated": 0,
        "failed": 10,
    }
    assert document["exit_code"] == 1 and document["outputs"]["failed"] == str(failed)
    assert json.loads(report.read_text(encoding="utf-8")) == document
    lines = failed.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 11, lines
    # A worker has the body it sent (the batch names rows by file and line, as a resumed
    # batch on one machine does), so the columns are the product's fields.
    assert lines[0] == "sku,title,price,currency,stock,images,status,error_code,error_message"
    assert sorted(line.split(",")[0] for line in lines[1:]) == [f"F-{n:05d}" for n in range(10, 20)]
    assert all(
        ",VALIDATION_ERROR," in line and "not allowed in this shop" in line for line in lines[1:]
    ), lines
    # The worker's machine keeps the audit log of what it sent, as one machine does.
    audit = Path(fleet.env["SHOPSYNC_DATA_DIR"]) / "audit" / "shop.jsonl"
    records = [json.loads(line) for line in audit.read_text(encoding="utf-8").splitlines()]
    assert sorted((r["outcome"], r["sku"]) for r in records) == sorted(
        [("ok", f"F-{n:05d}") for n in [*range(10), *range(20, 30)]]
        + [("error", f"F-{n:05d}") for n in range(10, 20)]
    )
    assert {r["run_id"] for r in records} == {document["run_id"]}
    assert fleet.env["SHOP_SECRET"] not in audit.read_text(encoding="utf-8") + out + err

    # The failed file feeds back as it is, once the shop takes the rows.
    monkeypatch.setattr(generic_app, "validate_product_values", checked)
    again = fleet.upload(failed, "--wait")
    out, err = again.communicate(timeout=200)
    assert again.returncode == 0, out + err
    assert "Done: 10 created" in out


def test_strict_refuses_to_queue_anything_when_a_row_is_invalid(fleet: Fleet) -> None:
    catalog = fleet.tmp / "products.csv"
    catalog.write_text("sku,title,price\nA-1,Mug,10.00\nA-2,Cup,not-a-price\n", encoding="utf-8")
    upload = fleet.upload(catalog, "--strict")
    out, err = upload.communicate(timeout=60)
    assert upload.returncode == 3, out + err  # ExitCode.INPUT_REJECTED
    assert "--strict is set, so nothing was sent" in err and "products.csv:3" in err
    assert fleet.query("SELECT count(*) FROM shopsync_batch") == [(0,)]
