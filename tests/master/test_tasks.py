"""The relay through a real Celery worker on the private Redis, and saves while Redis is down."""

from __future__ import annotations

import logging
import time
from io import StringIO

import pytest
import redis
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction

from devstack.processes import free_port, until
from devstack.services import restartable_redis
from reactive_users.core import naming
from reactive_users.core.contract import Action, decode_sqs_body
from reactive_users.master.models import OutboxEvent
from reactive_users.master.tasks import outbox_sweep
from tests.master.workers import celery_broker, running_worker

#: A save must not wait for an unreachable broker longer than this, in seconds.
PROMPT_SAVE_SECONDS = 1.5


@pytest.mark.django_db(transaction=True)
def test_a_committed_save_reaches_the_queue_through_a_real_worker(celery_worker, topic) -> None:
    user = User.objects.create_user("ana", "ana@example.com", first_name="Ana")

    [message] = topic.queue.receive(1)

    event = decode_sqs_body(message["Body"])
    assert (event.action, event.user_id, event.version) == (Action.CREATED, user.pk, 1)
    until(lambda: OutboxEvent.objects.filter(sent_at__isnull=False).count() == 1)


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_save_never_reaches_the_queue(celery_worker, topic) -> None:
    # Given a live worker, When one transaction rolls back and a later one commits
    with pytest.raises(RuntimeError), transaction.atomic():
        User.objects.create_user("ghost")
        raise RuntimeError("roll back")
    User.objects.create_user("kept")

    # Then only the committed user arrives, and nothing else is in the queue
    bodies = topic.queue.bodies(1)
    assert [b["user"]["username"] for b in bodies] == ["kept"]
    until(lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0)
    assert topic.queue.depth() == 1
    assert OutboxEvent.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_save_while_redis_is_down_commits_promptly_and_the_sweep_publishes_it_once(
    settings, celery_app, topic, tmp_path, caplog
) -> None:
    port = free_port()
    settings.REACTIVE_OUTBOX_MIN_AGE_SECONDS = 0
    with celery_broker(celery_app, f"redis://127.0.0.1:{port}/0"):
        # Given the broker's port has nothing listening, When a user is saved
        started = time.monotonic()
        with caplog.at_level(logging.WARNING, logger="reactive_users.master.tasks"):
            User.objects.create_user("offline")
        elapsed = time.monotonic() - started

        # Then the save committed promptly, the row is pending, the failed kick was logged
        assert elapsed < PROMPT_SAVE_SECONDS
        assert OutboxEvent.objects.filter(sent_at__isnull=True).count() == 1
        assert "Could not enqueue the outbox relay" in caplog.text

        # When Redis comes back on that port and beat's sweep runs on a worker
        with restartable_redis(tmp_path, port), running_worker(celery_app):
            outbox_sweep.delay()
            [message] = topic.queue.receive(1)

    # Then the event was published exactly once
    assert decode_sqs_body(message["Body"]).user["username"] == "offline"
    until(lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0)
    out = StringIO()
    call_command("publish_pending", stdout=out)
    assert out.getvalue().strip() == "Published 0 event(s)."
    assert topic.queue.depth() == 1


@pytest.mark.django_db(transaction=True)
def test_a_burst_of_commits_queues_one_relay_run_that_publishes_them_all(
    celery_app, topic, redis_url, master_settings
) -> None:
    broker = redis.Redis.from_url(redis_url)
    celery_app.control.purge()
    # Given no worker running, When 30 users are saved, each in its own transaction
    for i in range(30):
        User.objects.create_user(f"burst{i}")

    # Then one relay run is queued for all of them, marked as queued
    assert broker.llen("celery") == 1
    assert broker.exists(naming.relay_kick_key(master_settings.prefix)) == 1

    # When a worker runs it, Then all 30 are published and the mark is gone
    with running_worker(celery_app, purge=False):
        until(lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0)
        assert len(topic.queue.receive(30)) == 30
        assert broker.exists(naming.relay_kick_key(master_settings.prefix)) == 0

        # And a commit after that run started queues a run of its own
        User.objects.create_user("later")
        received = topic.queue.receive(31)  # all received so far
    assert decode_sqs_body(received[-1]["Body"]).user["username"] == "later"
    assert len(received) == 31
    until(lambda: OutboxEvent.objects.filter(sent_at__isnull=True).count() == 0)
