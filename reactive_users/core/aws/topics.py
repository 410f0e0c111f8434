"""SNS topics: finding the topic by name, and the SQS queues subscribed to it."""

from __future__ import annotations

from dataclasses import dataclass

from reactive_users.core import errors
from reactive_users.core.aws import client, map_aws_errors
from reactive_users.core.settings import Settings


def find_topic_arn(settings: Settings, name: str) -> str:
    """The ARN of the topic called ``name``; ``TopicNotFound`` if it does not exist."""
    sns = client("sns", settings)
    with map_aws_errors(f"ListTopics ({name})"):
        for page in sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                arn = str(topic["TopicArn"])
                if arn.rsplit(":", 1)[-1] == name:
                    return arn
    raise errors.TopicNotFound(f"topic {name} does not exist: run provisioning first")


@dataclass(frozen=True)
class Subscription:
    """One SQS subscription of a topic: its ARN and the subscribed queue's ARN."""

    arn: str
    queue_arn: str


def sqs_subscriptions(settings: Settings, topic_arn: str) -> list[Subscription]:
    """The topic's subscriptions whose protocol is ``sqs``, in SNS's order."""
    sns = client("sns", settings)
    with map_aws_errors(f"ListSubscriptionsByTopic {topic_arn}"):
        pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic_arn)
        return [
            Subscription(arn=str(sub["SubscriptionArn"]), queue_arn=str(sub["Endpoint"]))
            for page in pages
            for sub in page.get("Subscriptions", [])
            if sub.get("Protocol") == "sqs"
        ]
