"""The baseline uploader: the loop the original design notes sketch, with nothing added.

One thread, one ``POST /products`` per product with ``requests.post`` (no session, so a
new connection each time), and a sleep after each request as the only throttle. No
batching, no retries, no idempotency keys, no ledger. ``benchmarks/run.py`` runs it
against the same sandbox as shopsync, to put a number on what the engine buys.

    python benchmarks/naive_client.py FILE.csv --base-url URL --limit 1000

Prints one JSON object: products sent, seconds spent sending (after the token), and the
HTTP status codes seen.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

_INTEGERS = frozenset({"stock"})


def products(path: Path, limit: int) -> Iterator[dict[str, Any]]:
    """The first ``limit`` rows of a generated CSV catalog, as API product bodies."""
    with path.open(encoding="utf-8", newline="") as handle:
        for count, row in enumerate(csv.DictReader(handle)):
            if count >= limit:
                return
            body: dict[str, Any] = {}
            attributes: dict[str, str] = {}
            for column, value in row.items():
                if not value:
                    continue
                if column.startswith("attr:"):
                    attributes[column[len("attr:") :]] = value
                elif column == "images":
                    body["images"] = value.split("|")
                elif column in _INTEGERS:
                    body[column] = int(value)
                else:
                    body[column] = value
            if attributes:
                body["attributes"] = attributes
            yield body


def upload(
    path: Path, base_url: str, client_id: str, client_secret: str, rate: float, limit: int
) -> dict[str, Any]:
    """Send the products one by one; return what happened."""
    token = requests.post(
        f"{base_url}/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    statuses: Counter[int] = Counter()
    sent = 0
    started = time.perf_counter()
    for product in products(path, limit):
        response = requests.post(f"{base_url}/products", json=product, headers=headers, timeout=30)
        statuses[response.status_code] += 1
        sent += 1
        time.sleep(1.0 / rate)
    seconds = time.perf_counter() - started
    return {
        "products": sent,
        "seconds": seconds,
        "statuses": {str(code): count for code, count in sorted(statuses.items())},
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--client-id", default="demo-client")
    parser.add_argument("--client-secret", default="demo-secret")
    parser.add_argument("--rate", type=float, default=100.0, help="requests per second")
    parser.add_argument("--limit", type=int, default=1000, help="products to send at most")
    args = parser.parse_args(argv)
    result = upload(
        args.file, args.base_url, args.client_id, args.client_secret, args.rate, args.limit
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
