"""Applying one received batch of events in ONE transaction: ``apply_batch``.

The batch's replicas are read (and locked) once, up front, not per event (``batch_reads``).
It is first applied with no savepoint per event, and the local users it deletes are deleted
together at its end (one pass of Django's collector for them all, ``BatchReads.flush``). If
any event fails, that transaction rolls back and the batch is applied again, each event in
its own savepoint and each delete on its own, so a refused one leaves the others applied;
failures are logged in that second pass only, once per receive. If that fails as a whole
too (the database is away), every event failed for now.

Events are applied in (user, version) order: one user's frames go out in version order, and
competing listeners lock replicas in the same order (no deadlocks). A stop asked for between
two events commits what is applied and hands back the rest. A batch that cannot be applied
at all (the database is away) comes back with every event failed for now and the error.

The messages that carried the events are opaque here: each comes back with what its event
did (``Handled``), or in ``rest``; they are named in the logs by id and receive count.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from reactive_users.client.apply.event import ApplyResult, event_apply
from reactive_users.client.apply.reads import BatchReads, batch_reads
from reactive_users.client.decide import Decision
from reactive_users.client.failures import Failure, classify, retry_delay_seconds
from reactive_users.core.contract import Envelope

logger = logging.getLogger(__name__)

Message = Mapping[str, Any]


class StopRequest:
    """Whether a stop was asked for: an event another thread sets, or a flag a signal
    handler raises (a plain assignment: a handler must take no lock)."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.event = event if event is not None else threading.Event()
        self.flag = False

    def is_set(self) -> bool:
        return self.flag or self.event.is_set()


@dataclass(frozen=True)
class Delivery:
    """One decoded event and the message that carried it."""

    message: Message
    event: Envelope
    #: How the logs name the message: its id, and its receive count as SQS said it ("?").
    message_id: str = "?"
    receives: str = "?"
    #: The receive count as a number (0 if unknown): a failed event's retry delay.
    receive_count: int = 0
    #: What goes to the dead-letter queue if the event is refused, when not ``message``:
    #: an event of a multi-event message, as a single-event message.
    letter: Message | None = None


@dataclass(frozen=True)
class Handled:
    """One received event (or a message refused whole) and what applying it gave (None: it
    failed, see ``failure``); ``message`` is the SQS message that carried it."""

    message: Message
    result: ApplyResult | None
    #: Seconds ``event_apply`` took (for the metrics, observed once the batch committed).
    seconds: float = 0.0
    #: Why it failed (``result`` is None), and whether for good.
    failure: Failure | None = None
    #: What goes to the dead-letter queue if it failed for good, when not ``message``
    #: itself: one event of a multi-event message, as a single-event message.
    letter: Message | None = None


@dataclass(frozen=True)
class BatchApplied:
    """What ``apply_batch`` did with a batch."""

    #: Each message applied or failed, in the order applied.
    handled: list[Handled]
    #: The messages not even tried (a stop was asked for): to be handed back.
    rest: list[Message]
    #: Whether the fast pass failed and the batch was applied again, event by event.
    guarded: bool = False
    #: Why no event could be applied at all (the database is away): each failed for now.
    error: Exception | None = None


def apply_batch(deliveries: Sequence[Delivery], *, stop: StopRequest | None = None) -> BatchApplied:
    """Apply ``deliveries``' events in one transaction (one commit per batch); never raises
    for an event: each failure is in its ``Handled``. ``stop`` is looked at before each event.
    """
    stop = stop if stop is not None else StopRequest()
    ordered = sorted(deliveries, key=lambda d: (d.event.user_id, d.event.version))
    guarded = False
    try:
        try:
            with transaction.atomic():
                handled, rest = _apply_all(ordered, stop, guarded=False)
        except Exception:  # one event failed and rolled the batch back: one by one
            guarded = True
            with transaction.atomic():
                handled, rest = _apply_all(ordered, stop, guarded=True)
    except Exception as exc:  # the batch cannot be applied at all: try again later
        failure = Failure(permanent=False, reason=classify(exc).reason)
        failed = [Handled(d.message, None, failure=failure) for d in ordered]
        return BatchApplied(failed, [], guarded=guarded, error=exc)
    return BatchApplied(handled, rest, guarded=guarded)


def _apply_all(
    ordered: list[Delivery], stop: StopRequest, *, guarded: bool
) -> tuple[list[Handled], list[Message]]:
    """Apply the events in the open transaction; ``guarded``: each in a savepoint, its
    failure logged and kept to itself; else the first failure raises."""
    applied: list[Handled] = []
    if stop.is_set():  # not even the batch's reads
        return applied, [d.message for d in ordered]
    # One read for the batch's replicas and usernames. The fast pass deletes the batch's
    # local users together at its end (``BatchReads.flush``); one by one when guarded.
    reads = batch_reads(events=[d.event for d in ordered], defer_deletes=not guarded)
    rest: list[Message] = []
    for index, delivery in enumerate(ordered):
        if stop.is_set():
            rest = [d.message for d in ordered[index:]]
            break
        if guarded:
            applied.append(_apply_guarded(delivery, reads))
        else:
            started = time.perf_counter()
            result = event_apply(event=delivery.event, batch=reads, savepoint=False)
            applied.append(Handled(delivery.message, result, time.perf_counter() - started))
    started = time.perf_counter()
    if reads.flush():  # their share of it counts in the deletes' apply time
        applied = _spread(applied, Decision.DELETE, time.perf_counter() - started)
    return applied, rest


def _apply_guarded(delivery: Delivery, reads: BatchReads) -> Handled:
    """Apply one event in a savepoint; every failure is logged here, once per receive."""
    event = delivery.event
    started = time.perf_counter()
    try:
        result = event_apply(event=event, batch=reads)
    except Exception as exc:
        failure = classify(exc)
        if failure.permanent:
            logger.error(
                "event %s message %s (receive %s): refused, for the dead-letter queue: %s",
                event.event_id,
                delivery.message_id,
                delivery.receives,
                failure.reason,
            )
        else:
            logger.exception(
                "event %s message %s (receive %s): not applied, retried in %d s: %s",
                event.event_id,
                delivery.message_id,
                delivery.receives,
                retry_delay_seconds(delivery.receive_count),
                failure.reason,
            )
        return Handled(delivery.message, None, failure=failure, letter=delivery.letter)
    return Handled(delivery.message, result, time.perf_counter() - started)


def _spread(handled: list[Handled], decision: Decision, seconds: float) -> list[Handled]:
    """``handled`` with ``seconds`` shared out among the events ``decision`` was taken for."""
    takers = sum(1 for h in handled if h.result is not None and h.result.decision is decision)
    if not takers:
        return handled
    share = seconds / takers
    return [
        dataclasses.replace(h, seconds=h.seconds + share)
        if h.result is not None and h.result.decision is decision
        else h
        for h in handled
    ]
