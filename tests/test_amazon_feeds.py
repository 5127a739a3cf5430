"""The JSON_LISTINGS_FEED path (issue 16): large batches as one feed, resumed, not resent.

The feed document the adapter uploads and the processing report the dialect writes are
checked against Amazon's JSON Schemas, and the Feeds calls against its Feeds model, all
read from ``../shared/specs/amazon`` (skipped with the reason where it is absent).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests

from shopsync.errors import PlatformError
from shopsync.platforms import connect
from shopsync.platforms.amazon import AmazonPlatform
from shopsync.platforms.base import ItemCode, ProductUpdate
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from test_platform_amazon import SPECS, Recorder, _product, _settings, _validator, needs_specs

SHOPSYNC = [sys.executable, "-m", "shopsync"]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def amazon(clock: Clock) -> Iterator[SandboxHandle]:
    with running_sandbox(SandboxConfig(dialect="amazon", clock=clock)) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        yield handle


def _adapter(handle: SandboxHandle, clock: Clock, data_dir: Path, **extra: Any) -> AmazonPlatform:
    extra.setdefault("feed_threshold", 3)
    adapter = connect(
        _settings(handle, data_dir, **extra),
        sleep=clock.sleep,
        clock=clock,
        wall_clock=clock,
        disk_cache=False,
    )
    assert isinstance(adapter, AmazonPlatform)
    return adapter


def _calls(handle: SandboxHandle, operation: str) -> int:
    counts = handle.stats()["requests"]
    return sum(sum(v.values()) for k, v in counts.items() if k.endswith(" " + operation))


def test_a_batch_at_the_threshold_is_one_feed_with_results_by_message(
    amazon: SandboxHandle, clock: Clock, tmp_path: Path
) -> None:
    amazon.app.feed_delay = 90.0  # type: ignore[attr-defined]
    with _adapter(amazon, clock, tmp_path) as adapter:
        adapter.write_products([_product("KEEP-1")])  # below the threshold: a put
        assert _calls(amazon, "putListingsItem") == 1
        creates = [_product(f"FEED-{n}", price=f"{10 + n}.00") for n in range(3)]
        gone = ProductUpdate("GONE-1", _product("GONE-1", price="5.00"), frozenset({"price"}))
        result = adapter.write_products(creates, [gone], idempotency_key="batch-1")
    assert [(r.sku, r.ok, r.item_code) for r in result.created] == [
        (f"FEED-{n}", True, ItemCode.ACCEPTED) for n in range(3)
    ]
    (refused,) = result.updated
    assert (refused.sku, refused.ok, refused.code, refused.item_code) == (
        "GONE-1", False, "NOT_FOUND", ItemCode.INVALID,
    )  # fmt: skip
    assert refused.message == "SKU 'GONE-1' not found in marketplace."
    assert _calls(amazon, "putListingsItem") == 1  # none more: the four went in the feed
    assert _calls(amazon, "patchListingsItem") == 0
    assert (_calls(amazon, "createFeedDocument"), _calls(amazon, "createFeed")) == (1, 1)
    # Polled every 30 s until the dialect's 90 s of processing had passed.
    assert clock.sleeps == [30.0, 30.0, 30.0]
    assert _calls(amazon, "getFeed") == 4
    assert _calls(amazon, "getFeedDocument") == 1
    for n in range(3):
        row = amazon.store.product(f"FEED-{n}")
        assert row is not None
        assert row.values["price"] == f"{10 + n}.00"


@needs_specs
def test_the_feed_document_report_and_calls_validate_against_amazons_schemas(
    amazon: SandboxHandle, clock: Clock, tmp_path: Path
) -> None:
    with _adapter(amazon, clock, tmp_path) as adapter:
        adapter.write_products([_product("V-0")])
        recorder = Recorder(adapter)
        adapter.write_products(
            [_product("V-1"), _product("V-2")],
            [ProductUpdate("V-0", _product("V-0", price="7.00"), frozenset({"price"}))],
        )
    feed_schema = json.loads((SPECS / "listings-feed-schema-v2.json").read_text(encoding="utf-8"))
    report_schema = json.loads(
        (SPECS / "listings-feed-processing-report-schema-v2.json").read_text(encoding="utf-8")
    )
    operations = {
        ("POST", "documents"): ("CreateFeedDocumentSpecification", "CreateFeedDocumentResponse"),
        ("POST", "feeds"): ("CreateFeedSpecification", "CreateFeedResponse"),
        ("GET", "feeds"): (None, "Feed"),
        ("GET", "documents"): (None, "FeedDocument"),
    }
    seen: list[str] = []
    for request, response in recorder.exchanges:
        path = requests.utils.urlparse(str(request.url)).path
        if "/_amazon-documents/" in path:
            body = request.body if request.method == "PUT" else response.content
            assert isinstance(body, bytes)
            schema = feed_schema if request.method == "PUT" else report_schema
            jsonschema_rs.Draft7Validator(schema).validate(json.loads(body))
            assert "x-amz-access-token" not in request.headers  # S3's URL, not the SP-API
            seen.append(f"{request.method} document")
            continue
        if not path.startswith("/feeds/"):
            continue
        kind = path.split("/")[3]
        request_schema, response_schema = operations[(str(request.method), kind)]
        if request_schema is not None:
            _validator("feeds_2021-06-30.json", request_schema).validate(json.loads(request.body))
        _validator("feeds_2021-06-30.json", response_schema).validate(response.json())
        seen.append(f"{request.method} {kind}")
    assert seen == [
        "POST documents", "PUT document", "POST feeds", "GET feeds", "GET documents",
        "GET document",
    ]  # fmt: skip
    report = json.loads(recorder.exchanges[-1][1].content)
    assert report["summary"] == {
        "errors": 0, "warnings": 0, "messagesProcessed": 3, "messagesAccepted": 3,
        "messagesInvalid": 0,
    }  # fmt: skip


def test_a_feed_in_flight_is_polled_again_by_the_next_run_not_resubmitted(
    amazon: SandboxHandle, clock: Clock, tmp_path: Path
) -> None:
    amazon.app.feed_delay = 600.0  # type: ignore[attr-defined]
    creates = [_product(f"R-{n}") for n in range(4)]
    with (
        _adapter(amazon, clock, tmp_path, feed_timeout=60) as adapter,
        pytest.raises(PlatformError, match=r"has not finished feed \d+ .* within 60 seconds"),
    ):
        adapter.write_products(creates, idempotency_key="batch-r")
    assert amazon.stats()["feeds_created"] == 1
    clock.now += 600
    with _adapter(amazon, clock, tmp_path) as adapter:
        result = adapter.write_products(creates, idempotency_key="batch-r")
        assert [r.item_code for r in result.created] == [ItemCode.ACCEPTED] * 4
        assert amazon.stats()["feeds_created"] == 1  # polled, not submitted again
        assert _calls(amazon, "createFeedDocument") == 1
        # Once read, the outcome is kept: the same batch again asks Amazon nothing.
        before = sum(sum(v.values()) for v in amazon.stats()["requests"].values())
        again = adapter.write_products(creates, idempotency_key="batch-r")
        assert [r.item_code for r in again.created] == [ItemCode.ACCEPTED] * 4
        assert sum(sum(v.values()) for v in amazon.stats()["requests"].values()) == before


def test_a_run_killed_while_its_feed_is_in_flight_resumes_it(tmp_path: Path) -> None:
    """SIGKILL while polling: the next run polls the same feed, nothing sent twice."""
    rows = 60
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,stock\n"
        + "".join(f"K-{n:03d},Teapot {n},{10 + n}.00,{n}\n" for n in range(rows)),
        encoding="utf-8",
    )
    with running_sandbox(SandboxConfig(dialect="amazon")) as handle:
        handle.app.usage_scale = 100.0  # type: ignore[attr-defined]
        handle.app.feed_delay = 3600.0  # type: ignore[attr-defined]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SHOPSYNC_")},
            "SHOPSYNC_PLATFORM": "amazon",
            "SHOPSYNC_DATA_DIR": str(tmp_path / "data"),
            "SHOPSYNC_PRODUCT_TYPE": "HOME",
            "SHOPSYNC_FEED_THRESHOLD": "20",
            "SHOPSYNC_FEED_POLL_SECONDS": "0.05",
            "SHOPSYNC_BATCH_SIZE": "100",
            "HOME": str(tmp_path),
        }
        env.update({f"SHOPSYNC_{k.upper()}": v for k, v in handle.client_settings().items()})
        command = [*SHOPSYNC, "-q", "upload", str(catalog), "--verify-timeout", "0"]
        process = subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            deadline = time.monotonic() + 60
            while handle.stats()["feeds_created"] == 0 or _calls(handle, "getFeed") < 2:
                assert process.poll() is None, process.communicate()[1].decode()
                assert time.monotonic() < deadline, "the feed was never submitted"
                time.sleep(0.02)
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert handle.store.product_counts() == (0, 0)  # the feed is still in flight
        for feed in handle.app.feeds.values():  # type: ignore[attr-defined]
            feed["done_at"] = 0.0  # Amazon gets to it
        finished = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
        )
        assert finished.returncode == 0, finished.stderr.decode()
        stats = handle.stats()
        assert stats["feeds_created"] == 1
        assert _calls(handle, "createFeedDocument") == 1
        assert _calls(handle, "putListingsItem") == 0
        assert handle.store.product_counts() == (rows, 0)
        # And a third run has nothing to send.
        before = _calls(handle, "getFeed")
        again = subprocess.run(
            command, env=env, cwd=tmp_path, capture_output=True, timeout=120, check=False
        )
        assert again.returncode == 0, again.stderr.decode()
        assert handle.stats()["feeds_created"] == 1
        assert _calls(handle, "getFeed") == before
        assert _calls(handle, "putListingsItem") == 0


def test_a_stock_batch_at_the_threshold_is_one_feed_of_quantity_patches(
    amazon: SandboxHandle, clock: Clock, tmp_path: Path
) -> None:
    from shopsync.platforms.base import StockChange  # noqa: PLC0415

    with _adapter(amazon, clock, tmp_path) as adapter:
        adapter.write_products([_product(f"QTY-{n}") for n in range(2)])  # two puts
        adapter.write_products([_product("QTY-2")])
        results = adapter.update_inventory(
            [
                StockChange("QTY-0", stock=7),
                StockChange("QTY-1", delta=2),  # refused before anything is sent
                StockChange("QTY-1", stock=8),
                StockChange("QTY-2", stock=9),
            ],
            idempotency_key="stock-batch-1",
        )
        assert [(r.sku, r.ok, r.stock) for r in results] == [
            ("QTY-0", True, 7), ("QTY-1", False, None), ("QTY-1", True, 8), ("QTY-2", True, 9),
        ]  # fmt: skip
        assert _calls(amazon, "patchListingsItem") == 0  # the three counts went in the feed
        assert (_calls(amazon, "createFeedDocument"), _calls(amazon, "createFeed")) == (1, 1)
        clock.now += 3600  # past the dialect's visibility delay
        for sku, count in (("QTY-0", 7), ("QTY-1", 8), ("QTY-2", 9)):
            remote = adapter.get_listing(sku)
            assert remote is not None and remote.fields["stock"] == count
        small = adapter.update_inventory([StockChange("QTY-0", stock=1)])
        assert [r.ok for r in small] == [True]
        assert _calls(amazon, "patchListingsItem") == 1  # below the threshold: a patch
