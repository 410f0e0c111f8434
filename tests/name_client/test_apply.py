"""A custom master's events (``email``, ``name``, ``is_active``; no username) applied to a
client whose user model logs in by email and has a ``full_name``, through the listener's
own steps: signed messages, ``received.decode``, the public ``apply_batch``.

Run with ``--ds=tests.projects.name_client.settings``.
"""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth import get_user_model

from devstack.signing import KEYS, sqs_messages
from reactive_users.client.apply import apply_batch
from reactive_users.client.listener import received
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action, Envelope, FieldValue, new_event

pytestmark = pytest.mark.django_db

_versions: dict[int, itertools.count[int]] = {}


def event(user_id: int, action: Action = Action.UPDATED, **user: FieldValue) -> Envelope:
    """What a custom master publishes: its own field names, its next version of the user."""
    version = next(_versions.setdefault(user_id, itertools.count(1)))
    payload = {} if action in (Action.DELETED, Action.WITHDRAWN) else user
    return new_event(
        action=action, user_id=user_id, version=version, user=payload, changed=tuple(payload)
    )


@pytest.fixture(autouse=True)
def _fresh_versions():
    _versions.clear()


def apply(*events: Envelope) -> list[str]:
    """Apply ``events`` as one received batch; each event's outcome or failure reason."""
    deliveries, refused = received.decode(sqs_messages(events), KEYS)
    assert not refused
    handled = apply_batch(deliveries).handled
    return [
        h.result.decision.name if h.result is not None else f"refused: {h.failure.reason}"
        for h in handled
        if h.failure is not None or h.result is not None
    ]


def person(master_id: int):
    return get_user_model().objects.get(replica__master_id=master_id)


def created(user_id: int, email: str, name: str) -> Envelope:
    return event(user_id, Action.CREATED, email=email, name=name, is_active=True)


def test_create_and_rename_reach_the_projects_own_fields():
    apply(created(1, "ana@example.com", "Ana Silva"))
    user = person(1)
    assert (user.email, user.full_name, user.is_active) == ("ana@example.com", "Ana Silva", True)
    assert user.get_username() == "ana@example.com"
    assert not user.has_usable_password()

    apply(event(1, email="ana@example.com", name="Ana Souza", is_active=True))
    assert person(1).full_name == "Ana Souza"


def test_a_changed_email_is_the_users_new_login():
    apply(created(1, "ana@example.com", "Ana"))
    apply(event(1, email="ana@work.example", name="Ana", is_active=True))
    assert person(1).get_username() == "ana@work.example"
    assert get_user_model().objects.count() == 1


@pytest.mark.parametrize("one_batch", [True, False], ids=["one batch", "two batches"])
def test_two_users_swapping_emails_both_end_applied(one_batch):
    apply(created(1, "a@example.com", "A"), created(2, "b@example.com", "B"))
    swap = [
        event(1, email="b@example.com", name="A", is_active=True),
        event(2, email="a@example.com", name="B", is_active=True),
    ]
    outcomes = apply(*swap) if one_batch else apply(swap[0]) + apply(swap[1])
    assert outcomes == ["UPSERT", "UPSERT"]
    assert (person(1).email, person(2).email) == ("b@example.com", "a@example.com")


def test_a_parked_email_comes_back_when_the_events_arrive_the_other_way_round():
    apply(created(1, "a@example.com", "A"), created(2, "b@example.com", "B"))
    # User 2 takes user 1's email first (user 1's own change follows): 1 waits, parked
    apply(event(2, Action.UPDATED, email="a@example.com", name="B", is_active=True))
    assert person(1).email.startswith("!replica-")
    # User 2 moves on: user 1 gets its email back
    apply(event(2, email="c@example.com", name="B", is_active=True))
    assert person(1).email == "a@example.com"


def test_deactivate_delete_and_recreate_with_the_same_email():
    apply(created(1, "ana@example.com", "Ana"))
    apply(event(1, email="ana@example.com", name="Ana", is_active=False))
    assert person(1).is_active is False

    apply(event(1, Action.DELETED))
    assert not get_user_model().objects.exists()
    assert Replica.objects.get(master_id=1).tombstone

    # The master creates a new user (a new id) with the same email: a new local user
    apply(created(2, "ana@example.com", "Ana again"))
    assert person(2).full_name == "Ana again"
    assert get_user_model().objects.count() == 1


def test_a_local_user_holding_the_email_is_never_merged():
    get_user_model().objects.create_user("ana@example.com", "local-password")
    [outcome] = apply(created(1, "ana@example.com", "Ana"))
    assert outcome.startswith("refused: UsernameCollision: event ")
    assert "email 'ana@example.com' of master user 1 belongs to local user" in outcome
    assert get_user_model().objects.get().has_usable_password()  # untouched
    assert not Replica.objects.exists()


def test_master_fields_the_map_leaves_out_are_ignored_and_unmapped_fields_untouched():
    apply(created(1, "ana@example.com", "Ana"))
    user = person(1)
    user.is_staff = True  # this project's own field
    user.save()
    apply(event(1, email="ana@example.com", name="Ana", is_active=True, plan="gold", age=40))
    assert person(1).is_staff is True
