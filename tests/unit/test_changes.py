"""The publish rules of master/users/changes.py, on plain objects: no Django database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest

from master.users.changes import (
    Decision,
    Snapshot,
    changed_fields,
    decide_delete,
    decide_save,
    field_value,
    is_excluded,
    saved_snapshot,
    take_snapshot,
    tracked_values,
)
from reactive_cli.contract import DEFAULT_USER_FIELDS, Action

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


def test_a_user_who_becomes_staff_stops_publishing() -> None:
    decision = decide_save(
        old=snap(), new=snap(is_staff=True, first_name="X"), created=False, publish_staff=False
    )
    assert decision is None


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


def test_a_delete_publishes_deleted_unless_excluded() -> None:
    assert decide_delete(user=user(), publish_staff=False) == Decision(
        action=Action.DELETED, changed=()
    )
    assert decide_delete(user=user(is_superuser=True), publish_staff=False) is None
    assert decide_delete(user=user(is_superuser=True), publish_staff=True) is not None
