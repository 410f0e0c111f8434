"""A client that already had users joins the fleet: ``REACTIVE_LINK_BY = "email"`` links each
master user's first event (a backfill snapshot, or a live event) to the existing local user
with that email, and the client's signals keep the project's own rows (an allauth-style
verified ``EmailAddress``, ``accounts/receivers.py``) in step.

Run with ``--ds=tests.projects.name_client.settings``.
"""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import override_settings

from reactive_users.client import replica_signals
from reactive_users.client.checks import check_link_by
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action
from tests.name_client.test_apply import apply, created, event, person
from tests.projects.name_client.accounts.models import EmailAddress

pytestmark = pytest.mark.django_db

linking = override_settings(REACTIVE_LINK_BY="email")


def snapshot(user_id: int, email: str, name: str):
    """What ``reactive backfill`` sends: the user's full state."""
    return event(user_id, Action.SNAPSHOT, email=email, name=name, is_active=True)


def local(email: str, password: str = "local-password"):
    return get_user_model().objects.create_user(email, password, full_name="Local name")


def addresses() -> list[tuple[int, str, bool, bool]]:
    rows = EmailAddress.objects.order_by("user_id", "email")
    return [(r.user_id, r.email, r.verified, r.primary) for r in rows]


@linking
def test_backfill_links_existing_local_users_by_email(caplog, django_capture_on_commit_callbacks):
    ana = local("Ana@Example.com", "ana-password")
    caplog.set_level(logging.INFO, logger="reactive_users.client.apply.link")
    with django_capture_on_commit_callbacks(execute=True):
        outcomes = apply(
            snapshot(1, "ana@example.com", "Ana Silva"), snapshot(3, "cy@example.com", "Cy")
        )
    assert outcomes == ["UPSERT", "UPSERT"]
    assert get_user_model().objects.count() == 2  # no duplicates: one new user, Cy
    linked = person(1)
    assert linked.pk == ana.pk
    assert (linked.email, linked.full_name) == ("ana@example.com", "Ana Silva")
    assert linked.check_password("ana-password")  # the local password still works
    assert not person(3).has_usable_password()
    assert f"master user 1 linked to local user {ana.pk}" in caplog.text
    assert addresses() == [
        (ana.pk, "ana@example.com", True, True),
        (person(3).pk, "cy@example.com", True, True),
    ]


def privileged_local(email: str, how: str):
    """A local user who may administer this client: staff, superuser, or by a permission."""
    user = local(email)
    if how in ("staff", "superuser"):
        setattr(user, f"is_{how}", True)
        user.save()
    elif how == "permissions":
        user.user_permissions.add(Permission.objects.get(codename="change_user"))
    else:
        group = Group.objects.create(name="editors")
        group.permissions.add(Permission.objects.get(codename="change_user"))
        user.groups.add(group)
    return user


@linking
@pytest.mark.parametrize("how", ["staff", "superuser", "permissions", "group permissions"])
def test_a_privileged_local_user_is_never_linked_by_default(how):
    # An attacker registers the client admin's email on the master: linking would hand them
    # the admin's account on the next email change they make there.
    admin = privileged_local("admin@example.com", how)
    [outcome] = apply(snapshot(2, "admin@example.com", "Mallory"))
    assert outcome.startswith("refused: PrivilegedLink: ")
    assert f"local user {admin.pk} is privileged ({how})" in outcome
    assert "once master user 2 is known to be that person, link by hand" in outcome
    assert "`reactive dlq redrive --client names --all`" in outcome
    assert not Replica.objects.exists()
    admin.refresh_from_db()
    assert (admin.email, admin.full_name) == ("admin@example.com", "Local name")
    assert get_user_model().objects.count() == 1  # no duplicate either


@override_settings(REACTIVE_LINK_BY="email", REACTIVE_LINK_PRIVILEGED=True)
def test_the_opt_in_links_a_privileged_local_user():
    admin = privileged_local("admin@example.com", "staff")
    assert apply(snapshot(2, "admin@example.com", "Admin")) == ["UPSERT"]
    assert person(2).pk == admin.pk and person(2).is_staff  # unmapped fields untouched


@linking
def test_the_link_by_hand_the_refusal_names_then_applies_the_same_event():
    admin = privileged_local("admin@example.com", "staff")
    refused = snapshot(2, "admin@example.com", "Admin")
    [outcome] = apply(refused)
    assert outcome.startswith("refused: PrivilegedLink: ")
    # What the reason says: privileges away, the message redriven, privileges back
    admin.is_staff = False
    admin.save()
    assert apply(refused) == ["UPSERT"]
    admin.refresh_from_db()
    admin.is_staff = True
    admin.save()
    assert apply(event(2, email="admin@example.com", name="Admin B", is_active=True)) == ["UPSERT"]
    assert person(2).pk == admin.pk and person(2).full_name == "Admin B"
    assert person(2).is_staff and person(2).check_password("local-password")


@linking
def test_a_live_first_event_links_too_and_later_events_update_the_linked_user():
    ana = local("ana@example.com", "ana-password")
    assert apply(created(1, "ana@example.com", "Ana")) == ["UPSERT"]
    apply(event(1, email="ana@work.example", name="Ana", is_active=True))
    assert person(1).pk == ana.pk and person(1).email == "ana@work.example"
    assert person(1).check_password("ana-password")


@linking
def test_a_user_replicated_for_another_master_id_is_never_relinked():
    apply(created(1, "ana@example.com", "Ana"))
    first = person(1)
    # Master user 2 now has that email (1's own change is still to come): 1 waits, parked
    assert apply(created(2, "ana@example.com", "Ana two")) == ["UPSERT"]
    assert person(2).pk != first.pk
    assert person(1).email.startswith("!replica-")
    assert get_user_model().objects.count() == 2


@linking
def test_two_local_users_matching_are_refused_not_guessed():
    local("ana@example.com")
    local("ANA@example.com")
    [outcome] = apply(created(1, "ana@example.com", "Ana"))
    assert outcome.startswith("refused: UsernameCollision: ")
    assert "matches local users" in outcome
    assert not Replica.objects.exists()


@override_settings(REACTIVE_LINK_BY=None)
def test_without_the_policy_a_local_user_is_refused_as_before():
    local("ana@example.com")
    [outcome] = apply(created(1, "ana@example.com", "Ana"))
    assert outcome.startswith("refused: UsernameCollision: ")
    assert not Replica.objects.exists()
    assert get_user_model().objects.count() == 1


def test_the_verified_address_follows_create_email_change_and_delete(
    django_capture_on_commit_callbacks,
):
    seen: list[tuple[str, object]] = []

    def updated(sender, user, master_id, changed, **kwargs):
        seen.append(("updated", (master_id, changed)))

    replica_signals.user_updated.connect(updated)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            apply(created(1, "ana@example.com", "Ana"))
        user_id = person(1).pk
        assert addresses() == [(user_id, "ana@example.com", True, True)]
        with django_capture_on_commit_callbacks(execute=True):
            apply(event(1, email="ana@work.example", name="Ana", is_active=True))
        assert addresses() == [(user_id, "ana@work.example", True, True)]
        assert seen == [("updated", (1, ["email"]))]
        with django_capture_on_commit_callbacks(execute=True):
            apply(event(1, email="ana@work.example", name="Ana", is_active=True))
        assert len(seen) == 1  # nothing changed: no signal
        with django_capture_on_commit_callbacks(execute=True):
            apply(event(1, Action.DELETED))
        assert addresses() == []
    finally:
        replica_signals.user_updated.disconnect(updated)


def test_signals_wait_for_the_commit(django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        apply(created(1, "ana@example.com", "Ana"))
    assert callbacks  # registered for the commit, not sent yet
    assert addresses() == []


def test_a_raising_receiver_neither_stops_the_batch_nor_loses_the_event(
    caplog, django_capture_on_commit_callbacks
):
    def broken(sender, **kwargs):
        raise RuntimeError("the project's receiver is broken")

    replica_signals.user_created.connect(broken)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            outcomes = apply(
                created(1, "ana@example.com", "Ana"), created(2, "bob@example.com", "Bob")
            )
    finally:
        replica_signals.user_created.disconnect(broken)
    assert outcomes == ["UPSERT", "UPSERT"]
    assert get_user_model().objects.count() == 2
    assert len(addresses()) == 2  # the other receivers still ran
    assert "the project's receiver is broken" in caplog.text
    assert "the event stays applied" in caplog.text


@pytest.mark.parametrize(
    ("link_by", "why"),
    [
        ("phone", "not a field of"),
        ("full_name", "not a unique field of"),
        ("password", "not a unique field of"),
    ],
)
def test_the_check_refuses_a_field_it_cannot_link_by(link_by, why):
    with override_settings(REACTIVE_LINK_BY=link_by):
        [error] = check_link_by()
    assert error.id == "reactive_users.E105"
    assert why in error.msg and repr(link_by) in error.msg


def test_the_check_refuses_a_unique_field_the_map_does_not_write():
    mapping = {"name": "full_name", "is_active": "is_active"}
    with override_settings(REACTIVE_LINK_BY="email", REACTIVE_FIELD_MAP=mapping):
        [error] = check_link_by()
    assert error.id == "reactive_users.E105"
    assert "REACTIVE_FIELD_MAP does not write" in error.msg


def test_the_check_accepts_email_and_no_policy():
    with override_settings(REACTIVE_LINK_BY="email"):
        assert check_link_by() == []
    assert check_link_by() == []


def test_the_check_warns_about_the_privileged_opt_in_and_refuses_a_non_boolean():
    with override_settings(REACTIVE_LINK_BY="email", REACTIVE_LINK_PRIVILEGED=True):
        [warning] = check_link_by()
    assert warning.id == "reactive_users.W105"
    assert "takes over the account" in warning.msg
    with override_settings(REACTIVE_LINK_BY="email", REACTIVE_LINK_PRIVILEGED="yes"):
        [error] = check_link_by()
    assert error.id == "reactive_users.E106"
    with override_settings(REACTIVE_LINK_BY="email", REACTIVE_LINK_PRIVILEGED=False):
        assert check_link_by() == []
