"""What the listener counts and observes: one batch's counts, the metrics, the queue depths.

Counted always; served over HTTP only when the operator sets a port (``serve``). Apply
time and lag are observed once a batch committed, for real events only.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from reactive_users.client.apply import ApplyResult, Handled
from reactive_users.client.decide import Decision
from reactive_users.client.listener.sqs import ClientQueue
from reactive_users.core import metrics
from reactive_users.core.errors import AwsError

logger = logging.getLogger(__name__)

#: Seconds between two readings of the queue depths for the metrics (only when served).
DEPTH_INTERVAL_SECONDS = 15.0


@dataclass(frozen=True)
class BatchStats:
    """Counts for one received batch: SQS messages, the rest in events (a message that
    does not decode counts as one event)."""

    received: int = 0
    applied: int = 0
    ignored: int = 0
    tested: int = 0
    failed: int = 0
    released: int = 0
    #: Of the failed: sent to the dead-letter queue, and failed for now (their message
    #: handed back to be retried later).
    dead_lettered: int = 0
    retried: int = 0
    #: SQS messages received (one carries one event or, schema 2, several).
    messages: int = 0


def batch_stats(
    *,
    messages: int,
    events: int,
    results: Sequence[ApplyResult],
    released: int,
    failed: int,
    dead_lettered: int,
    retried: int,
) -> BatchStats:
    """The counts of a batch of ``messages`` carrying ``events``: ``results`` applied,
    ``released`` events handed back untried, ``failed`` not applied."""
    decisions = [r.decision for r in results]
    applied = sum(d.writes for d in decisions)
    tested = decisions.count(Decision.NOTIFY_ONLY)
    return BatchStats(
        received=events,
        applied=applied,
        ignored=len(results) - applied - tested,
        tested=tested,
        failed=failed,
        released=released,
        dead_lettered=dead_lettered,
        retried=retried,
        messages=messages,
    )


class ListenerStats:
    """One listener's metrics (``metrics.ListenerMetrics``), fed batch by batch."""

    def __init__(
        self, registry: CollectorRegistry | None, client: str, *, read_depths: bool
    ) -> None:
        self.client = client
        self.metrics = metrics.ListenerMetrics(registry or CollectorRegistry(), client)
        #: Read the queue depths every DEPTH_INTERVAL_SECONDS (AWS calls).
        self._read_depths = read_depths
        self._depths_read_at = -DEPTH_INTERVAL_SECONDS

    def record(self, stats: BatchStats, handled: Sequence[Handled]) -> None:
        """Add one finished batch: its counts (dead letters are counted as they are sent),
        each applied real event's apply time and lag, and what was stored cut."""
        self._count(stats, handled)
        for done in handled:
            self._observe(done)
        self._note_truncated([h.result for h in handled if h.result is not None])

    def _observe(self, done: Handled) -> None:
        """An applied real event's apply time and lag."""
        if done.result is None or done.result.event.synthetic:
            return
        self.metrics.apply_seconds.observe(done.seconds)
        lag = time.time() - done.result.event.occurred_at.timestamp()
        self.metrics.lag_seconds.observe(max(0.0, lag))

    def _count(self, stats: BatchStats, handled: Sequence[Handled]) -> None:
        m = self.metrics
        m.received.inc(stats.received)
        m.messages_received.inc(stats.messages)
        m.applied.inc(stats.applied)
        m.tested.inc(stats.tested)
        m.failed.inc(stats.failed)
        m.retried.inc(stats.retried)
        duplicates = sum(1 for h in handled if h.result is not None and h.result.duplicate)
        m.duplicate.inc(duplicates)
        m.ignored_stale.inc(stats.ignored - duplicates)

    def _note_truncated(self, results: Sequence[ApplyResult]) -> None:
        """Count and log each value an applied event stored cut (REACTIVE_OVERSIZE_POLICY=
        truncate), once its batch committed."""
        for result in results:
            if result.truncated:
                self.metrics.truncated(result.truncated)
                logger.warning(
                    "event %s: master user %s v%s stored with %s cut to this client's limit "
                    "(REACTIVE_OVERSIZE_POLICY=truncate)",
                    result.event.event_id,
                    result.event.user_id,
                    result.event.version,
                    ", ".join(result.truncated),
                )

    def read_depths_next(self) -> None:
        """Read the queue depths at the next ``maybe_read_depths``, whenever read last."""
        self._depths_read_at = -DEPTH_INTERVAL_SECONDS

    def maybe_read_depths(self, queue: ClientQueue) -> None:
        """Every DEPTH_INTERVAL_SECONDS, read the queue's and its DLQ's depths; a failure
        only leaves the last reading."""
        now = time.monotonic()
        if not self._read_depths or now - self._depths_read_at < DEPTH_INTERVAL_SECONDS:
            return
        self._depths_read_at = now
        try:
            depth, dead = queue.depths()
        except AwsError as exc:
            logger.warning("listener %s: queue depths not read: %s", self.client, exc)
            return
        self.metrics.queue_depth(
            visible=depth.visible, in_flight=depth.in_flight, dead_letters=dead
        )
