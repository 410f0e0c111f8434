"""Teardown: remove what provisioning created, subscriptions first, then queues, then the topic.

``plan_teardown(desired, existing)`` is pure and lists only what exists; ``apply_teardown``
deletes in that order. Subscriptions go before their queues: moto refuses every Publish to
a topic that still has a subscription whose queue is gone (TOOLCHAIN.md §1).
"""

from __future__ import annotations

from reactive_cli.provision import Desired, Existing, Step
from reactive_users.core import aws, naming
from reactive_users.core.errors import QueueNotFound
from reactive_users.core.settings import Settings


def plan_teardown(desired: Desired, existing: Existing) -> tuple[Step, ...]:
    """The delete steps for every desired resource that exists, in a safe order."""
    subs: list[Step] = []
    queues: list[Step] = []
    for spec in desired.clients:
        queue = naming.queue_name(desired.prefix, spec.name, fifo=desired.fifo)
        dlq = naming.dlq_name(desired.prefix, spec.name, fifo=desired.fifo)
        found = existing.queues.get(queue)
        if found is not None:
            sub = existing.subscriptions.get(found.attributes.get("QueueArn", ""))
            if sub is not None:
                subs.append(_delete("subscription", queue, spec.name, sub.arn))
            queues.append(_delete("queue", queue, spec.name, found.url))
        if dlq in existing.queues:
            queues.append(_delete("dlq", dlq, spec.name, existing.queues[dlq].url))
    topic = naming.topic_name(desired.prefix, fifo=desired.fifo)
    last = [_delete("topic", topic, "", existing.topic_arn)] if existing.topic_arn else []
    return (*subs, *queues, *last)


def _delete(resource: str, name: str, client: str, target: str) -> Step:
    return Step(action="delete", resource=resource, name=name, client=client, target=target)


def apply_teardown(settings: Settings, steps: tuple[Step, ...]) -> None:
    """Delete each resource in ``steps``, in order; one already gone is not an error."""
    sns, sqs = aws.client("sns", settings), aws.client("sqs", settings)
    for step in steps:
        try:
            with aws.map_aws_errors(f"delete {step.resource} {step.name}"):
                if step.resource == "subscription":
                    sns.unsubscribe(SubscriptionArn=step.target)
                elif step.resource == "topic":
                    sns.delete_topic(TopicArn=step.target)
                else:
                    sqs.delete_queue(QueueUrl=step.target)
        except QueueNotFound:
            pass  # removed meanwhile: what teardown wanted
