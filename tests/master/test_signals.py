"""Recording user changes in the outbox: which saves and deletes write which event."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reactive_users.core.contract import DEFAULT_USER_FIELDS, Action, Envelope, decode
from reactive_users.master.models import OutboxEvent, UserVersion

pytestmark = pytest.mark.django_db

ALL_FIELDS = tuple(sorted(DEFAULT_USER_FIELDS))


def events(user_id: int | None = None) -> list[Envelope]:
    """The recorded envelopes, oldest first."""
    rows = OutboxEvent.objects.order_by("id")
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return [decode(row.body) for row in rows]


def make_user(username: str = "ana", **extra: Any) -> User:
    return User.objects.create_user(
        username=username, email=f"{username}@example.com", first_name="Ana", **extra
    )


def test_saving_a_loaded_user_detects_changes_without_a_select() -> None:
    user_id = make_user().pk
    user = User.objects.get(pk=user_id)
    user.first_name = "Anna"

    with CaptureQueriesContext(connection) as queries:
        user.save()

    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert selects == []
    assert [e.changed for e in events(user_id)][-1] == ("first_name",)


def test_a_save_that_changes_nothing_published_costs_one_update(
    django_assert_num_queries,
) -> None:
    user = User.objects.get(pk=make_user().pk)

    user.last_login = timezone.now()
    with django_assert_num_queries(1):
        user.save(update_fields=["last_login"])
    user.last_login = timezone.now()
    with django_assert_num_queries(1):
        user.save()


def test_creating_a_user_records_created_with_every_field() -> None:
    user = make_user()

    [event] = events()
    assert event.action is Action.CREATED
    assert (event.user_id, event.version) == (user.pk, 1)
    assert event.changed == ALL_FIELDS
    assert dict(event.user) == {
        "username": "ana",
        "email": "ana@example.com",
        "first_name": "Ana",
        "last_name": "",
        "is_active": True,
    }


def test_create_rename_deactivate_delete_record_one_event_each_with_rising_versions() -> None:
    user = make_user()
    user_id = user.pk

    renamed = User.objects.get(username="ana")  # loaded by the old name, saved under the new
    renamed.username = "ana.maria+test@example.com"
    renamed.save()
    renamed.is_active = False
    renamed.save()
    renamed.delete()

    recorded = events(user_id)
    assert [(e.action, e.version, e.changed) for e in recorded] == [
        (Action.CREATED, 1, ALL_FIELDS),
        (Action.UPDATED, 2, ("username",)),
        (Action.UPDATED, 3, ("is_active",)),
        (Action.DELETED, 4, ()),
    ]
    assert recorded[1].user["username"] == "ana.maria+test@example.com"
    assert recorded[2].user["is_active"] is False
    assert UserVersion.objects.get(user_id=user_id).version == 4


def test_a_second_save_of_one_instance_compares_against_the_first() -> None:
    user = make_user()
    user.first_name = "Anna"
    user.save()
    user.save()  # nothing changed since the first save

    assert [e.changed for e in events(user.pk)] == [ALL_FIELDS, ("first_name",)]


def test_saving_only_last_login_or_a_new_password_records_nothing() -> None:
    user = make_user()
    OutboxEvent.objects.all().delete()

    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    user.set_password("a new secret")
    user.save()

    assert OutboxEvent.objects.count() == 0


def test_update_fields_record_only_the_fields_the_save_wrote() -> None:
    user = make_user()
    user.first_name = "Unsaved"
    user.email = "new@example.com"

    user.save(update_fields=["email"])

    last = events(user.pk)[-1]
    assert last.changed == ("email",)
    assert (last.user["email"], last.user["first_name"]) == ("new@example.com", "Ana")


def test_a_user_loaded_with_deferred_fields_records_the_full_payload() -> None:
    user_id = make_user().pk
    user = User.objects.only("id", "first_name").get(pk=user_id)
    user.first_name = "Anna"

    user.save()

    last = events(user_id)[-1]
    assert last.changed == ("first_name",)
    assert last.user["username"] == "ana" and last.user["first_name"] == "Anna"


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_staff_and_superusers_record_nothing_but_their_delete_which_carries_no_field(
    flag: str,
) -> None:
    user = make_user("boss", **{flag: True})
    user_id = user.pk
    user.first_name = "Changed"
    user.save()
    user.delete()

    # The delete is published (a client may hold the user, promoted without an event), with
    # nothing of the excluded user in it.
    assert [(e.action, e.version, e.changed, dict(e.user)) for e in events(user_id)] == [
        (Action.DELETED, 1, (), {}),
    ]


def test_publishing_staff_records_staff_and_superusers(settings) -> None:
    settings.REACTIVE_PUBLISH_STAFF = True

    staff = make_user("staff", is_staff=True)
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    admin_id = admin.pk
    admin.delete()

    assert [(e.user_id, e.action) for e in events()] == [
        (staff.pk, Action.CREATED),
        (admin_id, Action.CREATED),
        (admin_id, Action.DELETED),
    ]


def test_a_user_who_becomes_staff_is_withdrawn_and_a_demotion_sends_everything() -> None:
    user = make_user()
    user.is_staff = True
    user.first_name = "Hidden"
    user.save()
    user.is_active = False  # changes while staff: nothing more is recorded
    user.save()
    user.is_staff = False
    user.save()

    recorded = events(user.pk)
    assert [(e.action, e.version, e.changed) for e in recorded] == [
        (Action.CREATED, 1, ALL_FIELDS),
        (Action.WITHDRAWN, 2, ()),
        (Action.UPDATED, 3, ALL_FIELDS),
    ]
    assert dict(recorded[1].user) == {}  # nothing of the staff user leaves the master
    assert "Hidden" not in OutboxEvent.objects.get(user_id=user.pk, version=2).body
    assert recorded[2].user["first_name"] == "Hidden" and recorded[2].user["is_active"] is False


def test_a_promotion_saved_with_update_fields_is_a_withdrawal() -> None:
    user = make_user()
    user.is_superuser = True
    user.save(update_fields=["is_superuser"])

    assert [e.action for e in events(user.pk)] == [Action.CREATED, Action.WITHDRAWN]


def test_publishing_staff_makes_a_promotion_an_ordinary_update(settings) -> None:
    settings.REACTIVE_PUBLISH_STAFF = True
    user = make_user()
    user.is_staff = True
    user.first_name = "Seen"
    user.save()

    assert [(e.action, e.changed) for e in events(user.pk)] == [
        (Action.CREATED, ALL_FIELDS),
        (Action.UPDATED, ("first_name",)),
    ]


def test_a_rolled_back_transaction_records_nothing() -> None:
    with pytest.raises(RuntimeError), transaction.atomic():
        make_user("ghost")
        raise RuntimeError("roll back")

    assert OutboxEvent.objects.count() == 0
    assert UserVersion.objects.count() == 0


def test_a_commit_enqueues_the_relay_and_a_rollback_does_not(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks() as committed:
        make_user("kept")
    with django_capture_on_commit_callbacks() as rolled_back:
        with pytest.raises(RuntimeError), transaction.atomic():
            make_user("ghost")
            raise RuntimeError("roll back")

    assert len(committed) == 1
    assert rolled_back == []


def test_the_payload_holds_exactly_the_allow_listed_fields() -> None:
    user = make_user(password="s3cret-pw", last_name="Maria")
    user.groups.add(Group.objects.create(name="editors"))
    user.user_permissions.add(Permission.objects.get(codename="view_user"))
    user.last_login = timezone.now()
    user.first_name = "Anna"
    user.save()

    for row in OutboxEvent.objects.all():
        assert set(decode(row.body).user) == set(DEFAULT_USER_FIELDS)
        assert user.password not in row.body
        for secret in ("password", "last_login", "is_superuser", "is_staff", "groups", "perm"):
            assert secret not in row.body


def test_the_allow_list_comes_from_the_settings(settings, master_settings) -> None:
    from dataclasses import replace

    settings.REACTIVE = replace(master_settings, user_fields=("username", "email"))

    make_user()

    assert dict(events()[0].user) == {"username": "ana", "email": "ana@example.com"}


def test_deleting_a_queryset_records_a_delete_per_user() -> None:
    ids = {make_user(name).pk for name in ("a", "b", "c")}

    User.objects.filter(pk__in=ids).delete()

    deleted = {e.user_id for e in events() if e.action is Action.DELETED}
    assert deleted == ids


def test_an_admin_edit_of_a_user_records_one_update(client) -> None:
    # Given an operator logged in to the admin and a user to edit
    operator = User.objects.create_superuser("operator", "op@example.com", "pw")
    user = make_user()
    client.force_login(operator)
    OutboxEvent.objects.all().delete()

    # When the operator renames the user through the admin's change form
    response = client.post(
        f"/admin/auth/user/{user.pk}/change/",
        {
            "username": "ana-renamed",
            "first_name": "Ana",
            "last_name": "",
            "email": "ana@example.com",
            "is_active": "on",
            "date_joined_0": "2025-01-01",
            "date_joined_1": "00:00:00",
            "initial-date_joined_0": "2025-01-01",
            "initial-date_joined_1": "00:00:00",
        },
    )

    # Then one update of the username was recorded
    assert response.status_code == 302, response.content[:2000]
    assert [(e.action, e.changed) for e in events()] == [(Action.UPDATED, ("username",))]
