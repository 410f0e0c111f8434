"""Sending snapshot envelopes to ONE client's SQS queue (never the topic):
``SendMessageBatch``, 10 per call, signed like the relay's events, retrying what SQS
refuses.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reactive_users.core import aws, signing
from reactive_users.core.aws import queues
from reactive_users.core.contract import Envelope, encode
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings, signing_keys

logger = logging.getLogger(__name__)

#: SQS SendMessageBatch takes at most 10 entries per call.
MAX_SEND_ENTRIES = queues.MAX_BATCH_ENTRIES
#: Attempts at sending one entry (or one call) before the backfill gives up.
SEND_ATTEMPTS = 4
#: Wait before the first retry, in seconds; doubles with each retry.
RETRY_BASE_SECONDS = 0.5


def client_queue_url(settings: Settings, client: str, explicit: str | None = None) -> str:
    """The client's queue: ``explicit``, else what provisioning recorded, else by name."""
    return queues.client_queue_url(settings, client, explicit=explicit)


class SendFailed(AwsError):
    """SQS kept refusing some events; ``failed`` maps their master ids to the last error."""

    def __init__(self, message: str, *, failed: Mapping[int, str]) -> None:
        super().__init__(message, code="SendFailed")
        self.failed = dict(failed)


@dataclass
class QueueSender:
    """Sends envelopes to one queue, 10 per ``SendMessageBatch``, retrying what SQS refuses."""

    settings: Settings
    queue_url: str
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._sqs = aws.client("sqs", self.settings)
        self._fifo = queues.is_fifo(self.queue_url)
        self._keys = signing_keys(self.settings)  # signed like the relay's: only it speaks

    def send(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Send up to 10 envelopes; returns the master ids still refused after every attempt.

        Refused entries (and a call that failed as a whole with a retryable error) are tried
        again, up to ``SEND_ATTEMPTS`` times; a permanent error of the whole call raises.
        """
        if len(envelopes) > MAX_SEND_ENTRIES:
            raise ValueError(f"at most {MAX_SEND_ENTRIES} envelopes per call")
        pending = {e.user_id: e for e in envelopes}
        errors: dict[int, str] = {}
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self.sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1))
            try:
                errors = self._call(list(pending.values()))
            except AwsError as exc:
                if not exc.retryable or attempt == SEND_ATTEMPTS - 1:
                    raise
                logger.warning("SendMessageBatch failed, retrying: %s", exc)
                continue
            pending = {i: e for i, e in pending.items() if i in errors}
            if not pending:
                return {}
            logger.warning(
                "SQS refused %d event(s) for master ids %s (attempt %d of %d): %s",
                len(errors),
                ",".join(map(str, sorted(errors))),
                attempt + 1,
                SEND_ATTEMPTS,
                next(iter(errors.values())),
            )
        return errors

    def depth(self) -> int:
        """Messages waiting (visible) in the queue, as SQS approximates them."""
        return queues.queue_depth(self._sqs, self.queue_url).visible

    def _call(self, envelopes: list[Envelope]) -> dict[int, str]:
        entries = [self._entry(e) for e in envelopes]
        with aws.map_aws_errors(f"SendMessageBatch of {len(entries)} event(s) to {self.queue_url}"):
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        result = queues.batch_result(response)
        return {
            e.user_id: result.refused.get(str(e.user_id), "SQS answered nothing for this entry")
            for e in envelopes
            if str(e.user_id) not in result.accepted
        }

    def _entry(self, envelope: Envelope) -> dict[str, Any]:
        body = encode(envelope)
        return queues.batch_entry(
            str(envelope.user_id),  # one entry per user in a batch
            body,
            signing.attributes(body, self._keys, action=envelope.action.value),
            # on a FIFO queue the same group as the user's live events: one order per user
            group_id=str(envelope.user_id) if self._fifo else None,
            dedup_id=str(envelope.event_id),
        )
