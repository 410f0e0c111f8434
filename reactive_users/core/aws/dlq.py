"""Dead letters, I/O: read, move back and purge a client's dead-letter queue over SQS.

Reading never consumes: every letter is received with a visibility timeout long enough to
read the others (``LIST_VISIBILITY_SECONDS``), seen once (deduplicated by message id, the
latest receipt handle kept), and handed back with visibility 0 at the end, whatever
happened. Moving is SendMessageBatch to the main queue (moto has no StartMessageMoveTask)
followed by DeleteMessageBatch of exactly the letters SQS accepted: a failed send leaves
its letter in the dead-letter queue. The pure parts are in ``reactive_users.core.dlq``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from reactive_users.core import aws
from reactive_users.core.aws import queues
from reactive_users.core.dlq import (
    MAX_BATCH_ENTRIES,
    SYSTEM_ATTRIBUTES,
    DeadLetter,
    dead_letter,
    redrive_entries,
    send_batches,
)
from reactive_users.core.errors import InvalidRequest, ReactiveError
from reactive_users.core.settings import Settings

#: Seconds a letter stays invisible while the rest of the queue is read; a letter whose
#: hand-back failed becomes visible again after this.
LIST_VISIBILITY_SECONDS = 120
#: Long poll of each ReceiveMessage, in seconds: a short poll samples only some of SQS's
#: servers, so its empty answer would not mean that no letters are left.
RECEIVE_WAIT_SECONDS = 1


@dataclass(frozen=True, kw_only=True)
class Listing:
    """Every letter a listing saw, and those it could not hand back (id -> why)."""

    letters: list[DeadLetter]
    not_released: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Redriven:
    """What a redrive did: letters moved, letters that stayed (id -> why)."""

    moved: int
    failed: dict[str, str] = field(default_factory=dict)
    #: Whether the letter asked for was found (always True for "all").
    found: bool = True
    not_released: dict[str, str] = field(default_factory=dict)


def list_letters(settings: Settings, dlq_url: str) -> Listing:
    """Every letter in the DLQ, each seen once; all of them are handed back at the end."""
    reader = _Reader(settings, dlq_url)
    letters: list[DeadLetter] = []
    try:
        while batch := reader.next_batch():
            letters.extend(batch)
    finally:
        not_released = reader.release()
    return Listing(letters=letters, not_released=not_released)


def redrive(
    settings: Settings,
    *,
    dlq_url: str,
    queue_url: str,
    fifo: bool,
    message_id: str | None = None,
    progress: Callable[[int], None] = lambda moved: None,
) -> Redriven:
    """Move the letter ``message_id`` (None: every letter) from the DLQ to the main queue.

    ``progress(moved)`` is called after each batch. Letters that were not moved, and any
    other letter read while looking for ``message_id``, are handed back at the end.
    """
    reader = _Reader(settings, dlq_url)
    moved, found = 0, message_id is None
    failed: dict[str, str] = {}
    try:
        while batch := reader.next_batch():
            chosen = [x for x in batch if message_id is None or x.message_id == message_id]
            if not chosen:
                continue
            found = True
            deleted, copies, failures = _move(settings, dlq_url, queue_url, chosen, fifo=fifo)
            reader.forget(deleted)
            reader.ignore(copies)  # should a copy die again meanwhile, leave it for next time
            moved += len(deleted)
            failed.update(failures)
            progress(moved)
            if message_id is not None:
                break
    finally:
        not_released = reader.release()
    return Redriven(moved=moved, failed=failed, found=found, not_released=not_released)


def depth(settings: Settings, url: str) -> int:
    """How many messages the queue holds: visible, in flight and delayed."""
    return queues.queue_depth(aws.client("sqs", settings), url).total


def purge(settings: Settings, url: str) -> None:
    """PurgeQueue: every message in the queue is deleted (SQS allows one purge a minute)."""
    with aws.map_aws_errors(f"PurgeQueue {url}"):
        aws.client("sqs", settings).purge_queue(QueueUrl=url)


class _Reader:
    """Receives a queue's messages once each and holds them invisible until ``release``."""

    def __init__(self, settings: Settings, url: str) -> None:
        self._sqs = aws.client("sqs", settings)
        self._url = url
        self._seen: set[str] = set()
        #: Received and not deleted: handed back by ``release``.
        self.held: dict[str, DeadLetter] = {}

    def next_batch(self) -> list[DeadLetter]:
        """The letters of one receive not seen before; [] when none came back."""
        with aws.map_aws_errors(f"ReceiveMessage {self._url}"):
            response = self._sqs.receive_message(
                QueueUrl=self._url,
                MaxNumberOfMessages=MAX_BATCH_ENTRIES,
                VisibilityTimeout=LIST_VISIBILITY_SECONDS,
                WaitTimeSeconds=RECEIVE_WAIT_SECONDS,
                MessageSystemAttributeNames=list(SYSTEM_ATTRIBUTES),
                MessageAttributeNames=["All"],
            )
        new: list[DeadLetter] = []
        for message in response.get("Messages", []):
            letter = dead_letter(message)
            if letter.message_id in self._seen:  # again: only its newest handle is valid
                known = self.held.get(letter.message_id, letter)
                self.held[letter.message_id] = replace(known, receipt_handle=letter.receipt_handle)
                continue
            self._seen.add(letter.message_id)
            self.held[letter.message_id] = letter
            new.append(letter)
        return new

    def forget(self, message_ids: Iterable[str]) -> None:
        """These were deleted: nothing to hand back."""
        for message_id in message_ids:
            self.held.pop(message_id, None)

    def ignore(self, message_ids: Iterable[str]) -> None:
        """Never return these as new (they are handed back if received)."""
        self._seen.update(message_ids)

    def release(self) -> dict[str, str]:
        """Hand every held letter back (visibility 0); returns those SQS refused, and why."""
        refused: dict[str, str] = {}
        letters = list(self.held.values())
        for start in range(0, len(letters), MAX_BATCH_ENTRIES):
            chunk = letters[start : start + MAX_BATCH_ENTRIES]
            entries = [
                {"Id": str(i), "ReceiptHandle": x.receipt_handle, "VisibilityTimeout": 0}
                for i, x in enumerate(chunk)
            ]
            try:
                with aws.map_aws_errors(f"ChangeMessageVisibilityBatch {self._url}"):
                    response = self._sqs.change_message_visibility_batch(
                        QueueUrl=self._url, Entries=entries
                    )
            except ReactiveError as e:  # already unwinding, maybe: report, never mask
                refused.update({x.message_id: f"{type(e).__name__}: {e}" for x in chunk})
                continue
            refused.update(_failures(chunk, response))
        self.held.clear()
        return refused


def send_entries(
    settings: Settings, url: str, entries: Sequence[dict[str, Any]]
) -> tuple[dict[int, str], dict[int, str]]:
    """Send SendMessageBatch ``entries`` (``Id``: their index) to the queue at ``url``, in
    as few calls as SQS's limits allow; (index -> new message id, index -> why not sent).

    A batch SQS refuses as a whole is tried again entry by entry, so that one entry it
    cannot take (too large, say) fails alone. Other errors (unreachable, denied) raise.
    """
    sqs = aws.client("sqs", settings)
    sent: dict[int, str] = {}
    failed: dict[int, str] = {}
    for batch in send_batches(entries):
        _send(sqs, url, batch, sent, failed)
    return sent, failed


def _move(
    settings: Settings, dlq_url: str, queue_url: str, letters: Sequence[DeadLetter], *, fifo: bool
) -> tuple[list[str], list[str], dict[str, str]]:
    """Send ``letters`` to the main queue, then delete from the DLQ those that were sent.

    Returns (letter ids moved, message ids of the copies, letter id -> why it stayed).
    """
    sqs = aws.client("sqs", settings)
    sent: dict[int, str] = {}
    failed: dict[int, str] = {}
    try:
        for batch in send_batches(redrive_entries(letters, fifo=fifo)):
            _send(sqs, queue_url, batch, sent, failed)
    except ReactiveError:  # unreachable, denied...: still delete what was sent, if we can
        with contextlib.suppress(ReactiveError):
            _delete(sqs, dlq_url, [letters[i] for i in sorted(sent)])
        raise
    copied = [letters[i] for i in sorted(sent)]
    not_deleted = _delete(sqs, dlq_url, copied)
    moved = [x.message_id for x in copied if x.message_id not in not_deleted]
    refused = {letters[i].message_id: why for i, why in failed.items()}
    return moved, list(sent.values()), refused | not_deleted


def _delete(sqs: Any, dlq_url: str, copied: Sequence[DeadLetter]) -> dict[str, str]:
    """Delete letters that now have a copy in the main queue; returns those not deleted."""
    not_deleted: dict[str, str] = {}
    for start in range(0, len(copied), MAX_BATCH_ENTRIES):
        chunk = copied[start : start + MAX_BATCH_ENTRIES]
        entries = [{"Id": str(i), "ReceiptHandle": x.receipt_handle} for i, x in enumerate(chunk)]
        with aws.map_aws_errors(f"DeleteMessageBatch {dlq_url}"):
            response = sqs.delete_message_batch(QueueUrl=dlq_url, Entries=entries)
        for message_id, why in _failures(chunk, response).items():
            not_deleted[message_id] = f"copied to the queue but not deleted here ({why})"
    return not_deleted


def _send(
    sqs: Any,
    queue_url: str,
    batch: list[dict[str, Any]],
    sent: dict[int, str],
    failed: dict[int, str],
) -> None:
    """One SendMessageBatch; a batch SQS refuses as a whole is retried entry by entry."""
    try:
        with aws.map_aws_errors(f"SendMessageBatch {queue_url}"):
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=batch)
    except InvalidRequest as e:  # e.g. one body too large for the queue: find which
        if len(batch) > 1:
            for entry in batch:
                _send(sqs, queue_url, [entry], sent, failed)
        else:
            failed[int(batch[0]["Id"])] = str(e)
        return
    result = queues.batch_result(response)
    sent.update({int(entry_id): message_id for entry_id, message_id in result.accepted.items()})
    failed.update({int(entry_id): why for entry_id, why in result.refused.items()})


def _failures(chunk: Sequence[DeadLetter], response: Any) -> dict[str, str]:
    """The letters of ``chunk`` a batch call refused (entry ids are indexes), and why."""
    refused = queues.batch_result(response).refused
    return {chunk[int(entry_id)].message_id: why for entry_id, why in refused.items()}
