"""A thread that samples the backlogs while a workload runs: each queue's depth, the outbox.

Queue depth is SQS GetQueueAttributes ApproximateNumberOfMessages + ...NotVisible, asked
with the bench's own SQS client (its calls are left out of the AWS call counts). The
master's backlog is its count of unpublished outbox rows. The bench's own polls cost moto a
little CPU (about a millisecond a call on a drained queue): one call per queue per interval.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from bench import master
from bench.recorder import bench_sqs
from bench.reference import BACKLOG_MESSAGES
from bench.stats import slope_per_s
from reactive_users.core.aws import queues

#: Seconds between two samples while every queue is shallow...
INTERVAL_S = 0.5
#: ... and while one holds a backlog: moto's GetQueueAttributes walks every message, so on a
#: deep queue each poll costs it milliseconds (and the figures are moto-bound anyway).
BACKLOG_INTERVAL_S = 2.0


@dataclass
class Sample:
    """Backlogs at one moment: per client queue (visible + in flight), and the outbox."""

    at: float
    queues: dict[str, int]
    outbox: int


@dataclass
class BacklogWatch:
    """Samples queue depths and the outbox in a thread between ``start()`` and ``stop()``."""

    endpoint: str
    queue_urls: dict[str, str]
    interval: float = INTERVAL_S
    samples: list[Sample] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._sqs = bench_sqs(self.endpoint)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors: list[str] = []

    def depth(self, url: str) -> int:
        """Messages in a queue, visible or in flight."""
        depth = queues.queue_depth(self._sqs, url)
        return depth.visible + depth.in_flight

    def sample(self) -> Sample:
        """One sample, now."""
        queues = {name: self.depth(url) for name, url in self.queue_urls.items()}
        return Sample(time.time(), queues, master.outbox_pending())

    def drained(self) -> bool:
        """Whether every queue and the outbox are empty right now."""
        now = self.sample()
        return now.outbox == 0 and not any(now.queues.values())

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                wait = self.interval
                try:
                    sample = self.sample()
                    self.samples.append(sample)
                    if max(sample.queues.values(), default=0) > BACKLOG_MESSAGES:
                        wait = max(wait, BACKLOG_INTERVAL_S)
                except Exception as exc:  # e.g. moto stopping under us: note it, go on
                    self.errors.append(f"{type(exc).__name__}: {exc}")
                self._stop.wait(wait)
        finally:
            master.close_connection()

    def start(self) -> BacklogWatch:
        """Start sampling (forgetting earlier samples)."""
        self.samples = []
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="backlog-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> dict[str, Any]:
        """Stop sampling; the summary of what was seen."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        return summarise(self.samples)


def summarise(
    samples: list[Sample], since: float = 0.0, until: float = float("inf")
) -> dict[str, Any]:
    """Largest depth per queue and of the outbox, growth rates, and whether a backlog formed."""
    window = [s for s in samples if since <= s.at <= until]
    names = sorted({n for s in window for n in s.queues})
    largest = {n: max((s.queues.get(n, 0) for s in window), default=0) for n in names}
    total = [(s.at, float(sum(s.queues.values()))) for s in window]
    outbox = [(s.at, float(s.outbox)) for s in window]
    formed = [n for n, depth in largest.items() if depth > BACKLOG_MESSAGES]
    return {
        "samples": len(window),
        "largest_queue_depth": largest,
        "largest_queue_depth_any": max(largest.values(), default=0),
        "largest_outbox_pending": int(max((v for _, v in outbox), default=0)),
        "queue_growth_per_s": slope_per_s(total),
        "outbox_growth_per_s": slope_per_s(outbox),
        "backlog_formed": bool(formed),
        "backlog_queues": formed,
    }
