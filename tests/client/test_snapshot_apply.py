"""Snapshots and backfilled tombstones on a client (decide.py's snapshot rules, services.py).

What a repair must do that live events cannot: overwrite at the version already held.
"""

from __future__ import annotations

import io
import json

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from devstack.processes import until
from reactive_users.client import frames
from reactive_users.client.apply import event_apply
from reactive_users.client.decide import Decision
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action, new_event
from tests.client.support import Queue, listening, user_event

pytestmark = pytest.mark.django_db


def snapshot(*, user_id: int = 7, version: int = 1, username: str = "ana", **fields):
    return user_event(
        user_id=user_id, version=version, action=Action.SNAPSHOT, username=username, **fields
    )


def tombstone(*, user_id: int = 7, version: int):
    return new_event(action=Action.DELETED, user_id=user_id, version=version, user={})


def held(master_id: int = 7) -> tuple[int, bool, str | None]:
    replica = Replica.objects.get(master_id=master_id)
    return replica.version, replica.tombstone, replica.user.first_name if replica.user else None


def test_a_snapshot_of_an_unknown_user_creates_it_at_the_snapshot_version():
    result = event_apply(event=snapshot(version=4, first_name="Ana"))

    assert result.decision is Decision.UPSERT
    assert held() == (4, False, "Ana")
    # Sockets get a state frame: pages apply it even at the version they show
    assert [m["frame"]["type"] for m in result.messages] == ["state"]
    assert result.messages[0]["type"] == frames.USER_CHANGED
    assert result.messages[0]["frame"]["version"] == 4


def test_a_snapshot_at_the_held_version_overwrites_content_changed_without_a_version():
    # The master changed the user by QuerySet.update(): same version, other content
    event_apply(event=user_event(version=3, first_name="Old"))

    result = event_apply(event=snapshot(version=3, first_name="Bulk"))

    assert result.decision is Decision.UPSERT
    assert held() == (3, False, "Bulk")


def test_a_snapshot_recreates_a_local_user_deleted_by_hand():
    event_apply(event=user_event(version=2, first_name="Ana"))
    Replica.objects.get(master_id=7).user.delete()  # by hand: the replica keeps v2, no user
    assert held() == (2, False, None)

    event_apply(event=snapshot(version=2, first_name="Ana"))

    assert held() == (2, False, "Ana")
    assert User.objects.get(username="ana").replica.master_id == 7


def test_a_snapshot_recreates_a_user_whose_replica_row_was_deleted_too():
    event_apply(event=user_event(version=2))
    replica = Replica.objects.get(master_id=7)
    user = replica.user
    replica.delete()
    user.delete()

    event_apply(event=snapshot(version=2, first_name="Back"))

    assert held() == (2, False, "Back")


def test_an_older_snapshot_never_overwrites_a_newer_live_change():
    event_apply(event=user_event(version=5, first_name="Live"))

    result = event_apply(event=snapshot(version=4, first_name="Snapshot"))

    assert result.decision is Decision.IGNORE_STALE
    assert held() == (5, False, "Live")


def test_a_live_change_after_a_snapshot_is_applied_and_a_duplicate_is_not():
    event_apply(event=snapshot(version=4, first_name="Snapshot"))

    newer = event_apply(event=user_event(version=5, action=Action.UPDATED, first_name="Live"))
    again = event_apply(event=user_event(version=5, action=Action.UPDATED, first_name="Live"))

    assert (newer.decision, again.decision) == (Decision.UPSERT, Decision.IGNORE_STALE)
    assert held() == (5, False, "Live")


def test_a_snapshot_never_brings_back_a_deleted_user():
    event_apply(event=user_event(version=1))
    event_apply(event=tombstone(version=2))

    for version in (1, 2, 3):
        result = event_apply(event=snapshot(version=version))
        assert not result.decision.writes
    assert held() == (2, True, None)


def test_a_backfilled_tombstone_at_the_held_version_deletes_the_user():
    # The master lost the user without an event (raw SQL): its tombstone keeps version 3
    event_apply(event=user_event(version=3))

    result = event_apply(event=tombstone(version=3))

    assert result.decision is Decision.DELETE
    assert held() == (3, True, None)
    assert not User.objects.filter(username="ana").exists()
    assert [m["frame"]["type"] for m in result.messages] == ["gone"]


def test_applying_the_same_snapshot_twice_leaves_the_same_state():
    event = snapshot(version=2, first_name="Once")
    event_apply(event=event)
    first = (held(), User.objects.count(), Replica.objects.get(master_id=7).user_id)

    event_apply(event=event)

    assert (held(), User.objects.count(), Replica.objects.get(master_id=7).user_id) == first


def test_replica_dump_prints_every_replica_with_its_fields():
    event_apply(event=user_event(user_id=1, username="ana", first_name="Ana"))
    event_apply(event=user_event(user_id=2, username="bob"))
    event_apply(event=user_event(user_id=3, username="cy"))
    event_apply(event=tombstone(user_id=3, version=2))
    Replica.objects.get(master_id=2).user.delete()
    User.objects.create_user("local-only")  # not replicated: not dumped
    out = io.StringIO()

    call_command("replica_dump", stdout=out)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    last = {r.master_id: str(r.last_event_id) for r in Replica.objects.all()}
    assert lines == [
        {
            "master_id": 1,
            "version": 1,
            "tombstone": False,
            "withdrawn": False,
            "fields": {
                "username": "ana",
                "email": "ana@example.com",
                "first_name": "Ana",
                "last_name": "Silva",
                "is_active": True,
            },
            "event_id": last[1],
        },
        {
            "master_id": 2,
            "version": 1,
            "tombstone": False,
            "withdrawn": False,
            "fields": None,
            "event_id": last[2],
        },
        {
            "master_id": 3,
            "version": 2,
            "tombstone": True,
            "withdrawn": False,
            "fields": {},
            "event_id": last[3],
        },
    ]


@pytest.mark.django_db(transaction=True)
def test_snapshots_and_live_events_through_the_queue_converge_on_the_newest(
    queue: Queue, layer_prefix
):
    # Given live events and snapshots for three users, arriving in an unlucky order
    queue.send_event(user_event(user_id=1, version=3, action=Action.UPDATED, first_name="Live3"))
    queue.send_event(snapshot(user_id=1, version=2, username="u1", first_name="Snap2"))
    queue.send_event(snapshot(user_id=2, version=1, username="u2", first_name="Snap1"))
    queue.send_event(
        user_event(user_id=2, version=2, action=Action.UPDATED, username="u2", first_name="Live2")
    )
    queue.send_event(snapshot(user_id=3, version=1, username="u3"))
    queue.send_event(tombstone(user_id=3, version=1))

    # When the listener takes them all
    with listening(queue):
        until(queue.empty, timeout=30, what="queue drained")

    # Then each user holds its newest state: no live change lost to a snapshot
    assert held(1) == (3, False, "Live3")
    assert held(2) == (2, False, "Live2")
    assert held(3) == (1, True, None)
