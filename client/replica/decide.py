"""What a client does with one event, given what it holds: pure, no I/O.

Rule 1: every apply/ignore/tombstone rule lives in this module, in ``RULES`` below
(like h11's EVENT_TRIGGERED_TRANSITIONS). Nothing else decides whether an event is
applied; ``services.event_apply`` only carries out the ``Decision``.

Rule 0, before the table: a synthetic (test) event is pushed to sockets and never written.
Then the table, keyed by what is held, the event's action, and whether the event's version
is newer than the held one (when nothing is held, every event is newer):

- a newer create/update is upserted; a newer delete removes the user and leaves a tombstone;
- anything not newer is a duplicate or arrived late: ignored, the message still deleted;
- a tombstone is final: a late create/update never brings the user back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reactive_cli.contract import Action, Envelope


class Decision(StrEnum):
    """What to do with one event."""

    UPSERT = "upsert"  # create or update the local user to the event's payload
    DELETE = "delete"  # delete the local user, keep a tombstone with the version
    IGNORE_STALE = "ignore_stale"  # version not newer than held: duplicate or late
    IGNORE_TOMBSTONED = "ignore_tombstoned"  # the user was deleted: never resurrect
    NOTIFY_ONLY = "notify_only"  # synthetic test event: push to sockets, write nothing

    @property
    def writes(self) -> bool:
        """Whether carrying out this decision changes the database."""
        return self in (Decision.UPSERT, Decision.DELETE)


@dataclass(frozen=True)
class Held:
    """What the client holds for one master user: its version and whether it is a tombstone."""

    version: int
    tombstoned: bool


class State(StrEnum):
    """What is held for the event's user."""

    ABSENT = "absent"
    LIVE = "live"
    TOMBSTONED = "tombstoned"


class Freshness(StrEnum):
    """Whether the event's version is newer than the held one."""

    NEWER = "newer"
    NOT_NEWER = "not_newer"


_C, _U, _D = Action.CREATED, Action.UPDATED, Action.DELETED
_ABSENT, _LIVE, _TOMB = State.ABSENT, State.LIVE, State.TOMBSTONED
_NEW, _OLD = Freshness.NEWER, Freshness.NOT_NEWER

#: THE rules: (held state, action, freshness) -> decision. ABSENT is always NEWER.
RULES: Mapping[tuple[State, Action, Freshness], Decision] = {
    (_ABSENT, _C, _NEW): Decision.UPSERT,
    (_ABSENT, _U, _NEW): Decision.UPSERT,  # the create was lost or comes later: upsert
    (_ABSENT, _D, _NEW): Decision.DELETE,  # delete before any create: record the tombstone
    (_LIVE, _C, _NEW): Decision.UPSERT,
    (_LIVE, _U, _NEW): Decision.UPSERT,
    (_LIVE, _D, _NEW): Decision.DELETE,
    (_LIVE, _C, _OLD): Decision.IGNORE_STALE,
    (_LIVE, _U, _OLD): Decision.IGNORE_STALE,
    (_LIVE, _D, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _C, _NEW): Decision.IGNORE_TOMBSTONED,
    (_TOMB, _U, _NEW): Decision.IGNORE_TOMBSTONED,
    (_TOMB, _D, _NEW): Decision.IGNORE_TOMBSTONED,  # already gone; the tombstone stays
    (_TOMB, _C, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _U, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _D, _OLD): Decision.IGNORE_STALE,  # the delete itself, delivered again
}


def state_of(held: Held | None) -> State:
    """Classify what is held."""
    if held is None:
        return State.ABSENT
    return State.TOMBSTONED if held.tombstoned else State.LIVE


def freshness_of(held: Held | None, event: Envelope) -> Freshness:
    """Whether ``event`` is newer than what is held (anything is newer than nothing)."""
    if held is None or event.version > held.version:
        return Freshness.NEWER
    return Freshness.NOT_NEWER


def decide(held: Held | None, event: Envelope) -> Decision:
    """The decision for ``event`` given what is held for its user."""
    if event.synthetic:  # Rule 0
        return Decision.NOTIFY_ONLY
    return RULES[(state_of(held), event.action, freshness_of(held, event))]
