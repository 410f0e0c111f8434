"""Packing outbox rows into multi-event messages (REACTIVE_PUBLISH_BATCH): pure, no I/O.

Rows come in id order, which is each user's version order. ``pack`` groups them into
messages so that:

- a message holds only events that travel with the same SNS message attributes (its
  ``key``: the action, which subscription filter policies route on; on a FIFO topic the
  message group too, so a message holds one user's events and per-user order is SNS's
  order of messages in that group, as with one event per message);
- a message stays within a byte budget and ``MAX_EVENTS_PER_MESSAGE`` events;
- one user's events in a message are in version order, and never interleave with that
  user's events in another message: when a user's next event goes to another message (its
  action differs), the message holding the user's earlier events is closed, and messages
  are published in the order they were closed, so they carry each user's events in order.

It takes only what it is given (the rows already pending): it never waits for more.

The relay (``sns``) and the snapshot sender (backfill and repair, ``snapshots.sender``) both
pack with ``pack``, split the messages into batch calls with ``calls`` and name a packed
message for FIFO deduplication with ``dedup_id``: one set of rules for every sender.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field

from reactive_users.core.contract import MAX_EVENTS_PER_MESSAGE

#: Bytes of a multi-event message besides its events (schema, action, brackets), at most.
MESSAGE_OVERHEAD_BYTES = 64


@dataclass(frozen=True)
class Item:
    """One row to pack: its user, the key of the messages it may join, its packed size."""

    user_id: int
    key: Hashable
    size: int


@dataclass
class _Open:
    indices: list[int] = field(default_factory=list)
    size: int = MESSAGE_OVERHEAD_BYTES


def part_size(body: str, signature: str) -> int:
    """Bytes one event takes in a multi-event message (its JSON object and a comma)."""
    text = json.dumps(
        {"body": body, "signature": signature}, ensure_ascii=False, separators=(",", ":")
    )
    return len(text.encode()) + 1


def pack(
    items: Sequence[Item], *, budget: int, max_events: int = MAX_EVENTS_PER_MESSAGE
) -> list[list[int]]:
    """``items``' indices grouped into messages, in the order to publish them: the order
    they were closed in (a message holding a user's earlier events is closed before the
    one taking the user's next event), then those still open. An item too large for the
    budget by itself is a message of its own."""
    done: list[list[int]] = []
    open_: dict[Hashable, _Open] = {}
    #: The key of the open message holding each user's latest event.
    user_key: dict[int, Hashable] = {}

    def close(key: Hashable) -> None:
        closing = open_.pop(key, None)
        if closing is not None:
            done.append(closing.indices)

    for index, item in enumerate(items):
        earlier = user_key.get(item.user_id)
        if earlier is not None and earlier != item.key:
            close(earlier)  # the user's next event goes elsewhere: keep its order
        current = open_.get(item.key)
        if current is not None and (
            current.size + item.size > budget or len(current.indices) >= max_events
        ):
            close(item.key)
            current = None
        if current is None:
            current = open_[item.key] = _Open()
        current.indices.append(index)
        current.size += item.size
        user_key[item.user_id] = item.key
    done.extend(o.indices for o in open_.values())
    return done


def calls(sizes: Sequence[int], *, max_entries: int, max_bytes: int) -> list[tuple[int, int]]:
    """Messages of ``sizes`` bytes split into batch calls of at most ``max_entries`` entries
    and ``max_bytes`` in all (a message larger than that by itself goes alone), each call as
    the ``(start, end)`` slice of its messages."""
    spans: list[tuple[int, int]] = []
    start = 0
    while start < len(sizes):
        end, total = start, 0
        while end < len(sizes) and end - start < max_entries:
            if end > start and total + sizes[end] > max_bytes:
                break
            total += sizes[end]
            end += 1
        spans.append((start, end))
        start = end
    return spans


def dedup_id(event_ids: Iterable[uuid.UUID]) -> str:
    """The FIFO deduplication id of a message of several events: the same events, the same
    id (a retried message is dropped as a duplicate, as a retried single event is)."""
    ids = ",".join(str(event_id) for event_id in event_ids)
    return hashlib.sha256(ids.encode()).hexdigest()
