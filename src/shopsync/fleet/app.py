"""The Celery application of a fleet: one task, ``shopsync.run_batch(target, key)``.

Why these settings: ``acks_late`` with ``reject_on_worker_lost`` has a task whose worker
died delivered again (at least once; the ledger's leases make it exactly once);
a prefetch of one keeps batches from waiting behind a busy worker while another is
idle; no result backend, because progress is in the ledger, where ``upload --wait``
and ``fleet status`` read it. The visibility timeout is Redis's last resort for a task
whose worker vanished: ``upload --wait`` re-enqueues a batch as soon as its lease runs
out, long before that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from celery import Celery

    from shopsync.fleet.runner import BatchRunner

QUEUE = "shopsync"
TASK = "shopsync.run_batch"
RETRY_AFTER_S = 5.0
"""A batch the platform failed past every retry is tried again this much later."""
_VISIBILITY_TIMEOUT_S = 600

_runner: BatchRunner | None = None


def set_runner(runner: BatchRunner | None) -> None:
    """The runner this process's tasks use (``shopsync worker`` sets it before starting)."""
    global _runner  # noqa: PLW0603 - one per worker process, as Celery's tasks are
    _runner = runner


def make_app(broker_url: str) -> Celery:
    """A Celery app on ``broker_url`` with the fleet's task registered."""
    from celery import Celery  # noqa: PLC0415 - the fleet extra, slow to import

    app = Celery("shopsync", broker=broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        broker_transport_options={"visibility_timeout": _VISIBILITY_TIMEOUT_S},
        task_serializer="json",
        accept_content=["json"],
    )

    @app.task(name=TASK, bind=True, max_retries=None)  # type: ignore[untyped-decorator]
    def run_batch(self: Any, target: str, key: str) -> str:
        from shopsync.fleet.runner import BUSY_AFTER_S  # noqa: PLC0415 - it imports this

        if _runner is None:
            raise RuntimeError("no batch runner: start workers with `shopsync worker`")
        later = _runner.defer_for(target, key)
        if later:
            raise self.retry(countdown=later)
        outcome = _runner.run(target, key)
        if outcome == "retry":
            raise self.retry(countdown=RETRY_AFTER_S)
        if outcome == "busy":  # other threads send for the shop; likely this batch too
            raise self.retry(countdown=BUSY_AFTER_S)
        if outcome == "refused":  # credentials: back off, leave it to other machines
            raise self.retry(countdown=min(60.0, RETRY_AFTER_S * (1 + self.request.retries)))
        return outcome

    return app


FIRST_PRIORITY = 0
"""A run's first batch: taken before every other task (on Redis, 0 is the highest)."""
PRIORITY = 5
"""Every other task. Each shop's first task then reaches a worker at once, however many
batches other shops queued before it, and its thread drains the shop from there."""


def enqueue(
    app: Celery, target: str, key: str, *, countdown: float | None = None, first: bool = False
) -> None:
    """Queue batch ``key`` of ``target`` (a profile name): the message holds nothing else.

    ``countdown``: run it no sooner than this many seconds from now. ``first``: the first
    batch of a run, queued ahead of the others (:data:`FIRST_PRIORITY`).
    """
    app.send_task(
        TASK,
        args=[target, key],
        queue=QUEUE,
        countdown=countdown,
        priority=FIRST_PRIORITY if first else PRIORITY,
    )


def queued_messages(app: Celery) -> int:
    """Messages waiting in the fleet's queue (not those a worker has taken)."""
    with app.connection_for_read() as connection:
        # Not passive: on Redis an empty queue does not exist, and a passive declare
        # of it fails where an ordinary one answers 0.
        declared = connection.default_channel.queue_declare(QUEUE, durable=True)
        return int(declared.message_count)
