"""How a fleet is doing, read from the shared ledger (and each shop's bucket in Redis).

``upload --wait`` follows one run with :func:`run_progress`; ``shopsync fleet status``
shows every target with :func:`fleet_status`: runs, batches pending / leased / done /
failed, the workers seen, and each shop's shared rate limit.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from shopsync.state.ledger_pg import connect, display_url

if TYPE_CHECKING:
    import psycopg
    import redis

_RECENT_RUNS = 10
_WORKER_SEEN_WITHIN_S = 3600


@dataclass(frozen=True)
class RunProgress:
    """Batches and items of one run (or of a list of batch keys), by state."""

    batches: int
    pending: int
    """Batches not yet settled, leased or not."""
    leased: int
    done: int
    failed_batches: int
    items: int
    items_settled: int
    created: int
    updated: int
    failed: int
    """Items the platform refused (in done batches) plus those of failed batches."""
    attempts: int
    """Claims of the run's batches in all; more than ``batches`` means some were sent again."""

    def as_dict(self) -> dict[str, int]:
        """Plain JSON values."""
        return asdict(self)


def _where(keys_or_run: str | list[str]) -> tuple[str, Any]:
    if isinstance(keys_or_run, str):
        return "run_id = %s", keys_or_run
    return "key = ANY(%s)", keys_or_run


def run_progress(
    db: psycopg.Connection[Any], target: str, keys_or_run: str | list[str]
) -> RunProgress:
    """The progress of run ``keys_or_run`` (a run id, or the batch keys) of ``target``."""
    where, value = _where(keys_or_run)
    row = db.execute(
        "SELECT count(*), "  # noqa: S608 - {where} is one of two fixed texts
        "count(*) FILTER (WHERE state = 'pending'), "
        "count(*) FILTER (WHERE state = 'pending' AND lease_until >= now()), "
        "count(*) FILTER (WHERE state = 'done'), "
        "count(*) FILTER (WHERE state = 'failed'), "
        "coalesce(sum(items), 0), "
        "coalesce(sum(items) FILTER (WHERE state <> 'pending'), 0), "
        "coalesce(sum(created), 0), coalesce(sum(updated), 0), "
        "coalesce(sum(failed) FILTER (WHERE state = 'done'), 0) "
        "+ coalesce(sum(items) FILTER (WHERE state = 'failed'), 0), "
        "coalesce(sum(attempts), 0) "
        f"FROM shopsync_batch WHERE target = %s AND {where}",
        (target, value),
    ).fetchone()
    assert row is not None
    return RunProgress(*(int(value) for value in row))


def expired_batches(
    db: psycopg.Connection[Any],
    target: str,
    keys_or_run: str | list[str],
    *,
    unclaimed: bool = False,
) -> list[str]:
    """Pending batches of a run whose lease ran out (their worker is gone); with
    ``unclaimed``, also those nobody has claimed yet."""
    where, value = _where(keys_or_run)
    lease = "(lease_until IS NULL OR lease_until < now())" if unclaimed else "lease_until < now()"
    rows = db.execute(
        "SELECT key FROM shopsync_batch "  # noqa: S608 - fixed texts only
        f"WHERE target = %s AND state = 'pending' AND {lease} AND {where}",
        (target, value),
    ).fetchall()
    return [key for (key,) in rows]


def fleet_status(url: str, limiter: redis.Redis | None = None) -> dict[str, Any]:
    """Targets, recent runs, workers seen and limiter state, as plain JSON values."""
    with connect(url) as db:
        targets = [
            {
                "target": target,
                "pending": int(pending),
                "leased": int(leased),
                "done": int(done),
                "failed": int(failed),
            }
            for target, pending, leased, done, failed in db.execute(
                "SELECT target, "
                "count(*) FILTER (WHERE state = 'pending' AND "
                "(lease_until IS NULL OR lease_until < now())), "
                "count(*) FILTER (WHERE state = 'pending' AND lease_until >= now()), "
                "count(*) FILTER (WHERE state = 'done'), "
                "count(*) FILTER (WHERE state = 'failed') "
                "FROM shopsync_batch GROUP BY target ORDER BY target"
            )
        ]
        runs = [
            {
                "run_id": run_id,
                "profile": profile,
                "target": target,
                "started_at": started.isoformat(),
                "planned": planned is not None,
                "batches": int(batches),
                "items": int(items),
                "unchanged": int(unchanged),
                "rejected": int(rejected),
                "settled_batches": int(settled or 0),
                "limiter_key": limiter_key,
            }
            for (
                run_id,
                profile,
                target,
                started,
                planned,
                batches,
                items,
                unchanged,
                rejected,
                settled,
                limiter_key,
            ) in db.execute(
                "SELECT r.run_id, r.profile, r.target, r.started_at, r.planned_at, r.batches, "
                "r.items, r.unchanged, r.rejected, "
                "(SELECT count(*) FROM shopsync_batch b WHERE b.run_id = r.run_id "
                "AND b.state <> 'pending'), r.limiter_key "
                "FROM shopsync_run r ORDER BY r.started_at DESC LIMIT %s",
                (_RECENT_RUNS,),
            )
        ]
        workers = [
            {
                "name": name,
                "hostname": hostname,
                "pid": int(pid),
                "seen_at": seen.isoformat(),
                "seconds_since_seen": round(float(ago), 1),
                "batches": int(batches),
            }
            for name, hostname, pid, seen, ago, batches in db.execute(
                "SELECT name, hostname, pid, seen_at, extract(epoch FROM now() - seen_at), "
                "batches FROM shopsync_worker WHERE seen_at > now() - make_interval(secs => %s) "
                "ORDER BY name",
                (_WORKER_SEEN_WITHIN_S,),
            )
        ]
    limits: dict[str, dict[str, float]] = {}
    if limiter is not None:
        for run in runs:
            key = run.pop("limiter_key")
            if key and key not in limits:
                limits[key] = _bucket_state(limiter, key)
            run["limiter"] = key
    else:
        for run in runs:
            run["limiter"] = run.pop("limiter_key")
    return {
        "ledger": display_url(url),
        "targets": targets,
        "runs": runs,
        "workers": workers,
        "limiters": limits,
    }


def _bucket_state(client: redis.Redis, key: str) -> dict[str, float]:
    """A shop's shared bucket as stored: current and configured rate, pause left, backlog."""
    raw = client.hgetall(key)
    # Fields the script has nothing for yet (no refill measured) are stored empty.
    stored = {k.decode(): float(v) for k, v in raw.items() if v}  # type: ignore[union-attr]
    if not stored:
        return {}
    seconds, micros = client.time()
    now = seconds + micros / 1e6
    return {
        "rate": stored.get("rate", 0.0),
        "max_rate": stored.get("max_rate", 0.0),
        "burst": stored.get("burst", 0.0),
        "paused_for": max(0.0, stored.get("paused", 0.0) - now),
        "booked_ahead_s": max(0.0, stored.get("tat", now) - now),
        # The platform's refill as measured from every machine's answers (0: not yet).
        "measured_refill": round(stored.get("refill", 0.0), 3),
    }
