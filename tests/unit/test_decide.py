"""The apply/ignore/tombstone rules, row by row (client/replica/decide.py)."""

from __future__ import annotations

import itertools

import pytest

from client.replica.decide import RULES, Decision, Freshness, Held, State, decide
from reactive_cli.contract import Action, Envelope, new_event

C, U, D, S = Action.CREATED, Action.UPDATED, Action.DELETED, Action.SNAPSHOT


def event(action: Action, version: int, *, synthetic: bool = False) -> Envelope:
    return new_event(
        action=action, user_id=7, version=version, user={"username": "ana"}, synthetic=synthetic
    )


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
]


@pytest.mark.parametrize(("held", "action", "version", "expected"), CASES)
def test_each_rule_gives_its_decision(held, action, version, expected):
    assert decide(held, event(action, version)) is expected


def test_every_rule_in_the_table_is_covered_by_a_case():
    covered = {
        (
            State.ABSENT if h is None else State.TOMBSTONED if h.tombstoned else State.LIVE,
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


@pytest.mark.parametrize("held", [None, Held(3, False), Held(3, True)])
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


def test_only_upsert_and_delete_write():
    assert {d for d in Decision if d.writes} == {Decision.UPSERT, Decision.DELETE}


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
