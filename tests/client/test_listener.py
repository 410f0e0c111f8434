"""The SQS listener against moto's server (over HTTP) and a real Redis (listener.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from django.contrib.auth.models import User
from django.db.models.signals import post_save

from client.replica import listener
from client.replica.listener import BACKOFF_CAP_SECONDS, compute_backoff
from client.replica.models import Replica
from reactive_cli import naming
from reactive_cli.contract import Action, encode
from reactive_cli.settings import Settings
from tests.client.support import (
    Queue,
    batch_listener,
    listen_env,
    listening,
    sqs_messages,
    sqs_responses,
    user_event,
)
from tests.support.processes import Proc, free_port, python, until

db = pytest.mark.django_db(transaction=True)


def replica_versions() -> dict[int, int]:
    return dict(Replica.objects.values_list("master_id", "version"))


@db
def test_valid_messages_are_applied_and_deleted_from_the_queue(queue: Queue, layer_prefix):
    queue.send_event(user_event(user_id=1, username="ana"))
    queue.send_event(user_event(user_id=1, version=2, action=Action.UPDATED, first_name="Ann"))
    queue.send_event(user_event(user_id=2, username="bob"))

    with listening(queue):
        until(lambda: replica_versions() == {1: 2, 2: 1}, what="events applied")
        until(queue.empty, what="queue drained")

    assert User.objects.get(username="ana").first_name == "Ann"


@db
def test_raw_and_sns_enveloped_bodies_are_both_accepted(queue: Queue, layer_prefix):
    # Raw delivery, through the real SNS subscription that provisioning made
    queue.sns.publish(TopicArn=queue.topic_arn, Message=encode(user_event(user_id=1)))
    # The SNS JSON envelope, as SNS delivers once raw delivery is off
    (subscription,) = queue.sns.list_subscriptions_by_topic(TopicArn=queue.topic_arn)[
        "Subscriptions"
    ]
    queue.sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    queue.sns.publish(
        TopicArn=queue.topic_arn, Message=encode(user_event(user_id=2, username="bob"))
    )
    enveloped = queue.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(str(json.loads(m["Body"]).get("Type")) for m in enveloped) == [
        "None",
        "Notification",
    ]
    queue.sqs.change_message_visibility_batch(
        QueueUrl=queue.url,
        Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(enveloped)
        ],
    )

    with listening(queue):
        until(lambda: replica_versions() == {1: 1, 2: 1}, what="both events applied")
        until(queue.empty, what="queue drained")


@db
def test_a_bad_message_does_not_stop_the_listener_and_ends_in_the_dlq(
    queue: Queue, layer_prefix, caplog
):
    # Given a malformed message, an unappliable one (its username is a local user's), then good ones
    User.objects.create_user("carol", password="x")
    malformed = queue.send('{"schema": 1, "nonsense": true}')
    colliding = queue.send_event(user_event(user_id=3, username="carol"))
    queue.send_event(user_event(user_id=1))
    queue.send_event(user_event(user_id=2, username="bob"))

    with listening(queue):
        # Then the good ones are applied, and the bad ones reach the DLQ after 2 receives
        until(lambda: replica_versions() == {1: 1, 2: 1}, what="valid events applied")
        until(lambda: queue.counts(queue.dlq_url)[0] == 2, timeout=20, what="2 dead letters")
        until(queue.empty, what="main queue drained")

    dead = queue.sqs.receive_message(QueueUrl=queue.dlq_url, MaxNumberOfMessages=10)["Messages"]
    assert {m["MessageId"] for m in dead} == {malformed, colliding}
    assert _logged(caplog, malformed, logging.WARNING) == 2  # once per receive
    assert any(f"message {malformed} (receive 2)" in r.getMessage() for r in caplog.records)
    assert _logged(caplog, colliding, logging.ERROR) == 2
    assert "UsernameCollision" in caplog.text


def _logged(caplog, message_id: str, level: int) -> int:
    return sum(message_id in r.getMessage() and r.levelno == level for r in caplog.records)


@pytest.mark.django_db
def test_a_body_nested_too_deep_to_parse_is_malformed_and_the_rest_of_its_batch_applies(caplog):
    # Given a batch whose first body is JSON nested deeper than the parser recurses
    deep = {"MessageId": "deep", "ReceiptHandle": "h", "Body": "[" * 5000}
    good = sqs_messages([user_event(user_id=1)])

    # When the listener handles it
    with batch_listener() as loop:
        handled, rest = loop._handle_batch([deep, *good])

    # Then that one is left for the dead-letter queue, as any malformed one, and the other applied
    assert not rest
    assert [h.result is None for h in handled] == [True, False]
    assert replica_versions() == {1: 1}
    assert "message deep (receive ?): malformed" in caplog.text


@db
def test_stop_finishes_the_message_in_hand_and_hands_back_the_rest(queue: Queue, layer_prefix):
    for user_id in (1, 2, 3):
        queue.send_event(user_event(user_id=user_id, username=f"user{user_id}"))

    with listening(queue) as (stop, thread):
        # When the stop comes while the first message of the batch is being applied (its
        # local user just saved, its replica not yet written)
        def stop_now(**_):
            stop.set()

        post_save.connect(stop_now, sender=User, dispatch_uid="stop-now")
        try:
            thread.join(10)
        finally:
            post_save.disconnect(sender=User, dispatch_uid="stop-now")
        assert not thread.is_alive(), "listener did not return promptly"

    # Then that one is applied and deleted, the two others are visible again at once
    assert len(replica_versions()) == 1
    assert queue.counts() == (2, 0)


@db
def test_the_listener_returns_promptly_when_stopped_while_long_polling(queue: Queue):
    with sqs_responses(queue.sqs, "ReceiveMessage") as calls, listening(queue) as (stop, thread):
        until(lambda: calls["ReceiveMessage"], what="a first (empty) long poll")
        stop.set()
        thread.join(5)

        assert not thread.is_alive()  # within the 1 s poll in progress, not a later one


@db
def test_one_delete_message_batch_per_received_batch(queue: Queue, layer_prefix):
    for user_id in range(1, 6):
        queue.send_event(user_event(user_id=user_id, username=f"user{user_id}"))

    ops = ("ReceiveMessage", "DeleteMessageBatch", "DeleteMessage")
    with sqs_responses(queue.sqs, *ops) as calls, listening(queue):
        until(lambda: len(replica_versions()) == 5, what="5 events applied")
        until(queue.empty, what="queue drained")

    batches = [r for r in calls["ReceiveMessage"] if r.get("Messages")]
    assert len(calls["DeleteMessageBatch"]) == len(batches)
    assert sum(len(r["Successful"]) for r in calls["DeleteMessageBatch"]) == 5
    assert calls["DeleteMessage"] == []


@db
def test_applied_and_synthetic_events_reach_the_users_group(
    queue: Queue, layer_prefix: str, redis_url: str
):
    layer = RedisChannelLayer(hosts=[redis_url], prefix=layer_prefix)  # the listener's Redis
    created = user_event(user_id=7)
    synthetic = user_event(user_id=7, version=99, synthetic=True)

    async def receive_two() -> list[dict[str, Any]]:
        channel = await layer.new_channel()
        await layer.group_add(naming.user_group(7), channel)
        await asyncio.to_thread(queue.send_event, created)
        await asyncio.to_thread(queue.send_event, synthetic)
        return [await asyncio.wait_for(layer.receive(channel), 10) for _ in range(2)]

    with listening(queue):
        received = asyncio.run(receive_two())

    by_type = {m["type"]: m["frame"] for m in received}
    assert by_type["user.changed"]["event_id"] == str(created.event_id)
    assert by_type["user.test"] == {
        "type": "test",
        "event_id": str(synthetic.event_id),
        "action": "created",
        "version": 99,
        "user_id": 7,
        "occurred_at": synthetic.occurred_at.isoformat(),
    }
    assert replica_versions() == {7: 1}  # the synthetic event wrote nothing


@db
def test_a_synthetic_event_is_acknowledged_to_its_reply_group_and_a_real_one_is_not(
    queue: Queue, layer_prefix: str, redis_url: str
):
    layer = RedisChannelLayer(hosts=[redis_url], prefix=layer_prefix)  # the listener's Redis
    real = user_event(user_id=7)
    synthetic = user_event(user_id=7, version=99, synthetic=True)
    before = time.time()

    async def acks() -> list[dict[str, Any]]:
        emitter = await layer.new_channel()
        for event in (real, synthetic):  # listening for both: only one may answer
            await layer.group_add(naming.emit_reply_group(event.event_id), emitter)
        await asyncio.to_thread(queue.send_event, real)
        await asyncio.to_thread(until, queue.empty, what="the real event handled and deleted")
        await asyncio.to_thread(queue.send_event, synthetic)
        return [await asyncio.wait_for(layer.receive(emitter), 10)]

    with listening(queue):
        (ack,) = asyncio.run(acks())

    assert {k: ack[k] for k in ("type", "hop", "event_id", "client")} == {
        "type": "emit.ack", "hop": "listener", "event_id": str(synthetic.event_id),
        "client": "shop",
    }  # fmt: skip
    assert ack["listener"] == listener.listener_identity()
    assert before <= ack["at"] <= time.time()
    assert replica_versions() == {7: 1}  # the synthetic event wrote nothing


@db
def test_with_redis_down_the_event_is_still_applied_and_deleted(queue: Queue, settings, caplog):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [f"redis://127.0.0.1:{free_port()}/0"], "prefix": "down"},
        }
    }
    queue.send_event(user_event(user_id=1))

    with listening(queue):
        until(lambda: replica_versions() == {1: 1}, what="event applied")
        until(queue.empty, what="message deleted")

    assert "channel layer failed" in caplog.text


def test_backoff_doubles_from_half_a_second_and_is_capped():
    assert [compute_backoff(n) for n in range(0, 5)] == [0.0, 0.5, 1.0, 2.0, 4.0]
    assert compute_backoff(10_000) == BACKOFF_CAP_SECONDS


@contextlib.contextmanager
def listen_stopping(queue: Queue, redis_url: str, tmp_path) -> Iterator[Proc]:
    """`python -m client listen` in its long poll, after a first SIGTERM; stopped on exit."""
    proc = Proc(
        "listen",
        python("-m", "client", "listen"),
        listen_env(queue, redis_url, tmp_path),
        tmp_path,
    )
    try:
        proc.wait_ready(lambda: "listening on" in proc.log())
        proc.signal(signal.SIGTERM)
        until(lambda: "SIGTERM: stopping after the long poll" in proc.log(), what="the stop log")
        yield proc
    finally:
        proc.stop()


def test_a_sigterm_during_a_long_poll_hands_back_what_the_poll_receives_and_exits_0(
    queue: Queue, redis_url: str, tmp_path
):
    # Given the listen command in a 20 s long poll on an empty queue, just sent SIGTERM
    with listen_stopping(queue, redis_url, tmp_path) as proc:
        # When a message arrives that the poll in progress receives
        queue.send_event(user_event(user_id=1))
        # Then the listener exits 0 and the message is back in the queue, not stranded in
        # flight until its visibility timeout (an abandoned poll would leave it there)
        assert proc.popen.wait(timeout=30) == 0
        assert queue.counts() == (1, 0)
        assert "stopped" in proc.log()


def test_a_second_sigterm_stops_the_listen_command_at_once(queue: Queue, redis_url: str, tmp_path):
    with listen_stopping(queue, redis_url, tmp_path) as proc:
        proc.signal(signal.SIGTERM)
        # Well before the 20 s long poll would have ended by itself
        assert proc.popen.wait(timeout=10) == 0
        assert "SIGTERM again: stopping now" in proc.log()


@db
def test_an_unreachable_endpoint_is_logged_and_retried_and_never_kills_the_loop(caplog):
    down = Settings(prefix="down", aws_endpoint_url=f"http://127.0.0.1:{free_port()}")
    stop = threading.Event()
    loop = listener.Listener(
        settings=down, client="shop", queue_url="http://127.0.0.1/1/q", stop=stop, wait_seconds=1
    )
    thread = threading.Thread(target=loop.run, daemon=True)
    thread.start()
    try:
        until(lambda: _critical_count(caplog) >= 2, what="two failed attempts, logged")
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
    assert "EndpointUnreachable" in caplog.text and "retrying in" in caplog.text


def _critical_count(caplog) -> int:
    return sum(r.levelno == logging.CRITICAL for r in list(caplog.records))
