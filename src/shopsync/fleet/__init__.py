"""Fleet mode: many shops, many machines (``pip install 'shopsync[fleet]'``).

Celery on a Redis broker dispatches one task per planned batch (:mod:`.app`,
:mod:`.tasks`); the ledger every machine reads and writes is PostgreSQL
(:mod:`shopsync.state.ledger_pg`); each shop's rate limit is one bucket in Redis that
every machine draws from (:mod:`.limiter`); :mod:`.status` says how a fleet is doing.

Nothing here is imported by a single-machine run: celery, redis and psycopg are loaded
only by the fleet commands.
"""
