"""The publish rules of reactive_users/master/changes.py, on plain objects: no Django database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from reactive_users.core.contract import DEFAULT_USER_FIELDS, Action
from reactive_users.master.changes import (
    Decision,
    Snapshot,
    changed_fields,
    decide_delete,
    decide_republish,
    decide_save,
    excluded_by_privileges,
    field_value,
    is_excluded,
    saved_snapshot,
    take_snapshot,
    tracked_values,
)

FIELDS = DEFAULT_USER_FIELDS
ALL_FIELDS = tuple(sorted(FIELDS))


def user(**overrides: object) -> SimpleNamespace:
    values: dict[str, object] = {
        "username": "ana",
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Maria",
        "is_active": True,
        "is_staff": False,
        "is_superuser": False,
        "password": "pbkdf2_sha256$secret",
        "last_login": None,
        "id": 7,
    }
    values.update(overrides)
    return SimpleNamespace(**values)


def snap(**overrides: object) -> Snapshot:
    return take_snapshot(user(**overrides), FIELDS)


def test_tracked_values_hold_only_allow_listed_fields() -> None:
    assert tracked_values(user(), FIELDS) == {
        "username": "ana",
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "Maria",
        "is_active": True,
    }


def test_a_deferred_field_is_absent_rather_than_read() -> None:
    partial = SimpleNamespace(username="ana")  # what .only("username") leaves in __dict__
    assert tracked_values(partial, FIELDS) == {"username": "ana"}


def test_field_values_become_wire_values() -> None:
    moment = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    key = uuid.UUID(int=1)
    assert field_value(moment) == "2025-01-02T03:04:05+00:00"
    assert field_value(date(2025, 1, 2)) == "2025-01-02"
    assert field_value(key) == str(key)
    assert [field_value(v) for v in ("x", 3, True, None)] == ["x", 3, True, None]


def test_changed_fields_are_sorted_and_only_those_that_differ() -> None:
    old = {"username": "ana", "email": "a@x", "first_name": "Ana"}
    new = {"username": "ana2", "email": "a@x", "first_name": "Anna"}
    assert changed_fields(old, new) == ("first_name", "username")


def test_without_an_old_state_every_field_changed() -> None:
    assert changed_fields(None, {"username": "ana", "email": ""}) == ("email", "username")


def test_fields_outside_the_allow_list_never_count() -> None:
    before = tracked_values(user(), FIELDS)
    after = tracked_values(user(password="other", last_login=datetime.now(UTC)), FIELDS)
    assert changed_fields(before, after) == ()


@pytest.mark.parametrize(
    ("flags", "publish_staff", "excluded"),
    [
        ({}, False, False),
        ({"is_staff": True}, False, True),
        ({"is_superuser": True}, False, True),
        ({"is_staff": True, "is_superuser": True}, True, False),
    ],
)
def test_staff_and_superusers_are_excluded_unless_published(
    flags: dict[str, bool], publish_staff: bool, excluded: bool
) -> None:
    assert is_excluded(user(**flags), publish_staff) is excluded


def test_a_created_user_publishes_every_field() -> None:
    decision = decide_save(old=snap(), new=snap(), created=True, publish_staff=False)
    assert decision == Decision(action=Action.CREATED, changed=ALL_FIELDS)


def test_a_rename_publishes_an_update_of_the_username() -> None:
    decision = decide_save(
        old=snap(), new=snap(username="ana2"), created=False, publish_staff=False
    )
    assert decision == Decision(action=Action.UPDATED, changed=("username",))


def test_a_save_changing_no_tracked_field_publishes_nothing() -> None:
    old, new = snap(), snap(password="new-hash", last_login=datetime.now(UTC))
    assert decide_save(old=old, new=new, created=False, publish_staff=False) is None


def test_a_staff_user_publishes_nothing_even_when_created() -> None:
    staff = snap(is_staff=True)
    assert decide_save(old=staff, new=staff, created=True, publish_staff=False) is None


def test_publishing_staff_makes_a_staff_user_publish() -> None:
    decision = decide_save(
        old=snap(is_staff=True), new=snap(is_staff=True), created=True, publish_staff=True
    )
    assert decision is not None and decision.action is Action.CREATED


#: A withdrawal: the user left the published set, and nothing of theirs is published.
WITHDRAWAL = Decision(action=Action.WITHDRAWN, changed=(), with_fields=False)


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_a_user_who_becomes_staff_or_superuser_is_withdrawn_with_no_fields(flag: str) -> None:
    decision = decide_save(
        old=snap(), new=snap(**{flag: True}, first_name="X"), created=False, publish_staff=False
    )
    assert decision == WITHDRAWAL


def test_a_user_who_becomes_staff_while_staff_are_published_just_updates() -> None:
    decision = decide_save(
        old=snap(), new=snap(is_staff=True, first_name="X"), created=False, publish_staff=True
    )
    assert decision == Decision(action=Action.UPDATED, changed=("first_name",))


def test_an_excluded_user_changing_again_records_nothing() -> None:
    # Given a user already withdrawn (staff before and after): renamed or deactivated
    old = snap(is_staff=True)
    for change in ({"username": "ana2"}, {"is_active": False}, {"is_superuser": True}):
        new = snap(is_staff=True, **change)
        assert decide_save(old=old, new=new, created=False, publish_staff=False) is None


def test_an_excluded_user_saved_without_a_snapshot_is_withdrawn() -> None:
    # harmless: a client holding nothing of the user records a withdrawn marker
    decision = decide_save(old=None, new=snap(is_staff=True), created=False, publish_staff=False)
    assert decision == WITHDRAWAL


def test_the_exclusion_rule_reads_a_row_as_well_as_an_instance() -> None:
    row = {"pk": 1, "is_staff": 0, "is_superuser": 1}  # a .values() row, as SQLite returns it
    assert excluded_by_privileges(row, publish_staff=False) is True
    assert excluded_by_privileges(row, publish_staff=True) is False
    assert excluded_by_privileges({"pk": 1}, publish_staff=False) is False


def test_a_demoted_staff_user_publishes_the_full_state() -> None:
    decision = decide_save(
        old=snap(is_superuser=True), new=snap(), created=False, publish_staff=False
    )
    assert decision == Decision(action=Action.UPDATED, changed=ALL_FIELDS)


def test_update_fields_publish_only_what_the_save_wrote() -> None:
    # Given first_name and email changed in memory, When only email is saved,
    # Then the row (and so the event) holds the new email and the old first name.
    old = snap()
    current = snap(first_name="Unsaved", email="new@example.com")
    written = saved_snapshot(old, current, frozenset({"email"}))
    assert written.values["first_name"] == "Ana"
    assert written.values["email"] == "new@example.com"
    decision = decide_save(old=old, new=written, created=False, publish_staff=False)
    assert decision == Decision(action=Action.UPDATED, changed=("email",))


def test_update_fields_leave_privileges_they_did_not_write() -> None:
    written = saved_snapshot(snap(), snap(is_staff=True), frozenset({"first_name"}))
    assert written.privileged is False


def test_a_delete_always_publishes_deleted_without_fields_for_an_excluded_user() -> None:
    assert decide_delete(user=user(), publish_staff=False) == Decision(
        action=Action.DELETED, changed=()
    )
    assert decide_delete(user=user(is_superuser=True), publish_staff=False) == Decision(
        action=Action.DELETED, changed=(), with_fields=False
    )
    assert decide_delete(user=user(is_superuser=True), publish_staff=True) == Decision(
        action=Action.DELETED, changed=()
    )


def test_republish_sends_the_full_state_or_a_withdrawal_for_an_excluded_user() -> None:
    assert decide_republish(user=snap(), publish_staff=False) == Decision(
        action=Action.UPDATED, changed=ALL_FIELDS
    )
    assert decide_republish(user=snap(is_staff=True), publish_staff=False) == WITHDRAWAL
    assert decide_republish(user=snap(is_staff=True), publish_staff=True) == Decision(
        action=Action.UPDATED, changed=ALL_FIELDS
    )
