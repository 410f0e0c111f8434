"""Provisioning's pure half: what each resource should look like, and the plan to get there.

``plan_provision(desired, existing)`` says for every resource whether it must be created,
updated (with the attribute diff) or is unchanged; nothing here calls AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from reactive_cli.provision.model import (
    DLQ_RETENTION_SECONDS,
    RECEIVE_WAIT_SECONDS,
    ClientSpec,
    Desired,
    Existing,
    Plan,
    Step,
)
from reactive_users.core import naming


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
    spec: ClientSpec, *, queue_arn: str, topic_arn: str, dlq_arn: str, fifo: bool = False
) -> dict[str, str]:
    """The (changeable) attributes a client's main queue should have."""
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count}
    attributes = {
        "VisibilityTimeout": str(spec.visibility_timeout),
        "ReceiveMessageWaitTimeSeconds": str(RECEIVE_WAIT_SECONDS),
        "RedrivePolicy": json.dumps(redrive, sort_keys=True),
        "Policy": queue_policy(queue_arn, topic_arn),
    }
    return attributes | _fifo_dedup(fifo)


def dlq_attributes(*, fifo: bool = False) -> dict[str, str]:
    """The (changeable) attributes of a dead-letter queue."""
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)} | _fifo_dedup(fifo)


def subscription_attributes(spec: ClientSpec) -> dict[str, str]:
    """Raw delivery (the body is the event itself) and the client's filter policy."""
    return {"RawMessageDelivery": "true", "FilterPolicy": spec.filter_policy or ""}


def _fifo_dedup(fifo: bool) -> dict[str, str]:
    # The master sends the event id as deduplication id: content-based dedup stays off.
    return {"ContentBasedDeduplication": "false"} if fifo else {}


def attribute_changes(desired: Mapping[str, str], existing: Mapping[str, str]) -> dict[str, str]:
    """The desired attributes whose existing value differs (JSON compared as data)."""
    return {k: v for k, v in desired.items() if not _same(v, existing.get(k))}


def _same(desired: str, existing: str | None) -> bool:
    if desired == (existing or ""):
        return True
    if existing is None:
        return False
    try:
        return bool(json.loads(desired) == json.loads(existing))
    except ValueError:
        return False


def _arn(existing: Existing, service: str, name: str) -> str:
    return f"arn:{existing.partition}:{service}:{existing.region}:{existing.account}:{name}"


def plan_provision(desired: Desired, existing: Existing) -> Plan:
    """Compare ``desired`` with ``existing``: the steps that make them equal, in order."""
    topic = naming.topic_name(desired.prefix, fifo=desired.fifo)
    topic_arn = existing.topic_arn or _arn(existing, "sns", topic)
    steps = [
        _step(
            "topic",
            topic,
            arn=topic_arn,
            target=existing.topic_arn,
            desired=_fifo_dedup(desired.fifo),
            current=existing.topic_attributes,
            create_only={"FifoTopic": "true"} if desired.fifo else {},
        )
    ]
    for spec in desired.clients:
        steps += _client_steps(desired, existing, spec, topic_arn)
    return Plan(topic_arn=topic_arn, steps=tuple(steps))


def _client_steps(
    desired: Desired, existing: Existing, spec: ClientSpec, topic_arn: str
) -> list[Step]:
    fifo = desired.fifo
    create_only = {"FifoQueue": "true"} if fifo else {}
    dlq = naming.dlq_name(desired.prefix, spec.name, fifo=fifo)
    queue = naming.queue_name(desired.prefix, spec.name, fifo=fifo)
    dlq_arn, queue_arn = _arn(existing, "sqs", dlq), _arn(existing, "sqs", queue)
    wanted = queue_attributes(
        spec, queue_arn=queue_arn, topic_arn=topic_arn, dlq_arn=dlq_arn, fifo=fifo
    )
    found_dlq, found_queue = existing.queues.get(dlq), existing.queues.get(queue)
    found_sub = existing.subscriptions.get(queue_arn)
    sub_attributes = subscription_attributes(spec)
    if found_sub is None and not spec.filter_policy:
        del sub_attributes["FilterPolicy"]  # nothing to create it with
    return [
        _step(
            "dlq",
            dlq,
            client=spec.name,
            arn=dlq_arn,
            target=found_dlq.url if found_dlq else None,
            desired=dlq_attributes(fifo=fifo),
            current=found_dlq.attributes if found_dlq else None,
            create_only=create_only,
        ),
        _step(
            "queue",
            queue,
            client=spec.name,
            arn=queue_arn,
            target=found_queue.url if found_queue else None,
            desired=wanted,
            current=found_queue.attributes if found_queue else None,
            create_only=create_only,
        ),
        _step(
            "subscription",
            queue,
            client=spec.name,
            arn=found_sub.arn if found_sub else "",
            target=found_sub.arn if found_sub else None,
            desired=sub_attributes,
            current=found_sub.attributes if found_sub else None,
        ),
    ]


def _step(
    resource: str,
    name: str,
    *,
    arn: str,
    target: str | None,
    desired: Mapping[str, str],
    current: Mapping[str, str] | None,
    create_only: Mapping[str, str] | None = None,
    client: str = "",
) -> Step:
    if not target or current is None:
        attributes = {**(create_only or {}), **desired}
        return Step(
            action="create",
            resource=resource,
            name=name,
            client=client,
            arn=arn,
            attributes=attributes,
        )
    changed = attribute_changes(desired, current)
    action = "update" if changed else "unchanged"
    before = {k: current.get(k) for k in changed}
    return Step(
        action=action,
        resource=resource,
        name=name,
        client=client,
        arn=arn,
        target=target,
        attributes=changed,
        before=before,
    )
