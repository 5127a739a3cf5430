"""The Taobao adapter against the Taobao sandbox dialect, over real sockets.

In the spirit of the adapter contract suite (issue 12): create, update only what changed,
unchanged sends nothing, lookup, stock set and delta, orders paged while they change,
ambiguous failures reconciled exactly once (TOP has no idempotency keys), throttling
(code 7 with HTTP 200) and outages; and Taobao's own rules at plan time.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from shopsync.catalog.records import Catalog
from shopsync.cli import cli
from shopsync.domain.models import Product
from shopsync.errors import AuthError, ExitCode, PlatformError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.stock import StockFile, StockJob, StockOptions
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect
from shopsync.platforms.taobao import TaobaoPlatform
from shopsync.platforms.taobao.mapping import product_constraints, update_params
from shopsync.sandbox import SandboxHandle
from shopsync.sandbox.faults import FaultInjector
from shopsync.sync.report import RunReport
from taobao_support import taobao_env, taobao_settings

HEADER = ["sku", "title", "price", "stock", "attr:taobao:cid"]


def write_catalog(path: Path, rows: int, *, stock: int = 10, price: str = "59.00") -> list[str]:
    skus = [f"TB-{n:04d}" for n in range(rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for sku in skus:
            writer.writerow([sku, f"纯棉T恤 {sku}", price, stock, "50000436"])
    return skus


@pytest.fixture
def taobao_target(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> Iterator[Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]]]:
    platforms: list[TaobaoPlatform] = []

    def make(
        client: dict[str, Any] | None = None,
        options: dict[str, Any] | None = None,
        **sandbox: Any,
    ) -> tuple[SandboxHandle, TaobaoPlatform, Target]:
        handle = make_sandbox(dialect="taobao", **sandbox)
        settings = taobao_settings(
            handle, tmp_path / "data", **{"rate": 2000, "burst": 200, **(client or {})}
        )
        platform = connect(settings, **(options or {}))
        assert isinstance(platform, TaobaoPlatform)
        platforms.append(platform)
        target = Target(
            platform=platform,
            ledger_dir=settings.ledger_dir(),
            namespace=f"test|{handle.base_url}",
            profile="test",
        )
        return handle, platform, target

    yield make
    for platform in platforms:
        platform.close()


def upload(target: Target, path: Path, tmp_path: Path, **options: Any) -> RunReport:
    job = UploadJob(
        Catalog([path], constraints=product_constraints),
        target,
        JobOptions(**{"batch_size": 50, "workers": 4, **options}),
        Outputs(default_dir=tmp_path),
    )
    return job.run()


def upload_until_done(target: Target, path: Path, tmp_path: Path) -> list[RunReport]:
    """Upload, and again after a run the faults stopped (at most six runs)."""
    reports = []
    for _ in range(6):
        job = UploadJob(
            Catalog([path], constraints=product_constraints),
            target,
            JobOptions(batch_size=50, workers=4),
            Outputs(default_dir=tmp_path),
        )
        try:
            reports.append(job.run())
            return reports
        except PlatformError:
            reports.append(job.report)
    raise AssertionError("six runs did not finish the upload")


def items_per_outer_id(handle: SandboxHandle, skus: list[str]) -> dict[str, int]:
    found = handle.store.products_with_skus(skus)
    return {sku: len(found.get(sku, [])) for sku in skus}


def calls(handle: SandboxHandle, method: str) -> int:
    return sum(handle.stats()["requests"].get(method, {}).values())


# -- products ----------------------------------------------------------------------------


def test_create_then_unchanged_sends_nothing_then_only_the_changed_price(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target()
    catalog = tmp_path / "catalog.csv"
    skus = write_catalog(catalog, 5)
    first = upload(target, catalog, tmp_path)
    assert first.counts["created"] == 5
    assert calls(handle, "taobao.item.add") == 5
    stored = handle.store.products_with_skus(skus)
    assert stored["TB-0000"][0].values["title"] == "纯棉T恤 TB-0000"
    assert stored["TB-0000"][0].values["cid"] == 50000436

    before = handle.stats()["requests_total"]
    second = upload(target, catalog, tmp_path)
    assert second.counts["unchanged"] == 5
    assert handle.stats()["requests_total"] == before  # not one call

    rows = catalog.read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace("59.00", "69.00")  # TB-0001's price only
    catalog.write_text("\n".join(rows) + "\n", encoding="utf-8")
    third = upload(target, catalog, tmp_path)
    assert (third.counts["updated"], third.counts["unchanged"]) == (1, 4)
    assert calls(handle, "taobao.item.update") == 1
    item = handle.store.products_with_skus(["TB-0001"])["TB-0001"][0]
    assert item.values["price"] == "69.00"
    assert item.version == 2


def test_an_update_sends_only_the_parameters_of_the_changed_fields() -> None:
    product = Product.model_validate(
        {
            "sku": "A",
            "title": "纯棉T恤",
            "price": "69.00",
            "stock": 3,
            "description": "long text",
            "attributes": {"taobao:cid": "50000436"},
        }
    )
    assert update_params(product, frozenset({"price"})) == {"price": "69.00"}
    assert update_params(product, frozenset({"stock", "title"})) == {"num": "3", "title": "纯棉T恤"}
    assert update_params(product, frozenset({"currency", "images"})) == {}


def test_lookup_finds_items_by_outer_id_and_answers_nothing_for_unknown_ones(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    _handle, platform, target = taobao_target()
    skus = write_catalog(tmp_path / "catalog.csv", 60)  # more than the 50 one call takes
    upload(target, tmp_path / "catalog.csv", tmp_path)
    found = platform.lookup_skus([*skus, "NO-SUCH"])
    assert sorted(found) == skus
    assert found["TB-0059"].fields["title"] == "纯棉T恤 TB-0059"
    assert found["TB-0059"].fields["price"] == "59.00"
    assert sorted(p.sku for p in platform.iter_products(page_size=25)) == skus


def test_a_refused_item_fails_alone_with_taobaos_sub_code(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    _handle, platform, _target = taobao_target()
    good = Product.model_validate(
        {"sku": "OK-1", "title": "好", "price": "1.00", "attributes": {"taobao:cid": "1"}}
    )
    bad = Product.model_validate(  # no cid: past plan time only because it is built here
        {"sku": "BAD-1", "title": "坏", "price": "1.00"}
    )
    result = platform.write_products([good]).created + platform.write_products([bad]).created
    assert [r.ok for r in result] == [True, False]
    assert result[1].code == "isv.missing-parameter:cid"
    assert result[1].outcome.name == "INVALID"


# -- plan-time rules ---------------------------------------------------------------------


@pytest.fixture
def taobao_cli(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> SandboxHandle:
    handle = make_sandbox(dialect="taobao")
    for name in list(os.environ):
        if name.startswith(("SHOPSYNC_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    for name, value in taobao_env(handle, tmp_path / "data").items():
        monkeypatch.setenv(name, value)
    return handle


def test_title_length_as_taobao_counts_it_is_a_row_error_at_plan_time(
    taobao_cli: SandboxHandle, tmp_path: Path
) -> None:
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,标题,price,stock,attr:taobao:cid\n"
        f"OK-1,{'汉' * 30},9.90,1,50000436\n"  # 60 as Taobao counts: allowed
        f"LONG-1,{'汉' * 30}X,9.90,1,50000436\n"  # 61
        "NOCID-1,短标题,9.90,1,\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["plan", str(catalog)])
    assert result.exit_code == ExitCode.INPUT_REJECTED, result.output
    assert (
        "catalog.csv:3: 标题: is 61 characters as Taobao counts them (a Chinese character "
        "counts two); Taobao allows at most 60" in result.output
    )
    assert "catalog.csv:4: attr:taobao:cid: Taobao needs the item's leaf category id" in (
        result.output
    )
    assert taobao_cli.stats()["requests_total"] == 0  # plan sends nothing


def test_config_show_masks_the_secret_and_session_and_auth_check_signs_a_call(
    taobao_cli: SandboxHandle,
) -> None:
    shown = CliRunner().invoke(cli, ["config", "show"])
    assert shown.exit_code == 0, shown.output
    assert "app_key" in shown.output and "demo-client" in shown.output
    assert "demo-secret" not in shown.output and "demo-session" not in shown.output
    assert shown.output.count("*** (set)") == 2
    checked = CliRunner().invoke(cli, ["auth", "check"])
    assert checked.exit_code == 0, checked.output
    assert "Credentials OK: client 'demo-client'" in checked.output
    assert taobao_cli.stats()["requests"]["taobao.user.seller.get"] == {"ok": 1}


def test_a_wrong_secret_is_an_auth_error_that_names_no_secret(
    make_sandbox: Callable[..., SandboxHandle], tmp_path: Path
) -> None:
    handle = make_sandbox(dialect="taobao")
    settings = taobao_settings(handle, tmp_path / "data", app_secret="wrong-secret")
    with connect(settings) as platform, pytest.raises(AuthError) as refused:
        platform.check_auth()
    assert "signature does not match" in refused.value.message
    assert "wrong-secret" not in str(refused.value) + str(refused.value.hint)
    assert sum(handle.stats()["requests"]["taobao.user.seller.get"].values()) == 1  # no retry


# -- stock -------------------------------------------------------------------------------


def stock_run(target: Target, path: Path, tmp_path: Path) -> RunReport:
    job = StockJob(
        StockFile([path]),
        target,
        StockOptions(batch_size=1, workers=2),
        Outputs(failed=tmp_path / "failed.csv"),
    )
    return job.run()


def test_stock_is_set_and_changed_by_deltas_per_item(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target()
    write_catalog(tmp_path / "catalog.csv", 3, stock=10)
    upload(target, tmp_path / "catalog.csv", tmp_path)
    counts = tmp_path / "counts.csv"
    counts.write_text("sku,stock\nTB-0000,7\nTB-0001,10\nTB-0002,0\n", encoding="utf-8")
    report = stock_run(target, counts, tmp_path)
    # TB-0001 already holds 10, as the upload set it: not sent.
    assert calls(handle, "taobao.item.quantity.update") == 2
    assert report.counts["updated"] == 2
    deltas = tmp_path / "deltas.csv"
    deltas.write_text("sku,delta\nTB-0000,-2\nTB-0001,5\n", encoding="utf-8")
    stock_run(target, deltas, tmp_path)
    stocks = {
        sku: stock
        for sku, (_, stock, _) in handle.store.stocks_by_skus(
            ["TB-0000", "TB-0001", "TB-0002"]
        ).items()
    }
    assert stocks == {"TB-0000": 5, "TB-0001": 15, "TB-0002": 0}


# -- exactly once without keys -----------------------------------------------------------


def test_lost_answers_are_reconciled_by_outer_id_and_no_item_is_made_twice(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target()
    skus = write_catalog(tmp_path / "catalog.csv", 120)
    handle.app.faults = FaultInjector(replace(handle.config, drop_after_commit_rate=0.25, seed=5))
    reports = upload_until_done(target, tmp_path / "catalog.csv", tmp_path)
    assert handle.stats()["faults"]["drop_after_commit"] >= 10
    assert set(items_per_outer_id(handle, skus).values()) == {1}
    assert handle.stats()["items"] == 120
    final = reports[-1]
    assert final.exit_code == 0
    assert final.counts["failed"] == final.counts["rejected"] == 0
    # Every lost add was found again by a lookup, before anything was sent again.
    assert calls(handle, "taobao.items.custom.get") >= 1


def test_an_outage_stops_the_run_and_the_next_run_finishes_exactly_once(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target(client={"max_attempts": 2})
    skus = write_catalog(tmp_path / "catalog.csv", 20)
    handle.app.faults = FaultInjector(replace(handle.config, fault_rate=1.0, seed=1))
    with pytest.raises(PlatformError):
        upload(target, tmp_path / "catalog.csv", tmp_path, workers=1)
    assert handle.stats()["items"] == 0
    faults = handle.stats()["faults"]
    assert faults["error_500"] + faults["error_502"] + faults["error_503"] >= 2
    handle.app.faults = FaultInjector(handle.config)
    report = upload(target, tmp_path / "catalog.csv", tmp_path)
    assert report.exit_code == 0
    assert set(items_per_outer_id(handle, skus).values()) == {1}


def test_code_7_throttling_pauses_and_every_item_still_goes_once(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, platform, target = taobao_target(rate=4.0, burst=3)
    skus = write_catalog(tmp_path / "catalog.csv", 6)
    report = upload(target, tmp_path / "catalog.csv", tmp_path, workers=2)
    assert report.exit_code == 0
    assert handle.stats()["rate_limited"] >= 1
    assert platform.stats()["throttled"] >= 1
    assert set(items_per_outer_id(handle, skus).values()) == {1}


# -- orders ------------------------------------------------------------------------------


def _order_states(handle: SandboxHandle) -> dict[str, tuple[str, str]]:
    stored = handle.store.orders_page(updated_since=None, status=None, after=None, limit=10**6)
    return {
        str(int(o["order_id"].removeprefix("ord_"))): (o["updated_at"], o["status"]) for o in stored
    }


def test_orders_are_read_in_day_windows_backwards_and_none_is_missed_while_they_change(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, platform, _target = taobao_target(orders=240, seed=4)
    before = _order_states(handle)
    original = platform.call
    pages = 0

    def call_and_let_orders_move(method: str, business: Any, **kw: Any) -> dict[str, Any]:
        nonlocal pages
        answer = original(method, business, **kw)
        if method == "taobao.trades.sold.increment.get" and business["page_size"] != "1":
            pages += 1
            handle.advance_orders(3)  # orders change (and come) between the pages
        return answer

    scan_started = time.time()
    platform.call = call_and_let_orders_move  # type: ignore[method-assign]
    first = list(platform.iter_orders(page_size=20))
    assert pages > 12  # several pages per window, in several windows
    after = _order_states(handle)
    untouched = {tid for tid, state in before.items() if after[tid] == state}
    assert len(untouched) < len(before)  # the scan met changes
    assert untouched <= {order.order_id for order in first}  # none that stayed was missed
    assert len({(o.order_id, o.updated_at) for o in first}) == len(first)  # each state once
    assert [o.updated_at for o in first] == sorted(o.updated_at for o in first)  # oldest first

    # The next poll, from where this one began, sees every order's latest state.
    later = TaobaoPlatform.from_settings(
        taobao_settings(handle, tmp_path / "data"), wall_clock=lambda: time.time() + 2
    )
    since = datetime.fromtimestamp(scan_started - 1, tz=timezone.utc)
    second = list(later.iter_orders(updated_since=since))
    later.close()
    statuses = {(o.order_id, o.status) for o in first + second}
    assert all((tid, status) in statuses for tid, (_, status) in after.items())

    order = first[0]
    assert order.status in {"pending", "paid", "shipped", "delivered", "cancelled", "refunded"}
    assert order.lines and order.total > Decimal(0)
    again = platform.get_order(order.order_id)
    assert again is not None and again.order_id == order.order_id
    assert platform.get_order("99999999") is None


EXAMPLE = Path(__file__).parent.parent / "examples" / "taobao-products.csv"


def test_the_readme_example_uploads_to_the_embedded_taobao_sandbox_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("SHOPSYNC_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "taobao")
    first = CliRunner().invoke(cli, ["upload", str(EXAMPLE), "--sandbox"])
    assert first.exit_code == 0, first.output
    assert "3 created, 0 updated, 0 unchanged, 0 failed, 0 rejected; 3 requests" in first.output
    again = CliRunner().invoke(cli, ["upload", str(EXAMPLE), "--sandbox"])
    assert again.exit_code == 0, again.output
    assert "0 created, 0 updated, 3 unchanged, 0 failed, 0 rejected; 0 requests" in again.output


def test_a_lost_delta_is_never_applied_twice(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target()
    skus = write_catalog(tmp_path / "catalog.csv", 30, stock=100)
    upload(target, tmp_path / "catalog.csv", tmp_path)
    deltas = tmp_path / "deltas.csv"
    deltas.write_text("sku,delta\n" + "".join(f"{sku},-1\n" for sku in skus), encoding="utf-8")
    handle.app.faults = FaultInjector(replace(handle.config, drop_after_commit_rate=0.3, seed=2))
    report = stock_run(target, deltas, tmp_path)
    assert handle.stats()["faults"]["drop_after_commit"] >= 3
    stocks = {sku: stock for sku, (_, stock, _) in handle.store.stocks_by_skus(skus).items()}
    assert all(stocks[sku] in (99, 100) for sku in skus)  # once or not at all, never twice
    with (tmp_path / "failed.csv").open(encoding="utf-8", newline="") as handle_:
        unknown = {row["sku"]: row["error_code"] for row in csv.DictReader(handle_)}
    assert set(unknown.values()) == {"UNKNOWN_OUTCOME"}  # left for a person, not guessed
    assert all(stocks[sku] == 99 for sku in skus if sku not in unknown)
    assert report.counts["updated"] + report.counts["failed"] == 30


def test_transport_failures_never_show_the_session_key(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]],
) -> None:
    handle, platform, _target = taobao_target(client={"max_attempts": 1})
    handle.app.faults = FaultInjector(replace(handle.config, reset_rate=1.0, seed=1))
    with pytest.raises(PlatformError) as failed:
        platform.lookup_skus(["TB-0000"])
    text = f"{failed.value} {failed.value.hint} {failed.value!r}"
    assert "demo-session" not in text and "demo-secret" not in text


def test_stock_cas_is_a_usage_error_naming_taobao(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("SHOPSYNC_", "XDG_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHOPSYNC_PLATFORM", "taobao")
    counts = tmp_path / "counts.csv"
    counts.write_text("sku,stock\nTB-TEE-001,5\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["stock", str(counts), "--cas", "--sandbox"])
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "The taobao platform has no compare-and-set for stock, so --cas cannot" in (
        result.output
    )


JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
PICTURES = {
    "https://cdn.example/tee.jpg": JPEG,
    "https://cdn.example/mug.png": PNG,
    "https://cdn.example/not-an-image.jpg": b"<html>moved</html>",
}


def test_images_go_through_the_picture_space_once_per_content(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    fetched: list[str] = []

    def source(url: str) -> bytes:
        fetched.append(url)
        return PICTURES[url]

    handle, platform, target = taobao_target(options={"picture_source": source})
    catalog = tmp_path / "catalog.csv"
    rows = [
        ("TB-1", "https://cdn.example/tee.jpg"),
        ("TB-2", "https://cdn.example/tee.jpg"),
        ("TB-3", "https://cdn.example/tee.jpg"),
        ("TB-4", "https://cdn.example/mug.png"),
        ("TB-5", "https://cdn.example/not-an-image.jpg"),
    ]
    catalog.write_text(
        "sku,title,price,stock,images,attr:taobao:cid\n"
        + "".join(f"{sku},纯棉T恤,59.00,1,{url},50000436\n" for sku, url in rows),
        encoding="utf-8",
    )
    report = upload(target, catalog, tmp_path, workers=1)
    assert (report.counts["created"], report.counts["failed"]) == (4, 1)
    assert calls(handle, "taobao.picture.upload") == 2  # the tee once, the mug once
    stored = handle.store.products_with_skus([sku for sku, _ in rows])
    paths = {sku: found[0].values.get("pic_path") for sku, found in stored.items()}
    assert paths["TB-1"] == paths["TB-2"] == paths["TB-3"] != paths["TB-4"]
    assert "TB-5" not in stored
    assert str(paths["TB-1"]).endswith(".jpg") and str(paths["TB-4"]).endswith(".png")

    # The next run (another process: a new adapter, the same data directory) uploads
    # nothing for an image the shop has, even for a new item.
    platform.close()
    later = connect(taobao_settings(handle, tmp_path / "data"), picture_source=source)
    assert isinstance(later, TaobaoPlatform)
    assert later.upload_picture("https://cdn.example/tee.jpg") == paths["TB-1"]
    later.close()
    assert calls(handle, "taobao.picture.upload") == 2


def test_the_items_location_comes_from_its_row_or_the_profile_and_is_required(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, platform, target = taobao_target()  # the profile says 浙江 杭州
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,stock,taobao:cid,taobao:location.state,taobao:location.city\n"
        "TB-1,纯棉T恤,59.00,1,50000436,,\n"
        "TB-2,纯棉T恤,59.00,1,50000436,广东,广州\n",
        encoding="utf-8",
    )
    assert upload(target, catalog, tmp_path).counts["created"] == 2
    stored = handle.store.products_with_skus(["TB-1", "TB-2"])
    places = {
        sku: (rows[0].values["location.state"], rows[0].values["location.city"])
        for sku, rows in stored.items()
    }
    assert places == {"TB-1": ("浙江", "杭州"), "TB-2": ("广东", "广州")}
    # Without the profile's, a row without its own is a row error at plan time.
    platform.location = {}
    product = Product.model_validate(
        {"sku": "TB-3", "title": "T恤", "price": "1", "attributes": {"taobao:cid": "50000436"}}
    )
    assert [field for field, _, _ in platform.check_product(product)] == [
        "attr:taobao:location.state",
        "attr:taobao:location.city",
    ]


def test_every_image_goes_up_the_first_as_the_main_picture_the_rest_at_their_positions(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target(options={"picture_source": PICTURES.__getitem__})
    tee, mug = "https://cdn.example/tee.jpg", "https://cdn.example/mug.png"
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,stock,images,attr:taobao:cid\n"
        f"TB-1,纯棉T恤,59.00,1,{tee}|{mug}|{tee},50000436\n",
        encoding="utf-8",
    )
    report = upload(target, catalog, tmp_path, workers=1)
    assert report.counts["created"] == 1
    [item] = handle.store.products_with_skus(["TB-1"])["TB-1"]
    main, extra = item.values["pic_path"], item.values["item_imgs"]
    assert [(image["position"], image["url"]) for image in extra] == [
        (1, extra[0]["url"]),
        (2, main),
    ]
    assert extra[0]["url"] != main and str(extra[0]["url"]).endswith(".png")
    assert calls(handle, "taobao.picture.upload") == 2  # each content once
    assert calls(handle, "taobao.item.joint.img") == 2
    # Another order: the main picture and position 1 change; position 2 keeps its old
    # image (removing an extra image, taobao.item.img.delete, is not built).
    catalog.write_text(
        "sku,title,price,stock,images,attr:taobao:cid\n"
        f"TB-1,纯棉T恤,59.00,1,{mug}|{tee},50000436\n",
        encoding="utf-8",
    )
    assert upload(target, catalog, tmp_path, workers=1).counts["updated"] == 1
    [item] = handle.store.products_with_skus(["TB-1"])["TB-1"]
    assert str(item.values["pic_path"]).endswith(".png")
    assert [image["url"] for image in item.values["item_imgs"]] == [main, main]
    assert calls(handle, "taobao.picture.upload") == 2


def test_the_dialect_refuses_a_picture_that_is_not_an_image(
    make_sandbox: Callable[..., SandboxHandle],
) -> None:
    handle = make_sandbox(dialect="taobao")
    import requests  # noqa: PLC0415

    from shopsync.platforms.taobao.auth import TopSigning  # noqa: PLC0415

    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="img"; filename="x.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n<html></html>\r\n"
        f"--{boundary}--\r\n"
    ).encode()
    prepared = requests.Request(
        "POST",
        handle.base_url + "/router/rest",
        params={
            "method": "taobao.picture.upload",
            "app_key": handle.config.client_id,
            "session": "demo-session",
            "format": "json",
            "v": "2.0",
            "picture_category_id": "0",
            "image_input_title": "x.jpg",
        },
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        data=body,
    ).prepare()
    TopSigning(handle.config.client_secret).sign(prepared)
    with requests.Session() as session:
        answer = session.send(prepared, timeout=10).json()
    assert answer["error_response"]["sub_code"] == "isv.invalid-parameter:img"


def _png() -> bytes:
    """A real 1×1 PNG (the catalog reads its size)."""
    import struct  # noqa: PLC0415
    import zlib  # noqa: PLC0415

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def test_local_image_files_go_to_the_picture_space_once(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, _platform, target = taobao_target()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "tee.png").write_bytes(_png())
    (tmp_path / "images" / "fake.jpg").write_text("not an image", encoding="utf-8")
    catalog = tmp_path / "catalog.csv"
    catalog.write_text(
        "sku,title,price,stock,images,attr:taobao:cid\n"
        "TB-1,纯棉T恤,59.00,1,images/tee.png,50000436\n"
        "TB-2,纯棉T恤,59.00,1,images/tee.png,50000436\n"
        "TB-3,纯棉T恤,59.00,1,images/fake.jpg,50000436\n",
        encoding="utf-8",
    )
    report = upload(target, catalog, tmp_path, workers=1)
    assert (report.counts["created"], report.counts["rejected"]) == (2, 1)
    assert calls(handle, "taobao.picture.upload") == 1
    stored = handle.store.products_with_skus(["TB-1", "TB-2"])
    paths = {sku: rows[0].values.get("pic_path") for sku, rows in stored.items()}
    assert paths["TB-1"] == paths["TB-2"]
    assert str(paths["TB-1"]).startswith("https://img.sandbox.taobao.test/imgextra/")
    again = upload(target, catalog, tmp_path, workers=1)
    assert again.counts["unchanged"] == 2
    assert calls(handle, "taobao.picture.upload") == 1


VARIANT_HEADER = "handle,sku,title,price,stock,option:颜色,option:尺码,taobao:cid\n"
BLACK, WHITE, S, M, L = (
    "1627207:28341",
    "1627207:28320",
    "20509:28314",
    "20509:28315",
    "20509:28316",
)


def _variant_rows(price_of_white_m: str = "69.00", with_l: bool = False) -> str:
    rows = [
        f"TEE-1,TEE-1-BK-S,纯棉T恤,59.00,5,{BLACK},{S},50000436\n",
        f"TEE-1,TEE-1-BK-M,纯棉T恤,59.00,6,{BLACK},{M},50000436\n",
        f"TEE-1,TEE-1-WH-S,纯棉T恤,69.00,7,{WHITE},{S},50000436\n",
        f"TEE-1,TEE-1-WH-M,纯棉T恤,{price_of_white_m},8,{WHITE},{M},50000436\n",
    ]
    if with_l:
        rows.append(f"TEE-1,TEE-1-BK-L,纯棉T恤,59.00,9,{BLACK},{L},50000436\n")
    return VARIANT_HEADER + "".join(rows)


def test_variants_become_an_item_with_skus_and_change_one_sku_at_a_time(
    taobao_target: Callable[..., tuple[SandboxHandle, TaobaoPlatform, Target]], tmp_path: Path
) -> None:
    handle, platform, target = taobao_target()
    catalog = tmp_path / "variants.csv"
    catalog.write_text(_variant_rows(), encoding="utf-8")
    first = upload(target, catalog, tmp_path)
    assert first.counts["created"] == 1, first.counts
    assert calls(handle, "taobao.item.add") == 1
    item = handle.store.products_with_skus(["TEE-1"])["TEE-1"][0]  # outer_id: the handle
    skus = {s["outer_id"]: s for s in item.values["skus"]}
    assert sorted(skus) == ["TEE-1-BK-M", "TEE-1-BK-S", "TEE-1-WH-M", "TEE-1-WH-S"]
    assert skus["TEE-1-WH-S"]["properties"] == f"{WHITE};{S}"
    assert (item.values["stock"], item.values["price"]) == (26, "59.00")

    catalog.write_text(_variant_rows(price_of_white_m="79.00"), encoding="utf-8")
    second = upload(target, catalog, tmp_path)
    assert second.counts["updated"] == 1
    assert calls(handle, "taobao.item.sku.update") == 1  # that SKU alone
    assert calls(handle, "taobao.item.sku.add") == 0

    catalog.write_text(_variant_rows(price_of_white_m="79.00", with_l=True), encoding="utf-8")
    upload(target, catalog, tmp_path)
    assert calls(handle, "taobao.item.sku.add") == 1  # the new size
    item = handle.store.products_with_skus(["TEE-1"])["TEE-1"][0]
    skus = {s["outer_id"]: s for s in item.values["skus"]}
    assert skus["TEE-1-WH-M"]["price"] == "79.00"
    assert skus["TEE-1-BK-L"]["quantity"] == 9
    assert item.values["stock"] == 35

    # Stock per SKU, addressed by the variant's SKU, from a fresh adapter that knows none.
    platform._num_iids.clear()
    platform._sku_level.clear()
    counts = tmp_path / "counts.csv"
    counts.write_text("sku,stock\nTEE-1-BK-S,1\n", encoding="utf-8")
    stock_run(target, counts, tmp_path)
    item = handle.store.products_with_skus(["TEE-1"])["TEE-1"][0]
    skus = {s["outer_id"]: s for s in item.values["skus"]}
    assert (skus["TEE-1-BK-S"]["quantity"], item.values["stock"]) == (1, 31)
    assert platform.lookup_skus(["TEE-1-WH-M"])["TEE-1-WH-M"].product_id == item.product_id


def test_option_values_by_name_map_to_the_categorys_property_ids_once_per_category(
    taobao_cli: SandboxHandle, tmp_path: Path
) -> None:
    # 颜色=黑色 and 尺码=S as a seller writes them: the category's sale properties
    # (taobao.itemprops.get, asked once) give 1627207:28341 and 20509:28314.
    catalog = tmp_path / "variants.csv"
    catalog.write_text(
        VARIANT_HEADER
        + "TEE-2,TEE-2-BK-S,纯棉T恤,59.00,5,黑色,S,50000436\n"
        + "TEE-2,TEE-2-BK-M,纯棉T恤,59.00,5,黑色,M,50000436\n"
        + "TEE-3,TEE-3-WH-S,纯棉T恤,59.00,5,白色,S,50000436\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(cli, ["upload", str(catalog)])
    assert result.exit_code == 0, result.output
    [item] = taobao_cli.store.products_with_skus(["TEE-2"])["TEE-2"]
    assert {s["outer_id"]: s["properties"] for s in item.values["skus"]} == {
        "TEE-2-BK-S": f"{BLACK};{S}",
        "TEE-2-BK-M": f"{BLACK};{M}",
    }
    assert calls(taobao_cli, "taobao.itemprops.get") == 1


def test_option_values_the_category_does_not_have_are_refused_before_anything_is_sent(
    taobao_cli: SandboxHandle, tmp_path: Path
) -> None:
    # Names are checked where the adapter is connected (upload, plan --refresh): a plain
    # plan sends nothing, so it holds only the rules that need no call.
    catalog = tmp_path / "variants.csv"
    catalog.write_text(
        VARIANT_HEADER
        + "TEE-2,TEE-2-PU-S,纯棉T恤,59.00,5,紫色,S,50000436\n"
        + "TEE-4,TEE-4-BK-M,纯棉T恤,59.00,5,1627207:bad,M,50000436\n",
        encoding="utf-8",
    )
    rejects = tmp_path / "rejects.csv"
    result = CliRunner().invoke(cli, ["upload", str(catalog), "--rejects", str(rejects)])
    assert result.exit_code == ExitCode.INPUT_REJECTED, result.output
    assert calls(taobao_cli, "taobao.item.add") == 0
    with rejects.open(encoding="utf-8-sig", newline="") as handle:
        errors = {row["sku"]: row["error"] for row in csv.DictReader(handle)}
    assert (
        errors["TEE-2-PU-S"]
        .removeprefix(str(tmp_path) + "/")
        .startswith(
            "variants.csv:2: option:颜色: 紫色 is not a value of Taobao's property 颜色分类 in "
            "category 50000436 (it has: 黑色、白色、红色、蓝色)."
        )
    )
    assert (
        errors["TEE-4-BK-M"]
        .removeprefix(str(tmp_path) + "/")
        .startswith(
            "variants.csv:3: option:颜色: Taobao names a SKU's option values by the category's"
        )
    )
