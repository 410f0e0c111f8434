"""The only place that imports boto3: one client factory and one error boundary.

Clients are created once per process and service (boto3 clients are thread-safe);
credentials come from boto3's standard chain, the endpoint from settings
(``AWS_ENDPOINT_URL`` for a local SNS/SQS such as moto's server). Every botocore error is
turned into one of ours by ``map_aws_errors()``, most specific first.

Queues (their URLs, depth, redrive policy, batch entries and results) are in ``queues``,
topics (finding one, its subscriptions) in ``topics``, dead letters' SQS calls in ``dlq``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
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

from reactive_users.core import errors
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


def caller_account(settings: Settings) -> tuple[str, str]:
    """The (partition, account id) of the credentials in use, from STS GetCallerIdentity."""
    with map_aws_errors("GetCallerIdentity"):
        identity = client("sts", settings).get_caller_identity()
    return str(identity["Arn"]).split(":")[1], str(identity["Account"])
