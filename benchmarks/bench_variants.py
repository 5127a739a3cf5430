"""Validating a file of products with variants whose rows are scattered: memory and time.

Writes a CSV of ``--rows`` rows, products of ``--variants`` variants each, the rows of
each product spread over the whole file (a seeded shuffle), then reads it as ``validate``
does (every row, every product assembled) and prints one JSON object: rows, products,
seconds, peak RSS (MiB), and how many rows waited on disk.

    python benchmarks/bench_variants.py --rows 200000 --variants 4
    python benchmarks/bench_variants.py --rows 200000 --variants 4 --sorted   # groups together
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from shopsync.catalog import variants as variants_module
from shopsync.catalog.records import Catalog
from shopsync.domain.models import RowError


def write(path: Path, rows: int, per_product: int, *, scattered: bool) -> None:
    lines = []
    for index in range(rows):
        product, variant = divmod(index, per_product)
        title = f"Product {product}" if variant == 0 else ""
        lines.append(f"h{product},SKU-{product}-{variant},{title},{10 + variant}.00,5,V{variant}")
    if scattered:
        random.Random(13).shuffle(lines)  # noqa: S311 - a fixed, reproducible order
        lines = _first_rows_first(lines)
    path.write_text(
        "handle,sku,title,price,stock,option:Variant\n" + "\n".join(lines) + "\n", encoding="utf-8"
    )


def _first_rows_first(body: list[str]) -> list[str]:
    """Swap each product's first-seen row with its titled row, so the title comes first."""
    position: dict[str, int] = {}
    out = body[:]
    for index, line in enumerate(out):
        handle = line.split(",", 1)[0]
        if handle not in position:
            position[handle] = index
        elif ",Product " in line:
            first = position[handle]
            out[first], out[index] = out[index], out[first]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--variants", type=int, default=4)
    parser.add_argument("--sorted", action="store_true", help="keep each product's rows together")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "variants.csv"
        write(path, args.rows, args.variants, scattered=not args.sorted)
        spilled = 0
        original = variants_module.GroupBuffer.close

        def close(buffer: variants_module.GroupBuffer) -> None:
            nonlocal spilled
            spilled += buffer.spilled_rows
            original(buffer)

        variants_module.GroupBuffer.close = close  # type: ignore[method-assign]
        started = time.perf_counter()
        catalog = Catalog([path])
        products = errors = 0
        for outcome in catalog:
            if isinstance(outcome, RowError):
                errors += 1
            else:
                products += 1
        seconds = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "rows": catalog.stats.rows,
                "products": products,
                "row_errors": errors,
                "seconds": round(seconds, 2),
                "peak_rss_mib": round(peak_mib, 1),
                "rows_spilled": spilled,
                "scattered": not args.sorted,
            }
        )
    )


if __name__ == "__main__":
    main()
