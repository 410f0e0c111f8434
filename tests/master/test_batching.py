"""REACTIVE_PUBLISH_BATCH: the relay packs pending events into multi-event messages (moto
over HTTP); off by default."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import boto3
import pytest
from django.contrib.auth.models import User

from devstack.signing import KEYS
from reactive_users.core import signing
from reactive_users.core.contract import (
    Action,
    Envelope,
    MultiEvent,
    decode_message,
)
from reactive_users.master.metrics import RELAY
from reactive_users.master.relay.publish import outbox_publish_pending

pytestmark = pytest.mark.django_db


def events_of(message: dict[str, Any]) -> tuple[str, list[Envelope]]:
    """The action attribute and the events of a received message, every signature checked."""
    signing.verify_message(message, KEYS)
    action = message["MessageAttributes"]["action"]["StringValue"]
    decoded = decode_message(message["Body"])
    if not isinstance(decoded, MultiEvent):
        assert decoded.action.value == action
        return action, [decoded]
    assert decoded.action.value == action
    for part in decoded.parts:
        signing.verify(part.body, part.signature, KEYS)
    return action, [decoded.event(i) for i in range(len(decoded.parts))]


def a_burst() -> list[User]:
    """30 creates, 10 updates, 5 deletes, pending in the outbox."""
    users = [User.objects.create_user(username=f"user{i}") for i in range(30)]
    for user in users[:10]:
        user.first_name = "Renamed"
        user.save()
    for user in users[25:]:
        user.delete()
    return users


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url,
        MaxNumberOfMessages=10,
        WaitTimeSeconds=0,
        MessageAttributeNames=["All"],
        AttributeNames=["All"],
    ).get("Messages", []):
        received.extend(batch)
    return received


def test_off_by_default_every_event_is_a_message_of_its_own(topic) -> None:
    a_burst()
    before = RELAY.messages_published._value.get()
    assert outbox_publish_pending().published == 45
    assert RELAY.messages_published._value.get() - before == 45
    messages = topic.queue.receive(45)
    assert all(json.loads(m["Body"])["schema"] == 1 for m in messages)


def test_on_pending_events_are_packed_by_action_in_version_order(
    topic, settings, sqs, master_settings, prefix
) -> None:
    # Given a client that routes on the action (a filter policy taking deletes only)
    sns = boto3.client(
        "sns", endpoint_url=master_settings.aws_endpoint_url, region_name="us-east-1"
    )
    deletes_url = sqs.create_queue(QueueName=f"{prefix}-deletes")["QueueUrl"]
    deletes_arn = sqs.get_queue_attributes(QueueUrl=deletes_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(
        TopicArn=topic.arn,
        Protocol="sqs",
        Endpoint=deletes_arn,
        Attributes={
            "RawMessageDelivery": "true",
            "FilterPolicy": json.dumps({"action": ["deleted"]}),
        },
    )
    settings.REACTIVE_PUBLISH_BATCH = True
    a_burst()

    # When the relay publishes the 45 pending events
    before = RELAY.messages_published._value.get()
    report = outbox_publish_pending()

    # Then they travel in three messages, one per action, each user's events in order
    assert report.published == 45
    assert RELAY.messages_published._value.get() - before == 3
    received = [events_of(m) for m in drain(sqs, topic.queue.url)]
    assert sorted((action, len(events)) for action, events in received) == [
        ("created", 30),
        ("deleted", 5),
        ("updated", 10),
    ]
    for action, events in received:
        assert {e.action.value for e in events} == {action}
        assert [e.user_id for e in events] == sorted(e.user_id for e in events)
    # And the filter-policy client gets the deletes, and only them
    (only,) = [events_of(m) for m in drain(sqs, deletes_url)]
    assert only[0] == "deleted" and len(only[1]) == 5


def test_on_a_lone_event_still_leaves_alone_as_schema_1(topic, settings) -> None:
    settings.REACTIVE_PUBLISH_BATCH = True
    User.objects.create_user(username="ana")
    assert outbox_publish_pending().published == 1
    (message,) = topic.queue.receive(1)
    assert json.loads(message["Body"])["schema"] == 1
    assert events_of(message)[0] == "created"


def test_on_the_byte_budget_splits_a_burst_into_several_messages(topic, settings, sqs) -> None:
    settings.REACTIVE_PUBLISH_BATCH = True
    settings.REACTIVE_PUBLISH_BATCH_BYTES = 16 * 1024  # the smallest budget allowed
    for i in range(120):
        User.objects.create_user(username=f"user{i}", first_name="x" * 100)
    assert outbox_publish_pending().published == 120
    received = [events_of(m) for m in drain(sqs, topic.queue.url)]
    assert 1 < len(received) < 120  # packed, yet split by the budget
    assert all(len(m["Body"].encode()) <= 16 * 1024 for m in topic.queue.received)
    ids = [e.user_id for _, events in received for e in events]
    assert sorted(ids) == sorted(set(ids)) and len(ids) == 120


def test_on_a_fifo_topic_a_message_holds_one_users_events_in_order(
    settings, master_settings, prefix, sqs, moto_endpoint
) -> None:
    # Given a FIFO topic with a FIFO queue subscribed (raw delivery)
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn = sns.create_topic(Name=f"{prefix}-users.fifo", Attributes={"FifoTopic": "true"})[
        "TopicArn"
    ]
    url = sqs.create_queue(QueueName=f"{prefix}-shop.fifo", Attributes={"FifoQueue": "true"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(
        TopicArn=arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
    )
    settings.REACTIVE = replace(master_settings, topic_arn=arn)
    settings.REACTIVE_PUBLISH_BATCH = True
    users = [User.objects.create_user(f"u{i}") for i in range(2)]
    for name in ("A", "B"):
        for user in users:
            user.first_name = name
            user.save()

    # When the six events are published
    assert outbox_publish_pending().published == 6

    # Then each message holds one user's events (its group), in version order
    messages = drain(sqs, url)
    got = [(m["Attributes"]["MessageGroupId"], events_of(m)[1]) for m in messages]
    for group, events in got:
        assert {str(e.user_id) for e in events} == {group}
    per_user: dict[str, list[int]] = {}
    for group, events in got:
        per_user.setdefault(group, []).extend(e.version for e in events)
    assert per_user == {str(u.pk): [1, 2, 3] for u in users}
    assert sorted(len(events) for _, events in got) == [1, 1, 2, 2]
    assert {e.action for _, events in got for e in events} == {Action.CREATED, Action.UPDATED}
