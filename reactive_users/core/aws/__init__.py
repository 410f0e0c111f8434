"""The only place that imports boto3: one client factory and one error boundary.

Clients are created once per process and service (boto3 clients are thread-safe);
credentials come from boto3's standard chain, the endpoint from settings
(``AWS_ENDPOINT_URL`` for a local SNS/SQS such as moto's server). Every botocore error is
turned into one of ours by ``map_aws_errors()``, most specific first.

Queue URLs are resolved here and nowhere else: ``queue_url`` (GetQueueUrl by name, or by
ARN with ``queue_url_of_arn``), ``client_queue_url`` (a client's queue or dead-letter
queue: given, else recorded by provisioning, else by name) and ``redrive_policy`` (a
queue's dead-letter queue, from its RedrivePolicy).
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from reactive_users.core import errors, naming, resources
from reactive_users.core.settings import Settings

#: Seconds to wait for a TCP connection to the endpoint.
CONNECT_TIMEOUT_SECONDS = 2
#: Seconds to wait for an answer; must exceed SQS's longest long poll (20 s).
READ_TIMEOUT_SECONDS = 30
#: Attempts botocore makes itself before we see the error (our loops retry on top).
BOTOCORE_MAX_ATTEMPTS = 2

#: AWS error codes we handle, and the error each becomes (a test checks every one maps).
ERROR_CODES: dict[str, type[errors.AwsError]] = {
    "AWS.SimpleQueueService.NonExistentQueue": errors.QueueNotFound,
    "QueueDoesNotExist": errors.QueueNotFound,
    "NotFound": errors.TopicNotFound,
    "NotFoundException": errors.TopicNotFound,
    "AccessDenied": errors.AccessDenied,
    "AccessDeniedException": errors.AccessDenied,
    "AuthorizationError": errors.AccessDenied,
    "InvalidClientTokenId": errors.NoCredentials,
    "UnrecognizedClientException": errors.NoCredentials,
    "Throttling": errors.Throttled,
    "ThrottlingException": errors.Throttled,
    "RequestThrottled": errors.Throttled,
    "ServiceUnavailable": errors.Throttled,
    "InternalError": errors.Throttled,
    "InternalFailure": errors.Throttled,
    "InvalidParameter": errors.InvalidRequest,
    "InvalidParameterValue": errors.InvalidRequest,
    "InvalidAttributeName": errors.InvalidRequest,
    "InvalidAttributeValue": errors.InvalidRequest,
    "QueueNameExists": errors.InvalidRequest,
    "ReceiptHandleIsInvalid": errors.InvalidRequest,
    "EmptyBatchRequest": errors.InvalidRequest,
}

_lock = threading.Lock()


def client(service: str, settings: Settings) -> Any:
    """The process-wide boto3 client for ``service`` ("sns", "sqs", "sts") under ``settings``."""
    return _client(service, settings.aws_region, settings.aws_endpoint_url)


@functools.cache
def _client(service: str, region: str, endpoint_url: str | None) -> Any:
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=READ_TIMEOUT_SECONDS,
        retries={"max_attempts": BOTOCORE_MAX_ATTEMPTS, "mode": "standard"},
        max_pool_connections=20,
    )
    with _lock:  # boto3's default session is not safe to create clients from concurrently.
        return boto3.session.Session().client(
            service, region_name=region, endpoint_url=endpoint_url, config=config
        )


@contextmanager
def map_aws_errors(what: str = "AWS call") -> Iterator[None]:
    """Turn botocore's exceptions raised inside the block into ``errors.AwsError``s."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or str(exc)
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        cls = ERROR_CODES.get(code)
        if cls is None:
            cls = errors.Throttled if isinstance(status, int) and status >= 500 else errors.AwsError
        raise cls(f"{what} failed: {code or status}: {message}", code=code) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise errors.NoCredentials(
            f"{what} failed: no AWS credentials found: configure them (environment, "
            "~/.aws/credentials or an instance role)",
            code="NoCredentials",
        ) from exc
    except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError) as exc:
        raise errors.EndpointUnreachable(
            f"{what} failed: endpoint unreachable: {exc}", code="EndpointUnreachable"
        ) from exc
    except BotoCoreError as exc:
        raise errors.AwsError(f"{what} failed: {exc}", code=type(exc).__name__) from exc


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
    fifo: bool = False,
    explicit: str | None = None,
) -> str:
    """A client's queue (or its dead-letter queue): ``explicit`` (REACTIVE_QUEUE_URL), else
    what provisioning recorded (``reactive_users.core.resources``), else looked up by name
    (``QueueNotFound``, exit 5, if it was never provisioned)."""
    if explicit:
        return explicit
    entry = resources.stack(
        settings.state_dir, settings.prefix,
        endpoint_url=settings.aws_endpoint_url, region=settings.aws_region,
    ) or {}  # fmt: skip
    key = "dlq_url" if dead_letters else "queue_url"
    recorded = entry.get("clients", {}).get(naming.check_client_name(client), {}).get(key)
    if recorded:
        return str(recorded)
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
        return self.dead_letter_arn.endswith(".fifo")


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


def caller_account(settings: Settings) -> tuple[str, str]:
    """The (partition, account id) of the credentials in use, from STS GetCallerIdentity."""
    with map_aws_errors("GetCallerIdentity"):
        identity = client("sts", settings).get_caller_identity()
    return str(identity["Arn"]).split(":")[1], str(identity["Account"])


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
