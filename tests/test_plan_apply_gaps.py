"""Issue 21's gaps: apply compares a product's variants with the platform, applies plans
with local image files (refusing a file changed since), plan --prune checks the platform
can remove, and a product with variants is pruned end to end. Against a sandbox on
127.0.0.1 through the CLI, as in test_plan_apply.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import SandboxApi

from shopsync.catalog.records import Catalog
from shopsync.errors import UsageError
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.plan import plan
from shopsync.platforms.base import Capabilities
from shopsync.sandbox import SandboxHandle
from test_local_images import png
from test_plan_apply import run, shop
from test_variants import rows, write_csv

__all__ = ["shop"]  # the fixture, used by name


def _product(api: SandboxApi, sku: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = api.get("/products", params={"sku": sku}).json()["items"]
    assert len(items) == 1
    return items[0]


def _set_variant(api: SandboxApi, sku: str, **fields: Any) -> None:
    """Change one variant on the platform, as its back office would."""
    product = _product(api, sku)
    update = {"product_id": product["product_id"], "variants": [{"sku": sku, **fields}]}
    answer = api.post("/products/batch", json={"update": [update]})
    assert answer.status_code == 200, answer.text
    assert answer.json()["update"][0]["status"] == "ok", answer.text


def test_apply_compares_each_variant_with_the_platform(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_csv(tmp_path / "v.csv", rows())
    assert run("upload", "v.csv").exit_code == 0
    write_csv(tmp_path / "v.csv", rows(price={"TEE-M-RED": "19.00"}))
    assert run("plan", "v.csv", "--out", "plan.json").exit_code == 0
    api = api_for(shop)
    _set_variant(api, "TEE-S-BLUE", price="15.00")  # edited in the back office
    writes = shop.stats()["write_requests"]

    refused = run("apply", "plan.json")
    assert refused.exit_code == 7, refused.output
    assert "tee (variant TEE-S-BLUE price changed on the platform)" in refused.stderr
    assert shop.stats()["write_requests"] == writes  # nothing was sent

    # Put back, and only a variant's stock moved (an order): not a change of the plan's.
    _set_variant(api, "TEE-S-BLUE", price="10.00", stock=1)
    applied = run("apply", "plan.json")
    assert applied.exit_code == 0, applied.output
    prices = {v["sku"]: v["price"] for v in _product(api, "TEE-M-RED")["variants"]}
    assert prices["TEE-M-RED"] == "19.00"


def _write_imaged(path: Path, price: str = "10.00") -> None:
    path.write_text(
        "handle,sku,title,price,images,option:Size,variant_image\n"
        f"MUG-1,MUG-1,Mug,{price},img/a.png,,\n"
        f"TEE,TEE-S,Tee,{price},,S,img/s.png\n"
        f"TEE,TEE-M,Tee,{price},,M,img/a.png\n",
        encoding="utf-8",
    )


def test_a_plan_with_local_images_applies_them_and_refuses_a_changed_file(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "a.png").write_bytes(png(4, 4, seed=1))
    (tmp_path / "img" / "s.png").write_bytes(png(4, 4, seed=2))
    _write_imaged(tmp_path / "i.csv")
    planned = run("plan", "i.csv", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    document = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))
    files = {c["sku"]: sorted(c["image_files"].values()) for c in document["changes"]}
    assert files == {"MUG-1": ["img/a.png"], "TEE": ["img/a.png", "img/s.png"]}

    applied = run("apply", "plan.json")
    assert applied.exit_code == 0, applied.output
    assert shop.stats()["requests"]["POST /media"] == {"201": 2}
    api = api_for(shop)
    mug = _product(api, "MUG-1")["images"][0]
    tee = {v["sku"]: v["image"] for v in _product(api, "TEE-S")["variants"]}
    assert mug.endswith("/a.png") and tee["TEE-M"] == mug
    assert tee["TEE-S"].endswith("/s.png")

    # A new picture planned, then changed before the apply: refused, nothing sent.
    (tmp_path / "img" / "s.png").write_bytes(png(4, 4, seed=3))
    _write_imaged(tmp_path / "i.csv")
    assert run("plan", "i.csv", "--out", "plan2.json").exit_code == 0
    (tmp_path / "img" / "s.png").write_bytes(png(4, 4, seed=4))
    writes = shop.stats()["write_requests"]
    refused = run("apply", "plan2.json")
    assert refused.exit_code == 7, refused.output
    assert "the image 'img/s.png' of TEE (img/s.png) changed since the plan" in refused.stderr
    assert shop.stats()["write_requests"] == writes


def test_plan_prune_refuses_a_platform_that_cannot_remove(tmp_path: Path) -> None:
    (tmp_path / "p.csv").write_text("sku,title,price\nA-1,Mug,1.00\n", encoding="utf-8")
    target = Target(
        platform=None,
        ledger_dir=tmp_path / "ledger",
        namespace="test",
        profile="test",
        capabilities=Capabilities(max_batch_size=100),
        platform_name="keeper",
    )
    with pytest.raises(UsageError) as refused:
        plan(Catalog([tmp_path / "p.csv"]), target, JobOptions(prune=True), Outputs())
    assert refused.value.message == (
        "The keeper platform cannot remove products, so --prune cannot be used with it."
    )


def test_prune_removes_a_product_with_variants(
    shop: SandboxHandle, tmp_path: Path, api_for: Callable[..., SandboxApi]
) -> None:
    write_csv(tmp_path / "v.csv", rows())
    assert run("upload", "v.csv").exit_code == 0
    write_csv(tmp_path / "v.csv", [row for row in rows() if row[0] != "cap"])

    planned = run("plan", "v.csv", "--prune", "--out", "plan.json")
    assert planned.exit_code == 0, planned.output
    assert "0 to create, 0 to update, 1 to remove, 2 unchanged" in planned.stdout
    changes = json.loads((tmp_path / "plan.json").read_text(encoding="utf-8"))["changes"]
    assert [(c["action"], c["sku"]) for c in changes] == [("delete", "cap")]
    assert [v["sku"] for v in changes[0]["before"]["variants"]] == [
        "CAP-S-RED",
        "CAP-S-BLUE",
        "CAP-M-RED",
        "CAP-M-BLUE",
    ]

    result = run("upload", "v.csv", "--prune", "--report", "report.json")
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "report.json").read_text())["counts"]["removed"] == 1
    assert shop.stats()["products_archived"] == 1
    live = api_for(shop).get("/products", params={"limit": "100"}).json()["items"]
    assert sorted(item["handle"] for item in live) == ["hoodie", "tee"]
    # Out of the ledger: listed again, the cap is created again, variants and all.
    write_csv(tmp_path / "v.csv", rows())
    assert "1 to create" in run("plan", "v.csv", "--prune").stdout
