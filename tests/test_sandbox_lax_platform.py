"""Sandbox knobs for a platform that ignores idempotency keys and allows duplicate SKUs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from click.testing import CliRunner

from shopsync.cli.sandbox_cmds import sandbox_group
from shopsync.errors import UsageError
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sandbox.store import Store


def product(sku: str, **fields: Any) -> dict[str, Any]:
    return {"sku": sku, "title": f"Product {sku}", "price": "10.00", **fields}


def test_ignored_keys_apply_a_repeated_request_as_new(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    api = api_for(make_sandbox(ignore_idempotency_keys=True))
    headers = {"Idempotency-Key": "batch-1"}
    first = api.post("/products/batch", json={"create": [product("A")]}, headers=headers)
    again = api.post("/products/batch", json={"create": [product("A")]}, headers=headers)
    assert first.json()["create"][0]["status"] == "ok"
    assert "Idempotent-Replayed" not in again.headers
    # Not replayed: the second request ran, and met the first one's product.
    assert again.json()["create"][0]["error"]["code"] == "SKU_EXISTS"
    # Another body under the same key is not refused either.
    other = api.post("/products", json=product("B"), headers=headers)
    assert other.status_code == 201
    stats = api.handle.stats()
    assert stats["idempotent_replays"] == 0
    assert stats["products_stored"] == 2
    assert stats["in_flight"] == 0


def test_duplicate_skus_make_a_second_product(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    api = api_for(make_sandbox(allow_duplicate_skus=True))
    single = api.post("/products", json=product("A", stock=1))
    batch = api.post("/products/batch", json={"create": [product("A"), product("A")]})
    assert single.status_code == 201
    assert [r["status"] for r in batch.json()["create"]] == ["ok", "ok"]
    ids = [single.json()["product_id"]] + [r["product_id"] for r in batch.json()["create"]]
    assert len(set(ids)) == 3
    assert api.handle.stats()["products_stored"] == 3
    found = api.get("/products", params={"sku": "A"}).json()["items"]
    assert [item["product_id"] for item in found] == ids  # every one, oldest first
    # Inventory goes to the oldest product with the SKU.
    stock = api.post("/inventory/batch", json={"updates": [{"sku": "A", "delta": 2}]})
    assert stock.json()["results"] == [{"sku": "A", "status": "ok", "stock": 3}]
    assert api.get(f"/products/{ids[0]}").json()["stock"] == 3


def test_the_lax_platform_of_issue_11(
    make_sandbox: Callable[..., SandboxHandle], api_for: Callable[..., Any]
) -> None:
    # Both knobs together: a resent batch (same key) creates its products again.
    api = api_for(make_sandbox(ignore_idempotency_keys=True, allow_duplicate_skus=True))
    headers = {"Idempotency-Key": "batch-1"}
    for _ in range(2):
        reply = api.post("/products/batch", json={"create": [product("A")]}, headers=headers)
        assert reply.json()["create"][0]["status"] == "ok"
    assert api.handle.stats()["products_stored"] == 2
    assert len(api.get("/products", params={"sku": "A"}).json()["items"]) == 2


def test_defaults_keep_keys_honoured_and_skus_unique(sandbox: SandboxHandle) -> None:
    assert sandbox.config.ignore_idempotency_keys is False
    assert sandbox.config.allow_duplicate_skus is False


def test_a_shop_with_duplicate_skus_needs_the_knob_again(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with running_sandbox(SandboxConfig(db=db, allow_duplicate_skus=True)) as handle:
        token = handle.issue_token()
        for _ in range(2):
            requests.post(
                f"{handle.base_url}/products",
                json=product("A"),
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            ).raise_for_status()
    with pytest.raises(UsageError) as caught:
        Store(str(db))
    assert "share an SKU" in str(caught.value)
    assert caught.value.hint is not None and "--allow-duplicate-skus" in caught.value.hint
    Store(str(db), unique_skus=False).close()  # still opens with the knob


def test_serve_takes_both_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[SandboxConfig] = []
    monkeypatch.setattr(
        "shopsync.sandbox.server.serve", lambda config, on_ready=None: seen.append(config)
    )
    result = CliRunner().invoke(
        sandbox_group, ["serve", "--ignore-idempotency-keys", "--allow-duplicate-skus"]
    )
    assert result.exit_code == 0, result.output
    assert seen[0].ignore_idempotency_keys is True
    assert seen[0].allow_duplicate_skus is True
    help_text = CliRunner().invoke(sandbox_group, ["serve", "--help"]).output
    assert "--ignore-idempotency-keys" in help_text
    assert "--allow-duplicate-skus" in help_text
