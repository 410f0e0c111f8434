"""plan_provision and plan_teardown: pure comparisons of desired and existing resources."""

from __future__ import annotations

import json

from reactive_cli.provision import (
    ClientSpec,
    Desired,
    Existing,
    ExistingQueue,
    ExistingSubscription,
    plan_provision,
    queue_attributes,
)
from reactive_cli.teardown import plan_teardown

ACCOUNT = {"region": "us-east-1", "account": "123456789012"}
TOPIC = "arn:aws:sns:us-east-1:123456789012:acme-users"
SQS = "arn:aws:sqs:us-east-1:123456789012"


def summary(plan) -> list[tuple[str, str, str]]:
    return [(s.action, s.resource, s.name) for s in plan.steps]


def provisioned(*names: str, policy: str | None = None) -> Existing:
    """What exists after provisioning ``names`` with default options."""
    queues, subs = {}, {}
    for name in names:
        spec = ClientSpec(name=name, filter_policy=policy)
        queue_arn, dlq_arn = f"{SQS}:acme-{name}", f"{SQS}:acme-{name}-dlq"
        attrs = queue_attributes(spec, queue_arn=queue_arn, topic_arn=TOPIC, dlq_arn=dlq_arn)
        queues[f"acme-{name}"] = ExistingQueue(
            url=f"http://q/acme-{name}", attributes={**attrs, "QueueArn": queue_arn}
        )
        queues[f"acme-{name}-dlq"] = ExistingQueue(
            url=f"http://q/acme-{name}-dlq",
            attributes={"MessageRetentionPeriod": "1209600", "QueueArn": dlq_arn},
        )
        sub = {"RawMessageDelivery": "true"} | ({"FilterPolicy": policy} if policy else {})
        subs[queue_arn] = ExistingSubscription(arn=f"{TOPIC}:sub-{name}", attributes=sub)
    return Existing(**ACCOUNT, topic_arn=TOPIC, queues=queues, subscriptions=subs)


def test_from_nothing_everything_is_created_with_arns_derived_from_the_account():
    plan = plan_provision(
        Desired(prefix="acme", clients=(ClientSpec(name="shop"),)), Existing(**ACCOUNT)
    )
    assert summary(plan) == [
        ("create", "topic", "acme-users"),
        ("create", "dlq", "acme-shop-dlq"),
        ("create", "queue", "acme-shop"),
        ("create", "subscription", "acme-shop"),
    ]
    assert plan.topic_arn == TOPIC
    queue = plan.steps[2]
    assert json.loads(queue.attributes["RedrivePolicy"]) == {
        "deadLetterTargetArn": f"{SQS}:acme-shop-dlq",
        "maxReceiveCount": 5,
    }
    statement = json.loads(queue.attributes["Policy"])["Statement"][0]
    assert statement["Resource"] == f"{SQS}:acme-shop"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": TOPIC}}
    assert plan.steps[3].attributes == {"RawMessageDelivery": "true"}


def test_what_already_matches_is_unchanged():
    plan = plan_provision(
        Desired(prefix="acme", clients=(ClientSpec(name="shop"),)), provisioned("shop")
    )
    assert {s.action for s in plan.steps} == {"unchanged"} and plan.changes == ()


def test_drift_becomes_an_update_with_the_attribute_diff():
    existing = provisioned("shop")
    queue = existing.queues["acme-shop"]
    drifted = ExistingQueue(
        url=queue.url, attributes={**queue.attributes, "VisibilityTimeout": "7"}
    )
    existing = Existing(
        **ACCOUNT,
        topic_arn=TOPIC,
        queues={**existing.queues, "acme-shop": drifted},
        subscriptions=existing.subscriptions,
    )
    (step,) = plan_provision(
        Desired(prefix="acme", clients=(ClientSpec(name="shop"),)), existing
    ).changes
    assert (step.action, step.resource, step.target) == ("update", "queue", "http://q/acme-shop")
    assert step.attributes == {"VisibilityTimeout": "30"} and step.before == {
        "VisibilityTimeout": "7"
    }
    assert step.as_json()["diff"] == {"VisibilityTimeout": {"before": "7", "after": "30"}}


def test_a_new_filter_policy_and_a_removed_one_are_subscription_updates():
    policy = '{"action":["created"]}'
    add = plan_provision(
        Desired(prefix="acme", clients=(ClientSpec(name="shop", filter_policy=policy),)),
        provisioned("shop"),
    ).changes
    remove = plan_provision(
        Desired(prefix="acme", clients=(ClientSpec(name="shop"),)),
        provisioned("shop", policy=policy),
    ).changes
    assert [(s.resource, dict(s.attributes)) for s in add] == [
        ("subscription", {"FilterPolicy": policy})
    ]
    assert [(s.resource, dict(s.attributes)) for s in remove] == [
        ("subscription", {"FilterPolicy": ""})
    ]


def test_adding_a_client_plans_only_that_clients_resources():
    desired = Desired(prefix="acme", clients=(ClientSpec(name="shop"), ClientSpec(name="blog")))
    assert [(s.action, s.name) for s in plan_provision(desired, provisioned("shop")).changes] == [
        ("create", "acme-blog-dlq"),
        ("create", "acme-blog"),
        ("create", "acme-blog"),
    ]


def test_fifo_names_and_creates_fifo_resources_without_content_based_deduplication():
    plan = plan_provision(
        Desired(prefix="acme", fifo=True, clients=(ClientSpec(name="shop"),)), Existing(**ACCOUNT)
    )
    topic, dlq, queue, _ = plan.steps
    assert (topic.name, dlq.name, queue.name) == (
        "acme-users.fifo",
        "acme-shop-dlq.fifo",
        "acme-shop.fifo",
    )
    assert topic.attributes == {"FifoTopic": "true", "ContentBasedDeduplication": "false"}
    assert queue.attributes["FifoQueue"] == "true"
    assert queue.attributes["ContentBasedDeduplication"] == "false"
    assert plan.topic_arn.endswith(":acme-users.fifo")


def test_teardown_removes_subscriptions_first_then_queues_then_the_topic():
    desired = Desired(prefix="acme", clients=(ClientSpec(name="shop"), ClientSpec(name="blog")))
    steps = plan_teardown(desired, provisioned("shop", "blog"))
    assert [(s.resource, s.name) for s in steps] == [
        ("subscription", "acme-shop"),
        ("subscription", "acme-blog"),
        ("queue", "acme-shop"),
        ("dlq", "acme-shop-dlq"),
        ("queue", "acme-blog"),
        ("dlq", "acme-blog-dlq"),
        ("topic", "acme-users"),
    ]
    assert plan_teardown(desired, Existing(**ACCOUNT)) == ()
