"""Publishing the outbox to SNS (moto over HTTP) and what arrives in a client's SQS queue."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.utils import timezone

from master.users.models import OutboxEvent
from master.users.services import outbox_publish_pending
from reactive_cli import aws
from reactive_cli.contract import DEFAULT_USER_FIELDS, Action, decode_sqs_body
from tests.master.forwarding import forwarding
from tests.support.processes import free_port

WIRE_KEYS = {"schema", "event_id", "action", "occurred_at", "user_id", "version", "changed",
             "synthetic", "user"}  # fmt: skip


def make_users(count: int) -> list[User]:
    return [User.objects.create_user(username=f"user{i}") for i in range(count)]


def pending() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(sent_at__isnull=True).order_by("id"))


@pytest.mark.django_db
def test_a_message_in_sqs_carries_the_allow_listed_fields_and_no_secret(topic) -> None:
    # Given a user with a password, groups, permissions and a last login
    user = User.objects.create_user("ana", "ana@example.com", "s3cret-pw", first_name="Ana")
    user.groups.add(Group.objects.create(name="editors"))
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    user.last_login = timezone.now()
    user.save()

    # When the outbox is published
    assert outbox_publish_pending().published == 1

    # Then the raw SQS body holds the envelope with exactly the allow-listed user fields
    [message] = topic.queue.receive(1)
    body = message["Body"]
    wire = json.loads(body)
    assert set(wire) == WIRE_KEYS
    assert set(wire["user"]) == set(DEFAULT_USER_FIELDS)
    assert decode_sqs_body(body).user_id == user.pk
    assert message["MessageAttributes"]["action"]["StringValue"] == "created"
    for secret in (user.password, "s3cret", "password", "last_login", "is_superuser",
                   "is_staff", "groups", "permissions", '"id"', '"pk"'):  # fmt: skip
        assert secret not in body


@pytest.mark.django_db
def test_publish_batch_sends_at_most_ten_events_per_call(topic, reactive) -> None:
    make_users(25)
    sizes: list[int] = []

    def count(params, **kwargs) -> None:
        sizes.append(len(params["PublishBatchRequestEntries"]))

    sns = aws.client("sns", reactive)  # the process's client, the one the relay uses
    sns.meta.events.register("before-parameter-build.sns.PublishBatch", count, "count-batches")
    try:
        report = outbox_publish_pending()
    finally:
        sns.meta.events.unregister(
            "before-parameter-build.sns.PublishBatch", count, "count-batches"
        )

    assert (report.published, report.failed) == (25, 0)
    assert sizes == [10, 10, 5]
    assert len(topic.queue.receive(25)) == 25
    assert pending() == []


@pytest.mark.django_db
def test_an_unreachable_sns_endpoint_leaves_rows_pending_until_it_answers(
    settings, reactive, topic, moto_endpoint
) -> None:
    # Given the SNS endpoint is a port where nothing listens
    port = free_port()
    settings.REACTIVE = replace(reactive, aws_endpoint_url=f"http://127.0.0.1:{port}")
    make_users(2)

    # When the relay runs, Then nothing is published and the rows keep the attempt and error
    report = outbox_publish_pending()
    assert (report.published, report.failed) == (0, 2)
    rows = pending()
    assert [r.attempts for r in rows] == [1, 1]
    assert all("unreachable" in r.last_error for r in rows)
    assert topic.queue.depth() == 0

    # When the endpoint answers on that port, Then the next run publishes each row once
    with forwarding(port, ("127.0.0.1", urlsplit(moto_endpoint).port or 80)):
        assert outbox_publish_pending().published == 2
        assert outbox_publish_pending().published == 0
    sent = OutboxEvent.objects.order_by("id")
    assert [(r.sent_at is not None, r.attempts) for r in sent] == [(True, 2), (True, 2)]
    received = {m["Body"] for m in topic.queue.receive(2)}
    assert received == {r.body for r in sent}
    assert topic.queue.depth() == 2


@pytest.mark.django_db
def test_a_topic_that_was_never_provisioned_keeps_rows_pending_with_the_reason() -> None:
    make_users(1)

    report = outbox_publish_pending()

    assert (report.published, report.failed) == (0, 1)
    [row] = pending()
    assert row.attempts == 1
    assert "run provisioning" in row.last_error


@pytest.mark.django_db
def test_the_sweep_leaves_rows_younger_than_its_minimum_age(topic) -> None:
    make_users(2)

    assert outbox_publish_pending(min_age=timedelta(hours=1)).published == 0
    assert [r.attempts for r in pending()] == [0, 0]
    assert outbox_publish_pending(min_age=timedelta(0)).published == 2


@pytest.mark.django_db
def test_a_fifo_topic_gets_the_user_as_group_and_the_event_as_deduplication_id(
    settings, reactive, prefix, sqs, moto_endpoint
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
    settings.REACTIVE = replace(reactive, topic_arn=arn)
    user = User.objects.create_user("ana")
    user.first_name = "Ana"
    user.save()

    # When the outbox is published
    assert outbox_publish_pending().published == 2

    # Then both arrive in version order, grouped by user, deduplicated by event id
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])[
        "Messages"
    ]
    events = [decode_sqs_body(m["Body"]) for m in messages]
    assert [(e.action, e.version) for e in events] == [(Action.CREATED, 1), (Action.UPDATED, 2)]
    assert {m["Attributes"]["MessageGroupId"] for m in messages} == {str(user.pk)}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in messages] == [
        str(e.event_id) for e in events
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_relays_running_at_once_never_publish_a_row_twice(topic) -> None:
    # Given 40 pending rows (on PostgreSQL the relays lock and skip rows; SQLite serialises)
    make_users(40)
    start = threading.Barrier(2)
    published: list[int] = []
    errors: list[BaseException] = []

    def relay() -> None:
        try:
            start.wait()
            while count := outbox_publish_pending(limit=5).published:
                published.append(count)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When two relays run at the same time in two threads
    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    # Then every row was published exactly once
    assert errors == []
    assert sum(published) == 40
    assert pending() == []
    bodies = [m["Body"] for m in topic.queue.receive(40)]
    assert len(bodies) == len(set(bodies)) == 40
    assert topic.queue.depth() == 40
