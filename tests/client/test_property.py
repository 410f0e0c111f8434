"""Fault 5: any master history, delivered duplicated and in any order, ends in the master's state.

Hypothesis generates histories of creates, renames, updates, deactivations, reactivations,
promotions to staff, demotions and deletes over a few users whose usernames come from a
small pool, so names pass from one user to another and come back. A promotion withdraws the
user (no fields); changes while staff publish nothing; a demotion publishes every field; a
staff user's delete carries no fields (``reactive_users/master/changes.py``). Each change becomes
the envelope the master would publish (``reactive_users.core.contract.new_event``: the next
per-user version, the full allow-listed state). The envelopes are then delivered with
random duplicates in a random order to the real ``event_apply``, one by one or in batches
of up to 10 that share one transaction and what ``batch_reads`` read for them, a savepoint
each; or in batches handed to the listener's own ``apply_batch`` (no savepoints,
the batch's deletes of local users together at its end; one by one again if anything
fails). Afterwards every user must be held exactly as the master has it (deleted users: a
tombstone at the last version; staff: a withdrawn marker at it, no local user), and no
local user may remain parked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from reactive_users.client.apply import batch_reads, event_apply
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action, Envelope, FieldValue, new_event
from tests.client.support import batch_applier, sqs_messages
from tests.support.reliability import record

#: Few names for several users: renames pass them around and creates reuse them.
NAMES = ("ana", "bob", "cy", "dee", "ana.maria+x@example.com")
KINDS = ("create", "rename", "update", "deactivate", "reactivate", "promote", "demote", "delete")
FIELDS = ("username", "email", "first_name", "last_name", "is_active")
#: Examples per run: enough to find ordering bugs, within ~30 s on a busy 2-core machine.
EXAMPLES = 1000


@dataclass
class MasterUser:
    """One master user as the master holds it."""

    id: int
    username: str
    version: int = 1
    email: str = ""
    first_name: str = ""
    last_name: str = ""
    is_active: bool = True
    deleted: bool = False
    #: Staff: outside the published set (withdrawn from clients).
    staff: bool = False

    def payload(self) -> dict[str, FieldValue]:
        return {name: getattr(self, name) for name in FIELDS}


@dataclass
class Master:
    """A tiny master: unique usernames among live users, per-user versions, its events."""

    users: dict[int, MasterUser] = field(default_factory=dict)
    events: list[Envelope] = field(default_factory=list)

    def live(self) -> list[MasterUser]:
        return [u for u in self.users.values() if not u.deleted]

    def free_name(self, start: int, *, keep: MasterUser | None = None) -> str | None:
        """The first name from NAMES[start] on that no other live user holds."""
        taken = {u.username for u in self.live() if u is not keep}
        for step in range(len(NAMES)):
            name = NAMES[(start + step) % len(NAMES)]
            if name not in taken and (keep is None or name != keep.username):
                return name
        return None

    def apply(self, kind: str, who: int, name: int, value: int) -> None:
        """One change, if it makes sense now (a rename needs a free name, and so on)."""
        live = self.live()
        if kind == "create" or not live:
            username = self.free_name(name)
            if username is not None:
                user = MasterUser(id=len(self.users) + 1, username=username)
                self.users[user.id] = user
                self._publish(Action.CREATED, user, FIELDS)
            return
        user = live[who % len(live)]
        if kind == "rename":
            username = self.free_name(name, keep=user)
            if username is not None:
                self._change(user, username=username)
        elif kind == "update":
            attr = ("first_name", "last_name", "email")[value % 3]
            self._change(user, **{attr: f"{attr[0]}{len(self.events)}"})
        elif kind in ("deactivate", "reactivate"):
            self._change(user, is_active=kind == "reactivate")
        elif kind in ("promote", "demote") and user.staff != (kind == "promote"):
            user.staff = kind == "promote"
            user.version += 1
            if user.staff:  # withdrawn: nothing of the user leaves the master
                self._publish(Action.WITHDRAWN, user, (), with_fields=False)
            else:  # back: every field
                self._publish(Action.UPDATED, user, FIELDS)
        elif kind == "delete":
            user.deleted = True
            user.version += 1
            self._publish(Action.DELETED, user, (), with_fields=not user.staff)

    def _change(self, user: MasterUser, **values: Any) -> None:
        changed = tuple(k for k, v in values.items() if getattr(user, k) != v)
        for key, value in values.items():
            setattr(user, key, value)
        if not changed or user.staff:  # nothing changed, or nothing of the user is published
            return
        user.version += 1
        self._publish(Action.UPDATED, user, changed)

    def _publish(
        self, action: Action, user: MasterUser, changed: tuple[str, ...], *, with_fields=True
    ) -> None:
        event = new_event(
            action=action,
            user_id=user.id,
            version=user.version,
            user=user.payload() if with_fields else {},
            changed=changed,
        )
        self.events.append(event)


class Case:
    """A master history and the order in which its envelopes reach the client."""

    def __init__(
        self, master: Master, delivery: list[Envelope], batch: int = 0, listener: bool = False
    ) -> None:
        self.master = master
        self.delivery = tuple(delivery)
        #: Events per transaction sharing ``batch_reads``; 0: one by one, no batch reads.
        self.batch = batch
        #: Batches go to ``apply_batch`` rather than a savepoint per event.
        self.listener = listener

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        def show(e: Envelope) -> str:
            user = e.user
            if not user:
                return f"{e.user_id}:v{e.version} {e.action.value}"
            return (
                f"{e.user_id}:v{e.version} {e.action.value} {user['username']!r} "
                f"{user['first_name']!r}/{user['last_name']!r}/{user['email']!r} "
                f"active={user['is_active']}"
            )

        final = [
            f"{u.id}:v{u.version} {u.username!r}" + " deleted" * u.deleted + " staff" * u.staff
            for u in self.master.users.values()
        ]
        lines = "\n  ".join(show(e) for e in self.delivery)
        batch = f"batch={self.batch}, listener={self.listener}"
        return f"Case(master={final}, {batch}, delivery=\n  {lines}\n)"


@st.composite
def cases(draw: Callable[..., Any]) -> Case:
    steps = draw(
        st.lists(
            st.tuples(
                st.sampled_from(KINDS),
                st.integers(0, 5),
                st.integers(0, len(NAMES) - 1),
                st.integers(0, 2),
            ),
            min_size=1,
            max_size=25,
        )
    )
    master = Master()
    for step in steps:
        master.apply(*step)
    events = master.events
    again = draw(st.lists(st.sampled_from(events), max_size=len(events))) if events else []
    delivery = draw(st.permutations([*events, *again]))
    return Case(master, delivery, batch=draw(st.integers(0, 10)), listener=draw(st.booleans()))


def deliver_all(case: Case, loop: Any) -> None:
    """Apply the case's envelopes in its delivery order, one by one or in batches."""
    if not case.batch:
        for event in case.delivery:
            event_apply(event=event)
        return
    for start in range(0, len(case.delivery), case.batch):
        chunk = case.delivery[start : start + case.batch]
        if case.listener:
            handled, rest = loop.apply(sqs_messages(chunk))
            assert not rest and all(h.result is not None for h in handled), handled
            # nothing in a master's history makes the fast pass fail (no local users here)
            assert not loop.fallbacks, "the fast pass failed and the batch was applied again"
            continue
        with transaction.atomic():  # one read, a savepoint each (the listener's second pass)
            reads = batch_reads(events=chunk)
            for event in chunk:
                event_apply(event=event, batch=reads)


@dataclass
class Totals:
    """What all examples fed and compared; the users that differed in the last example."""

    events: int = 0
    users: int = 0
    examples: int = 0
    behind: list[int] = field(default_factory=list)
    differing: list[int] = field(default_factory=list)


def held(master_id: int) -> dict[str, Any] | None:
    """What the client holds for a master user: version, tombstone, withdrawn and fields."""
    replica = Replica.objects.select_related("user").filter(master_id=master_id).first()
    if replica is None:
        return None
    user = replica.user
    fields = {name: getattr(user, name) for name in FIELDS} if user is not None else None
    return {
        "version": replica.version,
        "tombstone": replica.tombstone,
        "withdrawn": replica.withdrawn,
        "user": fields,
    }


def expected(user: MasterUser) -> dict[str, Any]:
    return {
        "version": user.version,
        "tombstone": user.deleted,
        "withdrawn": user.staff and not user.deleted,
        "user": None if user.deleted or user.staff else user.payload(),
    }


def compare(master: Master) -> tuple[list[int], list[int]]:
    """Master ids the client holds an older version of (or nothing), and those it holds
    at the master's version but differently."""
    behind, differing = [], []
    for uid, user in master.users.items():
        have, want = held(uid), expected(user)
        if have is None or have["version"] < want["version"]:
            behind.append(uid)
        elif have != want:
            differing.append(uid)
    return behind, differing


@pytest.mark.slow
@pytest.mark.django_db
def test_any_history_delivered_duplicated_and_reordered_ends_in_the_masters_state():
    totals = Totals()

    @settings(max_examples=EXAMPLES, deadline=None, database=None)
    @given(case=cases())
    def property_holds(case: Case) -> None:
        loop.fallbacks = 0
        with transaction.atomic():  # each example starts from an empty client database
            try:
                deliver_all(case, loop)
                behind, differing = compare(case.master)
                locals_ = User.objects.count()
                parked = list(User.objects.filter(username__startswith="!"))
            finally:
                transaction.set_rollback(True)
        totals.events += len(case.delivery)
        totals.users += len(case.master.users)
        totals.examples += 1
        totals.behind, totals.differing = behind, differing
        live = len([u for u in case.master.live() if not u.staff])
        assert not behind, f"users the client holds an older version of: {behind}"
        assert not differing, f"users held differently from the master: {differing}"
        assert locals_ == live, f"{locals_} local users for {live} live master users"
        assert not parked, f"users left parked: {[u.username for u in parked]}"

    try:
        with batch_applier() as loop:
            property_holds()
    finally:
        record(
            fault="5. duplicated and reordered events (property)",
            test="test_any_history_delivered_duplicated_and_reordered_ends_in_the_masters_state",
            sent=totals.events,
            checked=totals.users,
            lost=len(totals.behind),
            diverged=len(totals.differing),
            detail=(
                f"{totals.examples} generated histories of creates, renames, updates, "
                "(de)activations, promotions to staff (withdrawals), demotions and deletes "
                "over a pool of 5 usernames, each delivered with "
                "random duplicates in a random order to event_apply, or in batches to "
                "the listener's batch apply"
            ),
        )


def test_the_master_model_passes_usernames_around_with_per_user_versions():
    """Guard for the strategy itself: names move between users and come back after a delete."""
    master = Master()
    for step in [
        ("create", 0, 0, 0),  # 1: ana
        ("create", 0, 1, 0),  # 2: bob
        ("rename", 0, 2, 0),  # 1: ana -> cy
        ("rename", 1, 0, 0),  # 2: bob -> ana
        ("delete", 0, 0, 0),  # 1 deleted
        ("create", 0, 2, 0),  # 3: cy, reused
    ]:
        master.apply(*step)
    assert [(u.id, u.username, u.version, u.deleted) for u in master.users.values()] == [
        (1, "cy", 3, True),
        (2, "ana", 2, False),
        (3, "cy", 1, False),
    ]
    assert [(e.user_id, e.version) for e in master.events] == [
        (1, 1),
        (2, 1),
        (1, 2),
        (2, 2),
        (1, 3),
        (3, 1),
    ]


def deliver(master: Master, order: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Apply the master's events in ``order`` ((user id, version) pairs); compare."""
    events = {(e.user_id, e.version): e for e in master.events}
    for key in order:
        event_apply(event=events[key])
    return compare(master)


@pytest.mark.django_db
def test_a_user_parked_by_an_older_event_gets_its_name_back_when_it_is_freed():
    # Given the master: 1 "ana" renamed "bob", then 2 created as "ana"
    master = Master()
    for step in [("create", 0, 0, 0), ("rename", 0, 1, 0), ("create", 0, 0, 0)]:
        master.apply(*step)
    assert [u.username for u in master.users.values()] == ["bob", "ana"]

    # When 2's create arrives first, then 1's older create (parks 2), then 1's rename
    assert deliver(master, [(2, 1), (1, 1), (1, 2)]) == ([], [])

    # Then 2 holds "ana" again: nobody is left parked
    assert not User.objects.filter(username__startswith="!").exists()


@pytest.mark.django_db
def test_a_swap_of_usernames_ends_right_in_either_order():
    # Given the master swaps the names of 1 "ana" and 2 "bob" through a third name
    master = Master()
    steps = [
        ("create", 0, 0, 0),  # 1: ana
        ("create", 0, 1, 0),  # 2: bob
        ("rename", 0, 2, 0),  # 1: ana -> cy
        ("rename", 1, 0, 0),  # 2: bob -> ana
        ("rename", 0, 1, 0),  # 1: cy -> bob
    ]
    for step in steps:
        master.apply(*step)
    everything = [(1, 1), (2, 1), (1, 2), (2, 2), (1, 3)]
    for order in (everything, [(1, 1), (2, 1), (2, 2), (1, 3), (1, 2)], everything[::-1]):
        with transaction.atomic():
            try:
                assert deliver(master, order) == ([], []), order
                assert not User.objects.filter(username__startswith="!").exists(), order
            finally:
                transaction.set_rollback(True)


@pytest.mark.django_db
def test_a_user_renamed_while_staff_leaves_its_old_name_to_a_newcomer_in_any_order():
    # Given the master: 1 "ana" promoted, renamed "bob" while staff, 2 created as "ana",
    # then 1 demoted (back as "bob")
    master = Master()
    steps = [
        ("create", 0, 0, 0),  # 1: ana v1
        ("promote", 0, 0, 0),  # 1: withdrawn v2
        ("rename", 0, 1, 0),  # 1: bob, nothing published
        ("create", 0, 0, 0),  # 2: ana v1
        ("demote", 0, 0, 0),  # 1: back as bob v3
    ]
    for step in steps:
        master.apply(*step)
    assert [(u.username, u.version, u.staff) for u in master.users.values()] == [
        ("bob", 3, False),
        ("ana", 1, False),
    ]
    everything = [(1, 1), (1, 2), (2, 1), (1, 3)]
    orders = [everything, [(1, 1), (2, 1), (1, 2), (1, 3)], [(2, 1), (1, 3), (1, 1), (1, 2)]]
    for order in [*orders, everything[::-1]]:
        # Then every order ends with both held as the master has them, nobody parked
        with transaction.atomic():
            try:
                assert deliver(master, order) == ([], []), order
                assert not User.objects.filter(username__startswith="!").exists(), order
            finally:
                transaction.set_rollback(True)
