"""The notifier's waiting jobs: bounded in frames, oldest dropped first, older frames of a
user giving way to newer ones while the channel layer fails.

Not thread-safe on its own: the notifier calls it under its lock.
"""

from __future__ import annotations

import collections

from reactive_users.client.listener.jobs import Job, state_groups, supersede


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
