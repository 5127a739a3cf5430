"""Unit tests of the sandbox's pure parts: token bucket, validation, timestamps, faults."""

from __future__ import annotations

from decimal import Decimal

import pytest

from shopsync.errors import UsageError
from shopsync.sandbox.config import SandboxConfig
from shopsync.sandbox.dialects.generic.validation import (
    FieldError,
    parse_decimal,
    validate_product_values,
    validate_stock_update,
)
from shopsync.sandbox.faults import Fault, FaultInjector
from shopsync.sandbox.idempotency import IdempotencyKeys, KeyInFlight, KeyReused, Reservation
from shopsync.sandbox.ratelimit import RateLimiter, TokenBucket
from shopsync.sandbox.store import Store, StoredReply
from shopsync.sandbox.timefmt import normalize_rfc3339, rfc3339
from shopsync.sandbox.wire import Reply


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- token bucket ------------------------------------------------------------------------


def test_bucket_allows_the_burst_then_refuses_with_exact_retry_after() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)
    decisions = [bucket.acquire() for _ in range(3)]
    assert [d.allowed for d in decisions] == [True, True, True]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    assert [d.reset for d in decisions] == [1, 1, 2]  # ceil(missing / rate)
    refused = bucket.acquire()
    assert not refused.allowed
    assert refused.remaining == 0
    assert refused.retry_after == 1  # ceil((1 - 0) / 2) = 1 s, the smallest HTTP delay
    assert refused.headers() == [
        ("RateLimit-Limit", "3"),
        ("RateLimit-Remaining", "0"),
        ("RateLimit-Reset", "2"),
        ("Retry-After", "1"),
    ]


def test_bucket_refills_at_its_rate_and_never_above_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10.0, burst=5, clock=clock)
    for _ in range(5):
        assert bucket.acquire().allowed
    assert not bucket.acquire().allowed
    clock.now += 0.1  # one token
    assert bucket.acquire().allowed
    assert not bucket.acquire().allowed
    clock.now += 3600
    decision = bucket.acquire()
    assert decision.allowed
    assert decision.remaining == 4
    assert decision.reset == 1


def test_slow_bucket_retry_after_rounds_up() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=0.25, burst=1, clock=clock)
    assert bucket.acquire().allowed
    clock.now += 1.0  # a quarter token back
    refused = bucket.acquire()
    assert not refused.allowed
    assert refused.retry_after == 3  # 0.75 token at 0.25/s


def test_rate_limiter_keeps_one_bucket_per_client() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, clock=FakeClock())
    assert limiter.acquire("a").allowed
    assert not limiter.acquire("a").allowed
    assert limiter.acquire("b").allowed
    limiter.reset()
    assert limiter.acquire("a").allowed


# -- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3999", "3999"),
        ("3999.00", "3999"),
        ("0039.9", "39.9"),
        (Decimal("39.99"), "39.99"),
        (Decimal("39.990"), "39.99"),
        (12, "12"),
        (Decimal("1E+2"), "100"),
        ("0.01", "0.01"),
    ],
)
def test_parse_decimal_canonical_text(value: object, expected: str) -> None:
    assert parse_decimal(value, max_places=2, positive=True) == (expected, None)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "must be greater than 0"),
        ("0.00", "must be greater than 0"),
        ("-1", "must be greater than 0"),
        (Decimal("-0.5"), "must be greater than 0"),
        ("1.001", "must have at most 2 decimal places"),
        (Decimal("0.30000000000000004"), "must have at most 2 decimal places"),
        ("1e5", 'must be a plain decimal such as "12.50"'),
        (" 1", 'must be a plain decimal such as "12.50"'),
        (True, "must be a decimal number or a string holding one, not a boolean"),
        (None, "must be a decimal number or a string holding one, not null"),
        (Decimal("1E+999999"), "must be less than 10^18"),
        ("1" * 19, "must be less than 10^18"),
        (Decimal("1E-999999"), "must have at most 2 decimal places"),
    ],
)
def test_parse_decimal_rejections(value: object, message: str) -> None:
    assert parse_decimal(value, max_places=2, positive=True) == (None, message)


def test_create_gets_defaults_and_normalized_values() -> None:
    values, errors = validate_product_values(
        {"sku": "A-1_b.2", "title": "  Red shirt  ", "price": 39.5}, partial=False
    )
    assert errors == []
    assert values == {
        "sku": "A-1_b.2",
        "title": "Red shirt",
        "price": "39.50",
        "currency": "CNY",
        "stock": 0,
        "images": [],
        "description": None,
        "category": None,
        "brand": None,
        "barcode": None,
        "weight_kg": None,
        "status": "active",
        "attributes": {},
    }


def test_every_rule_of_the_product_table() -> None:
    bad = {
        "sku": "has space",
        "title": "   ",
        "price": "0",
        "currency": "cny",
        "stock": -1,
        "images": ["http://x.example/a.jpg", "https://ok.example/b.jpg", "/relative.jpg"],
        "description": "x" * 20_001,
        "category": "c" * 256,
        "brand": 5,
        "barcode": None,
        "weight_kg": "-1",
        "status": "archived",
        "attributes": {"color": "red", "size": 42},
    }
    _values, errors = validate_product_values(bad, partial=False)
    assert [e.field for e in errors] == [
        "sku",
        "title",
        "price",
        "currency",
        "stock",
        "images[0]",
        "images[2]",
        "description",
        "category",
        "brand",
        "weight_kg",
        "status",
        "attributes.size",
    ]


def test_limits_at_their_edges() -> None:
    ok = {
        "sku": "S" * 64,
        "title": "t" * 255,
        "price": "0.01",
        "images": [f"https://cdn.example/{i}.jpg" for i in range(20)],
        "description": "d" * 20_000,
        "brand": "b" * 255,
        "weight_kg": 0,
        "attributes": {str(i): "v" for i in range(50)},
    }
    assert validate_product_values(ok, partial=False)[1] == []
    too_much = {
        "sku": "S" * 65,
        "title": "t" * 256,
        "images": [f"https://cdn.example/{i}.jpg" for i in range(21)],
        "attributes": {str(i): "v" for i in range(51)},
    }
    _values, errors = validate_product_values(too_much, partial=True)
    assert [e.field for e in errors] == ["sku", "title", "images", "attributes"]


def test_required_fields_and_nulls() -> None:
    _values, errors = validate_product_values({"stock": None}, partial=False)
    assert errors == [
        FieldError("sku", "is required"),
        FieldError("title", "is required"),
        FieldError("price", "is required"),
        FieldError("stock", "must not be null"),
    ]
    values, errors = validate_product_values({"brand": None}, partial=True)
    assert (values, errors) == ({"brand": None}, [])


def test_stock_update_rules() -> None:
    change, errors = validate_stock_update({"sku": "A", "delta": -3, "expected": 7})
    assert errors == []
    assert change is not None
    assert (change.stock, change.delta, change.expected) == (None, -3, 7)
    assert validate_stock_update({"sku": "A"})[1] == [
        FieldError("stock", 'one of "stock" and "delta" is required')
    ]
    assert validate_stock_update({"sku": "A", "stock": 1, "delta": 1})[1] == [
        FieldError("delta", 'give "stock" or "delta", not both')
    ]
    assert [e.field for e in validate_stock_update({"sku": "a b", "stock": -1})[1]] == [
        "sku",
        "stock",
    ]
    assert validate_stock_update({"sku": "A", "stock": 1.5})[1] == [
        FieldError("stock", "must be an integer, not a number")
    ]


# -- timestamps ----------------------------------------------------------------------------


def test_timestamps_are_fixed_width_utc() -> None:
    assert rfc3339(0) == "1970-01-01T00:00:00.000000Z"
    assert rfc3339(1714564800.5) == "2024-05-01T12:00:00.500000Z"
    assert normalize_rfc3339("2024-05-01T14:00:00+02:00") == "2024-05-01T12:00:00.000000Z"
    assert normalize_rfc3339("2024-05-01t12:00:00.1234567z") == "2024-05-01T12:00:00.123456Z"
    for bad in ("2024-05-01", "2024-05-01T12:00:00", "2024-13-01T00:00:00Z", "yesterday"):
        assert normalize_rfc3339(bad) is None


# -- faults and config ---------------------------------------------------------------------


def test_same_seed_same_faults_and_rates_are_respected() -> None:
    config = SandboxConfig(fault_rate=0.2, reset_rate=0.1, slow_rate=0.1, seed=42)
    first = [FaultInjector(config).draw() for _ in range(1)]
    a = FaultInjector(config)
    b = FaultInjector(config)
    seq_a = [a.draw() for _ in range(2000)]
    seq_b = [b.draw() for _ in range(2000)]
    assert seq_a == seq_b
    assert seq_a[:1] == first
    other = FaultInjector(SandboxConfig(fault_rate=0.2, reset_rate=0.1, slow_rate=0.1, seed=43))
    assert [other.draw() for _ in range(2000)] != seq_a
    errors = sum(f in (Fault.ERROR_500, Fault.ERROR_502, Fault.ERROR_503) for f in seq_a)
    assert 300 < errors < 500  # 20 % of 2000, give or take
    assert 130 < seq_a.count(Fault.RESET) < 270
    assert Fault.DROP_AFTER_COMMIT not in seq_a


def test_no_fault_configured_draws_nothing() -> None:
    injector = FaultInjector(SandboxConfig())
    assert {injector.draw() for _ in range(100)} == {None}
    assert injector.latency() == 0.0


def test_jitter_is_seeded_and_bounded() -> None:
    config = SandboxConfig(latency_ms=20, jitter_ms=10, seed=1)
    a = [FaultInjector(config).latency() for _ in range(1)]
    injector = FaultInjector(config)
    delays = [injector.latency() for _ in range(100)]
    assert delays[0] == a[0]
    assert all(0.020 <= d <= 0.030 for d in delays)


@pytest.mark.parametrize(
    "settings",
    [
        {"fault_rate": 0.6, "reset_rate": 0.6},
        {"fault_rate": 1.5},
        {"rate": 0},
        {"burst": 0},
        {"max_batch": 0},
        {"port": 70000},
        {"client_secret": ""},
        {"latency_ms": -1},
    ],
)
def test_bad_settings_are_usage_errors(settings: dict[str, object]) -> None:
    with pytest.raises(UsageError, match="Invalid sandbox settings"):
        SandboxConfig(**settings)  # type: ignore[arg-type]


def test_idempotency_keys_reserve_keep_replay_and_refuse() -> None:
    store = Store(":memory:")
    now = [1000.0]
    keys = IdempotencyKeys(store, SandboxConfig(clock=lambda: now[0], idempotency_ttl=60))
    body = {"create": [{"sku": "A"}]}
    first = keys.begin("client", "k", "POST", "/products/batch", body)
    assert isinstance(first, Reservation)
    assert keys.in_flight == 1
    with pytest.raises(KeyInFlight):
        keys.begin("client", "k", "POST", "/products/batch", body)
    with pytest.raises(KeyReused):
        keys.begin("client", "k", "POST", "/products/batch", {"create": []})
    keys.keep(first, Reply.json(200, {"ok": True}))
    keys.release(first)
    assert keys.in_flight == 0
    replay = keys.begin("client", "k", "POST", "/products/batch", {"create": [{"sku": "A"}]})
    assert isinstance(replay, StoredReply)
    assert (replay.status, replay.body) == (200, b'{"ok":true}')
    # Another client's key of the same name is another key.
    assert isinstance(keys.begin("other", "k", "POST", "/products/batch", {}), Reservation)
    now[0] += 61
    keys.purge()
    assert isinstance(keys.begin("client", "k", "POST", "/x", {}), Reservation)
    store.close()
