"""Publishing the outbox to SNS (moto over HTTP) and what arrives in a client's SQS queue."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

import boto3
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.utils import timezone

from devstack.processes import free_port, until
from reactive_users.core import aws
from reactive_users.core.contract import DEFAULT_USER_FIELDS, Action, decode_sqs_body
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay.claims import CLAIM_SECONDS
from reactive_users.master.relay.outbox import outbox_claim, outbox_settle
from reactive_users.master.relay.publish import PublishReport, outbox_publish_pending
from reactive_users.master.relay.sns import outbox_publish_claim
from tests.master.forwarding import black_hole, forwarding

WIRE_KEYS = {
    "schema",
    "event_id",
    "action",
    "occurred_at",
    "user_id",
    "version",
    "changed",
    "synthetic",
    "user",
}


def make_users(count: int) -> list[User]:
    return [User.objects.create_user(username=f"user{i}") for i in range(count)]


def pending() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(sent_at__isnull=True).order_by("id"))


def claimed() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(claim__isnull=False).order_by("id"))


def claim_by_another_relay(user: User, *, expires_in: timedelta) -> uuid.UUID:
    """Mark the user's rows as another relay run's claim, expiring ``expires_in`` from now."""
    token = uuid.uuid4()
    OutboxEvent.objects.filter(user_id=user.pk).update(
        claim=token, claimed_until=timezone.now() + expires_in
    )
    return token


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
    for secret in (
        user.password,
        "s3cret",
        "password",
        "last_login",
        "is_superuser",
        "is_staff",
        "groups",
        "permissions",
        '"id"',
        '"pk"',
    ):
        assert secret not in body


@pytest.mark.django_db
def test_publish_batch_sends_at_most_ten_events_per_call(topic, master_settings) -> None:
    make_users(25)
    sizes: list[int] = []

    def count(params, **kwargs) -> None:
        sizes.append(len(params["PublishBatchRequestEntries"]))

    sns = aws.client("sns", master_settings)  # the process's client, the one the relay uses
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
    settings, master_settings, topic, moto_endpoint
) -> None:
    # Given the SNS endpoint is a port where nothing listens
    port = free_port()
    settings.REACTIVE = replace(master_settings, aws_endpoint_url=f"http://127.0.0.1:{port}")
    make_users(2)

    # When the relay runs, Then nothing is published and the rows keep the attempt, the
    # error, and when they are due again
    report = outbox_publish_pending()
    assert (report.published, report.failed) == (0, 2)
    rows = pending()
    assert [r.attempts for r in rows] == [1, 1]
    assert all("unreachable" in r.last_error for r in rows)
    assert all(r.retry_at is not None for r in rows)
    assert claimed() == []  # released: a run after their backoff retries them
    assert topic.queue.depth() == 0

    # When the endpoint answers on that port and the backoff is over, Then the next run
    # publishes each row once
    with forwarding(port, ("127.0.0.1", urlsplit(moto_endpoint).port or 80)):
        OutboxEvent.objects.update(retry_at=timezone.now())  # as if the backoff ran out
        assert outbox_publish_pending().published == 2
        assert outbox_publish_pending().published == 0
    sent = OutboxEvent.objects.order_by("id")
    assert [(r.sent_at is not None, r.attempts, r.retry_at) for r in sent] == [
        (True, 2, None),
        (True, 2, None),
    ]
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
    assert (row.claim, row.claimed_until) == (None, None)


@pytest.mark.django_db
def test_the_sweep_leaves_rows_younger_than_its_minimum_age(topic) -> None:
    make_users(2)

    assert outbox_publish_pending(min_age=timedelta(hours=1)).published == 0
    assert [r.attempts for r in pending()] == [0, 0]
    assert outbox_publish_pending(min_age=timedelta(0)).published == 2


@pytest.mark.django_db
def test_a_fifo_topic_gets_the_user_as_group_and_the_event_as_deduplication_id(
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


#: A topic ARN that needs no lookup, so the relay's first call is its PublishBatch.
UNANSWERED_TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:never-answers"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_save_completes_while_a_relay_waits_on_an_sns_that_never_answers(
    settings, master_settings
) -> None:
    # Given two pending rows, and SNS at an endpoint that accepts connections and never answers
    make_users(2)
    reports: list[PublishReport] = []

    def relay() -> None:
        try:
            reports.append(outbox_publish_pending())
        finally:
            connection.close()

    with black_hole() as sns:
        endpoint = f"http://127.0.0.1:{sns.port}"
        settings.REACTIVE = replace(
            master_settings, aws_endpoint_url=endpoint, topic_arn=UNANSWERED_TOPIC_ARN
        )
        thread = threading.Thread(target=relay)
        thread.start()
        # When the relay is inside its PublishBatch call, and a user is saved meanwhile
        until(lambda: sns.connections, what="the relay's connection to SNS")
        user = User.objects.create_user("saved-meanwhile")

        # Then the save committed while the relay still waits on SNS, holding only its claim
        assert thread.is_alive()
        assert [r.user_id for r in claimed()] == [r.user_id for r in pending()[:2]]
        new = OutboxEvent.objects.get(user_id=user.pk)
        assert (new.sent_at, new.claim) == (None, None)
    thread.join(15)

    # And when SNS hangs up, the relay keeps the rows pending, unclaimed, with the error
    assert not thread.is_alive()
    assert [(r.published, r.failed) for r in reports] == [(0, 2)]
    assert [r.attempts for r in pending()] == [1, 1, 0]
    assert claimed() == []


@pytest.mark.django_db
def test_a_relay_takes_over_an_expired_claim_and_leaves_a_live_one_alone(topic) -> None:
    # Given rows of a dead relay (claim expired), of a running relay (claim live), and free rows
    dead, running, free = make_users(3)
    claim_by_another_relay(dead, expires_in=timedelta(seconds=-1))
    live = claim_by_another_relay(running, expires_in=timedelta(seconds=CLAIM_SECONDS))

    # When a relay runs
    report = outbox_publish_pending()

    # Then it publishes the expired claim's row and the free one, and not the live claim's
    assert (report.published, report.failed) == (2, 0)
    [row] = pending()
    assert (row.user_id, row.claim, row.attempts) == (running.pk, live, 0)
    published = {decode_sqs_body(m["Body"]).user_id for m in topic.queue.receive(2)}
    assert published == {dead.pk, free.pk}
    assert topic.queue.depth() == 2


@pytest.mark.django_db
def test_a_relay_whose_claim_expired_before_recording_leaves_the_rows_to_the_next_relay(
    topic, caplog
) -> None:
    # Given a relay that claimed a row and published it, but recorded nothing before its
    # claim expired, and a second relay that took the row over after the expiry
    [user] = make_users(1)
    slow = outbox_claim(limit=10, now=timezone.now())
    slow_outcome = outbox_publish_claim(claim=slow)
    later = timezone.now() + timedelta(seconds=CLAIM_SECONDS + 1)
    takeover = outbox_claim(limit=10, now=later)
    assert [r.id for r in takeover.rows] == [r.id for r in slow.rows]

    # When the first relay records its outcome
    with caplog.at_level(logging.WARNING, logger="reactive_users.master.services"):
        outbox_settle(claim=slow, outcome=slow_outcome)

    # Then the row is still the second relay's, which publishes it again (at-least-once)
    assert slow_outcome.sent == [slow.rows[0].id]
    [row] = pending()
    assert (row.claim, row.attempts) == (takeover.token, 0)
    assert "will be published again" in caplog.text
    outbox_settle(claim=takeover, outcome=outbox_publish_claim(claim=takeover))
    assert pending() == [] and claimed() == []
    bodies = [m["Body"] for m in topic.queue.receive(2)]
    assert {decode_sqs_body(b).user_id for b in bodies} == {user.pk}
    assert topic.queue.depth() == 2


@pytest.mark.django_db
def test_a_claim_too_close_to_expiry_makes_no_call_and_releases_its_rows_untouched(
    topic,
) -> None:
    # Given a claim taken so long ago that an SNS call might outlast it
    make_users(3)
    claim = outbox_claim(limit=10, now=timezone.now() - timedelta(seconds=CLAIM_SECONDS - 1))

    # When the relay publishes and records it
    outcome = outbox_publish_claim(claim=claim)
    outbox_settle(claim=claim, outcome=outcome)

    # Then nothing was sent and nothing counted as an attempt; the next run takes the rows
    assert (outcome.sent, outcome.failures) == ([], {})
    assert [(r.attempts, r.last_error, r.claim) for r in pending()] == [(0, "", None)] * 3
    assert outbox_publish_pending().published == 3
    assert topic.queue.depth() == 3


@pytest.mark.django_db(transaction=True)
def test_the_relay_refuses_to_run_inside_a_transaction_that_would_hold_its_locks() -> None:
    make_users(1)

    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        outbox_publish_pending()

    assert claimed() == []
