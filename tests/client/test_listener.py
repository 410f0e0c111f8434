"""The SQS listener against moto's server (over HTTP) and a real Redis (listener.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from channels_redis.core import RedisChannelLayer
from django.contrib.auth.models import User
from django.db import connections
from django.db.models.signals import post_save

from devstack.processes import Proc, free_port, python, until
from devstack.signing import KEYS
from devstack.signing import attributes as signed
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.client.listener.acks import listener_identity
from reactive_users.client.listener.loop import Listener
from reactive_users.client.models import Replica
from reactive_users.core import aws, naming
from reactive_users.core.contract import Action, encode
from reactive_users.core.settings import Settings
from tests.client.support import (
    Queue,
    batch_applier,
    listen_env,
    listening,
    polled_listener,
    sqs_messages,
    sqs_responses,
    user_event,
)

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
    first, second = encode(user_event(user_id=1)), encode(user_event(user_id=2, username="bob"))
    queue.sns.publish(TopicArn=queue.topic_arn, Message=first, MessageAttributes=signed(first))
    # The SNS JSON envelope, as SNS delivers once raw delivery is off
    (subscription,) = queue.sns.list_subscriptions_by_topic(TopicArn=queue.topic_arn)[
        "Subscriptions"
    ]
    queue.sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )
    queue.sns.publish(TopicArn=queue.topic_arn, Message=second, MessageAttributes=signed(second))
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
def test_a_message_that_can_never_apply_is_dead_lettered_at_once_with_its_reason(
    queue: Queue, layer_prefix, caplog
):
    # Given a malformed message, an unappliable one (its username is a local user's, sent
    # with a message attribute as the master sets one), then good ones
    User.objects.create_user("carol", password="x")
    malformed = queue.send('{"schema": 1, "nonsense": true}')
    colliding = str(
        queue.sqs.send_message(
            QueueUrl=queue.url,
            MessageBody=(body := encode(user_event(user_id=3, username="carol"))),
            MessageAttributes=signed(body, action="created"),
        )["MessageId"]
    )
    queue.send_event(user_event(user_id=1))
    queue.send_event(user_event(user_id=2, username="bob"))

    with listening(queue):
        # Then the good ones are applied, and the listener sends the bad ones to the DLQ
        until(lambda: replica_versions() == {1: 1, 2: 1}, what="valid events applied")
        until(lambda: queue.counts(queue.dlq_url)[0] == 2, what="2 dead letters")
        until(queue.empty, what="main queue drained")

    dead = queue.sqs.receive_message(
        QueueUrl=queue.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )["Messages"]
    tags = {
        m["MessageAttributes"]["reactive.dlq.message_id"]["StringValue"]: {
            name: value["StringValue"] for name, value in m["MessageAttributes"].items()
        }
        for m in dead
    }
    assert set(tags) == {malformed, colliding}
    for original, tag in tags.items():  # received once, by this listener, from this queue
        assert tag["reactive.dlq.receives"] == "1"
        assert tag["reactive.dlq.source_queue"] == queue.url
        assert tag["reactive.dlq.listener"] == listener_identity()
        assert datetime.fromisoformat(tag["reactive.dlq.first_seen"]).tzinfo is not None
        assert (
            _logged(caplog, original, logging.WARNING) + _logged(caplog, original, logging.ERROR)
            == 2
        )  # refused, once per receive; then sent to the dead-letter queue
    assert tags[malformed]["reactive.dlq.reason"] == (
        "ContractError: missing keys: action, changed, event_id, occurred_at, synthetic, "
        "user, user_id, version"
    )
    assert (
        tags[colliding]["reactive.dlq.reason"].startswith("UsernameCollision: event ")
        and "'carol'" in tags[colliding]["reactive.dlq.reason"]
    )
    assert tags[colliding]["action"] == "created"  # the original attributes travel along
    by_id = {m["MessageAttributes"]["reactive.dlq.message_id"]["StringValue"]: m for m in dead}
    assert by_id[malformed]["Body"] == '{"schema": 1, "nonsense": true}'


@db
def test_on_a_fifo_queue_a_dead_letter_keeps_its_message_group(
    prefix: str, moto_endpoint: str, redis_url: str, layer_prefix
):
    # Given a FIFO client queue: a malformed message, then a valid event, in user 7's group
    settings = Settings(
        prefix=prefix, aws_endpoint_url=moto_endpoint, redis_url=redis_url, signing=KEYS
    )
    done = ensure(settings, [ClientSpec(name="shop")], fifo=True)
    url, dlq_url = done.queue_urls["shop"], done.dlq_urls["shop"]
    sqs = aws.client("sqs", settings)
    for n, body in enumerate(['{"schema": 1, "nonsense": true}', encode(user_event(user_id=7))]):
        sqs.send_message(
            QueueUrl=url,
            MessageBody=body,
            MessageGroupId="7",
            MessageDeduplicationId=f"d{n}",
            MessageAttributes=signed(body),
        )
    fifo = Queue(
        settings=settings,
        url=url,
        dlq_url=dlq_url,
        topic_arn=done.topic_arn,
        sqs=sqs,
        sns=aws.client("sns", settings),
    )

    # When the listener handles them
    with polled_listener(fifo) as loop:
        until(
            lambda: loop.poll_once() is not None and replica_versions() == {7: 1},
            what="the valid event applied",
        )

    # Then the malformed one is in the FIFO dead-letter queue, in its group, and the queue
    # is drained
    (dead,) = sqs.receive_message(
        QueueUrl=dlq_url,
        MessageSystemAttributeNames=["MessageGroupId", "MessageDeduplicationId"],
        MessageAttributeNames=["All"],
    )["Messages"]
    assert dead["Attributes"]["MessageGroupId"] == "7"
    original = dead["MessageAttributes"]["reactive.dlq.message_id"]["StringValue"]
    assert dead["Attributes"]["MessageDeduplicationId"] == original
    assert dead["Body"] == '{"schema": 1, "nonsense": true}'
    until(lambda: fifo.empty(), what="the FIFO queue drained")


@db
def test_without_a_dead_letter_queue_a_refused_message_is_left_for_sqs_and_the_log_says_why(
    queue: Queue, layer_prefix, caplog
):
    # Given a queue with no redrive policy (none to find a dead-letter queue from)
    bare_url = queue.sqs.create_queue(QueueName=f"{queue.settings.prefix}-bare")["QueueUrl"]
    bare = Queue(
        settings=queue.settings,
        url=bare_url,
        dlq_url=queue.dlq_url,
        topic_arn=queue.topic_arn,
        sqs=queue.sqs,
        sns=queue.sns,
    )
    message_id = bare.send('{"schema": 1, "nonsense": true}')

    # When the listener refuses a malformed message
    with polled_listener(bare) as loop:
        stats = loop.poll_once()

    # Then it is not lost: still in the queue (left to the visibility timeout), and logged
    assert (stats.failed, stats.dead_lettered, stats.retried) == (1, 0, 0)
    assert bare.counts() == (0, 1)
    assert "the queue has no RedrivePolicy: run `reactive provision`" in caplog.text
    assert f"message {message_id}: not sent to the dead-letter queue" in caplog.text


@db
def test_a_failure_for_now_is_retried_later_and_does_not_use_up_the_receives(
    queue: Queue, layer_prefix, caplog
):
    # Given the client's database locked by another writer (SQLite: "database is locked"),
    # and a listener that waits for its lock only briefly
    options = connections["default"].settings_dict["OPTIONS"]
    path = connections["default"].settings_dict["NAME"]
    patience, options["timeout"] = options.get("timeout"), 0.2
    lock = sqlite3.connect(path, timeout=5, isolation_level=None)
    try:
        lock.execute("BEGIN EXCLUSIVE")
        message_id = queue.send_event(user_event(user_id=1))
        with (
            sqs_responses(queue.sqs, "ReceiveMessage") as calls,
            listening(queue) as (stop, thread),
        ):
            # When the listener cannot apply it, it hands it back to be retried later
            until(lambda: "database is locked" in caplog.text, what="the failure logged")
            failed_at = len(calls["ReceiveMessage"])
            # ... and while the old way (visibility 1 s, 2 receives) would have dead-lettered
            # it, three long polls go by with the message out of sight and not in the DLQ
            until(
                lambda: len(calls["ReceiveMessage"]) >= failed_at + 3,
                timeout=30,
                what="three more polls",
            )
            assert all(not r.get("Messages") for r in calls["ReceiveMessage"][failed_at:])
            assert queue.counts(queue.dlq_url) == (0, 0)
            assert queue.counts() == (0, 1)
            # Then, once the database answers again, its next receive applies it
            lock.execute("ROLLBACK")
            until(lambda: replica_versions() == {1: 1}, timeout=30, what="applied at last")
            until(queue.empty, what="deleted")
    finally:
        lock.close()
        options["timeout"] = patience
    assert queue.counts(queue.dlq_url) == (0, 0)
    failures = [r.getMessage() for r in caplog.records if "each will be retried" in r.getMessage()]
    assert len(failures) == 1 and f"{message_id} (receive 1)" in failures[0]
    assert "OperationalError: database is locked" in failures[0]


@db
def test_a_batch_slower_than_the_visibility_timeout_is_not_delivered_twice(
    queue: Queue, layer_prefix
):
    # Given a listener receiving with a 2 s visibility timeout, whose apply blocks until
    # the test lets it go on
    going_on = threading.Event()

    def slow(**_):
        going_on.wait(60)

    queue.send_event(user_event(user_id=1))
    stop = threading.Event()
    loop = Listener(
        settings=queue.settings,
        client="shop",
        queue_url=queue.url,
        stop=stop,
        wait_seconds=1,
        visibility_seconds=2,
    )
    post_save.connect(slow, sender=User, dispatch_uid="slow-apply")
    thread = threading.Thread(target=loop.run, daemon=True)
    stolen: list[dict[str, Any]] = []

    def competitor_sees_nothing() -> bool:
        stolen.extend(
            queue.sqs.receive_message(
                QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=0
            ).get("Messages", [])
        )
        return not stolen

    try:
        with sqs_responses(queue.sqs, "ChangeMessageVisibilityBatch") as extended:
            thread.start()
            until(lambda: queue.counts() == (0, 1), what="the batch in hand")
            # When the apply outlasts the visibility timeout several times over (each
            # extension pushes it 2 s on, every 2/3 s) while another consumer keeps asking
            until(
                lambda: (
                    competitor_sees_nothing() and len(extended["ChangeMessageVisibilityBatch"]) >= 6
                ),
                timeout=30,
                what="six extensions",
            )
            going_on.set()
            until(lambda: replica_versions() == {1: 1}, what="the slow batch applied")
            until(queue.empty, what="the slow batch deleted")
    finally:
        going_on.set()
        post_save.disconnect(sender=User, dispatch_uid="slow-apply")
        stop.set()
        thread.join(15)

    # Then nobody else was given the message while it was applied, and it went once
    assert stolen == []
    assert not thread.is_alive()
    assert all(not r.get("Failed") for r in extended["ChangeMessageVisibilityBatch"])


def _logged(caplog, message_id: str, level: int) -> int:
    return sum(message_id in r.getMessage() and r.levelno == level for r in caplog.records)


@pytest.mark.django_db
def test_a_body_nested_too_deep_to_parse_is_malformed_and_the_rest_of_its_batch_applies(caplog):
    # Given a batch whose first body is JSON nested deeper than the parser recurses
    deep = {
        "MessageId": "deep",
        "ReceiptHandle": "h",
        "Body": "[" * 5000,
        "MessageAttributes": signed("[" * 5000),
    }
    good = sqs_messages([user_event(user_id=1)])

    # When the listener handles it
    with batch_applier() as loop:
        handled, rest = loop.apply([deep, *good])

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
        "type": "emit.ack",
        "hop": "listener",
        "event_id": str(synthetic.event_id),
        "client": "shop",
    }
    assert ack["listener"] == listener_identity()
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
    down = Settings(prefix="down", aws_endpoint_url=f"http://127.0.0.1:{free_port()}", signing=KEYS)
    stop = threading.Event()
    loop = Listener(
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
