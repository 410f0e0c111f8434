"""Reads of the outbox (HackSoft selectors): what the relay publishes next."""

from __future__ import annotations

from datetime import datetime

from django.db import connections, router
from django.db.models import Q, QuerySet

from master.users.models import OutboxEvent


def outbox_claimable(
    *, limit: int, now: datetime, created_before: datetime | None = None
) -> QuerySet[OutboxEvent]:
    """Unsent rows no live claim holds at ``now``, in id order, at most ``limit``, locked.

    Call it inside the claiming transaction. Locking skips rows another relay is claiming
    where the database can (PostgreSQL); SQLite serialises writing transactions instead.
    """
    rows = OutboxEvent.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now), sent_at__isnull=True
    )
    if created_before is not None:
        rows = rows.filter(created_at__lte=created_before)
    features = connections[router.db_for_write(OutboxEvent)].features
    rows = rows.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
    return rows.order_by("id")[:limit]
