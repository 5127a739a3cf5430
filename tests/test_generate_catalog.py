"""The benchmark catalog generator makes products the platform accepts, reproducibly."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from shopsync.domain.models import SKU_PATTERN, Product

ROOT = Path(__file__).resolve().parent.parent
GENERATOR_PATH = ROOT / "benchmarks" / "generate_catalog.py"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_catalog", GENERATOR_PATH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("generate_catalog", module)
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _shape_csv_row(cells: dict[str, str]) -> dict[str, Any]:
    """Shape a CSV record as the readers do: ``attr:NAME`` columns become attributes."""
    product: dict[str, Any] = {}
    attributes: dict[str, str] = {}
    for column, value in cells.items():
        if column.startswith("attr:"):
            if value:
                attributes[column.removeprefix("attr:")] = value
        else:
            product[column] = value
    product["attributes"] = attributes
    return product


def test_500_products_validate() -> None:
    products = list(gen.iter_products(500, seed=1234))
    assert len(products) == 500
    skus = set()
    for raw in products:
        product = Product.model_validate(
            {**raw, "images": list(raw["images"]), "attributes": dict(raw["attributes"])}
        )
        assert re.fullmatch(SKU_PATTERN, product.sku)
        assert 1 <= len(product.images) <= 4
        assert 0 <= product.stock <= 500
        assert re.fullmatch(r"\d+\.\d\d", raw["price"])
        assert str(product.price) == raw["price"]
        skus.add(product.sku)
    assert len(skus) == 500, "SKUs must be unique"


def test_the_catalog_is_realistic() -> None:
    products = list(gen.iter_products(500, seed=1234))
    titles = [p["title"] for p in products]
    assert any(re.search(r"[\u4e00-\u9fff]", t) for t in titles)
    assert any(t.isascii() for t in titles)
    assert sum(p["currency"] == "CNY" for p in products) > 400
    descriptions = [p["description"] for p in products]
    assert any("," in d and '"' in d for d in descriptions)
    assert any("\n" in d for d in descriptions)
    assert any(p["attributes"].get("colour") for p in products)
    assert any(p["attributes"].get("size") for p in products)
    assert any(p["stock"] == 0 for p in products)


def test_barcodes_are_ean13_with_check_digit() -> None:
    barcodes = [p["barcode"] for p in gen.iter_products(500, seed=5)]
    assert len(set(barcodes)) == len(barcodes)
    for code in barcodes:
        assert re.fullmatch(r"\d{13}", code)
        weighted = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code))
        assert weighted % 10 == 0, code


def test_ean13_check_digit_known_value() -> None:
    assert gen.ean13_check_digit("400638133393") == "1"
    with pytest.raises(ValueError, match="12 digits"):
        gen.ean13_check_digit("12345")


def test_same_seed_same_output_and_prefix_stable() -> None:
    first = list(gen.iter_products(300, seed=99))
    assert first == list(gen.iter_products(300, seed=99))
    assert first[:50] == list(gen.iter_products(50, seed=99))
    assert first != list(gen.iter_products(300, seed=100))


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl"])
def test_written_files_are_byte_identical_for_one_seed(fmt: str, tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        path = tmp_path / f"{name}.{fmt}"
        assert gen.main(["--rows", "120", "--seed", "3", "--format", fmt, "-o", str(path)]) == 0
        outputs.append(path.read_bytes())
    assert outputs[0] == outputs[1]


def test_csv_round_trips_to_the_same_products() -> None:
    expected = list(gen.iter_products(200, seed=8))
    buffer = io.StringIO(newline="")
    assert gen.write_csv(iter(expected), buffer) == 200
    buffer.seek(0)
    reader = csv.DictReader(buffer)
    assert tuple(reader.fieldnames or ()) == gen.CSV_COLUMNS
    rows = [_shape_csv_row(cells) for cells in reader]
    assert len(rows) == 200
    for row, raw in zip(rows, expected, strict=True):
        # The model splits the one-cell image list on "|" itself.
        assert Product.model_validate(row) == Product.model_validate(raw)


@pytest.mark.parametrize("indent", [None, 2])
def test_json_array_and_jsonl_hold_the_same_products(indent: int | None) -> None:
    expected = list(gen.iter_products(40, seed=11))
    array = io.StringIO()
    gen.write_json(iter(expected), array, indent=indent)
    assert json.loads(array.getvalue()) == expected
    lines = io.StringIO()
    gen.write_jsonl(iter(expected), lines)
    assert [json.loads(line) for line in lines.getvalue().splitlines()] == expected


def test_zero_rows() -> None:
    out = io.StringIO()
    assert gen.write_json(gen.iter_products(0, seed=1), out) == 0
    assert json.loads(out.getvalue()) == []
    with pytest.raises(ValueError, match="count"):
        list(gen.iter_products(-1, seed=1))


@pytest.mark.parametrize(
    ("name", "fmt", "indent"), [("products.csv", "csv", None), ("products.json", "json", 2)]
)
def test_examples_are_what_the_documented_command_writes(
    name: str, fmt: str, indent: int | None
) -> None:
    """examples/README.md gives the command; the committed files must not drift from it."""
    committed = ROOT / "examples" / name
    if not committed.exists():
        pytest.skip(f"examples/{name} is not in this checkout")
    out = io.StringIO(newline="")
    gen.write_catalog(gen.iter_products(200, seed=2024), out, fmt, indent=indent)
    assert committed.read_bytes() == out.getvalue().encode("utf-8")
