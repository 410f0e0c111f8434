"""What every scenario measures around a workload: CPU per process, AWS calls, backlogs.

``Measurement`` snapshots CPU time of every pipeline process, starts moto's recorder, the
backlog watch and (optionally) py-spy, and on ``finish()`` returns the deltas. The master's
own write CPU is the writing thread's CPU time (``time.thread_time()``); the whole bench
process (writes + the backlog watch + polling client databases) is reported apart.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procstat
from bench.profiling import Profiles
from bench.recorder import Recorder
from bench.stack import BenchStack
from bench.watch import BacklogWatch

#: The master's publisher thread with ``REACTIVE_RELAY=thread``
#: (reactive_users/master/relay/publisher.py).
PUBLISHER_THREAD = "outbox-publisher"


def publisher_cpu() -> float | None:
    """CPU seconds of this process's outbox publisher thread, if it runs."""
    for thread in threading.enumerate():
        if thread.name == PUBLISHER_THREAD and thread.native_id:
            return procstat.thread_cpu_seconds(os.getpid(), thread.native_id)
    return None


def profiled_pids(stack: BenchStack) -> dict[str, int]:
    """The processes worth profiling: listeners, the relay worker, the master, moto."""
    pids = stack.pids()
    keep = ("listener-", "worker", "master", "moto")
    return {name: pid for name, pid in pids.items() if name.startswith(keep)}


@dataclass
class Measurement:
    """CPU, AWS calls and backlogs of the pipeline between ``begin`` and ``finish``."""

    stack: BenchStack
    label: str
    profile_dir: Path | None = None
    watch_backlog: bool = True
    result: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.recorder = Recorder(self.stack.endpoint)
        queues = {name: app.queue_url for name, app in self.stack.clients.items()}
        self.watch = BacklogWatch(self.stack.endpoint, queues)

    def begin(self) -> Measurement:
        """Snapshot CPU, start recording AWS calls, sampling backlogs and profiling."""
        self._pids = self.stack.pids()
        self._profiles = (
            Profiles(self.profile_dir, profiled_pids(self.stack), self.label)
            if self.profile_dir is not None
            else None
        )
        self.recorder.start()
        if self.watch_backlog:
            self.watch.start()
        self._cpu0 = procstat.cpu_snapshot(self._pids)
        self._publisher0 = publisher_cpu() or 0.0  # born during the phase: all of it counts
        self._t0 = time.time()
        return self

    def finish(self, events: int) -> dict[str, Any]:
        """Stop everything begun; CPU per process, AWS calls, backlog summary, profiles."""
        cpu1 = procstat.cpu_snapshot(self._pids)
        publisher1 = publisher_cpu()
        elapsed = time.time() - self._t0
        calls = self.recorder.stop()
        clients = len(self.stack.clients)
        result: dict[str, Any] = {
            "elapsed_s": elapsed,
            "cpu_s": procstat.cpu_delta(self._cpu0, cpu1),
            "calls": calls.as_dict(events, events * clients),
        }
        if publisher1 is not None:  # inside the master: also counted in its row
            result["cpu_s"]["publisher-thread"] = publisher1 - self._publisher0
        result["moto_core_share"] = result["cpu_s"].get("moto", 0.0) / elapsed if elapsed else None
        if self.watch_backlog:
            result["backlog"] = self.watch.stop()
        if self._profiles is not None:
            result["profile"] = self._profiles.stop()
        self.result = result
        return result
