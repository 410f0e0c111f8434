"""A master never publishes a value its own model refuses: the save fails before writing
anything, on SQLite as on PostgreSQL (limits.py). Run on both databases by scripts/test."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import DataError

from reactive_users.core.contract import decode
from reactive_users.master.limits import FieldLimitError
from reactive_users.master.models import OutboxEvent, UserVersion

pytestmark = pytest.mark.django_db

#: One character over auth.User's first_name, last_name and username (150).
OVER = "x" * 151


def outbox() -> list[tuple[str, int]]:
    return [(row.action, row.version) for row in OutboxEvent.objects.order_by("id")]


def test_a_new_user_with_a_first_name_over_its_limit_is_not_saved_nor_published() -> None:
    with pytest.raises(DataError) as raised:
        User.objects.create_user("ana", first_name=OVER)

    assert type(raised.value) is FieldLimitError
    assert str(raised.value) == (
        "a new user not saved: first_name is 151 characters, more than its limit of 150"
    )
    assert not User.objects.exists()
    assert outbox() == []


def test_a_change_over_the_limit_fails_and_leaves_the_user_and_its_version_as_they_were() -> None:
    # Given a published user
    user = User.objects.create_user("ana", "ana@example.com", first_name="Ana")

    # When a change over two limits is saved
    user.first_name, user.email = OVER, "a" * 250 + "@x.io"
    with pytest.raises(FieldLimitError) as raised:
        user.save()

    # Then the error names each field, its length and its limit, and nothing was written
    assert str(raised.value) == (
        f"user {user.pk} not saved: email is 255 characters, more than its limit of 254; "
        "first_name is 151 characters, more than its limit of 150"
    )
    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.email) == ("Ana", "ana@example.com")
    assert outbox() == [("created", 1)]
    assert UserVersion.objects.get(user_id=user.pk).version == 1

    # And a valid change after it is the next version, as if the refused one never happened
    user.first_name, user.email = "x" * 150, "ana@example.com"
    user.save()
    assert outbox() == [("created", 1), ("updated", 2)]
    last = decode(OutboxEvent.objects.order_by("id").last().body)  # type: ignore[union-attr]
    assert last.user["first_name"] == "x" * 150


def test_only_the_fields_a_save_writes_are_checked() -> None:
    user = User.objects.create_user("ana")
    user.first_name, user.last_name = OVER, "Silva"

    user.save(update_fields=["last_name"])  # first_name is not written: nothing to refuse

    stored = User.objects.get(pk=user.pk)
    assert (stored.first_name, stored.last_name) == ("", "Silva")
    assert decode(OutboxEvent.objects.order_by("id").last().body).changed == ("last_name",)  # type: ignore[union-attr]


def test_text_with_a_nul_character_is_refused_as_postgresql_refuses_it() -> None:
    with pytest.raises(FieldLimitError, match="last_name holds a NUL character"):
        User.objects.create_user("ana", last_name="Sil\x00va")

    assert not User.objects.exists()
    assert outbox() == []
