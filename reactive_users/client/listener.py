"""The SQS listener: long-poll the client's queue, apply each event, tell the sockets, delete.

One batch is: ReceiveMessage (up to 10, long poll, held for the short visibility timeout
REACTIVE_LISTENER_VISIBILITY_SECONDS, extended by ``reactive_users.client.heartbeat`` for as long
as the batch is in hand) -> verify each message's signature (``reactive_users.core.signing``: only
the master's keys speak) and decode it -> apply the events with ``event_apply`` in
ONE database transaction (the batch's replicas read once by ``batch_reads``; no savepoint
per event unless one fails, see ``_handle_batch``) -> hand the resulting frames to the
``Notifier``, which sends them from a thread of its own (applying never waits on Redis) ->
send what can never succeed to the dead-letter queue -> ONE DeleteMessageBatch for every
message that was applied, ignored or dead-lettered -> ONE ChangeMessageVisibilityBatch for
what is handed back.

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
import dataclasses
import logging
import signal
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

from django.db import close_old_connections, connections, transaction
from prometheus_client import CollectorRegistry

from reactive_users.client import conf
from reactive_users.client.decide import Decision
from reactive_users.client.failures import (
    Failure,
    classify,
    compute_backoff,
    retry_delay_seconds,
)
from reactive_users.client.heartbeat import Heartbeat
from reactive_users.client.notifier import Notifier, listener_identity
from reactive_users.client.queue import ClientQueue
from reactive_users.client.services import ApplyResult, BatchReads, batch_reads, event_apply
from reactive_users.client.tuning import (
    DEFAULT_VISIBILITY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    MIN_VISIBILITY_SECONDS,
)
from reactive_users.core import aws, metrics, naming, signing
from reactive_users.core.contract import Envelope, decode_sqs_body
from reactive_users.core.errors import AwsError, ConfigError, ContractError, SignatureError
from reactive_users.core.settings import Settings, signing_keys

__all__ = [
    "DEFAULT_VISIBILITY_SECONDS",
    "Listener",
    "Notifier",
    "compute_backoff",
    "listener_identity",
    "queue_url_for",
    "serve",
]

logger = logging.getLogger(__name__)

#: SQS's longest long poll (ReceiveMessage WaitTimeSeconds), in seconds.
MAX_WAIT_TIME_SECONDS = 20
#: SQS's most messages per ReceiveMessage (and per DeleteMessageBatch).
MAX_PREFETCH = 10
#: Seconds between two readings of the queue depths for the metrics (only when served).
DEPTH_INTERVAL_SECONDS = 15.0

SQSMessage = Mapping[str, Any]


def queue_url_for(*, settings: Settings, client: str, explicit: str | None = None) -> str:
    """The queue to read: ``explicit`` (REACTIVE_QUEUE_URL), else what provisioning recorded,
    else looked up by name (``QueueNotFound`` if absent): ``aws.client_queue_url``."""
    return aws.client_queue_url(settings, client, explicit=explicit)


class Interrupted(BaseException):
    """Raised by a signal handler to break off a long poll or back-off that holds no message."""


@dataclass(frozen=True)
class Handled:
    """One received message and what applying it gave (None: it failed, see ``failure``)."""

    message: SQSMessage
    result: ApplyResult | None
    #: Seconds ``event_apply`` took (for the metrics, observed once the batch committed).
    seconds: float = 0.0
    #: Why it failed (``result`` is None), and whether for good.
    failure: Failure | None = None


@dataclass(frozen=True)
class BatchStats:
    """Counts for one received batch."""

    received: int = 0
    applied: int = 0
    ignored: int = 0
    tested: int = 0
    failed: int = 0
    released: int = 0
    #: Of the failed: sent to the dead-letter queue, and handed back to be retried later.
    dead_lettered: int = 0
    retried: int = 0


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
        self._heartbeat = Heartbeat(self._extend, visibility_seconds=visibility_seconds)
        self._stop = stop if stop is not None else threading.Event()
        self._max_messages = max_messages
        self._wait_seconds = wait_seconds
        self._stop_requested = False
        self._forced = False  # a second signal: stop without draining the frames waiting
        #: What the loop is waiting in: "poll" (may receive messages), "backoff" or None.
        self._waiting: str | None = None
        #: Counted always; served over HTTP only when the operator sets a port (``serve``).
        self.metrics = metrics.ListenerMetrics(registry or CollectorRegistry(), self.client)
        self._notifier = notifier if notifier is not None else Notifier()
        self._notifier.on_drop = self.metrics.frames_dropped.inc
        self.metrics.watch_notify_backlog(lambda: self._notifier.backlog)
        #: Read the queue depths for the metrics every DEPTH_INTERVAL_SECONDS (AWS calls).
        self._read_depths = read_depths
        self._depths_read_at = -DEPTH_INTERVAL_SECONDS

    @property
    def stopping(self) -> bool:
        """Whether a stop was asked for (stop event set, or ``request_stop``)."""
        return self._stop_requested or self._stop.is_set()

    def request_stop(self, *, interrupt: bool = False, force: bool = False) -> None:
        """Stop after the message in hand; signal-handler safe (takes no lock).

        With ``interrupt`` (only from a signal handler in the loop's thread) a back-off wait
        is broken off at once: it holds no message. A long poll in progress is let finish,
        so that what it receives is handed back (visibility 0) rather than stranded, unless
        ``force`` is also given: then it is abandoned, and whatever SQS had already handed
        it comes back only after the visibility timeout the listener receives with.
        """
        self._stop_requested = True
        self._forced = self._forced or force
        if interrupt and (self._waiting == "backoff" or (force and self._waiting == "poll")):
            raise Interrupted

    def run(self) -> None:
        """Receive, apply, notify and delete until stopped; never raises for a bad message."""
        logger.info(
            "listener %s: listening on %s (visibility timeout %d s)",
            self.client, self.queue_url, self._queue.visibility_seconds,
        )  # fmt: skip
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

    def _step(self, failures: int) -> int:
        try:
            stats = self.poll_once()
            if not stats.retried:
                return 0
            delay = compute_backoff(failures + 1)
            logger.warning(
                "listener %s: %d message(s) failed for now and will be retried; pausing "
                "%.1f s", self.client, stats.retried, delay,
            )  # fmt: skip
        except AwsError as exc:
            delay = compute_backoff(failures + 1)
            logger.critical(
                "listener %s: %s: %s; retrying in %.1f s",
                self.client, type(exc).__name__, exc, delay,
            )  # fmt: skip
        except Exception:
            delay = compute_backoff(failures + 1)
            logger.exception(
                "listener %s: unexpected error; retrying in %.1f s", self.client, delay
            )
        with self._interruptible("backoff"):
            self._stop.wait(delay)
        return failures + 1

    @contextlib.contextmanager
    def _interruptible(self, kind: str) -> Iterator[None]:
        self._waiting = kind
        try:
            if self._stop_requested:  # asked just before: don't start a long wait
                raise Interrupted
            yield
        finally:
            self._waiting = None

    def poll_once(self) -> BatchStats:
        """Handle one ReceiveMessage batch; returns what happened to it."""
        close_old_connections()  # a long-lived process: drop connections the server closed
        self._maybe_read_depths()
        messages = self._receive()
        if not messages:
            return BatchStats()
        self._heartbeat.hold(messages)
        try:
            return self._finish(messages)
        finally:
            self._heartbeat.clear()

    def _finish(self, messages: list[SQSMessage]) -> BatchStats:
        """Everything after the receive: apply, notify, dead-letter, delete, hand back."""
        handled, rest = self._handle_batch(messages)
        results = [h.result for h in handled if h.result is not None]
        self._notifier.submit(results, client=self.client)  # sent from its own thread
        failed = [h for h in handled if h.failure is not None]
        dead = self._dead_letter([h for h in failed if h.failure and h.failure.permanent])
        done = [h.message for h in handled if h.result is not None] + dead
        self._heartbeat.drop(done)
        retried = [
            (h.message, retry_delay_seconds(_receive_count(h.message)))
            for h in failed
            if h.failure is not None and not h.failure.permanent
        ]
        back = [(m, 0) for m in rest] + retried
        self._heartbeat.drop(m for m, _ in back)
        try:
            self._queue.delete(done)
        finally:  # even if deleting failed: what is handed back must not wait its timeout
            self._queue.change_visibility(back)
        stats = dataclasses.replace(
            _stats(messages, results, rest), dead_lettered=len(dead), retried=len(retried)
        )
        self._count(stats, handled)
        self._note_truncated(results)
        logger.info(
            "listener %s: batch received=%d applied=%d ignored=%d tested=%d failed=%d "
            "dead_lettered=%d retried=%d released=%d events=%s",
            self.client, stats.received, stats.applied, stats.ignored, stats.tested,
            stats.failed, stats.dead_lettered, stats.retried, stats.released,
            ",".join(str(r.event.event_id) for r in results),
        )  # fmt: skip
        return stats

    def _receive(self) -> list[SQSMessage]:
        with self._interruptible("poll"):
            return self._queue.receive(
                max_messages=self._max_messages, wait_seconds=self._wait_seconds
            )

    def _extend(self, messages: list[SQSMessage], seconds: int) -> None:
        """The heartbeat's call: keep a batch still in hand invisible."""
        self._queue.extend(messages, seconds)
        self.metrics.visibility_extended.inc()

    def _handle_batch(self, messages: list[SQSMessage]) -> tuple[list[Handled], list[SQSMessage]]:
        """Decode every message, then apply the events in ONE transaction (one commit per
        batch). The batch's replicas are read (and locked) once, up front, not per event.

        The batch is first applied with no savepoint per event (two statements and a
        context manager less each), and the local users it deletes are deleted together at
        its end (one pass of Django's collector for them all, ``BatchReads.flush``). If any
        event fails, that transaction rolls back and the batch is applied again, each event
        in its own savepoint and each delete on its own, so a refused one leaves the others
        applied; failures are logged in that second pass only, once per receive. If that
        fails as a whole too (the database is away), every event failed for now.

        Events are applied in (user, version) order: one user's frames go out in version
        order, and competing listeners lock replicas in the same order (no deadlocks).
        A stop request between two events commits what is applied and hands back the rest.
        """
        handled: list[Handled] = []
        decoded: list[tuple[SQSMessage, Envelope]] = []
        for message in messages:
            event, failure = self._decode(message)
            if event is None:
                handled.append(Handled(message, None, failure=failure))
            else:
                decoded.append((message, event))
        decoded.sort(key=lambda pair: (pair[1].user_id, pair[1].version))
        try:
            try:
                with transaction.atomic():
                    applied, rest = self._apply_all(decoded, guarded=False)
            except Exception:  # one event failed and rolled the batch back: one by one
                with transaction.atomic():
                    applied, rest = self._apply_all(decoded, guarded=True)
        except Exception as exc:  # the batch cannot be applied at all: try again later
            return handled + self._all_failed(decoded, exc), []
        debug = logger.isEnabledFor(logging.DEBUG)  # else not even its arguments are worked out
        for done in applied:  # committed: only now is what each event did true
            if done.result is not None:
                self._observe(done)
                if debug:
                    _log_applied(done)
        return handled + applied, rest

    def _all_failed(
        self, decoded: list[tuple[SQSMessage, Envelope]], exc: Exception
    ) -> list[Handled]:
        """Every event of a batch that could not be applied at all, failed for now (logged)."""
        failure = Failure(permanent=False, reason=classify(exc).reason)
        logger.error(
            "listener %s: batch of %d event(s) not applied, each will be retried: %s; "
            "messages %s",
            self.client, len(decoded), failure.reason,
            ", ".join(f"{m.get('MessageId', '?')} (receive {_receives(m)})" for m, _ in decoded),
            exc_info=exc,
        )  # fmt: skip
        return [Handled(m, None, failure=failure) for m, _ in decoded]

    def _apply_all(
        self, decoded: list[tuple[SQSMessage, Envelope]], *, guarded: bool
    ) -> tuple[list[Handled], list[SQSMessage]]:
        """Apply the events in the open transaction; ``guarded``: each in a savepoint, its
        failure logged and kept to itself; else the first failure raises."""
        applied: list[Handled] = []
        if self.stopping:  # not even the batch's reads
            return applied, [m for m, _ in decoded]
        # One read for the batch's replicas and usernames. The fast pass deletes the batch's
        # local users together at its end (``BatchReads.flush``); one by one when guarded.
        reads = batch_reads(events=[e for _, e in decoded], defer_deletes=not guarded)
        rest: list[SQSMessage] = []
        for index, (message, event) in enumerate(decoded):
            if self.stopping:
                rest = [m for m, _ in decoded[index:]]
                break
            if guarded:
                applied.append(self._apply(message, event, reads))
            else:
                started = time.perf_counter()
                result = event_apply(event=event, batch=reads, savepoint=False)
                applied.append(Handled(message, result, time.perf_counter() - started))
        started = time.perf_counter()
        if reads.flush():  # their share of it counts in the deletes' apply time
            applied = _spread(applied, Decision.DELETE, time.perf_counter() - started)
        return applied, rest

    def _decode(self, message: SQSMessage) -> tuple[Envelope | None, Failure | None]:
        """The message's event once its signature holds, or why not (logged once per
        receive: it is dead-lettered). Nothing of an unsigned body is even parsed."""
        try:
            signing.verify_message(message, self._keys)
        except SignatureError as exc:
            logger.warning(
                "event ? message %s (receive %s): not signed by the master, for the "
                "dead-letter queue: %s", message.get("MessageId", "?"), _receives(message), exc,
            )  # fmt: skip
            return None, classify(exc)
        try:
            return decode_sqs_body(message.get("Body", "")), None
        except ContractError as exc:
            logger.warning(
                "event ? message %s (receive %s): malformed, for the dead-letter queue: %s",
                message.get("MessageId", "?"), _receives(message), exc,
            )  # fmt: skip
            return None, classify(exc)

    def _apply(self, message: SQSMessage, event: Envelope, reads: BatchReads | None) -> Handled:
        """Apply one event in a savepoint; every failure is logged here, once per receive."""
        message_id, receives = message.get("MessageId", "?"), _receives(message)
        started = time.perf_counter()
        try:
            result = event_apply(event=event, batch=reads)
        except Exception as exc:
            failure = classify(exc)
            if failure.permanent:
                logger.error(
                    "event %s message %s (receive %s): refused, for the dead-letter queue: %s",
                    event.event_id, message_id, receives, failure.reason,
                )  # fmt: skip
            else:
                logger.exception(
                    "event %s message %s (receive %s): not applied, retried in %d s: %s",
                    event.event_id, message_id, receives,
                    retry_delay_seconds(_receive_count(message)), failure.reason,
                )  # fmt: skip
            return Handled(message, None, failure=failure)
        return Handled(message, result, time.perf_counter() - started)

    def _dead_letter(self, refused: list[Handled]) -> list[SQSMessage]:
        """Send permanent failures to the dead-letter queue; the messages it accepted."""
        pairs = [(h.message, h.failure.reason) for h in refused if h.failure is not None]
        if not pairs:
            return []
        outcome = self._queue.dead_letter(pairs, listener=listener_identity())
        for message, copy in outcome.sent:
            logger.warning(
                "message %s (receive %s): sent to the dead-letter queue, as message %s",
                message.get("MessageId", "?"), _receives(message), copy,
            )  # fmt: skip
        for message_id, why in outcome.left.items():
            logger.error(
                "message %s: not sent to the dead-letter queue (%s): left for the queue's "
                "redrive policy", message_id, why,
            )  # fmt: skip
        self.metrics.dead_lettered.inc(len(outcome.sent))
        return [message for message, _ in outcome.sent]

    def _observe(self, done: Handled) -> None:
        """An applied real event's apply time and lag, for the metrics."""
        if done.result is None or done.result.event.synthetic:
            return
        self.metrics.apply_seconds.observe(done.seconds)
        lag = time.time() - done.result.event.occurred_at.timestamp()
        self.metrics.lag_seconds.observe(max(0.0, lag))

    def _count(self, stats: BatchStats, handled: list[Handled]) -> None:
        """Add one batch to the metrics (dead letters are counted as they are sent)."""
        m = self.metrics
        m.received.inc(stats.received)
        m.applied.inc(stats.applied)
        m.tested.inc(stats.tested)
        m.failed.inc(stats.failed)
        m.retried.inc(stats.retried)
        duplicates = sum(1 for h in handled if h.result is not None and h.result.duplicate)
        m.duplicate.inc(duplicates)
        m.ignored_stale.inc(stats.ignored - duplicates)

    def _note_truncated(self, results: list[ApplyResult]) -> None:
        """Count and log each value an applied event stored cut (REACTIVE_OVERSIZE_POLICY=
        truncate), once its batch committed."""
        for result in results:
            if result.truncated:
                self.metrics.truncated(result.truncated)
                logger.warning(
                    "event %s: master user %s v%s stored with %s cut to this client's limit "
                    "(REACTIVE_OVERSIZE_POLICY=truncate)",
                    result.event.event_id, result.event.user_id, result.event.version,
                    ", ".join(result.truncated),
                )  # fmt: skip

    def _maybe_read_depths(self) -> None:
        """Every DEPTH_INTERVAL_SECONDS, read the queue's and its DLQ's depths for the
        metrics; a failure only leaves the last reading."""
        now = time.monotonic()
        if not self._read_depths or now - self._depths_read_at < DEPTH_INTERVAL_SECONDS:
            return
        self._depths_read_at = now
        try:
            depth, dead = self._queue.depths()
        except AwsError as exc:
            logger.warning("listener %s: queue depths not read: %s", self.client, exc)
            return
        self.metrics.queue_depth(
            visible=depth.visible, in_flight=depth.in_flight, dead_letters=dead
        )


def _log_applied(done: Handled) -> None:
    """What one event did, once its batch committed (a killed listener logs nothing)."""
    assert done.result is not None
    event = done.result.event
    logger.debug(
        "event %s message %s (receive %s): %s master user %s v%s -> %s",
        event.event_id, done.message.get("MessageId", "?"), _receives(done.message),
        event.action.value, event.user_id, event.version, done.result.decision.value,
    )  # fmt: skip


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


def _receives(message: SQSMessage) -> str:
    """The message's receive count as SQS reported it, for logs ("?" if absent)."""
    return str(message.get("Attributes", {}).get("ApproximateReceiveCount", "?"))


def _receive_count(message: SQSMessage) -> int:
    """The message's receive count (0 if absent)."""
    raw = _receives(message)
    return int(raw) if raw.isdigit() else 0


def _stats(
    messages: list[SQSMessage], results: list[ApplyResult], rest: list[SQSMessage]
) -> BatchStats:
    decisions = [r.decision for r in results]
    applied = sum(d.writes for d in decisions)
    tested = decisions.count(Decision.NOTIFY_ONLY)
    handled = len(messages) - len(rest)
    return BatchStats(
        received=len(messages),
        applied=applied,
        ignored=len(results) - applied - tested,
        tested=tested,
        failed=handled - len(results),
        released=len(rest),
    )


def serve(
    *,
    settings: Settings,
    client: str,
    explicit_queue_url: str | None = None,
    max_messages: int = MAX_PREFETCH,
    wait_seconds: int = MAX_WAIT_TIME_SECONDS,
) -> None:
    """Run a client's listener in the foreground until SIGTERM/SIGINT (``listen`` commands).

    Resolves the queue first (``QueueNotFound`` if it was never provisioned). Receives with
    REACTIVE_LISTENER_VISIBILITY_SECONDS and keeps at most REACTIVE_LISTENER_NOTIFY_BACKLOG
    frames waiting for the channel layer (``reactive_users.client.conf``). Serves the
    listener's metrics on ``REACTIVE_METRICS_PORT`` when it is set. A first signal lets the
    long poll in progress finish (up to ``wait_seconds``), finishes the message in hand, hands
    the rest back (visibility 0), sends the frames still waiting (for a bounded time) and
    returns; a second signal returns at once.
    """
    registry = CollectorRegistry()
    visibility = conf.listener_visibility_seconds()
    loop = Listener(
        settings=settings,
        client=client,
        queue_url=queue_url_for(settings=settings, client=client, explicit=explicit_queue_url),
        max_messages=max_messages,
        wait_seconds=wait_seconds,
        visibility_seconds=visibility,
        notifier=Notifier(max_backlog=conf.listener_notify_backlog()),
        registry=registry,
        read_depths=settings.metrics_port is not None,
    )
    if settings.metrics_port is not None:  # REACTIVE_METRICS_PORT
        metrics.serve(registry, port=settings.metrics_port, addr=settings.metrics_addr)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        if loop.stopping:  # a second signal: the operator does not want to wait
            logger.warning(
                "%s again: stopping now; messages of the abandoned long poll come back "
                "after the visibility timeout (%d s)", name, visibility,
            )  # fmt: skip
            loop.request_stop(interrupt=True, force=True)
            return
        logger.info(
            "%s: stopping after the long poll in progress (up to %d s) and the message in "
            "hand; what is not applied is handed back. Send %s again to stop at once.",
            name, wait_seconds, name,
        )  # fmt: skip
        loop.request_stop(interrupt=True)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    loop.run()
    # Stopped cleanly: a late signal must not kill the exiting process (SIG_IGN, unlike a
    # Python handler, survives interpreter shutdown), so the exit status stays 0.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
