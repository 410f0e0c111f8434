"""Provisioning, plan then apply: the SNS topic, and per client a queue, its DLQ, a subscription.

``plan_provision(desired, existing)`` is pure: it says for every resource whether it must be
created, updated (with the attribute diff) or is unchanged. ``read_existing`` is the I/O
that builds ``Existing``; ``apply_plan`` carries a plan out. ``ensure`` does all three.
Subscriptions are never re-subscribed to change attributes (AWS refuses that): their
attributes are compared and set one by one.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reactive_cli.config import (
    DEFAULT_MAX_RECEIVE_COUNT,
    DEFAULT_VISIBILITY_TIMEOUT_SECONDS,
    MAX_RECEIVE_COUNT_RANGE,
    VISIBILITY_TIMEOUT_RANGE,
    ClientConfig,
    Config,
)
from reactive_users.core import aws, naming
from reactive_users.core.aws import topics
from reactive_users.core.aws.queues import queue_url
from reactive_users.core.errors import AwsError, ConfigError, QueueNotFound, TopicNotFound
from reactive_users.core.settings import Settings

#: Dead letters are kept as long as SQS allows (14 days, in seconds), for the operator.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: Queues long-poll by default for SQS's longest wait, in seconds.
RECEIVE_WAIT_SECONDS = 20

__all__ = [
    "DEFAULT_MAX_RECEIVE_COUNT",
    "DEFAULT_VISIBILITY_TIMEOUT_SECONDS",
    "ClientSpec",
    "Desired",
    "Existing",
    "Plan",
    "Provisioned",
    "Step",
    "apply_plan",
    "ensure",
    "plan_provision",
    "read_existing",
]


@dataclass(frozen=True, kw_only=True)
class ClientSpec:
    """What one client's queue and subscription should look like."""

    name: str
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    visibility_timeout: int = DEFAULT_VISIBILITY_TIMEOUT_SECONDS
    #: The SNS filter policy as JSON; None delivers every event.
    filter_policy: str | None = None

    def __post_init__(self) -> None:
        naming.check_client_name(self.name)
        low, high = MAX_RECEIVE_COUNT_RANGE
        if not low <= self.max_receive_count <= high:
            raise ConfigError(f"max_receive_count must be within {low}..{high}")
        low, high = VISIBILITY_TIMEOUT_RANGE
        if not low <= self.visibility_timeout <= high:
            raise ConfigError(f"visibility_timeout must be within {low}..{high} seconds")

    @classmethod
    def from_config(cls, client: ClientConfig) -> ClientSpec:
        """The provisioning spec of a configured client."""
        return cls(
            name=client.name,
            max_receive_count=client.max_receive_count,
            visibility_timeout=client.visibility_timeout,
            filter_policy=client.filter_policy_json(),
        )


@dataclass(frozen=True, kw_only=True)
class Desired:
    """Everything provisioning should make exist."""

    prefix: str
    fifo: bool = False
    clients: tuple[ClientSpec, ...] = ()

    @classmethod
    def from_config(cls, config: Config, only: Iterable[str] = ()) -> Desired:
        """The desired state of ``config`` (only the clients named in ``only``, if any)."""
        names = set(only)
        chosen = [config.client(n) for n in sorted(names)] if names else config.clients
        specs = tuple(ClientSpec.from_config(c) for c in chosen)
        return cls(prefix=config.prefix, fifo=config.fifo, clients=specs)


@dataclass(frozen=True, kw_only=True)
class ExistingQueue:
    """A queue that exists: its URL and every attribute (``QueueArn`` included)."""

    url: str
    attributes: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class ExistingSubscription:
    """A topic subscription that exists: its ARN and attributes."""

    arn: str
    attributes: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class Existing:
    """What exists now, as far as the desired resources are concerned."""

    partition: str = "aws"
    region: str
    account: str
    topic_arn: str | None = None
    topic_attributes: Mapping[str, str] = field(default_factory=dict)
    #: By queue name (main queues and DLQs).
    queues: Mapping[str, ExistingQueue] = field(default_factory=dict)
    #: The topic's sqs subscriptions, by endpoint (the queue's ARN).
    subscriptions: Mapping[str, ExistingSubscription] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Step:
    """One resource in a plan and what to do with it."""

    action: str  # "create", "update", "unchanged" (teardown: "delete")
    resource: str  # "topic", "dlq", "queue", "subscription"
    name: str
    client: str = ""
    #: The ARN the resource has, or will have once created.
    arn: str = ""
    #: The existing resource's URL (queues) or ARN (topic, subscriptions); "" if none yet.
    target: str = ""
    #: create: every attribute to create with; update: the attributes that change.
    attributes: Mapping[str, str] = field(default_factory=dict)
    #: update: each changing attribute's current value (None: not set).
    before: Mapping[str, str | None] = field(default_factory=dict)

    @property
    def detail(self) -> str:
        """A short human description of what changes."""
        if self.action == "update":
            return "changes " + ", ".join(sorted(self.attributes))
        return ""

    def as_json(self) -> dict[str, Any]:
        """The step as plain data, for ``--json``."""
        data: dict[str, Any] = {
            "action": self.action,
            "resource": self.resource,
            "name": self.name,
            "client": self.client or None,
            "arn": self.arn,
        }
        if self.action == "update":
            data["diff"] = {
                k: {"before": self.before.get(k), "after": v} for k, v in self.attributes.items()
            }
        return data


@dataclass(frozen=True, kw_only=True)
class Plan:
    """Ordered steps: the topic, then per client its DLQ, queue and subscription."""

    topic_arn: str
    steps: tuple[Step, ...]

    @property
    def changes(self) -> tuple[Step, ...]:
        """The steps that create or update something."""
        return tuple(s for s in self.steps if s.action != "unchanged")

    def counts(self) -> dict[str, int]:
        """How many steps of each action."""
        return {
            a: sum(s.action == a for s in self.steps) for a in ("create", "update", "unchanged")
        }


@dataclass(frozen=True, kw_only=True)
class Provisioned:
    """The identifiers provisioning produced, and the plan it carried out."""

    topic_arn: str
    queue_urls: dict[str, str] = field(default_factory=dict)
    dlq_urls: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = None

    @property
    def changes(self) -> tuple[Step, ...]:
        """Every step of the plan carried out (unchanged ones included)."""
        return self.plan.steps if self.plan else ()

    def as_json(self) -> dict[str, Any]:
        """The produced identifiers as plain data."""
        clients = {
            n: {"queue_url": u, "dlq_url": self.dlq_urls.get(n)} for n, u in self.queue_urls.items()
        }
        return {"topic_arn": self.topic_arn, "clients": clients}


# --- pure: what each resource should look like, and the plan ------------------------------


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
            "topic", topic, arn=topic_arn, target=existing.topic_arn,
            desired=_fifo_dedup(desired.fifo), current=existing.topic_attributes,
            create_only={"FifoTopic": "true"} if desired.fifo else {},
        )
    ]  # fmt: skip
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
            "dlq", dlq, client=spec.name, arn=dlq_arn, target=found_dlq.url if found_dlq else None,
            desired=dlq_attributes(fifo=fifo), current=found_dlq.attributes if found_dlq else None,
            create_only=create_only,
        ),
        _step(
            "queue", queue, client=spec.name, arn=queue_arn,
            target=found_queue.url if found_queue else None, desired=wanted,
            current=found_queue.attributes if found_queue else None, create_only=create_only,
        ),
        _step(
            "subscription", queue, client=spec.name, arn=found_sub.arn if found_sub else "",
            target=found_sub.arn if found_sub else None, desired=sub_attributes,
            current=found_sub.attributes if found_sub else None,
        ),
    ]  # fmt: skip


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
            action="create", resource=resource, name=name, client=client, arn=arn,
            attributes=attributes,
        )  # fmt: skip
    changed = attribute_changes(desired, current)
    action = "update" if changed else "unchanged"
    before = {k: current.get(k) for k in changed}
    return Step(
        action=action, resource=resource, name=name, client=client, arn=arn, target=target,
        attributes=changed, before=before,
    )  # fmt: skip


# --- I/O: read what exists, apply a plan ---------------------------------------------------


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
        return Existing(partition=partition, region=settings.aws_region, account=account,
                        queues=queues)  # fmt: skip
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
            raise AwsError(f"CreateTopic {step.name} gave {arn}, the plan expected "
                           f"{plan.topic_arn}: run `reactive provision` again")  # fmt: skip
    for name, value in step.attributes.items() if step.action == "update" else ():
        with aws.map_aws_errors(f"SetTopicAttributes {step.name}"):
            sns.set_topic_attributes(TopicArn=step.target, AttributeName=name, AttributeValue=value)


def _apply_queue(settings: Settings, plan: Plan, step: Step, result: Provisioned) -> None:
    sqs = aws.client("sqs", settings)
    url = step.target
    if step.action == "create":
        with aws.map_aws_errors(f"CreateQueue {step.name}"):
            url = str(sqs.create_queue(QueueName=step.name, Attributes=dict(step.attributes))[
                "QueueUrl"
            ])  # fmt: skip
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
