"""Retention of sent outbox rows (retention.py): what the sweep deletes, and what it never does."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from devstack.processes import until
from reactive_cli import status
from reactive_users.core.contract import decode
from reactive_users.master import retention
from reactive_users.master.metrics import REGISTRY
from reactive_users.master.models import OutboxEvent, UserVersion
from reactive_users.master.relay.publish import outbox_publish_pending
from reactive_users.master.tasks import outbox_sweep

db = pytest.mark.django_db(transaction=True)

#: Older than the default retention (7 days).
EXPIRED = timedelta(days=8)
DELETED = "reactive_outbox_rows_deleted_total"


def age(rows: object, by: timedelta) -> None:
    """Move the rows' ``created_at`` back by ``by``, as if they were recorded that long ago."""
    OutboxEvent.objects.filter(id__in=[r.id for r in rows]).update(  # type: ignore[attr-defined]
        created_at=timezone.now() - by
    )


def published(*usernames: str) -> list[User]:
    """Users created and published to SNS (moto): their rows are sent."""
    users = [User.objects.create_user(name, f"{name}@example.com") for name in usernames]
    assert outbox_publish_pending().published == len(users)
    return users


def deleted_total() -> float:
    return REGISTRY.get_sample_value(DELETED) or 0.0


@db
def test_the_sweep_deletes_sent_rows_past_the_retention_and_keeps_pending_and_recent_ones(
    topic,
) -> None:
    # Given two users published 8 days ago, one published now, and one whose row has failed
    # to publish for 30 days and waits out its backoff
    old = published("old1", "old2")
    age(OutboxEvent.objects.filter(user_id__in=[u.pk for u in old]), EXPIRED)
    recent = published("recent")[0]
    stuck = User.objects.create_user("stuck")
    OutboxEvent.objects.filter(user_id=stuck.pk).update(
        created_at=timezone.now() - timedelta(days=30),
        attempts=40,
        retry_at=timezone.now() + timedelta(hours=1),
    )
    before = deleted_total()

    # When beat's sweep runs (the Celery task's own code, in this process)
    outbox_sweep()

    # Then the old sent rows are gone, the recent one and the pending one are kept, and the
    # metric counts the deleted rows
    kept = {row.user_id: row.sent_at is not None for row in OutboxEvent.objects.all()}
    assert kept == {recent.pk: True, stuck.pk: False}
    assert deleted_total() - before == 2


@db
def test_versions_keep_increasing_for_a_user_whose_rows_were_deleted(topic) -> None:
    # Given a user with two published versions, both rows past the retention
    [user] = published("ana")
    user.first_name = "Ana"
    user.save()
    outbox_publish_pending()
    age(OutboxEvent.objects.all(), EXPIRED)

    # When the management command (the sweep without Celery) runs, it deletes them and says so
    out = StringIO()
    call_command("publish_pending", stdout=out)
    assert out.getvalue().splitlines() == [
        "Published 0 event(s).",
        "Deleted 2 sent event(s) older than 7 day(s).",
    ]
    assert not OutboxEvent.objects.exists()

    # Then the user's next change is version 3, as if nothing had been deleted
    user.last_name = "Silva"
    user.save()
    [row] = OutboxEvent.objects.all()
    assert (row.version, decode(row.body).version) == (3, 3)
    assert UserVersion.objects.get(user_id=user.pk).version == 3


@db
def test_a_deleted_user_leaves_no_copy_of_their_fields_in_the_outbox_past_the_retention(
    topic,
) -> None:
    # Given a user renamed and then deleted, every event published
    secret = uuid.uuid4().hex[:8]
    [user] = published(f"gone-{secret}")
    user.username, user.email = f"renamed-{secret}", f"other-{secret}@example.com"
    user.save()
    user_id = user.pk
    user.delete()
    outbox_publish_pending()
    assert OutboxEvent.objects.filter(body__contains=secret).count() == 3

    # When the retention has passed since the delete, and the sweep runs
    age(OutboxEvent.objects.all(), EXPIRED)
    outbox_sweep()

    # Then no row holds their name or email; their version stays, as a tombstone
    assert not OutboxEvent.objects.filter(body__contains=secret).exists()
    assert UserVersion.objects.get(user_id=user_id).version == 3


@db
def test_pending_rows_are_never_deleted_whatever_their_age() -> None:
    # Given rows never published (no topic here), recorded a year ago
    User.objects.create_user("never1")
    User.objects.create_user("never2")
    age(OutboxEvent.objects.all(), timedelta(days=365))

    # When sent rows older than nothing at all are deleted
    assert retention.outbox_purge_sent(keep=timedelta(0)) == 0

    # Then both are still there
    assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 2


@db
def test_one_sweep_stops_after_its_time_budget_and_the_next_goes_on(topic) -> None:
    # Given 5 sent rows past the retention, and a clock that moves 0.3 s per reading
    published(*(f"budget{i}" for i in range(5)))
    age(OutboxEvent.objects.all(), EXPIRED)
    ticks = iter(i * 0.3 for i in range(100))

    # When a sweep with a 1 s budget deletes 2 rows a batch
    first = retention.outbox_purge_sent(
        batch_rows=2, budget_seconds=1.0, clock=lambda: next(ticks), pause=lambda s: None
    )

    # Then it stopped after 2 batches; a later run deletes the rest
    assert first == 4
    assert retention.outbox_purge_sent(batch_rows=2) == 1
    assert not OutboxEvent.objects.exists()


@db
def test_status_shows_the_outbox_size_and_its_oldest_sent_row(topic) -> None:
    published("seen1", "seen2")
    age(OutboxEvent.objects.filter(id=OutboxEvent.objects.order_by("id")[0].id), timedelta(days=2))
    User.objects.create_user("waiting")

    reading = outbox_stats()

    assert not isinstance(reading, str), reading
    assert (reading.backlog, reading.rows) == (1, 3)
    assert reading.oldest_sent_age_seconds is not None
    assert 2 * 86400 <= reading.oldest_sent_age_seconds < 3 * 86400
    assert reading.retention_seconds == 7 * 86400


# --- Saves are never locked out --------------------------------------------------------------

#: Sent rows past the retention for the concurrency test, and the batch it deletes them in.
MANY, BATCH = 20_000, 100


@pytest.fixture
def many_expired_rows(topic) -> Iterator[int]:
    """MANY sent rows recorded 8 days ago (one user's), written in bulk."""
    [owner] = published("owner")
    sent = timezone.now() - EXPIRED
    OutboxEvent.objects.bulk_create(
        OutboxEvent(
            event_id=uuid.uuid4(),
            user_id=owner.pk,
            action="updated",
            version=i + 2,
            body="{}",
            sent_at=sent,
        )
        for i in range(MANY)
    )
    age(OutboxEvent.objects.all(), EXPIRED)
    yield MANY + 1


def expired_left() -> int:
    return OutboxEvent.objects.filter(created_at__lt=timezone.now() - EXPIRED / 2).count()


@db
def test_saves_commit_between_the_sweeps_batches_while_it_deletes(many_expired_rows) -> None:
    # Given a purge of many expired rows running in small batches in another thread
    done = threading.Event()
    deleted: list[int] = []

    def purge() -> None:
        try:
            deleted.append(retention.outbox_purge_sent(batch_rows=BATCH))
        finally:
            connection.close()
            done.set()

    worker = threading.Thread(target=purge, daemon=True)
    worker.start()
    until(lambda: expired_left() < many_expired_rows, what="the purge's first batch")

    # When users are saved meanwhile (an outbox INSERT and a UserVersion upsert each)
    saved = []
    for i in range(10):
        user = User.objects.create_user(f"during{i}")
        user.first_name = "Changed"
        user.save()
        saved.append(user.pk)

    # Then every save committed while the purge still had rows to delete: it was not
    # locked out for the purge's duration (PostgreSQL: no wait; SQLite: one batch at most)
    assert not done.is_set() and expired_left() > 0
    worker.join(120)
    assert deleted == [many_expired_rows]
    versions = dict(UserVersion.objects.filter(user_id__in=saved).values_list("user_id", "version"))
    assert versions == dict.fromkeys(saved, 2)
    assert OutboxEvent.objects.filter(user_id__in=saved).count() == 20


@db
def test_a_backfill_since_further_back_than_the_retention_warns(
    topic, settings, tmp_path, capsys
) -> None:
    settings.REACTIVE = replace(settings.REACTIVE, state_dir=tmp_path)  # its checkpoint
    published("joined")

    call_command("backfill", "--client", "shop", "--since", "2000-01-01", stdout=StringIO())

    err = capsys.readouterr().err
    assert "warning: --since goes back further than the outbox keeps sent events (7 day(s)" in err
    assert "backfill shop: 1/1 sent" in err


def outbox_stats():
    """What `reactive status` makes of the master's ``outbox_stats`` line (run in-process, on
    the test database)."""
    out = io.StringIO()
    call_command("outbox_stats", stdout=out)
    return status.outbox_reading(json.loads(out.getvalue().strip().splitlines()[-1]))
