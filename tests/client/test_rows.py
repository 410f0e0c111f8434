"""Rows written with statements made once write what save() writes (rows.py)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import DatabaseError

from reactive_users.client.models import Replica
from reactive_users.client.rows import row_insert, row_update

pytestmark = pytest.mark.django_db


def stored(master_id: int) -> dict[str, Any]:
    """A replica's row as the database holds it, but its own id."""
    row = Replica.objects.filter(master_id=master_id).values().get()
    row.pop("id")
    return row


def test_an_inserted_row_is_the_row_save_inserts():
    user = User.objects.create(username="ana")
    event_id = uuid.uuid4()
    saved = Replica(master_id=1, user=user, version=3, username="ana", last_event_id=event_id)
    saved.save()
    inserted = Replica(master_id=2, user=None, version=3, username="ana", last_event_id=event_id)

    row_insert(inserted)

    by_save, by_insert = stored(1), stored(2)
    assert by_insert["updated_at"] >= by_save["updated_at"]  # auto_now, stamped on insert
    assert inserted.updated_at == by_insert["updated_at"]
    for row in (by_save, by_insert):
        del row["master_id"], row["user_id"], row["updated_at"]
    assert by_insert == by_save  # defaults included (tombstone False)


def test_an_updated_row_changes_the_named_columns_and_stamps_updated_at():
    replica = Replica.objects.create(master_id=1, version=1, username="ana")
    before = stored(1)
    replica.version, replica.tombstone, replica.username = 2, True, "not written"

    row_update(replica, ("version", "tombstone", "updated_at"))

    after = stored(1)
    assert (after["version"], after["tombstone"], after["username"]) == (2, True, "ana")
    assert after["updated_at"] > before["updated_at"] and after["updated_at"] == replica.updated_at


def test_an_update_of_a_row_that_is_gone_fails_like_save():
    replica = Replica.objects.create(master_id=1, version=1)
    Replica.objects.filter(pk=replica.pk).delete()

    with pytest.raises(DatabaseError, match="0 rows updated"):
        row_update(replica, ("version",))
    with pytest.raises(DatabaseError):  # what Django's save says in the same case
        replica.save(update_fields=["version"])


def test_an_update_of_anything_but_columns_is_refused():
    user = User.objects.create(username="ana")
    with pytest.raises(ValueError, match="not all of"):
        row_update(user, ("groups",))
