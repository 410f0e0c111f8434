"""The apply/ignore/tombstone rules, row by row (reactive_users/client/decide.py)."""

from __future__ import annotations

import itertools
import uuid

import pytest

from reactive_users.client.decide import (
    MAX_VERSION,
    MAX_VERSION_STEP,
    RULES,
    Decision,
    Freshness,
    Held,
    State,
    decide,
    implausible,
)
from reactive_users.core.contract import Action, Envelope, Replaced, new_event

C, U, D, S, W = Action.CREATED, Action.UPDATED, Action.DELETED, Action.SNAPSHOT, Action.WITHDRAWN
#: A withdrawn marker at version 3 (the user left the master's published set).
WDRN = Held(3, False, withdrawn=True)


def event(action: Action, version: int, *, synthetic: bool = False) -> Envelope:
    user = {} if action is W else {"username": "ana"}  # a withdrawal carries no fields
    return new_event(action=action, user_id=7, version=version, user=user, synthetic=synthetic)


# Restated independently of RULES: (held, action, event version) -> decision.
CASES = [
    (None, C, 1, Decision.UPSERT),
    (None, U, 4, Decision.UPSERT),
    (None, D, 2, Decision.DELETE),
    (Held(3, False), C, 4, Decision.UPSERT),
    (Held(3, False), U, 4, Decision.UPSERT),
    (Held(3, False), D, 4, Decision.DELETE),
    (Held(3, False), C, 3, Decision.IGNORE_STALE),
    (Held(3, False), U, 3, Decision.IGNORE_STALE),
    (Held(3, False), U, 2, Decision.IGNORE_STALE),
    (Held(3, False), D, 3, Decision.DELETE),  # a backfilled tombstone (see decide.py)
    (Held(3, False), D, 2, Decision.IGNORE_STALE),
    (Held(3, False), C, 2, Decision.IGNORE_STALE),
    (Held(3, True), C, 4, Decision.IGNORE_TOMBSTONED),
    (Held(3, True), U, 9, Decision.IGNORE_TOMBSTONED),
    (Held(3, True), D, 4, Decision.IGNORE_TOMBSTONED),
    (Held(3, True), C, 1, Decision.IGNORE_STALE),
    (Held(3, True), U, 2, Decision.IGNORE_STALE),
    (Held(3, True), D, 3, Decision.IGNORE_STALE),
    (Held(3, True), C, 3, Decision.IGNORE_STALE),
    (Held(3, True), U, 3, Decision.IGNORE_STALE),
    (Held(3, True), D, 2, Decision.IGNORE_STALE),
    # Snapshots: applied at a newer or the same version unless tombstoned.
    (None, S, 1, Decision.UPSERT),
    (Held(3, False), S, 4, Decision.UPSERT),
    (Held(3, False), S, 3, Decision.UPSERT),
    (Held(3, False), S, 2, Decision.IGNORE_STALE),
    (Held(3, True), S, 4, Decision.IGNORE_TOMBSTONED),
    (Held(3, True), S, 3, Decision.IGNORE_STALE),
    (Held(3, True), S, 2, Decision.IGNORE_STALE),
    # Withdrawals: the user left the published set (promoted); removed like a delete.
    (None, W, 2, Decision.WITHDRAW),  # the marker keeps a late older create out
    (Held(3, False), W, 4, Decision.WITHDRAW),
    (Held(3, False), W, 3, Decision.WITHDRAW),  # repair: promoted without an event
    (Held(3, False), W, 2, Decision.IGNORE_STALE),  # demoted since: the newer state holds
    (Held(3, True), W, 4, Decision.IGNORE_TOMBSTONED),
    (Held(3, True), W, 3, Decision.IGNORE_STALE),
    (Held(3, True), W, 2, Decision.IGNORE_STALE),
    # A withdrawn marker: a newer full state brings the user back; nothing older does.
    (WDRN, C, 4, Decision.UPSERT),
    (WDRN, U, 4, Decision.UPSERT),  # demoted: every field
    (WDRN, D, 4, Decision.DELETE),  # deleted while excluded
    (WDRN, S, 4, Decision.UPSERT),
    (WDRN, W, 4, Decision.WITHDRAW),  # republished while still excluded
    (WDRN, C, 3, Decision.IGNORE_STALE),
    (WDRN, U, 3, Decision.IGNORE_STALE),
    (WDRN, D, 3, Decision.DELETE),  # backfilled tombstone
    (WDRN, S, 3, Decision.UPSERT),  # repair: demoted without an event
    (WDRN, W, 3, Decision.IGNORE_STALE),  # the withdrawal, delivered again
    (WDRN, C, 1, Decision.IGNORE_STALE),
    (WDRN, U, 2, Decision.IGNORE_STALE),
    (WDRN, D, 2, Decision.IGNORE_STALE),
    (WDRN, S, 2, Decision.IGNORE_STALE),
    (WDRN, W, 2, Decision.IGNORE_STALE),
]


@pytest.mark.parametrize(("held", "action", "version", "expected"), CASES)
def test_each_rule_gives_its_decision(held, action, version, expected):
    assert decide(held, event(action, version)) is expected


def test_every_rule_in_the_table_is_covered_by_a_case():
    covered = {
        (
            State.ABSENT
            if h is None
            else State.TOMBSTONED
            if h.tombstoned
            else State.WITHDRAWN
            if h.withdrawn
            else State.LIVE,
            a,
            Freshness.NEWER
            if h is None or v > h.version
            else Freshness.SAME
            if v == h.version
            else Freshness.OLDER,
        )
        for h, a, v, _ in CASES
    }
    assert covered == set(RULES)


def test_the_table_has_a_rule_for_every_reachable_situation():
    reachable = {
        (state, action, fresh)
        for state, action, fresh in itertools.product(State, Action, Freshness)
        if not (state is State.ABSENT and fresh is not Freshness.NEWER)
    }
    assert set(RULES) == reachable


@pytest.mark.parametrize("held", [None, Held(3, False), Held(3, True), WDRN])
@pytest.mark.parametrize("action", list(Action))
def test_synthetic_events_are_only_notified_whatever_is_held(held, action):
    assert decide(held, event(action, 1, synthetic=True)) is Decision.NOTIFY_ONLY


def test_an_equal_version_is_a_duplicate_not_an_update():
    assert decide(Held(5, False), event(U, 5)) is Decision.IGNORE_STALE
    assert decide(Held(5, False), event(U, 6)) is Decision.UPSERT


def test_a_late_update_after_delete_never_resurrects_the_user():
    held_after_delete = Held(4, True)
    for version in (2, 4, 5, 100):
        assert not decide(held_after_delete, event(U, version)).writes


def test_only_upsert_delete_and_withdraw_write():
    assert {d for d in Decision if d.writes} == {
        Decision.UPSERT,
        Decision.DELETE,
        Decision.WITHDRAW,
    }


def test_a_stale_event_never_brings_a_withdrawn_user_back():
    # live events at or below the marker's version, snapshots below it
    stale = [(C, v) for v in (1, 2, 3)] + [(U, v) for v in (1, 2, 3)] + [(S, 1), (S, 2)]
    for action, version in stale:
        assert decide(WDRN, event(action, version)) is Decision.IGNORE_STALE


def test_a_re_entry_after_a_withdrawal_brings_the_user_back_but_not_after_a_delete():
    assert decide(WDRN, event(U, 4)) is Decision.UPSERT
    assert decide(Held(3, True), event(U, 4)) is Decision.IGNORE_TOMBSTONED


def test_a_withdrawal_never_touches_a_tombstone():
    for version in (1, 3, 4, 100):
        assert not decide(Held(3, True), event(W, version)).writes


def test_a_live_event_at_the_held_version_is_a_duplicate_but_a_snapshot_repairs():
    held = Held(5, False)
    assert decide(held, event(C, 5)) is Decision.IGNORE_STALE
    assert decide(held, event(U, 5)) is Decision.IGNORE_STALE
    assert decide(held, event(S, 5)) is Decision.UPSERT


def test_a_snapshot_never_overwrites_a_newer_live_change():
    for held_version in (2, 3, 10):
        assert decide(Held(held_version, False), event(S, 1)) is Decision.IGNORE_STALE


def test_nothing_brings_a_tombstoned_user_back():
    for action in (C, U, S):
        for version in (1, 4, 5, 100):
            assert not decide(Held(4, True), event(action, version)).writes


# --- Version bounds and resets (Rule R) --------------------------------------------------------

FORGED = uuid.UUID("d1b8e2a4-3c5f-4e6a-8b7c-9d0e1f2a3b4c")


def reset(action: Action, version: int, replaces: Replaced) -> Envelope:
    user = {} if action in (W, D) else {"username": "ana"}
    return new_event(action=action, user_id=7, version=version, user=user, replaces=replaces)


@pytest.mark.parametrize("action", [C, U, D, S, W])
def test_an_event_more_than_the_step_above_the_held_version_is_implausible(action):
    held = Held(3, False)
    assert implausible(held, event(action, 3 + MAX_VERSION_STEP)) is None
    why = implausible(held, event(action, 4 + MAX_VERSION_STEP))
    assert why is not None and f"more than {MAX_VERSION_STEP:,}" in why
    assert implausible(held, event(action, 2**63 - 1)) is not None


def test_a_version_above_the_ceiling_is_implausible_even_with_nothing_held():
    assert implausible(None, event(C, MAX_VERSION)) is None
    why = implausible(None, event(U, MAX_VERSION + 1))
    assert why is not None and "highest plausible" in why
    assert implausible(None, event(U, 2**63 - 1)) is not None


def test_synthetic_events_and_resets_are_not_bound_by_the_step():
    assert implausible(Held(3, False), event(U, 2**63 - 1, synthetic=True)) is None
    far = reset(S, 2_000_005, Replaced(version=3, event_id=None))
    assert implausible(Held(3, False), far) is None
    assert implausible(Held(3, False), reset(S, MAX_VERSION + 1, Replaced(version=3))) is not None


@pytest.mark.parametrize(
    ("held", "action", "expected"),
    [
        (Held(2**63 - 1, False, event_id=FORGED), S, Decision.UPSERT),  # frozen: back down
        (Held(9, True, event_id=FORGED), S, Decision.UPSERT),  # a forged tombstone: back
        (Held(2, True, event_id=FORGED), S, Decision.UPSERT),  # ... whatever its version
        (Held(9, False, withdrawn=True, event_id=FORGED), S, Decision.UPSERT),
        (Held(9, False, event_id=FORGED), D, Decision.DELETE),  # the master deleted it
        (Held(9, False, event_id=FORGED), W, Decision.WITHDRAW),  # the master excludes it
    ],
)
def test_a_reset_applies_whatever_the_versions_while_the_replaced_state_is_held(
    held, action, expected
):
    replaces = Replaced(version=held.version, event_id=FORGED)
    assert decide(held, reset(action, 5, replaces)) is expected


@pytest.mark.parametrize(
    "held",
    [
        None,  # nothing held: nothing to replace
        Held(10, False, event_id=FORGED),  # the client moved on since the diff
        Held(9, False, event_id=uuid.uuid4()),  # same version, another event
        Held(5, False, event_id=uuid.uuid4()),  # the reset itself, applied: a replay
    ],
)
def test_a_reset_is_ignored_once_the_client_no_longer_holds_what_it_replaces(held):
    stale = reset(S, 5, Replaced(version=9, event_id=FORGED))
    assert decide(held, stale) is Decision.IGNORE_STALE


def test_a_replayed_reset_never_resurrects_a_user_the_master_deleted_since():
    # A forged tombstone at 4 is reset to live v3 (event R); the master then deletes at v4.
    first = reset(S, 3, Replaced(version=4, event_id=FORGED))
    assert decide(Held(4, True, event_id=FORGED), first) is Decision.UPSERT
    deleted = Held(4, True, event_id=uuid.uuid4())  # the master's own delete, same version
    assert decide(deleted, first) is Decision.IGNORE_STALE
