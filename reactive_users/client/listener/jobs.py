"""A notifier job: one committed batch's group messages, per user in order, and its acks.

Jobs are built from the apply layer's results (``job_for``). While the channel layer fails,
a user's frames not sent yet give way to a newer job's frames of that user (``supersede``),
``test`` frames excepted (``frames.is_test``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field

from reactive_users.client.apply import ApplyResult
from reactive_users.client.decide import Decision
from reactive_users.client.frames import GroupMessage, is_test
from reactive_users.core.contract import Envelope


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
