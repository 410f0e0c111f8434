"""Relay pacing: publish no faster than the client queues drain.

With ``REACTIVE_RELAY_MAX_QUEUE_DEPTH`` = N (0: off, the default), a relay asks before each
claim how many messages it may publish: as many as keep every subscribed queue within N
messages (waiting and in flight), from the depths SQS gave at its last look plus what this
process published since. A message is one event, or with REACTIVE_PUBLISH_BATCH many: the
relay is granted messages, publishes at most that many however many events they carry, and
gives back what it did not use, so packed events are paced as the messages they travel in.
Once that room is spent it holds until the deepest queue should be
down to N/4 at the rate it has been draining, looks, and publishes again only with room for
the three quarters between (or for all it has, if less): one look per 3N/4 messages when the
estimate is right, and the queue between N/4 and N.

Why: some SQS implementations get slower the deeper a queue is. moto's server, which the
local stack and the benchmarks run, walks every message of a queue on each receive and
delete, so a burst published faster than the listeners drain builds a backlog that then
drains ever more slowly; held at the queue, the same burst stays shallow and arrives sooner.
On AWS a deep queue costs nothing, which is why it is off unless configured.

A queue that makes no progress for ``STALL_SECONDS`` is not waited for: its events queue up
as they always would, and it counts again once it is back down to N/4. No progress is
staying over N/4 without draining (its client is down, say), or staying at N or more
while it drains (something else keeps it full: a backfill, which fills a queue to its own
``--max-depth``, or a client far slower than the rest). So a backfill holds live events
for every client at most ``STALL_SECONDS``, not for as long as it runs.

A depth that cannot be read never holds publishing: the relay publishes unpaced for
``UNREAD_PAUSE_SECONDS``, then tries again.

``observe``, ``room`` and ``hold`` are the rules; ``Pacer`` keeps the state of one process
and does the waiting. Both are pure (no boto3, no ORM): the depths are read by the callable
a ``Pacer`` is given, ``depths.QueueDepths`` in the relay.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from reactive_users.core.errors import AwsError

logger = logging.getLogger(__name__)

#: Seconds a queue over the resume depth may go without progress (draining while under the
#: limit) before it is no longer waited for.
STALL_SECONDS = 5.0
#: Shortest and longest hold before a look, in seconds.
MIN_HOLD_SECONDS = 0.02
MAX_HOLD_SECONDS = 0.5
#: Longest a held relay goes without a look, in seconds, whatever the estimate says: a
#: queue something else refills drains slowly on paper, and only looks see it stall.
MAX_LOOK_SECONDS = 1.0
#: Drain rate assumed for a queue not yet seen draining, in messages per second.
DEFAULT_DRAIN_RATE = 100.0
#: Weight of the newest measurement in a queue's drain rate (the rest is its history).
RATE_WEIGHT = 0.5
#: How much faster than its estimate a queue found empty is thought to drain: what it
#: drained then is a lower bound, so the estimate probes upward until a look finds the
#: queue not empty (a measurement that is not a bound).
RATE_PROBE = 1.25
#: Seconds the relay publishes unpaced after a depth could not be read.
UNREAD_PAUSE_SECONDS = 30.0


# --- The rules (pure) -----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class QueueView:
    """What is known of one queue: its depth at the last look, and how it has been draining."""

    depth: int
    at: float
    #: When it was last seen draining while under the limit, or at the resume depth or less.
    progress_at: float
    #: Over the resume depth without progress for ``STALL_SECONDS``: not waited for until
    #: it is back down to it.
    stalled: bool = False
    #: Messages per second it drained between looks (None: never seen draining).
    drain_rate: float | None = None


def resume_depth(max_depth: int) -> int:
    """The depth a held relay waits for before it publishes again: a quarter of the limit."""
    return max_depth // 4


def observe(
    previous: QueueView | None,
    depth: int,
    now: float,
    *,
    published: int,
    max_depth: int,
    stall_seconds: float = STALL_SECONDS,
) -> QueueView:
    """A queue's view after a look that found ``depth``, ``published`` messages after the last."""
    if previous is None:
        return QueueView(depth=depth, at=now, progress_at=now)
    drained = previous.depth + published - depth
    elapsed = now - previous.at
    rate = previous.drain_rate
    if drained > 0 and elapsed > 0:
        measured = drained / elapsed
        rate = measured if rate is None else RATE_WEIGHT * measured + (1 - RATE_WEIGHT) * rate
        if depth == 0 and previous.drain_rate is not None:
            # Found empty, it may have run dry before the look: what it drained is a lower
            # bound; it drains at least as fast as was thought, likely faster.
            rate = max(rate, previous.drain_rate * RATE_PROBE)
    if depth <= resume_depth(max_depth):  # it holds nobody: no need to watch it drain
        return QueueView(depth=depth, at=now, progress_at=now, drain_rate=rate)
    # Draining at the limit or over it is no progress: what the relay holds back for, more
    # messages from elsewhere take (a backfill tops its queue up as fast as it drains).
    progress_at = now if drained > 0 and depth < max_depth else previous.progress_at
    stalled = previous.stalled or now - progress_at >= stall_seconds
    return QueueView(depth=depth, at=now, progress_at=progress_at, stalled=stalled, drain_rate=rate)


def room(views: Mapping[str, QueueView], *, max_depth: int, wanted: int) -> int:
    """Events that may be published after a look: the room the deepest queue waited for
    leaves, if that is ``wanted`` or at least down to the resume depth; else 0."""
    waited_for = [view.depth for view in views.values() if not view.stalled]
    left = max_depth - max(waited_for, default=0)
    return left if left >= min(wanted, max_depth - resume_depth(max_depth)) else 0


def hold(views: Mapping[str, QueueView], *, published: int, now: float, max_depth: int) -> float:
    """Seconds to wait before the next look: until every queue waited for should be down to
    the resume depth, from its last depth, the ``published`` messages since and its drain
    rate; 0 if it should be there already or was last looked at ``MAX_LOOK_SECONDS`` ago,
    else within the hold bounds."""
    resume = resume_depth(max_depth)
    wait, look_in = 0.0, MAX_LOOK_SECONDS
    for view in views.values():
        if view.stalled:
            continue
        rate = view.drain_rate or DEFAULT_DRAIN_RATE
        expected = view.depth + published - rate * (now - view.at)
        wait = max(wait, (expected - resume) / rate)
        look_in = min(look_in, MAX_LOOK_SECONDS - (now - view.at))
    if wait <= 0 or look_in < MIN_HOLD_SECONDS:
        return 0.0
    return min(MAX_HOLD_SECONDS, look_in, max(MIN_HOLD_SECONDS, wait))


# --- One process's pacer --------------------------------------------------------------------


class Pacer:
    """Grants messages to publish within the limit; shared by a process's threads.

    ``read_depths`` returns the depth of every subscribed queue by name, or raises
    ``AwsError``. ``on_hold`` is told each wait, in seconds (the relay's metric).
    """

    def __init__(
        self,
        *,
        max_depth: int,
        read_depths: Callable[[], Mapping[str, int]],
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        on_hold: Callable[[float], None] | None = None,
        stall_seconds: float | None = None,
    ) -> None:
        self.max_depth = max_depth
        self._read_depths = read_depths
        self._clock = clock
        self._sleep = sleep
        self._on_hold = on_hold
        self._stall_seconds = STALL_SECONDS if stall_seconds is None else stall_seconds
        self._lock = threading.Lock()
        self._views: dict[str, QueueView] = {}
        #: Events that may still be published before the next look.
        self._budget = 0
        #: Events granted since the last look.
        self._granted = 0
        self._unpaced_until = 0.0

    def take(self, wanted: int) -> int:
        """Wait until messages may be published; how many of ``wanted`` (at least one).

        With room left for ``wanted``, or for the room between the resume depth and the
        limit, it answers at once. Else it holds while the queues should still be above the
        resume depth, then looks."""
        if self.max_depth <= 0 or wanted <= 0:
            return wanted
        enough = min(wanted, self.max_depth - resume_depth(self.max_depth))
        with self._lock:
            while self._budget < enough:
                if self._clock() < self._unpaced_until:
                    return wanted
                wait = hold(
                    self._views,
                    published=self._granted,
                    now=self._clock(),
                    max_depth=self.max_depth,
                )
                if wait > 0:
                    if self._on_hold is not None:
                        self._on_hold(wait)
                    self._sleep(wait)
                    continue
                found = self._look(wanted)
                if found is None:
                    return wanted
                self._budget = found
            granted = min(wanted, self._budget)
            self._budget -= granted
            self._granted += granted
            return granted

    def give_back(self, count: int) -> None:
        """Return ``count`` granted messages that were not published (nothing was due, or
        packed, fewer messages carried the events)."""
        if self.max_depth <= 0 or count <= 0:
            return
        with self._lock:
            self._budget += count
            self._granted = max(0, self._granted - count)

    def _look(self, wanted: int) -> int | None:
        """Read the depths: the room they leave; None (and unpaced for a while) if they
        cannot be read."""
        try:
            depths = self._read_depths()
        except AwsError as exc:
            self._unpaced_until = self._clock() + UNREAD_PAUSE_SECONDS
            logger.warning(
                "Relay pacing: could not read the queues' depths, publishing unpaced for "
                "%.0f s: %s",
                UNREAD_PAUSE_SECONDS,
                exc,
            )
            return None
        now = self._clock()
        views: dict[str, QueueView] = {}
        for name, depth in depths.items():
            before = self._views.get(name)
            view = observe(
                before,
                depth,
                now,
                published=self._granted,
                max_depth=self.max_depth,
                stall_seconds=self._stall_seconds,
            )
            _log_change(name, before, view)
            views[name] = view
        self._views = views
        self._granted = 0
        return room(views, max_depth=self.max_depth, wanted=wanted)


def _log_change(name: str, before: QueueView | None, after: QueueView) -> None:
    if after.stalled and not (before and before.stalled):
        logger.warning(
            "Relay pacing: queue %s holds %d messages and has not drained, or not below the "
            "limit, for %.0f s; publishing without waiting for it (is its listener running, "
            "or a backfill filling it?)",
            name,
            after.depth,
            after.at - after.progress_at,
        )
    elif before and before.stalled and not after.stalled:
        logger.info(
            "Relay pacing: queue %s is down to %d messages; waiting for it again",
            name,
            after.depth,
        )
