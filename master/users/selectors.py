"""Reads of the outbox (HackSoft selectors): what the relay publishes next."""

from __future__ import annotations

from datetime import datetime

from django.db import connections, router
from django.db.models import QuerySet

from master.users.models import OutboxEvent


def outbox_pending(
    *, limit: int, created_before: datetime | None = None, lock: bool = False
) -> QuerySet[OutboxEvent]:
    """Unsent rows in id order, at most ``limit``; ``lock`` takes their row locks.

    Locking skips rows another relay holds where the database can (PostgreSQL), so two
    relays never publish the same row; SQLite serialises writing transactions instead.
    """
    rows = OutboxEvent.objects.filter(sent_at__isnull=True)
    if created_before is not None:
        rows = rows.filter(created_at__lte=created_before)
    if lock:
        features = connections[router.db_for_write(OutboxEvent)].features
        rows = rows.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
    return rows.order_by("id")[:limit]
