"""Reading what reached a client's SQS queue, with boto3 over HTTP (independent of our code)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from devstack.processes import until
from reactive_users.core.aws import queues

#: Seconds one receive may long-poll; it returns as soon as a message is there.
POLL_SECONDS = 1


@dataclass
class Queue:
    """One SQS queue, and everything received from it so far."""

    sqs: Any
    url: str

    def __post_init__(self) -> None:
        self.received: list[dict[str, Any]] = []

    def receive(self, count: int, *, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Wait until ``count`` messages in all were received; return them (raw SQS dicts)."""

        def enough() -> bool:
            response = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=POLL_SECONDS,
                MessageAttributeNames=["All"],
                AttributeNames=["All"],
            )
            self.received.extend(response.get("Messages", []))
            return len(self.received) >= count

        until(enough, timeout=timeout, what=f"{count} message(s) in {self.url}")
        return list(self.received)

    def bodies(self, count: int) -> list[dict[str, Any]]:
        """The decoded JSON bodies of the first ``count`` messages."""
        return [json.loads(m["Body"]) for m in self.receive(count)]

    def depth(self) -> int:
        """Messages the queue holds, received or not (moto delivers during the Publish call)."""
        depth = queues.queue_depth(self.sqs, self.url)
        return depth.visible + depth.in_flight


@dataclass
class Topic:
    """The test's provisioned SNS topic and the "shop" client's queue subscribed to it."""

    arn: str
    queue: Queue
