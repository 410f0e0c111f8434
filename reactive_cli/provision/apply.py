"""Provisioning's I/O half: read what exists, carry a plan out, or both (``ensure``).

Subscriptions are never re-subscribed to change attributes (AWS refuses that): their
attributes are compared and set one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

from reactive_cli.provision.model import (
    ClientSpec,
    Desired,
    Existing,
    ExistingQueue,
    ExistingSubscription,
    Plan,
    Provisioned,
    Step,
)
from reactive_cli.provision.plan import plan_provision
from reactive_users.core import aws, naming
from reactive_users.core.aws import topics
from reactive_users.core.aws.queues import queue_url
from reactive_users.core.errors import AwsError, QueueNotFound, TopicNotFound
from reactive_users.core.settings import Settings


def read_existing(settings: Settings, desired: Desired) -> Existing:
    """Read the topic, the desired clients' queues and the topic's subscriptions."""
    topic = naming.topic_name(desired.prefix, fifo=desired.fifo)
    try:
        topic_arn: str | None = topics.find_topic_arn(settings, topic)
    except TopicNotFound:
        topic_arn = None
    queues: dict[str, ExistingQueue] = {}
    for spec in desired.clients:
        for name in (
            naming.dlq_name(desired.prefix, spec.name, fifo=desired.fifo),
            naming.queue_name(desired.prefix, spec.name, fifo=desired.fifo),
        ):
            found = _read_queue(settings, name)
            if found is not None:
                queues[name] = found
    partition, account = _account(settings, topic_arn, queues.values())
    if topic_arn is None:
        return Existing(
            partition=partition, region=settings.aws_region, account=account, queues=queues
        )
    return Existing(
        partition=partition,
        region=settings.aws_region,
        account=account,
        topic_arn=topic_arn,
        topic_attributes=_topic_attributes(settings, topic_arn),
        queues=queues,
        subscriptions=_subscriptions(settings, topic_arn),
    )


def _account(
    settings: Settings, topic_arn: str | None, queues: Iterable[ExistingQueue]
) -> tuple[str, str]:
    """(partition, account) from an ARN that exists, else from STS GetCallerIdentity."""
    for arn in [topic_arn, *(q.attributes.get("QueueArn") for q in queues)]:
        if arn:
            parts = arn.split(":")
            return parts[1], parts[4]
    return aws.caller_account(settings)


def _read_queue(settings: Settings, name: str) -> ExistingQueue | None:
    try:
        url = queue_url(settings, name)
    except QueueNotFound:
        return None
    return ExistingQueue(url=url, attributes=_queue_attributes(settings, url))


def _queue_attributes(settings: Settings, url: str) -> dict[str, str]:
    with aws.map_aws_errors(f"GetQueueAttributes {url}"):
        response = aws.client("sqs", settings).get_queue_attributes(
            QueueUrl=url, AttributeNames=["All"]
        )
    return dict(response.get("Attributes", {}))


def _topic_attributes(settings: Settings, topic_arn: str) -> dict[str, str]:
    with aws.map_aws_errors(f"GetTopicAttributes {topic_arn}"):
        response = aws.client("sns", settings).get_topic_attributes(TopicArn=topic_arn)
    return dict(response.get("Attributes", {}))


def _subscriptions(settings: Settings, topic_arn: str) -> dict[str, ExistingSubscription]:
    """The topic's sqs subscriptions with their attributes, by endpoint (queue ARN)."""
    sns = aws.client("sns", settings)
    found: dict[str, ExistingSubscription] = {}
    subscriptions = topics.sqs_subscriptions(settings, topic_arn)
    with aws.map_aws_errors(f"ListSubscriptionsByTopic {topic_arn}"):
        for sub in subscriptions:
            attributes = sns.get_subscription_attributes(SubscriptionArn=sub.arn)["Attributes"]
            found[sub.queue_arn] = ExistingSubscription(arn=sub.arn, attributes=dict(attributes))
    return found


def apply_plan(settings: Settings, plan: Plan) -> Provisioned:
    """Carry out ``plan`` step by step; returns the ARNs and URLs it produced."""
    result = Provisioned(topic_arn=plan.topic_arn, plan=plan)
    for step in plan.steps:
        _APPLY[step.resource](settings, plan, step, result)
    return result


def _apply_topic(settings: Settings, plan: Plan, step: Step, result: Provisioned) -> None:
    sns = aws.client("sns", settings)
    if step.action == "create":
        with aws.map_aws_errors(f"CreateTopic {step.name}"):
            arn = str(
                sns.create_topic(Name=step.name, Attributes=dict(step.attributes))["TopicArn"]
            )
        if arn != plan.topic_arn:
            raise AwsError(
                f"CreateTopic {step.name} gave {arn}, the plan expected "
                f"{plan.topic_arn}: run `reactive provision` again"
            )
    for name, value in step.attributes.items() if step.action == "update" else ():
        with aws.map_aws_errors(f"SetTopicAttributes {step.name}"):
            sns.set_topic_attributes(TopicArn=step.target, AttributeName=name, AttributeValue=value)


def _apply_queue(settings: Settings, plan: Plan, step: Step, result: Provisioned) -> None:
    sqs = aws.client("sqs", settings)
    url = step.target
    if step.action == "create":
        with aws.map_aws_errors(f"CreateQueue {step.name}"):
            url = str(
                sqs.create_queue(QueueName=step.name, Attributes=dict(step.attributes))["QueueUrl"]
            )
    elif step.action == "update":
        with aws.map_aws_errors(f"SetQueueAttributes {step.name}"):
            sqs.set_queue_attributes(QueueUrl=url, Attributes=dict(step.attributes))
    urls = result.dlq_urls if step.resource == "dlq" else result.queue_urls
    urls[step.client] = url


def _apply_subscription(settings: Settings, plan: Plan, step: Step, result: Provisioned) -> None:
    sns = aws.client("sns", settings)
    queue_arn = next(s.arn for s in plan.steps if s.resource == "queue" and s.name == step.name)
    if step.action == "create":
        with aws.map_aws_errors(f"Subscribe {step.name}"):
            sns.subscribe(
                TopicArn=plan.topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes=dict(step.attributes),
                ReturnSubscriptionArn=True,
            )
        return
    for name, value in step.attributes.items() if step.action == "update" else ():
        with aws.map_aws_errors(f"SetSubscriptionAttributes {step.name} {name}"):
            sns.set_subscription_attributes(
                SubscriptionArn=step.target, AttributeName=name, AttributeValue=value
            )


_APPLY = {
    "topic": _apply_topic,
    "dlq": _apply_queue,
    "queue": _apply_queue,
    "subscription": _apply_subscription,
}


def ensure(settings: Settings, clients: Iterable[ClientSpec], *, fifo: bool = False) -> Provisioned:
    """Plan and apply: the topic and every client's queues and subscription, idempotently."""
    desired = Desired(prefix=settings.prefix, fifo=fifo, clients=tuple(clients))
    return apply_plan(settings, plan_provision(desired, read_existing(settings, desired)))
