"""How long sent outbox rows are kept: the sweep deletes them once the retention is over.

A sent row has done its work (SNS took it), yet its body still holds the user's published
fields (name, email). Rows that were sent and were recorded more than
``REACTIVE_OUTBOX_RETENTION_SECONDS`` ago (default 7 days) are deleted: by the Celery beat
sweep (``tasks.py``), at most ``SWEEP_BUDGET_SECONDS`` of deleting per run, and by
``python -m master publish_pending`` (all of them). Age counts from the row's creation (the
change it records), so a user deleted in the master leaves no copy of their fields in the
outbox once the retention has passed since the delete (provided it was sent: pending rows
are never deleted, whatever their age). ``UserVersion`` is never touched: a user's versions
keep increasing after their rows are gone.

Rows go in batches of ``PURGE_BATCH_ROWS``, oldest first, each batch its own short
transaction. On PostgreSQL a batch locks only the rows it deletes, which nothing else writes
any more: saves (an outbox INSERT, a ``UserVersion`` upsert) and the relay never wait for
it. On SQLite every writing transaction holds the database's one write lock, so a save
waits for at most one batch; after each batch the sweep pauses as long as the batch took,
so writers that were waiting get in (SQLite's busy handler polls with sleeps; without the
pause the sweep would take the lock straight back, batch after batch).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from reactive_users.master import conf, selectors
from reactive_users.master.metrics import RELAY
from reactive_users.master.models import OutboxEvent

logger = logging.getLogger(__name__)

#: Rows one batch deletes at most (one short transaction each).
PURGE_BATCH_ROWS = 1000
#: Seconds of deleting one beat sweep allows itself; the next sweep goes on from there.
SWEEP_BUDGET_SECONDS = 1.0


def retention() -> timedelta:
    """How long sent rows are kept (REACTIVE_OUTBOX_RETENTION_SECONDS)."""
    return conf.outbox_retention()


def outbox_purge_sent(
    *,
    keep: timedelta | None = None,
    batch_rows: int = PURGE_BATCH_ROWS,
    budget_seconds: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    pause: Callable[[float], None] = time.sleep,
) -> int:
    """Delete sent rows recorded more than ``keep`` (default: the retention) ago, oldest
    first, ``batch_rows`` per transaction; how many. Stops when none is left, or once
    ``budget_seconds`` have gone by (None: no limit). Call it with no transaction open."""
    cutoff = timezone.now() - (retention() if keep is None else keep)
    started = clock()
    deleted = 0
    while True:
        batch_started = clock()
        done = outbox_purge_batch(cutoff=cutoff, limit=batch_rows)
        deleted += done
        RELAY.deleted.inc(done)
        ended = clock()
        if done < batch_rows or (budget_seconds is not None and ended - started >= budget_seconds):
            break
        pause(ended - batch_started)  # let writers waiting for the lock in (SQLite)
    if deleted:
        logger.info(
            "Outbox retention: deleted %d sent event(s) recorded before %s", deleted, cutoff
        )
    return deleted


def outbox_purge_batch(*, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest sent rows recorded before ``cutoff``, in one short
    transaction of its own; how many."""
    with transaction.atomic(durable=True):
        ids = list(selectors.outbox_expired_ids(cutoff=cutoff, limit=limit))
        if not ids:
            return 0
        deleted, _ = OutboxEvent.objects.filter(id__in=ids, sent_at__isnull=False).delete()
    return deleted
