"""SQS queues: THE queue-URL resolver, a queue's redrive policy and depth, batch entries and
what SQS or SNS answered to a batch.

Queue URLs are resolved here and nowhere else: ``queue_url`` (GetQueueUrl by name, or by
ARN with ``queue_url_of_arn``) and ``client_queue_url`` (a client's queue or dead-letter
queue: given, else recorded by provisioning, else by name). Whether a queue is FIFO follows
from the topic, one way (``is_fifo``): a FIFO topic delivers only to FIFO queues.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reactive_users.core import errors, naming, resources
from reactive_users.core.aws import client, map_aws_errors
from reactive_users.core.settings import Settings

#: SendMessageBatch and PublishBatch take at most 10 entries per call.
MAX_BATCH_ENTRIES = 10


def is_fifo(name_or_arn: str | None) -> bool:
    """Whether the topic or queue named by ``name_or_arn`` (a name, ARN or URL) is FIFO."""
    return bool(name_or_arn) and str(name_or_arn).endswith(".fifo")


def queue_url(settings: Settings, name: str, *, account: str | None = None) -> str:
    """The URL of the queue called ``name`` (owned by ``account``, default the caller's);
    ``QueueNotFound`` if it does not exist."""
    extra = {"QueueOwnerAWSAccountId": account} if account else {}
    try:
        with map_aws_errors(f"GetQueueUrl {name}"):
            answer = client("sqs", settings).get_queue_url(QueueName=name, **extra)
            return str(answer["QueueUrl"])
    except errors.QueueNotFound as exc:
        raise errors.QueueNotFound(
            f"queue {name} does not exist: run `reactive provision`", code=exc.code
        ) from exc


def queue_url_of_arn(settings: Settings, arn: str) -> str:
    """The URL of the queue whose ARN is ``arn`` (``arn:aws:sqs:REGION:ACCOUNT:NAME``)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise errors.InvalidRequest(f"not an SQS queue ARN: {arn!r}", code="InvalidArn")
    return queue_url(settings, parts[5], account=parts[4])


def client_queue_url(
    settings: Settings,
    client: str,
    *,
    dead_letters: bool = False,
    fifo: bool | None = None,
    explicit: str | None = None,
) -> str:
    """A client's queue (or its dead-letter queue): ``explicit`` (REACTIVE_QUEUE_URL), else
    what provisioning recorded (``reactive_users.core.resources``), else looked up by name
    (``QueueNotFound``, exit 5, if it was never provisioned). The name is a FIFO queue's if
    ``fifo``, or (None) if the configured topic is FIFO."""
    if explicit:
        return explicit
    entry = (
        resources.stack(
            settings.state_dir,
            settings.prefix,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
        )
        or {}
    )
    key = "dlq_url" if dead_letters else "queue_url"
    recorded = entry.get("clients", {}).get(naming.check_client_name(client), {}).get(key)
    if recorded:
        return str(recorded)
    if fifo is None:
        fifo = is_fifo(settings.topic_arn)
    name_of = naming.dlq_name if dead_letters else naming.queue_name
    return queue_url(settings, name_of(settings.prefix, client, fifo=fifo))


@dataclass(frozen=True)
class RedrivePolicy:
    """Where SQS moves a queue's messages after ``max_receive_count`` receives."""

    dead_letter_url: str
    dead_letter_arn: str
    max_receive_count: int

    @property
    def fifo(self) -> bool:
        """Whether the dead-letter queue is a FIFO queue."""
        return is_fifo(self.dead_letter_arn)


def redrive_policy(settings: Settings, url: str) -> RedrivePolicy | None:
    """The redrive policy of the queue at ``url``, its dead-letter queue's URL resolved;
    None if the queue has none. ``ValueError`` if the policy is not what SQS writes."""
    with map_aws_errors(f"GetQueueAttributes {url}"):
        answer = client("sqs", settings).get_queue_attributes(
            QueueUrl=url, AttributeNames=["RedrivePolicy"]
        )
    raw = answer.get("Attributes", {}).get("RedrivePolicy")
    if not raw:
        return None
    try:
        policy = json.loads(raw)
        arn, count = str(policy["deadLetterTargetArn"]), int(policy["maxReceiveCount"])
    except (KeyError, TypeError) as exc:
        raise ValueError(f"RedrivePolicy of {url} is not SQS's: {raw!r}") from exc
    return RedrivePolicy(
        dead_letter_url=queue_url_of_arn(settings, arn),
        dead_letter_arn=arn,
        max_receive_count=count,
    )


#: GetQueueAttributes' names for a queue's messages: waiting to be received (visible),
#: received and not yet deleted (in flight), and sent with a delay not yet over.
VISIBLE = "ApproximateNumberOfMessages"
IN_FLIGHT = "ApproximateNumberOfMessagesNotVisible"
DELAYED = "ApproximateNumberOfMessagesDelayed"
DEPTH_ATTRIBUTES = (VISIBLE, IN_FLIGHT, DELAYED)


@dataclass(frozen=True)
class QueueDepth:
    """How many messages an SQS queue holds, as SQS approximates them."""

    visible: int
    in_flight: int
    delayed: int = 0

    @property
    def total(self) -> int:
        """Every message the queue holds: visible, in flight and delayed."""
        return self.visible + self.in_flight + self.delayed

    @classmethod
    def parse(cls, attributes: Mapping[str, str]) -> QueueDepth:
        """The depth in a GetQueueAttributes answer (an attribute it lacks counts 0);
        ``ValueError`` if one is not a number."""
        return cls(*(int(attributes.get(name, 0)) for name in DEPTH_ATTRIBUTES))


def queue_depth(sqs: Any, url: str) -> QueueDepth:
    """One GetQueueAttributes call for the depth of the queue at ``url``, through ``sqs``
    (a boto3 SQS client); its errors mapped as ``map_aws_errors`` maps them."""
    with map_aws_errors(f"GetQueueAttributes {url}"):
        answer = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=list(DEPTH_ATTRIBUTES))
    return QueueDepth.parse(answer.get("Attributes", {}))


def batch_entry(
    entry_id: str,
    body: str,
    attributes: Mapping[str, Any],
    *,
    body_key: str = "MessageBody",
    group_id: str | None = None,
    dedup_id: str | None = None,
) -> dict[str, Any]:
    """One entry of a SendMessageBatch (``body_key`` "MessageBody") or a PublishBatch
    ("Message"): its id, body and message attributes, and on a FIFO queue or topic
    (``group_id`` given) its message group and deduplication id."""
    entry: dict[str, Any] = {"Id": entry_id, body_key: body, "MessageAttributes": attributes}
    if group_id is not None:
        entry["MessageGroupId"] = group_id
        entry["MessageDeduplicationId"] = dedup_id
    return entry


@dataclass(frozen=True)
class BatchResult:
    """What SQS or SNS answered to a batch call: by entry id, the message id of each entry
    it accepted and the error (``Code: Message``) of each it refused."""

    accepted: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)


def batch_result(response: Mapping[str, Any]) -> BatchResult:
    """The ``Successful`` and ``Failed`` lists of a batch call's answer, by entry id. An entry
    in neither was not accepted either: the caller says so in its own words."""
    return BatchResult(
        accepted={
            str(item["Id"]): str(item.get("MessageId", ""))
            for item in response.get("Successful", [])
        },
        refused={
            str(item["Id"]): f"{item.get('Code', '')}: {item.get('Message', '')}"
            for item in response.get("Failed", [])
        },
    )
