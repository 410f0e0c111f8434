"""The listener's SQS calls on its client's queue: receive, delete, hand back, dead-letter.

Every call is a batch call (SQS allows 10 entries per call; a listener's batch is at most
10 messages). Errors are mapped once, by ``reactive_users.core.aws.map_aws_errors``; entries SQS
refuses inside a batch answer are logged and handed back to the caller.

The dead-letter queue is the one the queue's RedrivePolicy names, read once
(``queues.redrive_policy``) and kept; a failed read is tried again REDRIVE_RETRY_SECONDS later.
A message sent there carries its original body and message attributes and the
``reactive.dlq.*`` attributes of ``reactive_users.core.dlq.dead_letter_entry``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reactive_users.core import aws, dlq
from reactive_users.core.aws import dlq as dlq_sqs
from reactive_users.core.aws import queues
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings

logger = logging.getLogger(__name__)

SQSMessage = Mapping[str, Any]

#: Seconds before a failed read of the queue's redrive policy is tried again.
REDRIVE_RETRY_SECONDS = 60.0
#: System attributes a receive asks for: the receive count (logs, retry delays, dead
#: letters), the first receive's time and the FIFO message group (dead letters).
RECEIVE_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "MessageGroupId",
)


@dataclass(frozen=True)
class DeadLettered:
    """What sending refused messages to the dead-letter queue did."""

    #: The messages the dead-letter queue accepted (to be deleted from the queue), each with
    #: its message id there.
    sent: list[tuple[SQSMessage, str]]
    #: Why the others were left for the redrive policy (message id -> why).
    left: dict[str, str]


class ClientQueue:
    """One client's queue as its listener uses it."""

    def __init__(self, settings: Settings, url: str, *, visibility_seconds: int) -> None:
        self.url = url
        self.visibility_seconds = visibility_seconds
        self._settings = settings
        self._sqs = aws.client("sqs", settings)
        self._redrive: queues.RedrivePolicy | None = None
        self._redrive_retry_at = 0.0

    def receive(self, *, max_messages: int, wait_seconds: int) -> list[SQSMessage]:
        """One ReceiveMessage (long poll), held for ``visibility_seconds``."""
        with aws.map_aws_errors(f"ReceiveMessage {self.url}"):
            response = self._sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=max_messages,
                WaitTimeSeconds=wait_seconds,
                VisibilityTimeout=self.visibility_seconds,
                MessageSystemAttributeNames=list(RECEIVE_ATTRIBUTES),
                MessageAttributeNames=["All"],
            )
        return list(response.get("Messages", []))

    def delete(self, messages: Sequence[SQSMessage]) -> None:
        """One DeleteMessageBatch (none for no messages: SQS refuses an empty batch)."""
        if not messages:
            return
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
        ]
        with aws.map_aws_errors(f"DeleteMessageBatch {self.url}"):
            response = self._sqs.delete_message_batch(QueueUrl=self.url, Entries=entries)
        _log_failures(messages, response, "not deleted; it will come back and be ignored")

    def change_visibility(self, timeouts: Sequence[tuple[SQSMessage, int]]) -> None:
        """One ChangeMessageVisibilityBatch: each message visible again after its seconds
        (0: at once, for another listener)."""
        if not timeouts:
            return
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": seconds}
            for i, (m, seconds) in enumerate(timeouts)
        ]
        with aws.map_aws_errors(f"ChangeMessageVisibilityBatch {self.url}"):
            response = self._sqs.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
        messages = [m for m, _ in timeouts]
        _log_failures(messages, response, "visibility not changed; visible after its timeout")

    def extend(self, messages: list[SQSMessage], seconds: int) -> None:
        """Keep held messages invisible for ``seconds`` more (the heartbeat's call)."""
        self.change_visibility([(m, seconds) for m in messages])

    def dead_letter(
        self, refused: Sequence[tuple[SQSMessage, str]], *, listener: str
    ) -> DeadLettered:
        """Send each (message, why) to the dead-letter queue, as ``dlq.dead_letter_entry``
        builds it; what cannot be sent is left (the redrive policy moves it later)."""
        if not refused:
            return DeadLettered(sent=[], left={})
        ids = [str(m.get("MessageId", "?")) for m, _ in refused]
        policy = self.redrive_policy()
        if policy is None:
            return DeadLettered(sent=[], left=dict.fromkeys(ids, "no dead-letter queue known"))
        entries = [
            dlq.dead_letter_entry(
                i, message, why=why, source_queue=self.url, listener=listener, fifo=policy.fifo
            )
            for i, (message, why) in enumerate(refused)
        ]
        try:
            sent, failed = dlq_sqs.send_entries(self._settings, policy.dead_letter_url, entries)
        except AwsError as exc:
            return DeadLettered(sent=[], left=dict.fromkeys(ids, f"{type(exc).__name__}: {exc}"))
        return DeadLettered(
            sent=[(refused[i][0], sent[i]) for i in sorted(sent)],
            left={ids[i]: why for i, why in failed.items()},
        )

    def redrive_policy(self) -> queues.RedrivePolicy | None:
        """The queue's redrive policy, read once; None (logged) while it cannot be read."""
        if self._redrive is not None or time.monotonic() < self._redrive_retry_at:
            return self._redrive
        try:
            self._redrive = queues.redrive_policy(self._settings, self.url)
        except (AwsError, ValueError) as exc:
            why = f"{type(exc).__name__}: {exc}"
        else:
            if self._redrive is not None:
                return self._redrive
            why = "the queue has no RedrivePolicy: run `reactive provision`"
        self._redrive_retry_at = time.monotonic() + REDRIVE_RETRY_SECONDS
        logger.warning(
            "dead-letter queue of %s unknown (%s); looking again in %.0f s",
            self.url,
            why,
            REDRIVE_RETRY_SECONDS,
        )
        return None

    def depths(self) -> tuple[queues.QueueDepth, int | None]:
        """The queue's depth, and its dead-letter queue's visible messages (None: unknown)."""
        depth = queues.queue_depth(self._sqs, self.url)
        policy = self.redrive_policy()
        dead = queues.queue_depth(self._sqs, policy.dead_letter_url).visible if policy else None
        return depth, dead


def _log_failures(messages: Sequence[SQSMessage], response: Any, what: str) -> None:
    for failure in response.get("Failed", []):
        message = messages[int(failure["Id"])]
        logger.warning(
            "message %s %s: %s: %s",
            message.get("MessageId", "?"),
            what,
            failure.get("Code"),
            failure.get("Message"),
        )
