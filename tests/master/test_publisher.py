"""REACTIVE_RELAY=thread: a commit's events are published from the saving process, no worker."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from devstack.processes import free_port, until
from reactive_users.master.metrics import REGISTRY
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay import publish as services
from reactive_users.master.relay.publish import outbox_publish_rows

db = pytest.mark.django_db(transaction=True)


def failures() -> float:
    return REGISTRY.get_sample_value("reactive_relay_publish_failures_total") or 0.0


def unsent() -> int:
    return OutboxEvent.objects.filter(sent_at__isnull=True).count()


@db
def test_committed_changes_are_published_by_the_thread_without_a_worker(settings, topic):
    settings.REACTIVE_RELAY = "thread"
    with transaction.atomic():
        users = [User.objects.create_user(username=f"fast{i}") for i in range(12)]
    users[0].first_name = "Renamed"
    users[0].save()

    until(lambda: unsent() == 0, timeout=30, what="every row marked sent")
    bodies = topic.queue.receive(13)
    assert len(bodies) == 13
    assert OutboxEvent.objects.filter(claim__isnull=False).count() == 0


@db
def test_rows_sns_does_not_take_stay_pending_for_the_sweep_and_the_thread_lives_on(
    settings, master_settings, topic
):
    settings.REACTIVE_RELAY = "thread"
    settings.REACTIVE = replace(master_settings, aws_endpoint_url=f"http://127.0.0.1:{free_port()}")
    before = failures()
    User.objects.create_user(username="unlucky")
    failed = OutboxEvent.objects.get()
    until(lambda: failures() == before + 1, timeout=60, what="the thread's attempt to fail")

    settings.REACTIVE = master_settings  # SNS answers again
    User.objects.create_user(username="lucky")

    until(lambda: unsent() == 1, timeout=30, what="the new row published by the same thread")
    still = OutboxEvent.objects.get(sent_at__isnull=True)
    assert still.id == failed.id and still.claim is None  # left for the sweep, unclaimed
    assert still.attempts == 1 and still.retry_at is not None  # backing off
    assert len(topic.queue.receive(1)) == 1


@db
def test_rows_a_relay_run_has_claimed_are_left_to_it(topic):
    with transaction.atomic():  # no kick reaches the thread: publish by hand below
        user = User(username="claimed")
        user.save()
    row = OutboxEvent.objects.get(user_id=user.pk)
    OutboxEvent.objects.filter(id=row.id).update(
        claim=uuid.uuid4(), claimed_until=timezone.now() + timedelta(minutes=2)
    )

    report = outbox_publish_rows(ids=[row.id])

    assert (report.published, report.failed) == (0, 0)
    assert unsent() == 1


@db
def test_the_sweep_leaves_alone_the_rows_a_round_is_still_publishing(monkeypatch, topic):
    with transaction.atomic():  # no kick reaches the thread: publish by hand below
        users = [User.objects.create_user(username=f"round{i}") for i in range(3)]
    ids = list(OutboxEvent.objects.values_list("id", flat=True))
    swept: list[int] = []
    real_publish = services.outbox_publish_claim

    def sweep_meanwhile(*, claim, max_messages=None):  # a sweep while the round publishes
        swept.append(services.outbox_publish_pending(min_age=timedelta(0)).claimed)
        return real_publish(claim=claim, max_messages=max_messages)

    monkeypatch.setattr(services, "outbox_publish_claim", sweep_meanwhile)
    report = outbox_publish_rows(ids=ids)

    assert swept == [0]  # every row was the round's: the sweep took none of them
    assert (report.claimed, report.published) == (3, 3)
    assert len(topic.queue.receive(3)) == 3 and unsent() == 0
    assert topic.queue.depth() == 3  # each published once
    assert not OutboxEvent.objects.filter(claim__isnull=False).exists()
    assert {u.pk for u in users} == set(OutboxEvent.objects.values_list("user_id", flat=True))


#: A short command: saves one user and exits at once (the publisher flushes at exit).
SAVE_AND_EXIT = """
import django
django.setup()
from django.contrib.auth.models import User
user = User(username="short-lived")
user.set_unusable_password()
user.save()
print(user.pk)
"""


@db
def test_a_short_command_publishes_its_saves_before_it_exits(master_settings, topic):
    from django.db import connection

    db_settings = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{db_settings['NAME']}"
    else:
        url = (
            f"postgres://{db_settings['USER']}@{db_settings['HOST']}:{db_settings['PORT']}"
            f"/{db_settings['NAME']}"
        )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "master.settings",
        "DATABASE_URL": url,
        "REDIS_URL": master_settings.redis_url,
        "AWS_ENDPOINT_URL": master_settings.aws_endpoint_url or "",
        "REACTIVE_PREFIX": master_settings.prefix,
        "REACTIVE_TOPIC_ARN": topic.arn,
        "REACTIVE_RELAY": "thread",
    }
    done = subprocess.run(
        [sys.executable, "-c", SAVE_AND_EXIT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]

    # No worker, no sweep here: only the exiting process itself can have published it
    row = OutboxEvent.objects.get(user_id=int(done.stdout.split()[-1]))
    assert row.sent_at is not None and row.claim is None
    [message] = topic.queue.receive(1)
    assert "short-lived" in message["Body"]
