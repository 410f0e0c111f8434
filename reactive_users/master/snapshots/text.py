"""What a snapshot says, pure (no ORM, no boto3): a master user's state, the event that
brings a client to it, the resets ``reactive diff --repair`` asks for, and the lines a
backfill or repair prints.

A snapshot is a user's full allow-listed state at the master's *current* version
(``Action.SNAPSHOT``); an excluded user (outside the published set, ``changes.py``) travels
as a ``withdrawn`` event at that version, with no fields; a tombstone (a ``UserVersion`` row
whose user is gone) travels as a ``deleted`` event at its version.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reactive_users.core.contract import Action, Envelope, FieldValue, Replaced, new_event
from reactive_users.core.errors import ContractError, UsageError


@dataclass(frozen=True, kw_only=True)
class UserState:
    """One master user as a client should hold it: live with its fields, withdrawn
    (``excluded``: outside the published set, no fields), or a tombstone.

    ``version`` is None only for a user that never had an event (the dump reads without
    giving versions).
    """

    master_id: int
    version: int | None
    tombstone: bool = False
    excluded: bool = False
    fields: Mapping[str, FieldValue] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The line ``users_dump`` prints: ``{"master_id", "version", "tombstone", ...}``."""
        return {
            "master_id": self.master_id,
            "version": self.version,
            "tombstone": self.tombstone,
            "excluded": self.excluded,
            "fields": dict(self.fields),
        }


def snapshot_envelope(
    state: UserState, *, occurred_at: datetime, replaces: Replaced | None = None
) -> Envelope:
    """The event that brings a client to ``state``: a snapshot, a withdrawal for an excluded
    user, or a delete for a tombstone (the last two with no fields); with ``replaces``, a
    reset of that client state (``contract.Replaced``)."""
    if state.version is None:
        raise ValueError(f"master user {state.master_id} has no version yet")
    if state.tombstone or state.excluded:
        return new_event(
            action=Action.DELETED if state.tombstone else Action.WITHDRAWN,
            user_id=state.master_id,
            version=state.version,
            user={},
            occurred_at=occurred_at,
            replaces=replaces,
        )
    return new_event(
        action=Action.SNAPSHOT,
        user_id=state.master_id,
        version=state.version,
        user=state.fields,
        changed=tuple(state.fields),
        occurred_at=occurred_at,
        replaces=replaces,
    )


def snapshot_envelopes(
    states: Iterable[UserState],
    *,
    occurred_at: datetime,
    resets: Mapping[int, Replaced] | None = None,
) -> list[tuple[UserState, Envelope]]:
    """Each sendable state with its envelope (version-less states left out); the ids in
    ``resets`` as resets of the client state named there."""
    resets = resets or {}
    return [
        (
            state,
            snapshot_envelope(state, occurred_at=occurred_at, replaces=resets.get(state.master_id)),
        )
        for state in states
        if state.version is not None
    ]


def read_limit(batch: int, stop_after: int | None, sent: int) -> int:
    """How many users and tombstones a backfill reads next: ``batch``, but no more than
    ``stop_after`` leaves to send after ``sent`` events this run.

    A read batch is sent whole (packed, a few messages may hold all of it), so reading no
    more than is left is what keeps ``--stop-after`` from sending past it.
    """
    if stop_after is None:
        return batch
    return max(0, min(batch, stop_after - sent))


def parse_resets(text: str) -> dict[int, Replaced]:
    """The resets ``reactive diff --repair`` asks for: JSON lines ``{"master_id", "version",
    "event_id"}`` (the client state each replaces); ``UsageError`` saying what is wrong."""
    resets: dict[int, Replaced] = {}
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        try:
            obj = json.loads(line)
            event_id = obj["event_id"]
            resets[int(obj["master_id"])] = Replaced(
                version=obj["version"], event_id=None if event_id is None else uuid.UUID(event_id)
            )
        except (ValueError, KeyError, TypeError, AttributeError, ContractError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise UsageError(f"not a reset line ({why}): {line[:120]!r}") from exc
    return resets


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where a backfill stands: sent so far (this run and before it), and the total."""

    client: str
    #: Users sent, as snapshots or (``withdrawals`` of them) as withdrawals.
    users: int
    tombstones: int
    #: Sent by earlier runs (a resumed backfill), included in ``users``/``tombstones``.
    before: int
    #: Users and tombstones this run set out to send.
    total_this_run: int
    elapsed: float
    last_id: int
    #: Messages waiting in the queue while the backfill holds back for them; else None.
    held_back_at: int | None = None
    #: Of ``users``, those sent as withdrawals (excluded in the master).
    withdrawals: int = 0
    #: Messages this run sent them in (fewer than the events when packed).
    messages: int = 0

    @property
    def sent(self) -> int:
        return self.users + self.tombstones

    @property
    def sent_this_run(self) -> int:
        return self.sent - self.before

    @property
    def rate(self) -> float:
        """Users (and tombstones) per second in this run."""
        return self.sent_this_run / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        left = max(0, self.total_this_run - self.sent_this_run)
        return left / self.rate if self.rate > 0 else None


def progress_line(p: Progress) -> str:
    """One progress line: sent, rate, time left."""
    total = p.before + p.total_this_run
    left = p.seconds_left
    eta = "?" if left is None else _duration(left)
    line = (
        f"backfill {p.client}: {p.sent}/{total} sent ({_counts(p)}), {p.rate:.1f} users/s, "
        f"about {eta} left"
    )
    if p.held_back_at is not None:
        line += f" (waiting: {p.held_back_at} messages in the queue)"
    return line


def summary_line(p: Progress, *, resumed_after: int | None) -> str:
    """The last line of a backfill: what this run sent, the rate, and totals if resumed."""
    line = (
        f"Backfill of {p.client} complete: sent {p.sent_this_run} in {p.elapsed:.2f} s, "
        f"{p.rate:.1f} users/s{_packed(p)}"
    )
    if resumed_after is None:
        return f"{line}: {_counts(p)}."
    return (
        f"{line} (resumed after master id {resumed_after}, {p.before} sent before); "
        f"in all {_counts(p)}."
    )


def _packed(p: Progress) -> str:
    """`` in 3 messages`` when the events travelled packed (fewer messages than events)."""
    if 0 < p.messages < p.sent_this_run:
        return f" in {p.messages} message(s)"
    return ""


def _counts(p: Progress) -> str:
    """``12 users, 3 tombstones``; withdrawals among the users named when there are any."""
    withdrawn = f" ({p.withdrawals} withdrawn)" if p.withdrawals else ""
    return f"{p.users} users{withdrawn}, {p.tombstones} tombstones"


def repair_line(p: Progress) -> str:
    """What a repair sent: ``Sent 2 snapshot(s) and 1 tombstone(s) to shop in 0.02 s.``"""
    parts = [f"{p.users - p.withdrawals} snapshot(s)", f"{p.tombstones} tombstone(s)"]
    if p.withdrawals:
        parts.append(f"{p.withdrawals} withdrawal(s)")
    sent = ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Sent {sent} to {p.client} in {p.elapsed:.2f} s."


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
