"""What provisioning works with, as plain data: the resources wanted (``Desired``), the
ones found (``Existing``), the steps between them (``Plan``) and what carrying them out gave
(``Provisioned``)."""

from __future__ import annotations

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
from reactive_users.core import naming
from reactive_users.core.errors import ConfigError

#: Dead letters are kept as long as SQS allows (14 days, in seconds), for the operator.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
#: Queues long-poll by default for SQS's longest wait, in seconds.
RECEIVE_WAIT_SECONDS = 20


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
