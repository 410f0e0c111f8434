"""Provisioning against moto's SNS/SQS server over HTTP: create, repeat, repair, tear down."""

from __future__ import annotations

import json

import boto3
import pytest

from devstack.processes import until
from reactive_cli.provision import (
    ClientSpec,
    Desired,
    apply_plan,
    ensure,
    plan_provision,
    read_existing,
)
from reactive_cli.teardown import apply_teardown, plan_teardown
from reactive_users.core import errors, resources
from reactive_users.core.aws import queues, topics
from reactive_users.core.settings import Settings


@pytest.fixture
def settings(moto_endpoint: str, prefix: str) -> Settings:
    return Settings(prefix=prefix, aws_endpoint_url=moto_endpoint)


def actions(result) -> list[tuple[str, str, str]]:
    return [(c.action, c.resource, c.name) for c in result.changes]


def test_provision_from_empty_creates_topic_queues_policy_redrive_and_raw_subscription(settings):
    p = settings.prefix
    result = ensure(settings, [ClientSpec(name="shop", max_receive_count=3)])

    assert actions(result) == [
        ("create", "topic", f"{p}-users"),
        ("create", "dlq", f"{p}-shop-dlq"),
        ("create", "queue", f"{p}-shop"),
        ("create", "subscription", f"{p}-shop"),
    ]
    assert result.topic_arn == f"arn:aws:sns:us-east-1:123456789012:{p}-users"
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    attrs = sqs.get_queue_attributes(QueueUrl=result.queue_urls["shop"], AttributeNames=["All"])[
        "Attributes"
    ]
    dlq_attrs = sqs.get_queue_attributes(
        QueueUrl=result.dlq_urls["shop"], AttributeNames=["QueueArn"]
    )["Attributes"]
    dlq_arn = dlq_attrs["QueueArn"]
    assert json.loads(attrs["RedrivePolicy"]) == {
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": 3,
    }
    statement = json.loads(attrs["Policy"])["Statement"][0]
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": result.topic_arn}}
    assert statement["Resource"] == attrs["QueueArn"]
    sns = boto3.client("sns", endpoint_url=settings.aws_endpoint_url)
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=result.topic_arn)["Subscriptions"]
    sub_attrs = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert sub_attrs["Attributes"]["RawMessageDelivery"] == "true"


def test_provisioning_twice_changes_nothing_the_second_time(settings):
    ensure(settings, [ClientSpec(name="shop"), ClientSpec(name="blog")])
    again = ensure(settings, [ClientSpec(name="shop"), ClientSpec(name="blog")])
    assert {c.action for c in again.changes} == {"unchanged"}


def test_drifted_queue_and_subscription_attributes_are_repaired_in_place(settings):
    first = ensure(settings, [ClientSpec(name="shop")])
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    sqs.set_queue_attributes(
        QueueUrl=first.queue_urls["shop"], Attributes={"VisibilityTimeout": "7"}
    )
    sns = boto3.client("sns", endpoint_url=settings.aws_endpoint_url)
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]
    sns.set_subscription_attributes(
        SubscriptionArn=sub["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="false",
    )

    second = ensure(settings, [ClientSpec(name="shop")])

    assert ("update", "queue", f"{settings.prefix}-shop") in actions(second)
    assert ("update", "subscription", f"{settings.prefix}-shop") in actions(second)
    attrs = sqs.get_queue_attributes(
        QueueUrl=first.queue_urls["shop"], AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert attrs["VisibilityTimeout"] == "30"
    assert {c.action for c in ensure(settings, [ClientSpec(name="shop")]).changes} == {"unchanged"}


def test_adding_a_client_adds_only_that_client(settings):
    ensure(settings, [ClientSpec(name="shop")])
    result = ensure(settings, [ClientSpec(name="shop"), ClientSpec(name="blog")])
    created = {c.name for c in result.changes if c.action == "create"}
    assert created == {f"{settings.prefix}-blog", f"{settings.prefix}-blog-dlq"}


def test_a_missing_queue_is_queue_not_found_with_the_aws_code(settings):
    with pytest.raises(errors.QueueNotFound) as info:
        queues.queue_url(settings, f"{settings.prefix}-nope")
    assert info.value.code == "AWS.SimpleQueueService.NonExistentQueue"


def test_a_missing_topic_says_to_provision_first(settings):
    with pytest.raises(errors.TopicNotFound, match="run provisioning first"):
        topics.find_topic_arn(settings, f"{settings.prefix}-users")


def test_an_endpoint_that_does_not_answer_is_endpoint_unreachable():
    from devstack.processes import free_port

    dead = Settings(aws_endpoint_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(errors.EndpointUnreachable, match="endpoint unreachable"):
        queues.queue_url(dead, "anything")


def test_invalid_client_specs_name_the_bound():
    with pytest.raises(errors.ConfigError, match=r"within 1\.\.1000"):
        ClientSpec(name="shop", max_receive_count=0)


def test_a_second_plan_reports_no_changes_and_the_ids_match_what_apply_produced(settings):
    desired = Desired(prefix=settings.prefix, clients=(ClientSpec(name="shop"),))
    first = apply_plan(settings, plan_provision(desired, read_existing(settings, desired)))
    again = plan_provision(desired, read_existing(settings, desired))
    assert again.changes == ()
    assert again.topic_arn == first.topic_arn
    assert [s.arn for s in again.steps if s.resource == "queue"] == [
        sqs_attribute(settings, first.queue_urls["shop"], "QueueArn")
    ]


def test_a_drifted_filter_policy_is_set_back_without_resubscribing(settings):
    policy = '{"action":["created","updated"]}'
    first = ensure(settings, [ClientSpec(name="shop", filter_policy=policy)])
    sns = boto3.client("sns", endpoint_url=settings.aws_endpoint_url)
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]
    sns.set_subscription_attributes(
        SubscriptionArn=sub["SubscriptionArn"],
        AttributeName="FilterPolicy",
        AttributeValue='{"action":["deleted"]}',
    )

    second = ensure(settings, [ClientSpec(name="shop", filter_policy=policy)])

    (change,) = [c for c in second.changes if c.action != "unchanged"]
    assert (change.resource, dict(change.attributes)) == ("subscription", {"FilterPolicy": policy})
    (after,) = sns.list_subscriptions_by_topic(TopicArn=first.topic_arn)["Subscriptions"]
    assert after["SubscriptionArn"] == sub["SubscriptionArn"]
    attributes = sns.get_subscription_attributes(SubscriptionArn=sub["SubscriptionArn"])
    assert json.loads(attributes["Attributes"]["FilterPolicy"]) == json.loads(policy)


def test_fifo_provisioning_keeps_one_users_events_in_order(settings):
    result = ensure(settings, [ClientSpec(name="shop")], fifo=True)
    assert result.topic_arn.endswith(f"{settings.prefix}-users.fifo")
    assert result.queue_urls["shop"].endswith(f"{settings.prefix}-shop.fifo")
    sns = boto3.client("sns", endpoint_url=settings.aws_endpoint_url)
    bodies = [f"user-7-v{v}" for v in range(1, 9)]
    for body in bodies:  # what the master sends: group = user id, dedup id = event id
        sns.publish(
            TopicArn=result.topic_arn,
            Message=body,
            MessageGroupId="7",
            MessageDeduplicationId=f"event-{body}",
        )

    received = receive_all(settings, result.queue_urls["shop"], len(bodies))

    assert received == bodies
    assert (
        sqs_attribute(settings, result.queue_urls["shop"], "ContentBasedDeduplication") == "false"
    )


def test_teardown_removes_every_resource_subscriptions_first(settings):
    desired = Desired(
        prefix=settings.prefix, clients=(ClientSpec(name="shop"), ClientSpec(name="blog"))
    )
    ensure(settings, desired.clients)
    steps = plan_teardown(desired, read_existing(settings, desired))
    assert [s.resource for s in steps][:2] == ["subscription", "subscription"]

    apply_teardown(settings, steps)

    assert plan_teardown(desired, read_existing(settings, desired)) == ()
    assert {s.action for s in plan_provision(desired, read_existing(settings, desired)).steps} == {
        "create"
    }


def sqs_attribute(settings, url: str, name: str) -> str:
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[name])["Attributes"][name])


def receive_all(settings, url: str, count: int) -> list[str]:
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    received: list[str] = []

    def more() -> bool:
        response = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in response.get("Messages", []):
            received.append(message["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(received) >= count

    until(more, what=f"{count} messages in {url}")
    return received


def test_a_queues_dead_letter_queue_is_found_from_its_redrive_policy(settings):
    result = ensure(settings, [ClientSpec(name="shop", max_receive_count=3)])
    policy = queues.redrive_policy(settings, result.queue_urls["shop"])
    assert policy is not None
    assert (policy.dead_letter_url, policy.max_receive_count) == (result.dlq_urls["shop"], 3)
    assert policy.dead_letter_arn.endswith(f":{settings.prefix}-shop-dlq") and not policy.fifo
    # a dead-letter queue has no dead-letter queue of its own
    assert queues.redrive_policy(settings, result.dlq_urls["shop"]) is None


def test_a_clients_queue_url_is_the_given_one_else_the_recorded_one_else_found_by_name(
    settings, tmp_path
):
    result = ensure(settings, [ClientSpec(name="shop")])
    here = Settings(
        prefix=settings.prefix, aws_endpoint_url=settings.aws_endpoint_url, state_dir=tmp_path
    )
    # nothing recorded in tmp_path: looked up by name
    assert queues.client_queue_url(here, "shop") == result.queue_urls["shop"]
    assert queues.client_queue_url(here, "shop", dead_letters=True) == result.dlq_urls["shop"]
    assert queues.client_queue_url(here, "shop", explicit="http://given/q") == "http://given/q"
    recorded = {"queue_url": "http://recorded/q", "dlq_url": "http://recorded/q-dlq"}
    produced = {"topic_arn": result.topic_arn, "clients": {"shop": recorded}}
    where = {"endpoint_url": settings.aws_endpoint_url, "region": settings.aws_region}
    resources.record(tmp_path, settings.prefix, produced, **where)
    assert queues.client_queue_url(here, "shop") == "http://recorded/q"
    assert queues.client_queue_url(here, "shop", dead_letters=True) == "http://recorded/q-dlq"
    with pytest.raises(errors.QueueNotFound, match="run `reactive provision`"):
        queues.client_queue_url(here, "blog")


def test_a_queue_url_is_found_from_its_arn_and_a_non_queue_arn_is_refused(settings):
    result = ensure(settings, [ClientSpec(name="shop")])
    sqs = boto3.client("sqs", endpoint_url=settings.aws_endpoint_url)
    arn = sqs.get_queue_attributes(QueueUrl=result.queue_urls["shop"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    assert queues.queue_url_of_arn(settings, arn) == result.queue_urls["shop"]
    with pytest.raises(errors.InvalidRequest, match="not an SQS queue ARN"):
        queues.queue_url_of_arn(settings, result.topic_arn)
