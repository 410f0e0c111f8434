"""What a client does with one event, given what it holds: pure, no I/O.

Rule 1: every apply/ignore/tombstone rule lives in this module, in ``RULES`` below
(like h11's EVENT_TRIGGERED_TRANSITIONS). Nothing else decides whether an event is
applied; ``services.event_apply`` only carries out the ``Decision``.

Rule 0, before the table: a synthetic (test) event is pushed to sockets and never written.
Then the table, keyed by what is held, the event's action, and how the event's version
compares with the held one (NEWER, SAME or OLDER; when nothing is held, every event is
NEWER):

- a newer create/update is upserted; a newer delete removes the user and leaves a tombstone;
- a create/update that is not newer is a duplicate or arrived late: ignored, the message
  still deleted;
- a tombstone is final: nothing brings the user back, whatever its version.

Snapshots (``Action.SNAPSHOT``, sent by ``reactive backfill`` and ``reactive diff --repair``
to one client's queue) carry a user's full state at the master's *current* version, which
may equal the version the client holds: the live event that produced that version, or the
state the client should have at it. Two rules make them safe beside live traffic and let
them repair what live events cannot:

- a snapshot is applied when its version is NEWER than or the SAME as the held one and the
  user is not tombstoned. At the same version it overwrites: that repairs a local user
  deleted by hand (the replica keeps its version with no user; the upsert creates the user
  again; a replica row deleted too counts as absent) and a master row changed by
  ``QuerySet.update()`` with no version bump. Because the master reads a user's fields and
  version in one statement, a snapshot's content is at least as new as the live event of
  its version, so this overwrite never loses a live change. An OLDER snapshot is ignored:
  a live change that arrived first wins.
- a delete at the SAME version as a live user is applied. Each version number belongs to
  exactly one event, so a live event never does this (the delete of a live v is v+1); it
  is a tombstone sent by backfill or repair for a user that vanished from the master without
  an event (a raw SQL delete, a deleted staff user): the master's word wins.

Withdrawals (``Action.WITHDRAWN``): the user left the published set (promoted to staff or
superuser while those are not published). The master records one as a live event at the
user's next version, and backfill and repair send one at its current version. The client
removes the local user as on a delete and holds a WITHDRAWN marker at that version, with
no user. Unlike a tombstone the marker is not final, since the person still exists and a
demotion brings them back:

- a withdrawal NEWER than, or at the SAME version as, a live user withdraws it: SAME as for
  a delete, because repair and backfill send it at the master's current version (a user
  promoted by ``QuerySet.update()``, no version bump); the master's word wins. A
  withdrawal NEWER than nothing held records the marker, so a late older event is ignored.
- on a WITHDRAWN marker, a NEWER create/update (the demotion sends every field) or a NEWER
  or SAME snapshot (repair of a user demoted without an event) is upserted: the user comes
  back in full. A NEWER or SAME delete turns the marker into a tombstone (SAME: a delete
  sent by backfill or repair for a user that vanished without an event). A NEWER
  withdrawal moves the marker to its version (a republish of a user still excluded).
- anything OLDER than the marker, and a create/update/withdrawal at its SAME version (a
  redelivery), is ignored: a stale event never brings a withdrawn user back.
- a tombstone stays final: a withdrawal never touches it.

Resets (an envelope with ``replaces``: ``reactive diff --repair`` of a replica *ahead* of the
master, or tombstoned on the client while live in the master) are decided before the table,
by Rule R: a reset is applied whatever the versions, as its action says (a snapshot
upserts, even over a tombstone; a delete deletes; a withdrawal withdraws), but only while
the client still holds exactly the state it replaces: the same version AND the same last
event id. Anything else (the client moved on since the diff, holds nothing, or already
applied this reset) is ignored as stale. So a reset cannot be replayed: once applied, the
client holds the reset's own event; and it never resurrects a user the master deleted: the
master builds a live reset only from a user it holds, and a later delete replaces the state
an older reset named.

Version bounds, before every rule but Rule 0 (``implausible``): the master gives each
change of a user the next version, one at a time. An event more than ``MAX_VERSION_STEP``
above the held version (a million changes of one user that this client never saw), or
above ``MAX_VERSION`` at all, is no event of the master's: it is refused for good
(``ImplausibleVersion``, to the dead-letter queue with the reason), whatever its action, so
that a forged or corrupt version can never freeze a user (every later change ignored as
older). A reset is bound to the exact state it replaces, not to this step, but not above
``MAX_VERSION`` either.

Applying stays idempotent: a snapshot delivered twice writes the same state twice.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from reactive_users.core.contract import Action, Envelope

#: Most an event's version may be above the held one. The master adds one per change of a
#: user, so this is a million changes of ONE user this client never received; beyond it
#: the version is forged or corrupt. (A client that far behind is repaired by a reset.)
MAX_VERSION_STEP = 1_000_000
#: Highest version of any event, held or not: 2**53 - 1, the largest integer a JSON reader
#: in JavaScript (the client's page) holds exactly; at a thousand changes a second, one
#: user reaches it in 285,000 years.
MAX_VERSION = 2**53 - 1


class Decision(StrEnum):
    """What to do with one event."""

    UPSERT = "upsert"  # create or update the local user to the event's payload
    DELETE = "delete"  # delete the local user, keep a tombstone with the version
    WITHDRAW = "withdraw"  # delete the local user, keep a withdrawn marker with the version
    IGNORE_STALE = "ignore_stale"  # version not newer than held: duplicate or late
    IGNORE_TOMBSTONED = "ignore_tombstoned"  # the user was deleted: never resurrect
    NOTIFY_ONLY = "notify_only"  # synthetic test event: push to sockets, write nothing

    @property
    def writes(self) -> bool:
        """Whether carrying out this decision changes the database."""
        return self in (Decision.UPSERT, Decision.DELETE, Decision.WITHDRAW)


@dataclass(frozen=True)
class Held:
    """What the client holds for one master user: its version, and whether it is a tombstone
    or a withdrawn marker."""

    version: int
    tombstoned: bool
    withdrawn: bool = False
    #: The event that produced what is held (None: not recorded).
    event_id: uuid.UUID | None = None


class State(StrEnum):
    """What is held for the event's user."""

    ABSENT = "absent"
    LIVE = "live"
    TOMBSTONED = "tombstoned"
    WITHDRAWN = "withdrawn"


class Freshness(StrEnum):
    """How the event's version compares with the held one."""

    NEWER = "newer"
    SAME = "same"
    OLDER = "older"


_C, _U, _D, _S = Action.CREATED, Action.UPDATED, Action.DELETED, Action.SNAPSHOT
_W = Action.WITHDRAWN
_ABSENT, _LIVE, _TOMB, _WDRN = State.ABSENT, State.LIVE, State.TOMBSTONED, State.WITHDRAWN
_NEW, _SAME, _OLD = Freshness.NEWER, Freshness.SAME, Freshness.OLDER

#: THE rules: (held state, action, freshness) -> decision. ABSENT is always NEWER.
RULES: Mapping[tuple[State, Action, Freshness], Decision] = {
    (_ABSENT, _C, _NEW): Decision.UPSERT,
    (_ABSENT, _U, _NEW): Decision.UPSERT,  # the create was lost or comes later: upsert
    (_ABSENT, _D, _NEW): Decision.DELETE,  # delete before any create: record the tombstone
    (_ABSENT, _S, _NEW): Decision.UPSERT,  # backfill of a client that never saw the user
    (_ABSENT, _W, _NEW): Decision.WITHDRAW,  # nothing to remove: record the marker
    (_LIVE, _C, _NEW): Decision.UPSERT,
    (_LIVE, _U, _NEW): Decision.UPSERT,
    (_LIVE, _D, _NEW): Decision.DELETE,
    (_LIVE, _S, _NEW): Decision.UPSERT,
    (_LIVE, _C, _SAME): Decision.IGNORE_STALE,  # the same event, delivered again
    (_LIVE, _U, _SAME): Decision.IGNORE_STALE,
    (_LIVE, _D, _SAME): Decision.DELETE,  # a backfilled tombstone: vanished without an event
    (_LIVE, _S, _SAME): Decision.UPSERT,  # repair: same version, the master's content wins
    (_LIVE, _C, _OLD): Decision.IGNORE_STALE,
    (_LIVE, _U, _OLD): Decision.IGNORE_STALE,
    (_LIVE, _D, _OLD): Decision.IGNORE_STALE,
    (_LIVE, _S, _OLD): Decision.IGNORE_STALE,  # a live change overtook the snapshot: it wins
    (_LIVE, _W, _NEW): Decision.WITHDRAW,  # promoted: the user leaves the published set
    (_LIVE, _W, _SAME): Decision.WITHDRAW,  # repair: promoted without an event
    (_LIVE, _W, _OLD): Decision.IGNORE_STALE,  # demoted since: the newer state holds
    (_TOMB, _C, _NEW): Decision.IGNORE_TOMBSTONED,
    (_TOMB, _U, _NEW): Decision.IGNORE_TOMBSTONED,
    (_TOMB, _D, _NEW): Decision.IGNORE_TOMBSTONED,  # already gone; the tombstone stays
    (_TOMB, _S, _NEW): Decision.IGNORE_TOMBSTONED,
    (_TOMB, _C, _SAME): Decision.IGNORE_STALE,
    (_TOMB, _U, _SAME): Decision.IGNORE_STALE,
    (_TOMB, _D, _SAME): Decision.IGNORE_STALE,  # the delete itself, delivered again
    (_TOMB, _S, _SAME): Decision.IGNORE_STALE,
    (_TOMB, _C, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _U, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _D, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _S, _OLD): Decision.IGNORE_STALE,
    (_TOMB, _W, _NEW): Decision.IGNORE_TOMBSTONED,  # a tombstone is final
    (_TOMB, _W, _SAME): Decision.IGNORE_STALE,
    (_TOMB, _W, _OLD): Decision.IGNORE_STALE,
    (_WDRN, _C, _NEW): Decision.UPSERT,  # re-entry: every field comes back
    (_WDRN, _U, _NEW): Decision.UPSERT,  # demoted: the update carries every field
    (_WDRN, _D, _NEW): Decision.DELETE,  # deleted while excluded: now final
    (_WDRN, _S, _NEW): Decision.UPSERT,
    (_WDRN, _W, _NEW): Decision.WITHDRAW,  # still excluded (republished): marker moves up
    (_WDRN, _C, _SAME): Decision.IGNORE_STALE,
    (_WDRN, _U, _SAME): Decision.IGNORE_STALE,
    (_WDRN, _D, _SAME): Decision.DELETE,  # a backfilled tombstone: vanished without an event
    (_WDRN, _S, _SAME): Decision.UPSERT,  # repair: demoted without an event
    (_WDRN, _W, _SAME): Decision.IGNORE_STALE,  # the withdrawal itself, delivered again
    (_WDRN, _C, _OLD): Decision.IGNORE_STALE,  # a stale event never brings the user back
    (_WDRN, _U, _OLD): Decision.IGNORE_STALE,
    (_WDRN, _D, _OLD): Decision.IGNORE_STALE,
    (_WDRN, _S, _OLD): Decision.IGNORE_STALE,
    (_WDRN, _W, _OLD): Decision.IGNORE_STALE,
}


def state_of(held: Held | None) -> State:
    """Classify what is held."""
    if held is None:
        return State.ABSENT
    if held.tombstoned:
        return State.TOMBSTONED
    return State.WITHDRAWN if held.withdrawn else State.LIVE


def freshness_of(held: Held | None, event: Envelope) -> Freshness:
    """How ``event``'s version compares with what is held (anything is newer than nothing)."""
    if held is None or event.version > held.version:
        return Freshness.NEWER
    return Freshness.SAME if event.version == held.version else Freshness.OLDER


#: Rule R: what a reset that matches the held state does, by its action.
RESET_RULES: Mapping[Action, Decision] = {
    Action.SNAPSHOT: Decision.UPSERT,
    Action.DELETED: Decision.DELETE,
    Action.WITHDRAWN: Decision.WITHDRAW,
}


def implausible(held: Held | None, event: Envelope) -> str | None:
    """Why ``event``'s version cannot be the master's (see the module's bounds), or None."""
    if event.synthetic:
        return None
    if event.version > MAX_VERSION:
        return f"version {event.version} is above the highest plausible one ({MAX_VERSION})"
    if held is not None and not event.reset and event.version - held.version > MAX_VERSION_STEP:
        return (
            f"version {event.version} is {event.version - held.version:,} above the held "
            f"{held.version}, more than {MAX_VERSION_STEP:,}"
        )
    return None


def holds_replaced(held: Held | None, event: Envelope) -> bool:
    """Whether the client holds exactly the state a reset replaces (Rule R)."""
    r = event.replaces
    return (
        r is not None
        and held is not None
        and (held.version, held.event_id)
        == (
            r.version,
            r.event_id,
        )
    )


def decide(held: Held | None, event: Envelope) -> Decision:
    """The decision for ``event`` given what is held for its user (``implausible`` first)."""
    if event.synthetic:  # Rule 0
        return Decision.NOTIFY_ONLY
    if event.reset:  # Rule R
        return RESET_RULES[event.action] if holds_replaced(held, event) else Decision.IGNORE_STALE
    return RULES[(state_of(held), event.action, freshness_of(held, event))]
