"""REACTIVE_RELAY_MAX_QUEUE_DEPTH: the relay holds while a client queue is full, on moto's
SQS over HTTP, with the test draining the queue by hand (the rules: tests/unit/test_pacing.py).
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from devstack.processes import until
from reactive_users.core.contract import MultiEvent, decode_message
from reactive_users.master import tasks
from reactive_users.master.metrics import REGISTRY
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay import depths, pacing
from reactive_users.master.relay import publish as services
from tests.master.sqs import Topic

db = pytest.mark.django_db(transaction=True)

LIMIT = 40


def unsent() -> int:
    return OutboxEvent.objects.filter(sent_at__isnull=True).count()


def held_seconds() -> float:
    return REGISTRY.get_sample_value("reactive_relay_paced_seconds_total") or 0.0


def drain(topic: Topic, count: int) -> list[str]:
    """Receive and delete ``count`` messages from the client's queue; their bodies."""
    sqs, url = topic.queue.sqs, topic.queue.url
    bodies: list[str] = []

    def more() -> bool:
        wanted = min(10, count - len(bodies))
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=wanted, WaitTimeSeconds=1)
        messages: list[dict[str, Any]] = got.get("Messages", [])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
            bodies.extend(m["Body"] for m in messages)
        return len(bodies) >= count

    until(more, timeout=60, what=f"{count} message(s) drained from {url}")
    return bodies


def save_users(count: int) -> None:
    with transaction.atomic():
        for i in range(count):
            User.objects.create_user(username=f"paced{i}")


@db
def test_the_relay_holds_while_the_queue_is_full_and_publishes_as_it_drains(
    settings, monkeypatch, topic
):
    settings.REACTIVE_RELAY = "thread"
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = LIMIT
    monkeypatch.setattr(pacing, "STALL_SECONDS", 120.0)  # this queue drains, only late
    before = held_seconds()

    save_users(100)

    # It fills the queue to the limit and holds there, the rest of the burst still pending.
    until(lambda: held_seconds() > before, timeout=30, what="the relay to hold")
    assert topic.queue.depth() == LIMIT
    assert unsent() == 100 - LIMIT
    # The thread's claim keeps a sweep off the rows it holds back: no second publisher.
    assert OutboxEvent.objects.filter(sent_at__isnull=True, claim__isnull=False).count() == 60
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = 0  # a sweep unpaced, however old the rows
    assert services.outbox_publish_pending(min_age=timedelta(0)).claimed == 0
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = LIMIT

    # Drained ten at a time, it publishes as the queue drains, never past the limit, and
    # every event arrives once.
    bodies: list[str] = []
    deepest = LIMIT
    while len(bodies) < 100:
        bodies += drain(topic, 10)
        deepest = max(deepest, topic.queue.depth())
    until(lambda: unsent() == 0, timeout=30, what="the whole burst published")
    assert deepest == LIMIT  # full at times, never past it
    assert len(bodies) == len(set(bodies)) == 100
    assert topic.queue.depth() == 0


@db
def test_a_queue_nobody_drains_holds_a_relay_run_only_for_the_stall_time(
    settings, monkeypatch, topic, caplog
):
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = LIMIT
    monkeypatch.setattr(pacing, "STALL_SECONDS", 1.0)
    save_users(100)  # the Celery relay: no worker runs, the run below publishes them

    with caplog.at_level(logging.WARNING, logger="reactive_users.master.pacing"):
        published = tasks._relay()  # runs of what pacing allows, until nothing is due

    assert published == 100 and unsent() == 0
    assert topic.queue.depth() == 100  # nothing lost: they wait for the listener
    assert "not below the limit, for 1 s; publishing without waiting" in caplog.text
    assert "is its listener running" in caplog.text


@db
def test_the_depth_counts_messages_waiting_and_in_flight_in_every_subscribed_queue(
    master_settings, topic
):
    save_users(3)
    services.outbox_publish_pending()
    read = depths.QueueDepths(master_settings, topic.arn)
    name = topic.queue.url.rsplit("/", 1)[-1]
    assert read() == {name: 3}

    sqs, url = topic.queue.sqs, topic.queue.url
    held = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=60)
    assert len(held["Messages"]) == 1  # received, not deleted: in flight, still in the queue
    assert read() == {name: 3}
    drain(topic, 2)
    assert read() == {name: 1}


@db
def test_with_pacing_off_the_relay_never_reads_a_queue(settings, monkeypatch, topic):
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = 0
    looked = threading.Event()

    def spy(*args: Any, **kwargs: Any) -> Any:
        looked.set()
        raise AssertionError("pacing is off")

    monkeypatch.setattr(depths, "pacer_for", spy)
    save_users(60)
    assert services.outbox_publish_pending().published == 60
    assert not looked.is_set()
    assert topic.queue.depth() == 60


def events_in(bodies: list[str]) -> int:
    """Events the received message bodies carry (a multi-event message carries several)."""
    decoded = [decode_message(body) for body in bodies]
    return sum(len(m.parts) if isinstance(m, MultiEvent) else 1 for m in decoded)


@db
def test_packed_events_are_paced_as_the_messages_they_travel_in(settings, topic):
    # A burst of 100 events fits in a few packed messages: far under a limit of 40 messages,
    # so the relay publishes it at once and never holds.
    settings.REACTIVE_RELAY = "thread"
    settings.REACTIVE_PUBLISH_BATCH = True
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = LIMIT
    before = held_seconds()

    save_users(100)

    until(lambda: unsent() == 0, timeout=30, what="the whole burst published")
    assert held_seconds() == before
    messages = topic.queue.depth()
    assert 1 <= messages <= 5
    assert events_in(drain(topic, messages)) == 100


@db
def test_packed_messages_still_hold_at_the_limit(settings, monkeypatch, topic):
    # Small messages (16 KiB) and a limit of 4: a burst of 300 events needs more messages
    # than the queue may hold, so the relay holds at 4 messages and goes on as they drain.
    settings.REACTIVE_RELAY = "thread"
    settings.REACTIVE_PUBLISH_BATCH = True
    settings.REACTIVE_PUBLISH_BATCH_BYTES = 16 * 1024
    settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH = 4
    monkeypatch.setattr(pacing, "STALL_SECONDS", 120.0)
    before = held_seconds()

    save_users(300)

    until(lambda: held_seconds() > before, timeout=30, what="the relay to hold")
    assert topic.queue.depth() == 4
    assert 0 < unsent() < 300

    bodies: list[str] = []
    deepest = 4
    while unsent() or topic.queue.depth():
        bodies += drain(topic, 1)
        deepest = max(deepest, topic.queue.depth())
    assert deepest == 4
    assert events_in(bodies) == 300
