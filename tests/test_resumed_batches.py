"""A pending batch kept in the ledger and resumed by the next run is the file's batch again."""

from __future__ import annotations

import json

from shopsync.domain.models import Product, SourceRow
from shopsync.sync.engine import _request_of, _restore_batch
from shopsync.sync.planner import Change


def test_a_resumed_product_leaves_unset_the_fields_the_file_did_not_set() -> None:
    # The body holds the model's default currency (CNY); an adapter that sells a product
    # the file gave no currency in the store's own (Medusa) must still see it unset.
    product = Product.model_validate({"sku": "AB-1", "title": "Mug", "price": "12.50"})
    named = Product.model_validate({"sku": "AB-2", "title": "Mug", "price": "9", "currency": "USD"})
    changes = [
        Change("create", SourceRow("f.csv", n + 2, {}), p, None)
        for n, p in enumerate((product, named))
    ]
    request = json.loads(_request_of(changes, []))
    batch = _restore_batch("key", request)
    restored = [change.product for change in batch.creates]
    assert [p.model_fields_set for p in restored] == [p.model_fields_set for p in (product, named)]
    assert "currency" not in restored[0].model_fields_set
    assert [p.to_api() for p in restored] == [product.to_api(), named.to_api()]
    assert [(c.row.file, c.row.line) for c in batch.creates] == [("f.csv", 2), ("f.csv", 3)]


def test_a_journal_without_the_given_fields_still_restores() -> None:
    product = Product.model_validate({"sku": "AB-1", "title": "Mug", "price": "12.50"})
    request = {"creates": [{"body": product.to_api(), "file": "f.csv", "line": 2}]}
    [change] = _restore_batch("key", request).creates
    assert change.product.to_api() == product.to_api()
