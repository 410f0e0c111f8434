"""event_apply: what each event does to the client's users (reactive_users/client/apply/)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from reactive_users.client import frames
from reactive_users.client.apply import event_apply, placeholder_username
from reactive_users.client.decide import Decision
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action
from reactive_users.core.errors import UsernameCollision
from tests.client.support import user_event

pytestmark = pytest.mark.django_db


def replicated(master_id: int = 7) -> User:
    user = Replica.objects.get(master_id=master_id).user
    assert user is not None
    return user


def test_a_created_event_creates_a_user_with_the_replicated_fields():
    result = event_apply(event=user_event(user_id=7, username="ana", first_name="Ana"))

    user = replicated(7)
    assert result.decision is Decision.UPSERT
    assert (user.username, user.email, user.first_name, user.last_name, user.is_active) == (
        "ana",
        "ana@example.com",
        "Ana",
        "Silva",
        True,
    )
    assert Replica.objects.get(master_id=7).version == 1


def test_replicated_users_have_unusable_passwords():
    event_apply(event=user_event())

    assert not replicated().has_usable_password()


def test_fields_outside_the_allow_list_are_never_written():
    event_apply(event=user_event(is_staff=True, is_superuser=True))

    user = replicated()
    assert not user.is_staff and not user.is_superuser


def test_a_rename_updates_the_same_local_user_matched_by_master_id():
    event_apply(event=user_event(user_id=7, username="ana"))
    pk = replicated(7).pk

    event_apply(event=user_event(user_id=7, version=2, action=Action.UPDATED, username="anna"))

    assert replicated(7).pk == pk
    assert replicated(7).username == "anna"
    assert not User.objects.filter(username="ana").exists()


def test_deactivation_is_applied_and_tells_the_sockets_to_close():
    event_apply(event=user_event())

    result = event_apply(event=user_event(version=2, action=Action.UPDATED, is_active=False))

    assert replicated().is_active is False
    assert [m["type"] for m in result.messages] == [frames.USER_CHANGED, frames.USER_GONE]
    assert result.messages[1]["frame"] == {"type": "gone", "reason": "deactivated", "version": 2}
    assert result.closes_sockets


def test_reactivation_is_applied():
    event_apply(event=user_event())
    event_apply(event=user_event(version=2, action=Action.UPDATED, is_active=False))

    result = event_apply(event=user_event(version=3, action=Action.UPDATED, is_active=True))

    assert replicated().is_active is True
    assert not result.closes_sockets


def test_a_delete_removes_the_user_and_leaves_a_tombstone_with_the_version():
    event_apply(event=user_event())

    result = event_apply(event=user_event(version=2, action=Action.DELETED))

    replica = Replica.objects.get(master_id=7)
    assert (replica.tombstone, replica.user, replica.version) == (True, None, 2)
    assert not User.objects.filter(username="ana").exists()
    gone = {"type": "gone", "reason": "deleted", "version": 2}
    assert result.messages == ({"type": frames.USER_GONE, "frame": gone},)


def test_the_same_event_twice_has_one_effect():
    event = user_event(first_name="Once")
    event_apply(event=event)

    again = event_apply(event=event)

    assert again.decision is Decision.IGNORE_STALE
    assert again.messages == ()
    assert User.objects.count() == 1


def test_an_older_event_after_a_newer_one_is_ignored():
    event_apply(event=user_event(version=1))
    event_apply(event=user_event(version=3, action=Action.UPDATED, first_name="New"))

    late = event_apply(event=user_event(version=2, action=Action.UPDATED, first_name="Old"))

    assert late.decision is Decision.IGNORE_STALE
    assert replicated().first_name == "New"
    assert Replica.objects.get(master_id=7).version == 3


def test_an_update_after_a_delete_does_not_resurrect_the_user():
    event_apply(event=user_event(version=1))
    event_apply(event=user_event(version=2, action=Action.DELETED))

    late = event_apply(event=user_event(version=3, action=Action.UPDATED, first_name="Back"))

    assert late.decision is Decision.IGNORE_TOMBSTONED
    assert not User.objects.exists()
    assert Replica.objects.get(master_id=7).tombstone


def test_a_delete_that_arrives_before_the_create_leaves_a_tombstone():
    event_apply(event=user_event(version=2, action=Action.DELETED))

    late_create = event_apply(event=user_event(version=1))

    assert late_create.decision is Decision.IGNORE_STALE
    assert not User.objects.exists()


def test_a_username_can_be_reused_after_a_rename():
    # Given A (master 1) was "ana" and was renamed "anna"
    event_apply(event=user_event(user_id=1, username="ana"))
    event_apply(event=user_event(user_id=1, version=2, action=Action.UPDATED, username="anna"))

    # When B (master 2) is created as "ana"
    event_apply(event=user_event(user_id=2, username="ana"))

    # Then both exist, each under its own name
    assert (replicated(1).username, replicated(2).username) == ("anna", "ana")


def test_out_of_order_renames_park_the_other_user_until_its_own_event():
    # Given A (master 1) "ana" and B (master 2) "bob"; the master swaps their names
    event_apply(event=user_event(user_id=1, username="ana"))
    event_apply(event=user_event(user_id=2, username="bob"))
    a_pk = replicated(1).pk

    # When B's rename to "ana" arrives before A's rename to "bob"
    event_apply(event=user_event(user_id=2, version=2, action=Action.UPDATED, username="ana"))

    # Then A waits under a placeholder, and its own event puts it right
    assert replicated(1).username == placeholder_username(1)
    assert replicated(2).username == "ana"
    event_apply(event=user_event(user_id=1, version=2, action=Action.UPDATED, username="bob"))
    assert (replicated(1).pk, replicated(1).username) == (a_pk, "bob")
    assert replicated(2).username == "ana"


def test_a_collision_with_a_client_local_user_raises_and_merges_nothing():
    local = User.objects.create_user("ana", password="local-secret", first_name="Local")

    with pytest.raises(UsernameCollision, match="'ana'.*not replicated"):
        event_apply(event=user_event(username="ana", first_name="Master"))

    local.refresh_from_db()
    assert (local.first_name, local.check_password("local-secret")) == ("Local", True)
    assert not Replica.objects.exists()
    assert User.objects.count() == 1


def test_synthetic_events_write_nothing(django_assert_num_queries):
    with django_assert_num_queries(0):
        result = event_apply(event=user_event(synthetic=True))

    assert result.decision is Decision.NOTIFY_ONLY
    assert [m["type"] for m in result.messages] == [frames.USER_TEST]
    assert result.messages[0]["frame"]["event_id"] == str(result.event.event_id)
    assert not User.objects.exists()


def test_the_changed_frame_carries_the_fields_as_held():
    event = user_event(first_name="Zoë", is_staff=True)

    result = event_apply(event=event)

    (message,) = result.messages
    assert message["type"] == frames.USER_CHANGED
    assert message["frame"] == {
        "type": "changed",
        "event_id": str(event.event_id),
        "action": "created",
        "version": 1,
        "changed": list(event.changed),
        "user": {
            "username": "ana",
            "email": "ana@example.com",
            "first_name": "Zoë",
            "last_name": "Silva",
            "is_active": True,
        },
        "occurred_at": event.occurred_at.isoformat(),
    }
    assert result.group == "user.7"
