"""Reads of the outbox (HackSoft selectors): what the relay publishes next, and its backlog."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection
from datetime import datetime

from django.db import connections, router
from django.db.models import Count, Min, Q, QuerySet

from reactive_users.core.metrics import OutboxReading
from reactive_users.master import conf
from reactive_users.master.models import OutboxEvent


def outbox_claimable(
    *,
    limit: int,
    now: datetime,
    created_before: datetime | None = None,
    ignore_backoff: bool = False,
    ids: Collection[int] | None = None,
) -> QuerySet[OutboxEvent]:
    """Unsent rows no live claim holds at ``now``, in id order, at most ``limit``, locked.

    Rows waiting out their retry backoff (``retry_at`` after ``now``) are left alone unless
    ``ignore_backoff``; rows never tried have no ``retry_at`` and are always taken.
    ``ids`` narrows it to those rows (the publisher thread's own commits).
    Call it inside the claiming transaction. Locking skips rows another relay is claiming
    where the database can (PostgreSQL); SQLite serialises writing transactions instead.
    """
    rows = OutboxEvent.objects.filter(
        Q(claimed_until__isnull=True) | Q(claimed_until__lte=now), sent_at__isnull=True
    )
    if not ignore_backoff:
        rows = rows.filter(Q(retry_at__isnull=True) | Q(retry_at__lte=now))
    if created_before is not None:
        rows = rows.filter(created_at__lte=created_before)
    if ids is not None:
        rows = rows.filter(id__in=list(ids))
    features = connections[router.db_for_write(OutboxEvent)].features
    rows = rows.select_for_update(skip_locked=features.has_select_for_update_skip_locked)
    return rows.order_by("id")[:limit]


def outbox_expired_ids(*, cutoff: datetime, limit: int) -> QuerySet[OutboxEvent, int]:
    """Ids of up to ``limit`` sent rows recorded before ``cutoff``, oldest first (the retention
    sweep's; index ``reactive_master_outbox_sent``). Unsent rows are never among them."""
    rows = OutboxEvent.objects.filter(sent_at__isnull=False, created_at__lt=cutoff)
    return rows.order_by("created_at").values_list("id", flat=True)[:limit]


def outbox_backlog(*, now: datetime) -> OutboxReading:
    """Unsent rows, the oldest one's age and how many wait out a retry backoff, at ``now``.

    One query; ``reactive status`` and the relay's metrics both show this reading.
    """
    found = OutboxEvent.objects.filter(sent_at__isnull=True).aggregate(
        count=Count("id"),
        oldest=Min("created_at"),
        waiting=Count("id", filter=Q(retry_at__gt=now)),
    )
    oldest: datetime | None = found["oldest"]
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return OutboxReading(
        backlog=int(found["count"]), oldest_age_seconds=age, waiting_retry=int(found["waiting"])
    )


def outbox_overview(*, now: datetime) -> OutboxReading:
    """``outbox_backlog``, with the rows the outbox holds in all, the oldest sent row's age
    and the retention: what ``reactive status`` shows. Counting every row reads the whole
    table (or its primary key), so the metrics' scrapes leave it out."""
    oldest_sent = (
        OutboxEvent.objects.filter(sent_at__isnull=False)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    return dataclasses.replace(
        outbox_backlog(now=now),
        rows=OutboxEvent.objects.count(),
        oldest_sent_age_seconds=(
            None if oldest_sent is None else max(0.0, (now - oldest_sent).total_seconds())
        ),
        retention_seconds=conf.outbox_retention().total_seconds(),
    )
