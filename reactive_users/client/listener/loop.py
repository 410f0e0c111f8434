"""The listener's loop: long-poll the client's queue, apply each batch, tell the sockets, delete.

One batch is: ReceiveMessage (up to 10, long poll, held for the short visibility timeout
REACTIVE_LISTENER_VISIBILITY_SECONDS, extended by ``heartbeat`` for as long as the batch is
in hand; ``sqs``) -> verify and decode each message (``received``) -> apply the events in
ONE database transaction (``reactive_users.client.apply.apply_batch``) -> hand the resulting
frames to the ``Notifier``, which sends them from a thread of its own (applying never waits
on Redis) -> send what can never succeed to the dead-letter queue -> ONE DeleteMessageBatch
for every message that was applied, ignored or dead-lettered -> ONE
ChangeMessageVisibilityBatch for what is handed back.

A multi-event message (``received``) is settled as a whole (``settle``): deleted only when
every event in it is applied, ignored, or refused and accepted by the dead-letter queue as
a single-event message of its own; handed back if one failed for now or a stop left one
untried.

A message that fails is logged once per receive. What it becomes follows the rules of
``reactive_users.client.failures``: a permanent failure (malformed, refused) is sent to the
queue's dead-letter queue at once, with its reason, then deleted; if that cannot be done it
is left for the redrive policy. A transient one (the database away, an unexpected error) is
handed back to be received again after a delay that doubles with its receives, and the
loop pauses (``compute_backoff``).

The loop cannot die: AWS errors back off and retry, anything else is logged with its
traceback and the loop goes on. On stop it finishes the message in hand, deletes what was
applied, hands the rest of the batch back (visibility 0) and sends the frames still waiting
for at most the notifier's drain time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from django.db import close_old_connections, connections
from prometheus_client import CollectorRegistry

from reactive_users.client.apply import BatchApplied, Handled, StopRequest, apply_batch
from reactive_users.client.failures import classify, compute_backoff, retry_delay_seconds
from reactive_users.client.listener import received
from reactive_users.client.listener.acks import listener_identity
from reactive_users.client.listener.alive import Alive
from reactive_users.client.listener.heartbeat import Heartbeat
from reactive_users.client.listener.notifier import Notifier
from reactive_users.client.listener.sqs import ClientQueue, SQSMessage
from reactive_users.client.listener.stats import BatchStats, ListenerStats, batch_stats
from reactive_users.client.tuning import (
    DEFAULT_VISIBILITY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    MIN_VISIBILITY_SECONDS,
)
from reactive_users.core import naming
from reactive_users.core.errors import AwsError, ConfigError
from reactive_users.core.settings import Settings, signing_keys

logger = logging.getLogger(__name__)

#: SQS's longest long poll (ReceiveMessage WaitTimeSeconds), in seconds.
MAX_WAIT_TIME_SECONDS = 20
#: SQS's most messages per ReceiveMessage (and per DeleteMessageBatch).
MAX_PREFETCH = 10


class Interrupted(BaseException):
    """Raised by a signal handler to break off a long poll or back-off that holds no message."""


class Listener:
    """One client's SQS consumer loop; ``run()`` returns when stopped."""

    def __init__(
        self,
        *,
        settings: Settings,
        client: str,
        queue_url: str,
        stop: threading.Event | None = None,
        max_messages: int = MAX_PREFETCH,
        wait_seconds: int = MAX_WAIT_TIME_SECONDS,
        visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
        notifier: Notifier | None = None,
        registry: CollectorRegistry | None = None,
        read_depths: bool = False,
        alive: Alive | None = None,
    ) -> None:
        if not 1 <= max_messages <= MAX_PREFETCH:
            raise ConfigError(f"max_messages must be within 1..{MAX_PREFETCH}")
        if not 0 <= wait_seconds <= MAX_WAIT_TIME_SECONDS:
            raise ConfigError(f"wait_seconds must be within 0..{MAX_WAIT_TIME_SECONDS}")
        if not MIN_VISIBILITY_SECONDS <= visibility_seconds <= MAX_VISIBILITY_SECONDS:
            raise ConfigError(
                f"visibility_seconds must be within {MIN_VISIBILITY_SECONDS}.."
                f"{MAX_VISIBILITY_SECONDS}"
            )
        self.client = naming.check_client_name(client)
        self.queue_url = queue_url
        #: The keys a message must be signed with (ConfigError in production without any).
        self._keys = signing_keys(settings)
        self._queue = ClientQueue(settings, queue_url, visibility_seconds=visibility_seconds)
        self._stop = StopRequest(stop)
        self._max_messages = max_messages
        self._wait_seconds = wait_seconds
        self._forced = False  # a second signal: stop without draining the frames waiting
        #: What the loop is waiting in: "poll" (may receive messages), "backoff" or None.
        self._waiting: str | None = None
        self.stats = ListenerStats(registry, self.client, read_depths=read_depths)
        self.metrics = self.stats.metrics
        self._heartbeat = Heartbeat(
            self._queue.extend,
            visibility_seconds=visibility_seconds,
            on_extended=self.metrics.visibility_extended.inc,
        )
        self._notifier = notifier if notifier is not None else Notifier()
        #: Renews this listener's key in Redis from the loop (``alive.py``), if given.
        self._alive = alive
        self._notifier.on_drop = self.metrics.frames_dropped.inc
        self.metrics.watch_notify_backlog(lambda: self._notifier.backlog)

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (stop event set, or ``request_stop``)."""
        return self._stop.is_set()

    def request_stop(self, *, interrupt: bool = False, force: bool = False) -> None:
        """Stop after the message in hand; signal-handler safe (takes no lock).

        With ``interrupt`` (only from a signal handler in the loop's thread) a back-off wait
        is broken off at once: it holds no message. A long poll in progress is let finish,
        so that what it receives is handed back (visibility 0) rather than stranded, unless
        ``force`` is also given: then it is abandoned, and whatever SQS had already handed
        it comes back only after the visibility timeout the listener receives with.
        """
        self._stop.flag = True
        self._forced = self._forced or force
        if interrupt and (self._waiting == "backoff" or (force and self._waiting == "poll")):
            raise Interrupted

    def run(self) -> None:
        """Receive, apply, notify and delete until stopped; never raises for a bad message."""
        self._beat()
        logger.info(
            "listener %s: listening on %s (visibility timeout %d s)",
            self.client,
            self.queue_url,
            self._queue.visibility_seconds,
        )
        failures = 0
        try:
            while not self.stopping:
                failures = self._step(failures)
        except Interrupted:
            pass
        finally:
            self.close()
            connections.close_all()
        logger.info("listener %s: stopped", self.client)

    def close(self) -> None:
        """Stop the heartbeat and send the frames still waiting (for the notifier's drain
        time; not at all after a forced stop)."""
        self._heartbeat.close()
        self._notifier.close(drain_seconds=0.0 if self._forced else None)
        if self._alive is not None:
            self._alive.forget()

    def _beat(self) -> None:
        """Renew this listener's alive key, if it has one and it is due (``alive.py``)."""
        if self._alive is not None:
            self._alive.beat()

    def _step(self, failures: int) -> int:
        try:
            stats = self.poll_once()
            if not stats.retried:
                return 0
            delay = compute_backoff(failures + 1)
            logger.warning(
                "listener %s: %d message(s) failed for now and will be retried; pausing %.1f s",
                self.client,
                stats.retried,
                delay,
            )
        except AwsError as exc:
            delay = compute_backoff(failures + 1)
            logger.critical(
                "listener %s: %s: %s; retrying in %.1f s",
                self.client,
                type(exc).__name__,
                exc,
                delay,
            )
        except Exception:
            delay = compute_backoff(failures + 1)
            logger.exception(
                "listener %s: unexpected error; retrying in %.1f s", self.client, delay
            )
        with self._interruptible("backoff"):
            self._stop.event.wait(delay)
        return failures + 1

    @contextlib.contextmanager
    def _interruptible(self, kind: str) -> Iterator[None]:
        self._waiting = kind
        try:
            if self._stop.flag:  # asked just before: don't start a long wait
                raise Interrupted
            yield
        finally:
            self._waiting = None

    def poll_once(self) -> BatchStats:
        """Handle one ReceiveMessage batch; returns what happened to it."""
        close_old_connections()  # a long-lived process: drop connections the server closed
        self.stats.maybe_read_depths(self._queue)
        with self._interruptible("poll"):
            messages = self._queue.receive(
                max_messages=self._max_messages, wait_seconds=self._wait_seconds
            )
        self._beat()  # after the poll: nothing is added between the log and the first poll
        if not messages:
            return BatchStats()
        self._heartbeat.hold(messages)
        try:
            return self.handle(messages)
        finally:
            self._heartbeat.clear()

    def handle(self, messages: list[SQSMessage]) -> BatchStats:
        """Everything after the receive: decode, apply, notify, dead-letter, delete, hand
        back; what happened to the batch."""
        deliveries, refused = received.decode(messages, self._keys)
        batch = apply_batch(deliveries, stop=self._stop)
        handled = refused + self._committed(batch)
        results = [h.result for h in handled if h.result is not None]
        self._notifier.submit(results, client=self.client)  # sent from its own thread
        settled = settle(messages, handled, batch.rest)
        dead, dead_events = self._dead_letter(settled.poisoned)
        done = settled.done + dead
        self._heartbeat.drop(done)
        self._heartbeat.drop(m for m, _ in settled.back)
        try:
            self._queue.delete(done)
        finally:  # even if deleting failed: what is handed back must not wait its timeout
            self._queue.change_visibility(settled.back)
        failed = [h for h in handled if h.failure is not None]
        stats = batch_stats(
            messages=len(messages),
            events=len(deliveries) + len(refused),
            results=results,
            released=len(batch.rest),
            failed=len(failed),
            dead_lettered=dead_events,
            retried=sum(1 for h in failed if h.failure and not h.failure.permanent),
        )
        self.stats.record(stats, handled)
        logger.info(
            "listener %s: batch messages=%d received=%d applied=%d ignored=%d tested=%d "
            "failed=%d dead_lettered=%d retried=%d released=%d events=%s",
            self.client,
            stats.messages,
            stats.received,
            stats.applied,
            stats.ignored,
            stats.tested,
            stats.failed,
            stats.dead_lettered,
            stats.retried,
            stats.released,
            ",".join(str(r.event.event_id) for r in results),
        )
        return stats

    def _committed(self, batch: BatchApplied) -> list[Handled]:
        """What ``apply_batch`` did, logged now that it is committed (or, if nothing could
        be applied, why)."""
        if batch.error is not None:
            logger.error(
                "listener %s: batch of %d event(s) not applied, each will be retried: %s; "
                "messages %s",
                self.client,
                len(batch.handled),
                classify(batch.error).reason,
                ", ".join(
                    f"{received.message_id(h.message)} (receive {received.receives(h.message)})"
                    for h in batch.handled
                ),
                exc_info=batch.error,
            )
            return batch.handled
        debug = logger.isEnabledFor(logging.DEBUG)  # else not even its arguments are worked out
        if debug:  # committed: only now is what each event did true
            for done in batch.handled:
                if done.result is not None:
                    _log_applied(done)
        return batch.handled

    def _dead_letter(
        self, poisoned: list[tuple[SQSMessage, list[Handled]]]
    ) -> tuple[list[SQSMessage], int]:
        """Send each message's permanent failures to the dead-letter queue (a message
        refused whole, or each refused event of a multi-event message as its letter); the
        messages all of whose letters it accepted, and how many letters it accepted."""
        owners: list[SQSMessage] = []
        pairs: list[tuple[SQSMessage, str]] = []
        for message, failures in poisoned:
            for h in failures:
                assert h.failure is not None
                owners.append(message)
                pairs.append((h.letter if h.letter is not None else h.message, h.failure.reason))
        if not pairs:
            return [], 0
        outcome = self._queue.dead_letter(pairs, listener=listener_identity())
        for letter, copy in outcome.sent:
            logger.warning(
                "message %s (receive %s): sent to the dead-letter queue, as message %s",
                received.message_id(letter),
                received.receives(letter),
                copy,
            )
        for message_id, why in outcome.left.items():
            logger.error(
                "message %s: not sent to the dead-letter queue (%s): left for the queue's "
                "redrive policy",
                message_id,
                why,
            )
        self.metrics.dead_lettered.inc(len(outcome.sent))
        sent = {id(letter) for letter, _ in outcome.sent}
        kept = {
            id(owner)
            for owner, (letter, _) in zip(owners, pairs, strict=True)
            if id(letter) not in sent
        }
        return [m for m, _ in poisoned if id(m) not in kept], len(outcome.sent)


@dataclass(frozen=True)
class Settled:
    """What becomes of each message of a batch once its events were handled."""

    #: Every event applied or ignored: to be deleted.
    done: list[SQSMessage] = field(default_factory=list)
    #: Each with its permanent failures: deleted once the dead-letter queue took them all.
    poisoned: list[tuple[SQSMessage, list[Handled]]] = field(default_factory=list)
    #: Handed back, each with its visibility: after a delay if one of its events failed
    #: for now, else at once (a stop left events of it untried).
    back: list[tuple[SQSMessage, int]] = field(default_factory=list)


def settle(
    messages: Sequence[SQSMessage], handled: Sequence[Handled], rest: Sequence[SQSMessage]
) -> Settled:
    """Each message of the batch settled from what its events did (a multi-event message
    carries several): nothing is deleted while one of its events is unsettled."""
    by_message: dict[int, list[Handled]] = {}
    for h in handled:
        by_message.setdefault(id(h.message), []).append(h)
    untried = {id(m) for m in rest}
    settled = Settled()
    for message in messages:
        mine = by_message.get(id(message), [])
        failed = [h for h in mine if h.failure is not None]
        if any(h.failure is not None and not h.failure.permanent for h in failed):
            delay = retry_delay_seconds(received.receive_count(message))
            settled.back.append((message, delay))
        elif id(message) in untried:
            settled.back.append((message, 0))
        elif failed:
            settled.poisoned.append((message, failed))
        else:
            settled.done.append(message)
    return settled


def _log_applied(done: Handled) -> None:
    """What one event did, once its batch committed (a killed listener logs nothing)."""
    assert done.result is not None
    event = done.result.event
    logger.debug(
        "event %s message %s (receive %s): %s master user %s v%s -> %s",
        event.event_id,
        received.message_id(done.message),
        received.receives(done.message),
        event.action.value,
        event.user_id,
        event.version,
        done.result.decision.value,
    )
