"""Withdrawals on a client: a user who left the master's published set (decide.py, services.py).

The user goes as on a delete (Django's collector, signals, the sockets told), the replica
keeps a withdrawn marker, a re-entry at a higher version brings the user back in full, and
nothing stale does.
"""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models.signals import post_delete

from reactive_users.client import frames
from reactive_users.client.apply import event_apply, placeholder_username
from reactive_users.client.decide import Decision
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action, Envelope, new_event
from tests.client.support import batch_applier, sqs_messages, user_event

pytestmark = pytest.mark.django_db


def withdrawal(*, user_id: int = 7, version: int) -> Envelope:
    """What the master records when the user becomes staff: no field of theirs."""
    return new_event(action=Action.WITHDRAWN, user_id=user_id, version=version, user={})


def update(*, user_id: int = 7, version: int, username: str = "ana", **fields: Any) -> Envelope:
    """An update carrying every field, as the master sends on a demotion."""
    return user_event(
        user_id=user_id, version=version, action=Action.UPDATED, username=username, **fields
    )


def held(master_id: int = 7) -> tuple[int, bool, bool, str | None]:
    """(version, tombstone, withdrawn, local username) of the replica."""
    r = Replica.objects.select_related("user").get(master_id=master_id)
    return r.version, r.tombstone, r.withdrawn, r.user.username if r.user else None


def test_a_withdrawal_removes_the_local_user_keeps_a_marker_and_closes_the_sockets():
    event_apply(event=user_event(username="ana"))
    local_id = User.objects.get(username="ana").pk
    deleted: list[int] = []

    def seen(sender: type[User], instance: User, **kwargs: Any) -> None:
        deleted.append(instance.pk)

    post_delete.connect(seen, sender=User, dispatch_uid="test-withdrawn")
    try:
        result = event_apply(event=withdrawal(version=2))
    finally:
        post_delete.disconnect(sender=User, dispatch_uid="test-withdrawn")

    assert result.decision is Decision.WITHDRAW
    assert deleted == [local_id]  # through Django's collector, signals and all
    assert not User.objects.filter(pk=local_id).exists()
    assert held() == (2, False, True, None)
    assert [m["type"] for m in result.messages] == [frames.USER_GONE]
    assert result.messages[0]["frame"] == {"type": "gone", "reason": "withdrawn", "version": 2}
    assert result.closes_sockets


def test_a_demotion_brings_the_user_back_in_full_at_the_higher_version():
    event_apply(event=user_event(username="ana", first_name="Ana"))
    event_apply(event=withdrawal(version=2))

    result = event_apply(event=update(version=3, username="ana2", first_name="Back"))

    assert result.decision is Decision.UPSERT
    assert held() == (3, False, False, "ana2")
    user = User.objects.get(username="ana2")
    assert (user.first_name, user.email, user.is_active) == ("Back", "ana2@example.com", True)
    assert not user.has_usable_password()  # a new local user: credentials set on the client
    assert [m["type"] for m in result.messages] == [frames.USER_CHANGED]


def test_a_stale_event_never_brings_a_withdrawn_user_back():
    event_apply(event=user_event(username="ana"))
    event_apply(event=update(version=2, first_name="Two"))
    event_apply(event=withdrawal(version=3))

    for late in (
        update(version=2, first_name="Two"),
        user_event(username="ana"),
        update(version=3),
    ):
        assert not event_apply(event=late).decision.writes

    assert held() == (3, False, True, None)
    assert not User.objects.exists()


def test_a_delete_of_a_withdrawn_user_is_final():
    event_apply(event=user_event(username="ana"))
    event_apply(event=withdrawal(version=2))

    deleted = event_apply(event=new_event(action=Action.DELETED, user_id=7, version=3, user={}))
    late = event_apply(event=update(version=4))

    assert deleted.decision is Decision.DELETE
    assert late.decision is Decision.IGNORE_TOMBSTONED
    assert held() == (3, True, False, None)


def test_a_withdrawal_never_touches_a_tombstone():
    event_apply(event=user_event(username="ana"))
    event_apply(event=new_event(action=Action.DELETED, user_id=7, version=2, user={}))

    for version in (2, 3):
        assert not event_apply(event=withdrawal(version=version)).decision.writes

    assert held() == (2, True, False, None)


def test_a_withdrawal_before_anything_records_a_marker_that_keeps_the_older_create_out():
    result = event_apply(event=withdrawal(version=2))
    late = event_apply(event=user_event(username="ana"))

    assert (result.decision, late.decision) == (Decision.WITHDRAW, Decision.IGNORE_STALE)
    assert held() == (2, False, True, None)
    assert not User.objects.exists()


def test_repair_at_the_same_version_withdraws_a_live_user_and_restores_a_withdrawn_one():
    # a promotion by QuerySet.update() left the version alone: repair sends it at v1
    event_apply(event=user_event(username="ana"))
    assert event_apply(event=withdrawal(version=1)).decision is Decision.WITHDRAW
    assert held() == (1, False, True, None)
    # ... and a demotion by QuerySet.update() too: a snapshot at v1 brings the user back
    snapshot = user_event(version=1, action=Action.SNAPSHOT, username="ana", first_name="S")
    assert event_apply(event=snapshot).decision is Decision.UPSERT
    assert held() == (1, False, False, "ana")


def test_a_name_freed_by_a_withdrawal_goes_to_a_new_user_and_nobody_stays_parked():
    # Given ana (7) withdrawn, renamed while staff, and her old name taken by a new user (8)
    event_apply(event=user_event(user_id=7, username="ana"))
    event_apply(event=withdrawal(user_id=7, version=2))

    event_apply(event=user_event(user_id=8, username="ana"))

    # Then 8 holds the name; when 7 is demoted she comes back under her new name
    event_apply(event=update(user_id=7, version=3, username="ana-old"))
    names = dict(Replica.objects.values_list("master_id", "user__username"))
    assert names == {7: "ana-old", 8: "ana"}
    assert not User.objects.filter(username__startswith="!replica-").exists()


def test_a_user_parked_by_a_newcomer_goes_with_its_withdrawal_and_nobody_stays_parked():
    # Given the new user's create (8, "ana") arrives before 7's withdrawal: 7 is parked
    event_apply(event=user_event(user_id=7, username="ana"))
    event_apply(event=user_event(user_id=8, username="ana"))
    assert held(7)[3] == placeholder_username(7)

    # When 7's withdrawal arrives, then 7 is gone and nobody is parked
    event_apply(event=withdrawal(user_id=7, version=2))

    assert dict(Replica.objects.values_list("master_id", "user__username")) == {7: None, 8: "ana"}
    assert not User.objects.filter(username__startswith="!replica-").exists()


def test_a_batch_withdraws_and_brings_back_users_in_the_listeners_fast_pass():
    # Given three users, two withdrawn in one batch (the fast pass deletes them together)
    for user_id, name in ((1, "ana"), (2, "bob"), (3, "cy")):
        event_apply(event=user_event(user_id=user_id, username=name))
    batch = [withdrawal(user_id=1, version=2), withdrawal(user_id=2, version=2)]
    batch.append(update(user_id=3, version=2, username="cy", first_name="C"))

    with batch_applier() as loop:
        handled, rest = loop.apply(sqs_messages(batch))
        # and a later batch brings one back
        again, _ = loop.apply(sqs_messages([update(user_id=1, version=3, username="ana")]))

    assert not rest and not loop.fallbacks
    assert [h.result.decision for h in handled] == [
        Decision.WITHDRAW,
        Decision.WITHDRAW,
        Decision.UPSERT,
    ]
    assert [h.result.decision for h in again] == [Decision.UPSERT]
    assert dict(Replica.objects.values_list("master_id", "user__username")) == {
        1: "ana",
        2: None,
        3: "cy",
    }
    assert held(2) == (2, False, True, None)


def test_replica_dump_marks_a_withdrawn_replica_with_no_fields():
    event_apply(event=user_event(user_id=1, username="ana"))
    event_apply(event=withdrawal(user_id=1, version=2))
    out = io.StringIO()

    call_command("replica_dump", stdout=out)

    last = str(Replica.objects.get(master_id=1).last_event_id)
    assert [json.loads(line) for line in out.getvalue().splitlines()] == [
        {
            "master_id": 1,
            "version": 2,
            "tombstone": False,
            "withdrawn": True,
            "fields": {},
            "event_id": last,
        }
    ]


def test_the_database_refuses_a_withdrawn_replica_with_a_user_or_a_tombstone():
    from django.db import IntegrityError, transaction

    event_apply(event=user_event(username="ana"))
    replica = Replica.objects.get(master_id=7)
    with pytest.raises(IntegrityError), transaction.atomic():
        Replica.objects.filter(pk=replica.pk).update(withdrawn=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Replica.objects.filter(pk=replica.pk).update(user=None, withdrawn=True, tombstone=True)
