"""Shared pieces of the Shopify tests: a dialect sandbox, settings from the environment,
the adapter connected to it, a catalog writer, and Shopify's schemas where they are."""

from __future__ import annotations

import csv
import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shopsync.catalog.records import Catalog
from shopsync.config import Settings, load_settings
from shopsync.jobs.base import JobOptions, Outputs, Target
from shopsync.jobs.upload import UploadJob
from shopsync.platforms import connect, platform_settings
from shopsync.platforms.shopify import ShopifyPlatform
from shopsync.sandbox import SandboxConfig, SandboxHandle, running_sandbox
from shopsync.sync.report import RunReport

ROOT = Path(__file__).resolve().parent.parent
VENDORED = ROOT / "tests" / "data" / "shopify"
SHARED = [base / "shared" / "specs" / "shopify" for base in (ROOT.parent, ROOT.parent.parent)]


def schema_path(version: str) -> Path:
    """Shopify's schema of ``version``: vendored (2026-07) or from ../shared; else skip."""
    for directory in [VENDORED, *SHARED]:
        path = directory / f"admin_{version}.json.gz"
        if path.is_file():
            return path
    pytest.skip(f"Shopify's {version} schema is not here (../shared/specs/shopify is absent)")


def load_schema(version: str) -> Any:
    """The graphql-core schema of ``version`` (skips where the file is absent)."""
    from shopsync.sandbox.dialects.shopify.schema import load_schema as load  # noqa: PLC0415

    schema_path(version)
    return load(version)


def shopify_settings(handle: SandboxHandle, data_dir: Path, **env: str) -> Settings:
    """Settings as a seller's environment gives them (SHOPSYNC_PLATFORM=shopify ...)."""
    environ = {
        "SHOPSYNC_PLATFORM": "shopify",
        "SHOPSYNC_SHOP": "sandbox",
        "SHOPSYNC_BASE_URL": handle.base_url,
        "SHOPSYNC_CLIENT_ID": handle.client_id,
        "SHOPSYNC_CLIENT_SECRET": handle.client_secret,
        "SHOPSYNC_DATA_DIR": str(data_dir),
        "SHOPSYNC_PROFILE": "test",
    }
    environ.update(env)
    return load_settings(
        config_dir=data_dir / "config", environ=environ, platform_settings=platform_settings
    )


@pytest.fixture
def shopify_sandbox() -> Iterator[Callable[..., SandboxHandle]]:
    """``shopify_sandbox(**config)``: a Shopify-dialect sandbox, stopped after the test."""
    from contextlib import ExitStack  # noqa: PLC0415

    with ExitStack() as stack:

        def make(**config: Any) -> SandboxHandle:
            return stack.enter_context(running_sandbox(SandboxConfig(dialect="shopify", **config)))

        yield make


@pytest.fixture
def shopify_platform(
    tmp_path: Path,
) -> Iterator[Callable[..., ShopifyPlatform]]:
    """``shopify_platform(handle, **env)``: the adapter connected to ``handle``."""
    made: list[ShopifyPlatform] = []

    def make(handle: SandboxHandle, *, options: dict[str, Any] | None = None, **env: str) -> Any:
        settings = shopify_settings(handle, tmp_path / "data", **env)
        platform = connect(settings, disk_cache=False, **(options or {}))
        assert isinstance(platform, ShopifyPlatform)
        made.append(platform)
        return platform

    yield make
    for platform in made:
        platform.close()


def target_for(platform: ShopifyPlatform, settings_dir: Path) -> Target:
    """A sync target (ledger under ``settings_dir``) for ``platform``."""
    return Target(
        platform=platform,
        ledger_dir=settings_dir / "ledger",
        namespace=platform.namespace,
        profile="test",
    )


def write_catalog(path: Path, rows: int, *, price: str = "9.90", stock: int = 5) -> list[str]:
    """A CSV of ``rows`` products ``SH-00000``...; returns the SKUs."""
    skus = [f"SH-{n:05d}" for n in range(rows)]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sku", "title", "price", "stock"])
        for sku in skus:
            writer.writerow([sku, f"Item {sku}", price, stock])
    return skus


def upload(target: Target, path: Path, out: Path, **options: Any) -> RunReport:
    """One upload run of ``path``."""
    job = UploadJob(
        Catalog([path]),
        target,
        JobOptions(**{"batch_size": 10, "workers": 4, **options}),
        Outputs(default_dir=out),
    )
    return job.run()


def products_per_sku(handle: SandboxHandle) -> dict[str, int]:
    """How many products carry each SKU in the dialect's shop."""
    counts: dict[str, int] = {}
    shop = handle.app.shop  # type: ignore[attr-defined]
    with shop.lock:
        for product in shop.products.values():
            for variant in product.variants:
                counts[variant.sku] = counts.get(variant.sku, 0) + 1
    return counts


def introspection(version: str) -> dict[str, Any]:
    """The raw introspection JSON of ``version``."""
    with gzip.open(schema_path(version), "rt", encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data
