"""Dead letters, pure: why a message is there, how it is shown, how it is sent back.

A message in a client's dead-letter queue carries no reason: SQS moved it after the
listener failed it ``maxReceiveCount`` times. ``reason(body)`` recomputes the likely cause
from the body alone with the same decoder the listener uses: a body that does not decode is
malformed (the decoder says why); one that decodes is a valid event the client refused (a
username collision, say), whose details are in the listener's log under its event id.

``dead_letter(message)`` turns one received SQS message into a ``DeadLetter``;
``table_rows``/``as_json`` are what ``reactive dlq list`` prints; ``redrive_entries`` and
``send_batches`` build the SendMessageBatch requests that move letters back to the main
queue. The SQS calls are in ``reactive_cli.dlq_sqs``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reactive_cli.contract import decode_sqs_body
from reactive_cli.errors import ContractError

#: Characters of a body shown in the table (``--json`` shows it whole).
TABLE_BODY_CHARS = 120
#: SQS's most entries per SendMessageBatch / DeleteMessageBatch / ChangeMessageVisibilityBatch.
MAX_BATCH_ENTRIES = 10
#: SQS's largest SendMessageBatch request: the sum of its bodies and attributes, in bytes.
MAX_BATCH_BYTES = 256 * 1024
#: The system attributes a listing asks SQS for.
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SentTimestamp",
    "MessageGroupId",
)
#: Message group of a FIFO letter that has none (SQS always gives one; this is a safety net).
FALLBACK_GROUP_ID = "reactive-redrive"
#: The columns of ``reactive dlq list``'s table, in order (``table_rows`` fills them).
TABLE_COLUMNS = ("message id", "sent", "first receive", "receives", "reason", "body")


@dataclass(frozen=True, kw_only=True)
class DeadLetter:
    """One message received from a dead-letter queue."""

    message_id: str
    body: str
    #: The handle of the latest receive: what changes its visibility or deletes it.
    receipt_handle: str = field(repr=False)
    #: When the message was first sent to the client's queue (SQS keeps it across the move).
    sent_at: datetime | None
    #: When a listener first received it from the client's queue.
    first_received_at: datetime | None
    #: Receives before the one that read this letter (see ``dead_letter``).
    receives: int | None
    reason: str
    #: The FIFO message group, None on a standard queue.
    group_id: str | None = None
    #: Message attributes as SQS gave them (e.g. the ``action`` the master sets).
    message_attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def reason(body: str) -> str:
    """Why a message with this body is a dead letter, as far as the body alone tells."""
    try:
        event = decode_sqs_body(body)
    except ContractError as e:
        return f"malformed: {e}"
    kind = "synthetic " if event.synthetic else ""
    return (
        f"valid {kind}{event.action.value} event for master user {event.user_id} "
        f"v{event.version} refused by the client: see its listener log for event "
        f"{event.event_id}"
    )


def dead_letter(message: Mapping[str, Any], *, own_receives: int = 1) -> DeadLetter:
    """A received SQS message as a ``DeadLetter``.

    SQS counts every receive of a message across the main queue and the DLQ, the one that
    just read it included: ``own_receives`` of them (ours) are not counted in ``receives``.
    """
    attributes = message.get("Attributes", {})
    count = attributes.get("ApproximateReceiveCount")
    body = str(message.get("Body", ""))
    return DeadLetter(
        message_id=str(message["MessageId"]),
        body=body,
        receipt_handle=str(message["ReceiptHandle"]),
        sent_at=_from_millis(attributes.get("SentTimestamp")),
        first_received_at=_from_millis(attributes.get("ApproximateFirstReceiveTimestamp")),
        receives=max(0, int(count) - own_receives) if count is not None else None,
        reason=reason(body),
        group_id=attributes.get("MessageGroupId"),
        message_attributes=dict(message.get("MessageAttributes", {})),
    )


def truncate(text: str, limit: int = TABLE_BODY_CHARS) -> str:
    """``text`` on one line, cut to at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def table_rows(letters: Sequence[DeadLetter]) -> list[tuple[str, ...]]:
    """One row per letter under ``TABLE_COLUMNS``; times in UTC, the body truncated."""
    return [
        (
            letter.message_id,
            _shown(letter.sent_at),
            _shown(letter.first_received_at),
            "?" if letter.receives is None else str(letter.receives),
            letter.reason,
            truncate(letter.body),
        )
        for letter in letters
    ]


def as_json(letter: DeadLetter) -> dict[str, Any]:
    """A letter as ``reactive dlq list --json`` prints it: the whole body, ISO 8601 times."""
    return {
        "message_id": letter.message_id,
        "sent_at": _iso(letter.sent_at),
        "first_received_at": _iso(letter.first_received_at),
        "receives": letter.receives,
        "reason": letter.reason,
        "group_id": letter.group_id,
        "message_attributes": {
            name: _attribute_value(value) for name, value in letter.message_attributes.items()
        },
        "body": letter.body,
    }


def redrive_entries(
    letters: Sequence[DeadLetter],
    *,
    fifo: bool,
    dedup_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> list[dict[str, Any]]:
    """SendMessageBatch entries that put ``letters`` back in the main queue, unchanged.

    Entry ``Id`` is the letter's index in ``letters``. Same body and message attributes; on
    a FIFO queue the same message group and a fresh deduplication id (the original one may
    still be inside SQS's 5-minute deduplication window, which would drop the copy).
    """
    entries: list[dict[str, Any]] = []
    for index, letter in enumerate(letters):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": letter.body}
        if letter.message_attributes:
            entry["MessageAttributes"] = {
                name: _sendable(value) for name, value in letter.message_attributes.items()
            }
        if fifo:
            entry["MessageGroupId"] = letter.group_id or FALLBACK_GROUP_ID
            entry["MessageDeduplicationId"] = dedup_id()
        entries.append(entry)
    return entries


def send_batches(
    entries: Sequence[dict[str, Any]],
    *,
    max_entries: int = MAX_BATCH_ENTRIES,
    max_bytes: int = MAX_BATCH_BYTES,
) -> list[list[dict[str, Any]]]:
    """``entries`` split into SendMessageBatch calls within SQS's count and size limits.

    An entry larger than ``max_bytes`` by itself gets a batch of its own (SQS will refuse
    it, and only it).
    """
    batches: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for entry in entries:
        entry_size = entry_bytes(entry)
        if current and (len(current) == max_entries or size + entry_size > max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry_size
    if current:
        batches.append(current)
    return batches


def entry_bytes(entry: Mapping[str, Any]) -> int:
    """What an entry counts toward SQS's size limit: its body, attribute names and values."""
    size = len(str(entry["MessageBody"]).encode())
    for name, value in entry.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(str(value.get("DataType", "")).encode())
        size += len(str(value.get("StringValue", "")).encode()) + len(value.get("BinaryValue", b""))
    return size


def _sendable(value: Mapping[str, Any]) -> dict[str, Any]:
    # A received attribute may carry the unimplemented list fields: send only what SQS takes.
    return {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}


def _attribute_value(value: Mapping[str, Any]) -> str:
    if "StringValue" in value:
        return str(value["StringValue"])
    binary = value.get("BinaryValue", b"")
    return base64.b64encode(binary if isinstance(binary, bytes) else str(binary).encode()).decode()


def _from_millis(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _shown(when: datetime | None) -> str:
    return "?" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
