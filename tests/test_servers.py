"""The test servers themselves: each answers, on loopback, and is its own."""

from __future__ import annotations

import psycopg
import redis

from servers import postgres_url, redis_url  # noqa: F401


def test_redis_answers_on_loopback(redis_url: str) -> None:  # noqa: F811
    client = redis.Redis.from_url(redis_url)
    assert redis_url.startswith("redis://127.0.0.1:")
    assert client.ping() is True
    client.close()


def test_postgres_15_answers_on_loopback(postgres_url: str) -> None:  # noqa: F811
    assert postgres_url.startswith("postgresql://postgres@127.0.0.1:")
    with psycopg.connect(postgres_url) as db:
        row = db.execute("SHOW server_version_num").fetchone()
    assert row is not None and int(row[0]) >= 150000
