"""Dead letters, pure: why a message is there, how it is shown, how it is sent back.

A message reaches a client's dead-letter queue in one of two ways:

- the listener sends it there itself, at once, when it can never succeed (malformed, or a
  valid event the client refuses: ``reactive_users/client/failures.py``), with the message
  attributes of ``dead_letter_entry`` naming the reason, when the listener first received
  it, how often, from which queue, and which listener sent it (all named
  ``reactive.dlq.*``);
- SQS's redrive policy moves it after ``maxReceiveCount`` receives (a failure the listener
  took for transient, or a listener that could not send it): such a message carries no
  reason, and ``reason(body)`` recomputes the likely cause from the body alone with the
  decoder the listener uses.

Wire format of the listener's attributes (String, ``tests/unit/data/dead_letter_attributes.json``):
``reactive.dlq.reason`` (``Type: message``, one line, at most 500 characters),
``reactive.dlq.first_seen`` (ISO 8601 UTC), ``reactive.dlq.receives``,
``reactive.dlq.source_queue`` (URL), ``reactive.dlq.message_id`` (the id on that queue),
``reactive.dlq.listener`` (``host:pid``). An older ``reactive dlq`` ignores them (it shows
the recomputed reason) and its redrive carries them back to the queue, where the listener
ignores them and replaces them if it dead-letters the message again.

``dead_letter(message)`` turns one received SQS message into a ``DeadLetter``;
``table_rows``/``as_json`` are what ``reactive dlq list`` prints; ``redrive_entries`` and
``send_batches`` build the SendMessageBatch requests that move letters back to the main
queue (without the ``reactive.dlq.*`` attributes). The SQS calls are in
``reactive_users.core.aws.dlq``.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reactive_users.core.contract import Envelope, MultiEvent, decode_message
from reactive_users.core.errors import ContractError

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
#: SQS's most message attributes on one message.
MAX_MESSAGE_ATTRIBUTES = 10
#: The names of the attributes a listener adds to a message it dead-letters (all of them
#: start with this; a redrive strips them), in the order they are added.
ATTRIBUTE_PREFIX = "reactive.dlq."
REASON = ATTRIBUTE_PREFIX + "reason"
FIRST_SEEN = ATTRIBUTE_PREFIX + "first_seen"
RECEIVES = ATTRIBUTE_PREFIX + "receives"
SOURCE_QUEUE = ATTRIBUTE_PREFIX + "source_queue"
MESSAGE_ID = ATTRIBUTE_PREFIX + "message_id"
LISTENER = ATTRIBUTE_PREFIX + "listener"
#: Characters of a reason recorded on a dead letter.
MAX_REASON_CHARS = 500


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
    #: Whether ``reason`` is what the listener recorded (else recomputed from the body).
    reason_recorded: bool = False
    #: The listener that dead-lettered it (``host:pid``), None if SQS's redrive did.
    listener: str | None = None
    #: The queue it was dead-lettered from, and its id there (listener's letters only).
    source_queue: str | None = None
    source_message_id: str | None = None


def reason(body: str) -> str:
    """Why a message with this body is a dead letter, as far as the body alone tells."""
    try:
        decoded = decode_message(body)
    except ContractError as e:
        return f"malformed: {e}"
    if isinstance(decoded, MultiEvent):
        return (
            f"message of {len(decoded.parts)} {decoded.action.value} events, moved whole: "
            "each is listed on its own"
        )
    return _event_reason(decoded)


def _event_reason(event: Envelope) -> str:
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
    A letter the listener sent adds its recorded receives on the main queue to those, and
    its recorded reason and first receive stand for the ones recomputed here.
    """
    attributes = message.get("Attributes", {})
    count = attributes.get("ApproximateReceiveCount")
    body = str(message.get("Body", ""))
    tags = dict(message.get("MessageAttributes", {}))
    recorded = _text(tags, REASON)
    receives = max(0, int(count) - own_receives) if count is not None else None
    before = _text(tags, RECEIVES)
    if receives is not None and before is not None and before.isdigit():
        receives += int(before)
    first_seen = _parse_iso(_text(tags, FIRST_SEEN))
    return DeadLetter(
        message_id=str(message["MessageId"]),
        body=body,
        receipt_handle=str(message["ReceiptHandle"]),
        sent_at=_from_millis(attributes.get("SentTimestamp")),
        first_received_at=first_seen
        or _from_millis(attributes.get("ApproximateFirstReceiveTimestamp")),
        receives=receives,
        reason=recorded or reason(body),
        group_id=attributes.get("MessageGroupId"),
        message_attributes=tags,
        reason_recorded=recorded is not None,
        listener=_text(tags, LISTENER),
        source_queue=_text(tags, SOURCE_QUEUE),
        source_message_id=_text(tags, MESSAGE_ID),
    )


def dead_letter_entry(
    index: int,
    message: Mapping[str, Any],
    *,
    why: str,
    source_queue: str,
    listener: str,
    fifo: bool,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The SendMessageBatch entry (``Id`` = ``index``) a listener sends to the dead-letter
    queue for a received ``message`` it refused for good, because of ``why``.

    The original body and message attributes, plus the ``reactive.dlq.*`` ones (earlier
    ones replaced; as many as SQS's 10 attributes leave room for, the reason first). On a
    FIFO queue: the original message group, and the original message id as deduplication
    id, so that sending it again after a crash does not make a second copy.
    """
    attributes = message.get("Attributes", {})
    original = {
        name: _sendable(value)
        for name, value in message.get("MessageAttributes", {}).items()
        if not name.startswith(ATTRIBUTE_PREFIX)
    }
    first = _from_millis(attributes.get("ApproximateFirstReceiveTimestamp")) or now
    ours = {
        REASON: truncate(why, MAX_REASON_CHARS) or "refused",
        FIRST_SEEN: _iso(first) or _iso(datetime.now(UTC)),
        RECEIVES: str(attributes.get("ApproximateReceiveCount", "")),
        SOURCE_QUEUE: source_queue,
        MESSAGE_ID: str(message.get("MessageId", "")),
        LISTENER: listener,
    }
    room = MAX_MESSAGE_ATTRIBUTES - len(original)
    added = {
        name: {"DataType": "String", "StringValue": _attribute_text(value)}
        for name, value in [(n, v) for n, v in ours.items() if v][: max(0, room)]
    }
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": str(message.get("Body", ""))}
    if original or added:
        entry["MessageAttributes"] = {**original, **added}
    if fifo:
        entry["MessageGroupId"] = attributes.get("MessageGroupId") or FALLBACK_GROUP_ID
        entry["MessageDeduplicationId"] = str(message.get("MessageId", ""))[:128]
    return entry


def truncate(text: str, limit: int = TABLE_BODY_CHARS) -> str:
    """``text`` on one line, cut to at most ``limit`` characters (an ellipsis marks a cut)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)] + "…"


def table_rows(letters: Sequence[DeadLetter]) -> list[tuple[str, ...]]:
    """One row per letter under ``TABLE_COLUMNS``; times in UTC, the body truncated. A
    multi-event letter (SQS's redrive moved the whole message) is one row per event, its id
    ``<message id>#<index>``, its reason the recorded one or the event's own."""
    rows: list[tuple[str, ...]] = []
    for letter in letters:
        times = (
            _shown(letter.sent_at),
            _shown(letter.first_received_at),
            "?" if letter.receives is None else str(letter.receives),
        )
        for suffix, why, body in letter_events(letter):
            rows.append((letter.message_id + suffix, *times, why, truncate(body)))
    return rows


def letter_events(letter: DeadLetter) -> list[tuple[str, str, str]]:
    """(id suffix, reason, body) of each event of a letter: one for a single-event letter
    (suffix ""), one per event (``#index``) for a multi-event one."""
    try:
        decoded = decode_message(letter.body)
    except ContractError:
        decoded = None
    if not isinstance(decoded, MultiEvent):
        return [("", letter.reason, letter.body)]
    events: list[tuple[str, str, str]] = []
    for index, part in enumerate(decoded.parts):
        if letter.reason_recorded:
            why = letter.reason
        else:
            try:
                why = _event_reason(decoded.event(index))
            except ContractError as e:
                why = f"malformed: {e}"
        events.append((f"#{index}", why, part.body))
    return events


def as_json(letter: DeadLetter) -> dict[str, Any]:
    """A letter as ``reactive dlq list --json`` prints it: the whole body, ISO 8601 times.

    ``reason_from`` says where ``reason`` comes from: "listener" (recorded by the listener
    that dead-lettered it, named in ``listener``, from ``source_queue``) or "body"
    (recomputed: SQS's redrive moved it).
    """
    return {
        "message_id": letter.message_id,
        "sent_at": _iso(letter.sent_at),
        "first_received_at": _iso(letter.first_received_at),
        "receives": letter.receives,
        "reason": letter.reason,
        "reason_from": "listener" if letter.reason_recorded else "body",
        "listener": letter.listener,
        "source_queue": letter.source_queue,
        "source_message_id": letter.source_message_id,
        "group_id": letter.group_id,
        "message_attributes": {
            name: _attribute_value(value) for name, value in letter.message_attributes.items()
        },
        "body": letter.body,
        **_events_json(letter),
    }


def _events_json(letter: DeadLetter) -> dict[str, Any]:
    """``events`` of a multi-event letter (each its id, reason and body); {} for one event."""
    events = letter_events(letter)
    if len(events) == 1 and not events[0][0]:
        return {}
    return {
        "events": [
            {"message_id": letter.message_id + suffix, "reason": why, "body": body}
            for suffix, why, body in events
        ]
    }


def redrive_entries(
    letters: Sequence[DeadLetter],
    *,
    fifo: bool,
    dedup_id: Callable[[], str] = lambda: uuid.uuid4().hex,
) -> list[dict[str, Any]]:
    """SendMessageBatch entries that put ``letters`` back in the main queue, unchanged.

    Entry ``Id`` is the letter's index in ``letters``. Same body and message attributes,
    less the ``reactive.dlq.*`` ones the listener added; on a FIFO queue the same message
    group and a fresh deduplication id (the original one may still be inside SQS's 5-minute
    deduplication window, which would drop the copy).
    """
    entries: list[dict[str, Any]] = []
    for index, letter in enumerate(letters):
        entry: dict[str, Any] = {"Id": str(index), "MessageBody": letter.body}
        kept = {
            name: _sendable(value)
            for name, value in letter.message_attributes.items()
            if not name.startswith(ATTRIBUTE_PREFIX)
        }
        if kept:
            entry["MessageAttributes"] = kept
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


def _text(attributes: Mapping[str, Mapping[str, Any]], name: str) -> str | None:
    value = attributes.get(name, {}).get("StringValue")
    return None if value is None else str(value)


def _attribute_text(text: str) -> str:
    """``text`` with every character SQS refuses in an attribute value replaced by '?'."""
    return "".join(c if _sqs_allows(c) else "?" for c in text)


def _sqs_allows(c: str) -> bool:
    code = ord(c)
    return (
        c in "\t\n\r"
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _parse_iso(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _from_millis(value: str | None) -> datetime | None:
    if value is None:
        return None
    return datetime.fromtimestamp(int(value) / 1000, tz=UTC)


def _shown(when: datetime | None) -> str:
    return "?" if when is None else when.strftime("%Y-%m-%d %H:%M:%S")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat()
