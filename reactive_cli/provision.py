"""Provisioning: the SNS topic, and per client a queue, its dead-letter queue and a subscription.

The pure part says what each resource should look like (``queue_attributes``,
``queue_policy``) and what differs from what exists (``attribute_changes``); ``ensure``
is the I/O shell that reads, compares and creates or updates, idempotently. It never
re-subscribes to change attributes (AWS refuses that): it reads and sets them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactive_cli import aws, naming
from reactive_cli.errors import ConfigError, QueueNotFound
from reactive_cli.settings import Settings

logger = logging.getLogger(__name__)

#: Receives of one message before SQS moves it to the dead-letter queue.
DEFAULT_MAX_RECEIVE_COUNT = 5
#: Seconds a received message stays invisible to other listeners.
DEFAULT_VISIBILITY_TIMEOUT_SECONDS = 30
#: Dead letters are kept as long as SQS allows, for the operator to inspect.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: SQS bounds on the dead-letter threshold and visibility timeout.
MAX_RECEIVE_COUNT_RANGE = (1, 1000)
VISIBILITY_TIMEOUT_RANGE = (0, 12 * 3600)


@dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """What one client's queue should look like."""

    name: str
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS

    def __post_init__(self) -> None:
        naming.check_client_name(self.name)
        low, high = MAX_RECEIVE_COUNT_RANGE
        if not low <= self.max_receive_count <= high:
            raise ConfigError(f"max_receive_count must be within {low}..{high}")
        low, high = VISIBILITY_TIMEOUT_RANGE
        if not low <= self.visibility_timeout <= high:
            raise ConfigError(f"visibility_timeout must be within {low}..{high} seconds")


@dataclass(frozen=True)
class Change:
    """One thing provisioning did (or found already right)."""

    action: str  # "create", "update" or "unchanged"
    resource: str  # "topic", "queue", "dlq", "subscription"
    name: str
    detail: str = ""


@dataclass
class Provisioned:
    """The identifiers provisioning produced, and what it changed."""

    topic_arn: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)


def queue_policy(queue_arn: str, topic_arn: str) -> str:
    """A queue policy that lets only ``topic_arn`` send to the queue."""
    statement = {
        "Sid": "AllowTopicOnly",
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
    }
    return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, sort_keys=True)


def queue_attributes(
    spec: ClientSpec, *, queue_arn: str, topic_arn: str, dlq_arn: str
) -> dict[str, str]:
    """The attributes a client's main queue should have."""
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    return {
        "VisibilityTimeout": str(spec.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": "20",
        "RedrivePolicy": json.dumps(redrive, sort_keys=True),
        "Policy": queue_policy(queue_arn, topic_arn),
    }


def attribute_changes(desired: Mapping[str, str], existing: Mapping[str, str]) -> dict[str, str]:
    """The desired attributes whose existing value differs (JSON compared as data)."""
    return {k: v for k, v in desired.items() if not _same(v, existing.get(k))}


def _same(desired: str, existing: str | None) -> bool:
    if existing is None:
        return False
    if desired == existing:
        return True
    try:
        return bool(json.loads(desired) == json.loads(existing))
    except ValueError:
        return False


def ensure(settings: Settings, clients: Iterable[ClientSpec]) -> Provisioned:
    """Create or update the topic and every client's queues, idempotently."""
    sns = aws.client("sns", settings)
    topic = naming.topic_name(settings.prefix)
    with aws.map_aws_errors(f"CreateTopic {topic}"):
        topic_arn = str(sns.create_topic(Name=topic)["TopicArn"])
    result = Provisioned(topic_arn=topic_arn)
    result.changes.append(Change("unchanged", "topic", topic, topic_arn))
    subscriptions = _subscriptions(settings, topic_arn)
    for spec in clients:
        _ensure_client(settings, spec, result, subscriptions)
    return result


def _ensure_client(
    settings: Settings, spec: ClientSpec, result: Provisioned, subs: dict[str, str]
) -> None:
    dlq = naming.dlq_name(settings.prefix, spec.name)
    dlq_url, dlq_arn = _ensure_queue(
        settings, dlq, {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}, "dlq", result
    )
    name = naming.queue_name(settings.prefix, spec.name)
    url, arn = _ensure_queue(settings, name, {}, "queue", result)
    existing = _get_attributes(settings, url)
    desired = queue_attributes(spec, queue_arn=arn, topic_arn=result.topic_arn, dlq_arn=dlq_arn)
    changed = attribute_changes(desired, existing)
    if changed:
        with aws.map_aws_errors(f"SetQueueAttributes {name}"):
            aws.client("sqs", settings).set_queue_attributes(QueueUrl=url, Attributes=changed)
        result.changes.append(Change("update", "queue", name, ", ".join(sorted(changed))))
    result.queue_urls[spec.name] = url
    result.dlq_urls[spec.name] = dlq_url
    _ensure_subscription(settings, result, arn, name, subs)


def _ensure_queue(
    settings: Settings, name: str, attributes: dict[str, str], kind: str, result: Provisioned
) -> tuple[str, str]:
    sqs = aws.client("sqs", settings)
    try:
        url = aws.queue_url(settings, name)
        result.changes.append(Change("unchanged", kind, name))
    except QueueNotFound:
        with aws.map_aws_errors(f"CreateQueue {name}"):
            url = str(sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"])
        result.changes.append(Change("create", kind, name))
    return url, _get_attributes(settings, url)["QueueArn"]


def _get_attributes(settings: Settings, url: str) -> dict[str, str]:
    with aws.map_aws_errors(f"GetQueueAttributes {url}"):
        response = aws.client("sqs", settings).get_queue_attributes(
            QueueUrl=url, AttributeNames=["All"]
        )
    return dict(response.get("Attributes", {}))


def _subscriptions(settings: Settings, topic_arn: str) -> dict[str, str]:
    """Subscription ARN by endpoint (queue ARN) for the topic's sqs subscriptions."""
    found: dict[str, str] = {}
    sns = aws.client("sns", settings)
    with aws.map_aws_errors(f"ListSubscriptionsByTopic {topic_arn}"):
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn):
            for sub in page.get("Subscriptions", []):
                if sub.get("Protocol") == "sqs":
                    found[str(sub["Endpoint"])] = str(sub["SubscriptionArn"])
    return found


def _ensure_subscription(
    settings: Settings, result: Provisioned, queue_arn: str, name: str, subs: dict[str, str]
) -> None:
    sns = aws.client("sns", settings)
    sub_arn = subs.get(queue_arn)
    if sub_arn is None:
        with aws.map_aws_errors(f"Subscribe {name}"):
            sns.subscribe(
                TopicArn=result.topic_arn,
                Protocol="sqs",
                Endpoint=queue_arn,
                Attributes={"RawMessageDelivery": "true"},
                ReturnSubscriptionArn=True,
            )
        result.changes.append(Change("create", "subscription", name, "raw delivery"))
        return
    with aws.map_aws_errors(f"GetSubscriptionAttributes {name}"):
        attributes: dict[str, Any] = sns.get_subscription_attributes(SubscriptionArn=sub_arn)[
            "Attributes"
        ]
    if attributes.get("RawMessageDelivery") != "true":
        with aws.map_aws_errors(f"SetSubscriptionAttributes {name}"):
            sns.set_subscription_attributes(
                SubscriptionArn=sub_arn, AttributeName="RawMessageDelivery", AttributeValue="true"
            )
        result.changes.append(Change("update", "subscription", name, "RawMessageDelivery"))
    else:
        result.changes.append(Change("unchanged", "subscription", name))
