"""``plan --out``, ``apply PLAN``, ``--prune`` and ``products``: against a sandbox on 127.0.0.1."""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from tests.conftest import SandboxApi

from shopsync.cli import cli
from shopsync.sandbox import SandboxHandle

SECRET = "s3cr3t-canary-planapply"
FIELDS = ["sku", "title", "price", "stock"]


def write_catalog(
    path: Path, count: int, *, price: str = "10.00", skip: frozenset[int] = frozenset()
) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(FIELDS)
        for n in range(count):
            if n not in skip:
                writer.writerow([f"SKU-{n:03d}", f"Product {n}", price, 5])


@pytest.fixture
def shop(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_sandbox: Callable[..., SandboxHandle],
) -> SandboxHandle:
    """A running sandbox that the CLI's default profile points at (no --sandbox)."""
    handle = make_sandbox(client_id="ci-client", client_secret=SECRET)
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_PROFILE", "SHOPSYNC_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SHOPSYNC_BASE_URL", handle.base_url)
    monkeypatch.setenv("SHOPSYNC_CLIENT_ID", "ci-client")
    monkeypatch.setenv("SHOPSYNC_CLIENT_SECRET", SECRET)
    monkeypatch.chdir(tmp_path)
    return handle


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args))


def test_a_plan_holds_full_values_and_no_secret(shop: SandboxHandle, tmp_path: Path) -> None:
    write_catalog(tmp_path / "p.csv", 3)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 4, price="12.50")

    result = run("plan", "p.csv", "--out", "plan.json")
    assert result.exit_code == 0, result.output
    text = (tmp_path / "plan.json").read_text(encoding="utf-8")
    assert SECRET not in text
    assert "ci-client" not in text
    document = json.loads(text)
    assert document["format"] == "shopsync-plan"
    assert document["version"] == 1
    assert document["target"] == {
        "profile": "default",
        "platform": "generic",
        "base_url": shop.base_url,
    }
    assert document["inputs"][0]["file"] == "p.csv"
    assert len(document["inputs"][0]["sha256"]) == 64
    assert document["counts"] == {
        "create": 1,
        "update": 3,
        "delete": 0,
        "unchanged": 0,
        "rejected": 0,
    }
    update, create = document["changes"][0], document["changes"][3]
    assert update["action"] == "update"
    assert update["sku"] == "SKU-000"
    assert update["fields"] == ["price"]
    assert update["changes"] == [{"field": "price", "before": "10.00", "after": "12.50"}]
    assert len(update["ledger_hash"]) > 0
    assert create["action"] == "create"
    assert create["ledger_hash"] is None
    assert create["body"]["title"] == "Product 3"
    assert create["body"]["price"] == "12.50"
    assert create["body"]["stock"] == 5

    as_json = json.loads(run("plan", "p.csv", "--json").stdout)
    assert as_json["creates"][0]["body"]["title"] == "Product 3"


def test_apply_sends_the_plan_not_the_file_changed_since(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_catalog(tmp_path / "p.csv", 3)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 3, price="12.50")
    assert run("plan", "p.csv", "--out", "plan.json").exit_code == 0
    write_catalog(tmp_path / "p.csv", 5, price="99.00")  # edited after the review

    result = run("apply", "plan.json", "--report", "report.json")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["command"] == "apply"
    assert report["counts"]["updated"] == 3
    assert report["counts"]["created"] == 0
    items = api_for(shop).get("/products", params={"limit": "100"}).json()["items"]
    assert sorted((item["sku"], item["price"]) for item in items) == [
        ("SKU-000", "12.50"),
        ("SKU-001", "12.50"),
        ("SKU-002", "12.50"),
    ]

    again = run("apply", "plan.json")
    assert again.exit_code == 7
    assert "SKU-000 (the ledger changed since the plan)" in again.stderr


def test_apply_refuses_when_the_platform_changed_a_planned_product(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_catalog(tmp_path / "p.csv", 3)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 3, price="12.50")
    assert run("plan", "p.csv", "--out", "plan.json").exit_code == 0
    api = api_for(shop)
    item = api.get("/products", params={"sku": "SKU-001"}).json()["items"][0]
    assert api.patch(f"/products/{item['product_id']}", json={"title": "Edited"}).status_code == 200
    writes_before = shop.stats()["write_requests"]

    result = run("apply", "plan.json")
    assert result.exit_code == 7, result.output
    assert "SKU-001 (title changed on the platform)" in result.stderr
    assert "SKU-000" not in result.stderr
    assert shop.stats()["write_requests"] == writes_before  # nothing was sent
    prices = {i["sku"]: i["price"] for i in api.get("/products").json()["items"]}
    assert prices == {"SKU-000": "10.00", "SKU-001": "10.00", "SKU-002": "10.00"}

    replanned = run("apply", "plan.json", "--replan")
    assert replanned.exit_code == 0, replanned.output
    prices = {i["sku"]: i["price"] for i in api.get("/products").json()["items"]}
    assert prices == {"SKU-000": "12.50", "SKU-001": "12.50", "SKU-002": "12.50"}


def test_prune_archives_exactly_the_removed_products_and_nothing_shopsync_never_made(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_catalog(tmp_path / "p.csv", 100)
    assert run("upload", "p.csv").exit_code == 0
    api = api_for(shop)
    outside = {"sku": "HANDMADE-1", "title": "Made in the back office", "price": "3.00"}
    assert api.post("/products/batch", json={"create": [outside]}).status_code == 200
    write_catalog(tmp_path / "p.csv", 100, skip=frozenset({7, 42, 99}))

    without = run("upload", "p.csv")
    assert without.exit_code == 0
    assert shop.stats()["products_archived"] == 0

    planned = run("plan", "p.csv", "--prune", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    assert "Plan: 0 to create, 0 to update, 3 to remove, 97 unchanged" in planned.stdout
    deletes = json.loads(Path("plan.json").read_text())["changes"]
    assert [c["sku"] for c in deletes] == ["SKU-007", "SKU-042", "SKU-099"]
    assert {c["action"] for c in deletes} == {"delete"}

    result = run("upload", "p.csv", "--prune", "--report", "report.json")
    assert result.exit_code == 0, result.output
    assert json.loads(Path("report.json").read_text())["counts"]["removed"] == 3
    assert shop.stats()["products_archived"] == 3
    live = {item["sku"] for item in _all_products(api)}
    assert live == {f"SKU-{n:03d}" for n in range(100)} - {"SKU-007", "SKU-042", "SKU-099"} | {
        "HANDMADE-1"
    }
    audit = run("audit", "--sku", "SKU-042", "--json").stdout.splitlines()
    assert json.loads(audit[-1])["action"] == "archive"
    # Pruned products left the ledger: listed again, they are created again.
    write_catalog(tmp_path / "p.csv", 100)
    assert "3 to create" in run("plan", "p.csv", "--prune").stdout


def test_max_delete_stops_before_anything_is_removed(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_catalog(tmp_path / "p.csv", 100)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 100, skip=frozenset({7, 42, 99}))

    planned = run("plan", "p.csv", "--prune", "--max-delete", "2")
    assert planned.exit_code == 8
    assert "--prune would remove 3 products (SKU-007, SKU-042, SKU-099)" in planned.stderr

    result = run("upload", "p.csv", "--prune", "--max-delete", "2")
    assert result.exit_code == 8, result.output
    assert "nothing was removed" in result.stderr
    assert shop.stats()["products_archived"] == 0
    assert len(_all_products(api_for(shop))) == 100

    # The default is 5% of the products shopsync manages there: 5 of 100.
    write_catalog(tmp_path / "p.csv", 100, skip=frozenset(range(6)))
    assert run("plan", "p.csv", "--prune").exit_code == 8
    assert shop.stats()["products_archived"] == 0


def test_apply_of_a_plan_with_deletes_archives_them(shop: SandboxHandle, tmp_path: Path) -> None:
    write_catalog(tmp_path / "p.csv", 10)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 10, skip=frozenset({3}))
    assert run("plan", "p.csv", "--prune", "--out", "plan.json").exit_code == 0
    result = run("apply", "plan.json")
    assert result.exit_code == 0, result.output
    assert "1 removed (--prune)" in result.stdout
    assert shop.stats()["products_archived"] == 1


def test_plan_warns_when_the_ledger_is_old(shop: SandboxHandle, tmp_path: Path) -> None:
    write_catalog(tmp_path / "p.csv", 2)
    assert run("upload", "p.csv").exit_code == 0
    assert "Warning" not in run("plan", "p.csv").stderr
    ledger_dir = next((tmp_path / "data" / "ledger").iterdir())
    (ledger_dir / "refreshed_at").write_text(repr(time.time() - 8 * 86400))
    stale = run("plan", "p.csv")
    assert "has not learned the platform's state for 8 days" in stale.stderr
    assert "--refresh" in stale.stderr
    assert "Warning" not in run("plan", "p.csv", "--refresh").stderr
    assert "Warning" not in run("plan", "p.csv").stderr  # the refresh was noted


def test_products_list_and_get(shop: SandboxHandle, tmp_path: Path) -> None:
    write_catalog(tmp_path / "p.csv", 2)
    assert run("upload", "p.csv").exit_code == 0
    listed = run("products", "list", "--format", "csv")
    assert listed.exit_code == 0, listed.output
    rows = list(csv.DictReader(listed.stdout.splitlines()))
    assert [(r["sku"], r["title"], r["price"], r["stock"]) for r in rows] == [
        ("SKU-000", "Product 0", "10.00", "5"),
        ("SKU-001", "Product 1", "10.00", "5"),
    ]
    got = run("products", "get", "SKU-001", "--format", "json")
    assert got.exit_code == 0
    assert json.loads(got.stdout)[0]["fields"]["title"] == "Product 1"
    missing = run("products", "get", "NOPE")
    assert missing.exit_code == 1
    assert "No product has the SKU 'NOPE'" in missing.stderr


def _all_products(api: SandboxApi) -> list[dict[str, object]]:
    items: list[dict[str, object]] = []
    params = {"limit": "100"}
    while True:
        page = api.get("/products", params=params).json()
        items.extend(page["items"])
        if not page.get("next_cursor"):
            return items
        params = {"limit": "100", "cursor": page["next_cursor"]}


def test_sandbox_reset_empties_the_built_in_shop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("SHOPSYNC_BASE_URL", "SHOPSYNC_CLIENT_ID", "SHOPSYNC_CLIENT_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    write_catalog(tmp_path / "p.csv", 3)
    assert run("upload", "p.csv", "--sandbox").exit_code == 0
    assert len(run("products", "list", "--sandbox").stdout.splitlines()) == 3

    reset = run("sandbox", "reset")
    assert reset.exit_code == 0, reset.output
    assert run("products", "list", "--sandbox").stdout == ""
    again = run("upload", "p.csv", "--sandbox")
    assert "3 created" in again.stdout


def test_apply_refresh_on_a_runner_with_an_empty_ledger(
    shop: SandboxHandle,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    api_for: Callable[..., SandboxApi],
) -> None:
    write_catalog(tmp_path / "p.csv", 3)
    assert run("upload", "p.csv").exit_code == 0
    write_catalog(tmp_path / "p.csv", 4, price="12.50")
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "pull-request-runner"))
    planned = run("plan", "p.csv", "--refresh", "--out", "plan.json")
    assert "1 to create, 3 to update" in planned.stdout
    monkeypatch.setenv("SHOPSYNC_DATA_DIR", str(tmp_path / "merge-runner"))
    api = api_for(shop)
    item = api.get("/products", params={"sku": "SKU-002"}).json()["items"][0]
    api.patch(f"/products/{item['product_id']}", json={"stock": 1})  # an order: not drift

    without_refresh = run("apply", "plan.json")
    assert without_refresh.exit_code == 7  # this runner's ledger knows none of them
    result = run("apply", "plan.json", "--refresh")
    assert result.exit_code == 0, result.output
    assert "1 created, 3 updated" in result.stdout
    prices = {i["sku"]: i["price"] for i in api.get("/products").json()["items"]}
    assert prices == {f"SKU-{n:03d}": "12.50" for n in range(4)}


def test_the_github_actions_example_plans_on_pull_requests_and_applies_that_plan() -> None:
    yaml = pytest.importorskip("yaml")
    workflow = Path(__file__).parent.parent / "examples" / "github-actions" / "catalog-sync.yml"
    jobs = yaml.safe_load(workflow.read_text())["jobs"]
    plan_steps = {step.get("name"): step for step in jobs["plan"]["steps"]}
    assert "--out plan.json" in plan_steps["Plan"]["run"]
    kept = plan_steps["Keep the plan for the merge"]
    assert kept["uses"].startswith("actions/upload-artifact@")
    assert kept["with"] == {
        "name": "catalog-plan",
        "path": "plan.json",
        "if-no-files-found": "error",
    }
    apply_steps = {step.get("name"): step for step in jobs["apply"]["steps"]}
    assert "--name catalog-plan" in apply_steps["Download the reviewed plan"]["run"]
    assert apply_steps["Apply"]["run"].startswith("shopsync apply plan.json --refresh")
    assert not any("shopsync upload" in str(step.get("run")) for step in apply_steps.values())
