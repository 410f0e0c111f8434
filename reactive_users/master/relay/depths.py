"""Reading the client queues' depths for relay pacing, and this process's pacer.

``QueueDepths`` is the ``read_depths`` a ``pacing.Pacer`` is given: the depth (waiting and
in flight) of every SQS queue subscribed to the topic. ``pacer_for`` keeps one pacer per
process, topic and limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from reactive_users.core import aws
from reactive_users.core.aws import queues, topics
from reactive_users.core.errors import QueueNotFound
from reactive_users.core.settings import Settings
from reactive_users.master.relay.pacing import Pacer

#: Seconds the list of subscribed queues is trusted before it is read again.
QUEUES_TTL_SECONDS = 60.0


class QueueDepths:
    """The depth (waiting + in flight) of every SQS queue subscribed to the topic.

    The subscriptions are listed again every ``QUEUES_TTL_SECONDS`` and after a queue
    disappears; one GetQueueAttributes call per queue per look.
    """

    def __init__(
        self, settings: Settings, topic_arn: str, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._topic_arn = topic_arn
        self._clock = clock
        self._urls: dict[str, str] = {}
        self._listed_at: float | None = None

    def __call__(self) -> dict[str, int]:
        now = self._clock()
        if self._listed_at is None or now - self._listed_at >= QUEUES_TTL_SECONDS:
            self._urls = self._subscribed()
            self._listed_at = now
        sqs = aws.client("sqs", self._settings)
        depths: dict[str, int] = {}
        for name, url in self._urls.items():
            try:
                depths[name] = queues.queue_depth(sqs, url).total
            except QueueNotFound:
                self._listed_at = None  # unsubscribed or deleted: list them again next look
        return depths

    def _subscribed(self) -> dict[str, str]:
        """The URL of each SQS queue subscribed to the topic, by queue name."""
        return {
            sub.queue_arn.rsplit(":", 1)[-1]: queues.queue_url_of_arn(self._settings, sub.queue_arn)
            for sub in topics.sqs_subscriptions(self._settings, self._topic_arn)
        }


_pacers: dict[tuple[int, Settings, str, int], Pacer] = {}
_pacers_lock = threading.Lock()


def pacer_for(
    settings: Settings,
    topic_arn: str,
    max_depth: int,
    *,
    on_hold: Callable[[float], None] | None = None,
) -> Pacer:
    """This process's pacer for the topic (one per process: a forked child gets its own)."""
    key = (os.getpid(), settings, topic_arn, max_depth)
    with _pacers_lock:
        pacer = _pacers.get(key)
        if pacer is None:
            pacer = Pacer(
                max_depth=max_depth, read_depths=QueueDepths(settings, topic_arn), on_hold=on_hold
            )
            _pacers[key] = pacer
        return pacer
