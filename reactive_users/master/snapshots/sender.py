"""Sending snapshot envelopes to ONE client's SQS queue (never the topic):
``SendMessageBatch``, 10 messages per call, signed like the relay's events, retrying what
SQS refuses.

With ``packed`` (the master's REACTIVE_PUBLISH_BATCH), envelopes travel in multi-event
messages (schema 2) packed by the relay's rules (``relay.packing``): the same keys (the
action; on a FIFO queue the user too, so a message holds one user's events, in the user's
own message group), the same byte budget, and calls of at most 10 messages within SQS's
256 KiB. Without it, each envelope is its own message, as a client of the previous release
reads them. A message SQS refuses refuses every event in it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reactive_users.core import aws, signing
from reactive_users.core.aws import queues
from reactive_users.core.contract import Envelope, Part, encode, encode_multi
from reactive_users.core.dlq import entry_bytes
from reactive_users.core.errors import AwsError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.master.relay import packing

logger = logging.getLogger(__name__)

#: SQS SendMessageBatch takes at most 10 entries per call.
MAX_SEND_ENTRIES = queues.MAX_BATCH_ENTRIES
#: SQS SendMessageBatch takes at most 256 KiB of bodies and attributes per call.
MAX_SEND_BATCH_BYTES = 256 * 1024
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


@dataclass(frozen=True)
class Message:
    """One message to send: its SendMessageBatch entry and the master ids of its events."""

    entry: dict[str, Any]
    master_ids: tuple[int, ...]

    @property
    def size(self) -> int:
        return entry_bytes(self.entry)


@dataclass
class QueueSender:
    """Sends envelopes to one queue, 10 messages per ``SendMessageBatch``, retrying what
    SQS refuses; with ``packed``, many envelopes per message within ``budget`` bytes."""

    settings: Settings
    queue_url: str
    sleep: Callable[[float], None] = time.sleep
    packed: bool = False
    budget: int = 64 * 1024

    def __post_init__(self) -> None:
        self._sqs = aws.client("sqs", self.settings)
        self._fifo = queues.is_fifo(self.queue_url)
        self._keys = signing_keys(self.settings)  # signed like the relay's: only it speaks

    def messages(self, envelopes: Sequence[Envelope]) -> list[Message]:
        """``envelopes`` as the messages to send, in the order to send them (each alone
        unless ``packed``; a packed message of one event is exactly that event alone)."""
        bodies = [encode(e) for e in envelopes]
        if not self.packed:
            return [self._single(e, b) for e, b in zip(envelopes, bodies, strict=True)]
        signatures = [signing.signature(body, self._keys) for body in bodies]
        items = [
            packing.Item(
                user_id=e.user_id,
                key=(e.action, e.user_id if self._fifo else None),
                size=packing.part_size(body, sig),
            )
            for e, body, sig in zip(envelopes, bodies, signatures, strict=True)
        ]
        out: list[Message] = []
        for indices in packing.pack(items, budget=self.budget):
            if len(indices) == 1:
                out.append(self._single(envelopes[indices[0]], bodies[indices[0]]))
                continue
            first = envelopes[indices[0]]
            body = encode_multi(first.action, [Part(bodies[i], signatures[i]) for i in indices])
            entry = queues.batch_entry(
                str(first.user_id),  # one entry per user in a call: its first user's id
                body,
                signing.attributes(body, self._keys, action=first.action.value),
                group_id=str(first.user_id) if self._fifo else None,
                dedup_id=packing.dedup_id(envelopes[i].event_id for i in indices),
            )
            out.append(Message(entry, tuple(envelopes[i].user_id for i in indices)))
        return out

    def calls(self, messages: Sequence[Message]) -> list[list[Message]]:
        """``messages`` split into SendMessageBatch calls (10 entries, 256 KiB in all)."""
        spans = packing.calls(
            [m.size for m in messages],
            max_entries=MAX_SEND_ENTRIES,
            max_bytes=MAX_SEND_BATCH_BYTES,
        )
        return [list(messages[start:end]) for start, end in spans]

    def send(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Send up to 10 envelopes, each alone; see ``send_messages``."""
        if len(envelopes) > MAX_SEND_ENTRIES:
            raise ValueError(f"at most {MAX_SEND_ENTRIES} envelopes per call")
        return self.send_messages([self._single(e, encode(e)) for e in envelopes])

    def send_messages(self, messages: Sequence[Message]) -> dict[int, str]:
        """Send up to 10 messages in one call; returns the master ids still refused after
        every attempt (each event of a refused message), with the error.

        Refused entries (and a call that failed as a whole with a retryable error) are tried
        again, up to ``SEND_ATTEMPTS`` times; a permanent error of the whole call raises.
        """
        if len(messages) > MAX_SEND_ENTRIES:
            raise ValueError(f"at most {MAX_SEND_ENTRIES} messages per call")
        pending = {str(m.entry["Id"]): m for m in messages}
        errors: dict[str, str] = {}
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
            pending = {i: m for i, m in pending.items() if i in errors}
            if not pending:
                return {}
            refused = sorted(i for m in pending.values() for i in m.master_ids)
            logger.warning(
                "SQS refused %d event(s) for master ids %s (attempt %d of %d): %s",
                len(refused),
                ",".join(map(str, refused)),
                attempt + 1,
                SEND_ATTEMPTS,
                next(iter(errors.values())),
            )
        return {i: errors[key] for key, m in pending.items() for i in m.master_ids}

    def depth(self) -> int:
        """Messages waiting (visible) in the queue, as SQS approximates them."""
        return queues.queue_depth(self._sqs, self.queue_url).visible

    def _call(self, messages: list[Message]) -> dict[str, str]:
        """One SendMessageBatch; the error of each entry SQS did not accept, by entry id."""
        events = sum(len(m.master_ids) for m in messages)
        what = f"SendMessageBatch of {events} event(s) in {len(messages)} message(s)"
        with aws.map_aws_errors(f"{what} to {self.queue_url}"):
            response = self._sqs.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[dict(m.entry) for m in messages],  # fresh per try
            )
        result = queues.batch_result(response)
        return {
            str(m.entry["Id"]): result.refused.get(
                str(m.entry["Id"]), "SQS answered nothing for this entry"
            )
            for m in messages
            if str(m.entry["Id"]) not in result.accepted
        }

    def _single(self, envelope: Envelope, body: str) -> Message:
        entry = queues.batch_entry(
            str(envelope.user_id),  # one entry per user in a batch
            body,
            signing.attributes(body, self._keys, action=envelope.action.value),
            # on a FIFO queue the same group as the user's live events: one order per user
            group_id=str(envelope.user_id) if self._fifo else None,
            dedup_id=str(envelope.event_id),
        )
        return Message(entry, (envelope.user_id,))
