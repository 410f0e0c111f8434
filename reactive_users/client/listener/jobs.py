"""What the notifier has to send: jobs, and the backlog of those waiting.

A job is one committed batch's group messages, per user in order, and its acks, built from
the apply layer's results (``job_for``). The backlog is bounded in frames, oldest dropped
first. While the channel layer fails, a user's frames not sent yet give way to a newer
job's frames of that user (``supersede``), ``test`` frames excepted (``frames.is_test``).
The backlog is not thread-safe on its own: the notifier calls it under its lock.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from reactive_users.client.decide import Decision
from reactive_users.client.frames import GroupMessage, is_test
from reactive_users.core.contract import Envelope

if TYPE_CHECKING:  # the apply layer needs Django; a job does not
    from reactive_users.client.apply import ApplyResult


@dataclass(eq=False)
class Job:
    """One batch's group messages, each group's in order, and its synthetic events."""

    chains: dict[str, list[GroupMessage]]
    synthetic: tuple[Envelope, ...]
    client: str
    events: str
    frames: int
    #: Per group, how many of its messages were sent (an attempt resumes after them).
    sent: dict[str, int] = field(default_factory=dict)
    attempted: threading.Event = field(default_factory=threading.Event)
    first_ok: bool = False

    @property
    def pending(self) -> bool:
        """Whether anything is left to send (superseded frames are not)."""
        unsent = any(len(c) > self.sent.get(g, 0) for g, c in self.chains.items())
        return unsent or bool(self.synthetic)


def supersede(job: Job, groups: set[str]) -> int:
    """Take ``groups``' frames not sent yet out of ``job`` (a newer job has frames for them),
    ``test`` frames excepted; how many were taken."""
    taken = 0
    for group in groups & job.chains.keys():
        chain, sent = job.chains[group], job.sent.get(group, 0)
        kept = chain[:sent] + [m for m in chain[sent:] if is_test(m)]
        taken += len(chain) - len(kept)
        job.chains[group] = kept  # the same key: a sending thread may be iterating the dict
    job.frames -= taken
    return taken


def state_groups(job: Job) -> set[str]:
    """The groups ``job`` sends a user's state to (anything but ``test`` frames)."""
    return {group for group, chain in job.chains.items() if any(not is_test(m) for m in chain)}


def job_for(results: Sequence[ApplyResult], *, client: str) -> Job | None:
    """The job that sends ``results``' frames (and acks their synthetic events), or None."""
    chains: dict[str, list[GroupMessage]] = {}
    for result in results:
        for message in result.messages:
            chains.setdefault(result.group, []).append(message)
    synthetic = tuple(r.event for r in results if r.decision is Decision.NOTIFY_ONLY)
    if not chains and not synthetic:
        return None
    events = ",".join(str(r.event.event_id) for r in results if r.messages)
    count = sum(len(m) for m in chains.values()) + len(synthetic)
    return Job(chains=chains, synthetic=synthetic, client=client, events=events, frames=count)


class Backlog:
    """Jobs waiting to be sent, in the order submitted, and the job being sent."""

    def __init__(self, max_frames: int) -> None:
        self._max_frames = max_frames
        self._jobs: collections.deque[Job] = collections.deque()
        #: Frames in the waiting jobs (the job being sent not included).
        self.frames = 0
        #: The job being sent (retried while the channel layer fails), if any.
        self.current: Job | None = None
        #: Frames not sent because a newer frame of the same user replaced them (an outage).
        self.superseded = 0

    def __bool__(self) -> bool:
        return bool(self._jobs)

    def add(self, job: Job, *, supersede_older: bool) -> list[Job]:
        """Queue ``job`` (first taking out what it supersedes, if ``supersede_older``); the
        oldest waiting jobs dropped to stay within the bound (the newest always stays)."""
        if supersede_older:
            self._supersede(state_groups(job))
        self._jobs.append(job)
        self.frames += job.frames
        dropped: list[Job] = []
        while self.frames > self._max_frames and len(self._jobs) > 1:
            old = self._jobs.popleft()
            self.frames -= old.frames
            dropped.append(old)
        return dropped

    def take(self) -> Job:
        """The oldest waiting job, now the one being sent."""
        job = self._jobs.popleft()
        self.frames -= job.frames
        self.current = job
        return job

    def take_all(self) -> list[Job]:
        """Every waiting job, in order; nothing waits any more."""
        left, self._jobs = list(self._jobs), collections.deque()
        self.frames = 0
        return left

    def coalesce(self) -> None:
        """Supersede, in what waits and the job in hand, every frame a newer one waits for."""
        newer: set[str] = set()
        for waiting in reversed(self._jobs):
            taken = supersede(waiting, newer)
            self.frames -= taken
            self.superseded += taken
            newer |= state_groups(waiting)
        if self.current is not None:
            self.superseded += supersede(self.current, newer)

    def _supersede(self, groups: set[str]) -> None:
        """Newer frames for ``groups`` came: older ones not sent yet give way."""
        if not groups:
            return
        if self.current is not None:
            self.superseded += supersede(self.current, groups)
        for waiting in self._jobs:
            taken = supersede(waiting, groups)
            self.frames -= taken
            self.superseded += taken
