"""What applying events costs in SQL, and that reading a batch's rows once changes no outcome.

The listener applies a batch in one transaction: ``batch_reads`` reads every replica of the
batch (and which of its usernames are free) in one or two queries, then each event runs in
its own savepoint. The statement counts below are upper bounds per event kind, so that a
change that brings back a query per event shows here (``bench/apply.py`` prints the CPU).
Transaction control (BEGIN, COMMIT, savepoints: one per event, by design) is not counted.
The listener's first pass (no savepoints) also deletes a batch's local users together, at
its end: the last tests here drive it (``apply_batch``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models.signals import post_delete, pre_delete
from django.test.utils import CaptureQueriesContext

from devstack.processes import until
from reactive_users.client.apply import (
    ApplyResult,
    Delivery,
    apply_batch,
    batch_reads,
    event_apply,
    placeholder_username,
)
from reactive_users.client.decide import Decision
from reactive_users.client.models import Replica
from reactive_users.core.contract import Action, Envelope
from tests.client.support import (
    Queue,
    batch_applier,
    polled_listener,
    sqs_messages,
    sqs_responses,
    user_event,
)

pytestmark = pytest.mark.django_db

TRANSACTION_CONTROL = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")
#: Events per batch: SQS's most per receive.
BATCH = 10


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL statements run inside the block, transaction control left out."""
    found: list[str] = []
    with CaptureQueriesContext(connection) as captured:
        yield found
    found.extend(
        q["sql"] for q in captured.captured_queries if not q["sql"].startswith(TRANSACTION_CONTROL)
    )


def apply_events(events: list[Envelope]) -> list[ApplyResult]:
    """Apply ``events`` with the listener's own ``apply_batch``: one transaction, one read;
    what each did, in the order applied (each user's events in version order)."""
    batch = apply_batch([Delivery({}, event) for event in events])
    assert not batch.rest and all(h.result is not None for h in batch.handled), batch
    return [h.result for h in batch.handled if h.result is not None]


def create(i: int) -> Envelope:
    return user_event(user_id=i, username=f"user{i}")


def update(i: int) -> Envelope:
    return user_event(
        user_id=i, version=2, action=Action.UPDATED, username=f"user{i}", first_name="New"
    )


def rename(i: int) -> Envelope:
    return user_event(user_id=i, version=2, action=Action.UPDATED, username=f"renamed{i}")


def delete(i: int) -> Envelope:
    return user_event(user_id=i, version=3, action=Action.DELETED, username=f"user{i}")


KINDS = {"create": create, "update": update, "rename": rename, "delete": delete}


def ids(count: int) -> range:
    return range(1, count + 1)


def held_before(kind: str, ids: range) -> None:
    """What the client holds before events of ``kind`` arrive."""
    if kind != "create":
        apply_events([create(i) for i in ids])
    if kind == "delete":
        apply_events([update(i) for i in ids])


@pytest.mark.parametrize(
    ("kind", "per_event", "per_batch"),
    [
        ("create", 2, 2),  # INSERT user, INSERT replica; read replicas, are the names free
        ("update", 2, 1),  # UPDATE user (changed columns), UPDATE replica; read replicas
        ("rename", 2, 3),  # as update; + are the names free, does anyone wait for the old ones
        ("delete", 5, 2),  # UPDATE replica, Django's delete of the user (4); read, anyone waits
    ],
)
def test_a_batch_costs_at_most_its_statements_per_event_and_per_batch(kind, per_event, per_batch):
    # Given the users a batch of ten events of this kind finds
    ids = range(1, BATCH + 1)
    held_before(kind, ids)

    # When the ten arrive in one batch
    with statements() as run:
        results = apply_events([KINDS[kind](i) for i in ids])

    # Then each was applied, at the cost of its own writes and a few reads for all
    expected = Decision.DELETE if kind == "delete" else Decision.UPSERT
    assert {r.decision for r in results} == {expected}
    assert len(run) <= per_event * BATCH + per_batch, "\n".join(run)


@pytest.mark.parametrize(
    ("kind", "most"),
    [
        ("create", 4),  # read the replica (with its user), is the name free, INSERT, INSERT
        ("update", 3),  # read, UPDATE user, UPDATE replica
        ("rename", 5),  # read, is the name free, UPDATE, UPDATE, anyone waiting for the old
        ("delete", 7),  # read, UPDATE replica, Django's delete (4), anyone waiting
    ],
)
def test_one_event_on_its_own_costs_at_most_its_statements(kind, most):
    held_before(kind, range(1, 2))

    with statements() as run:
        event_apply(event=KINDS[kind](1))

    assert len(run) <= most, "\n".join(run)


def test_an_update_writes_every_column_it_carries_over_an_edit_made_after_the_batch_read():
    event_apply(event=create(1))  # first_name "Ana"
    event = user_event(
        user_id=1, version=2, action=Action.UPDATED, username="user1", last_name="Master"
    )
    with transaction.atomic():
        reads = batch_reads(events=[event])
        # a local edit lands after the batch read the user row (it is not locked)
        User.objects.filter(username="user1").update(first_name="local edit")
        event_apply(event=event, batch=reads)

    user = User.objects.get(username="user1")
    assert (user.first_name, user.last_name) == ("Ana", "Master")  # the master's, both


def test_a_snapshot_equal_to_the_user_held_writes_no_user_row():
    event_apply(event=create(1))
    same = user_event(user_id=1, version=1, action=Action.SNAPSHOT, username="user1")

    with statements() as run:
        result = event_apply(event=same)

    assert result.decision is Decision.UPSERT
    assert not [sql for sql in run if sql.startswith('UPDATE "auth_user"')]


def test_a_refused_event_leaves_the_rest_of_its_batch_applied():
    # Given a client-local user "carol"
    User.objects.create_user("carol", password="x")
    batch = [create(1), user_event(user_id=2, username="carol"), create(3)]

    # When a batch holds the master's own "carol" between two other creates
    with transaction.atomic():
        reads = batch_reads(events=batch)
        outcomes = []
        for event in batch:
            try:
                outcomes.append(event_apply(event=event, batch=reads).decision)
            except Exception as exc:
                outcomes.append(type(exc).__name__)

    # Then only "carol" is refused (never merged), and the others are applied
    assert outcomes == [Decision.UPSERT, "UsernameCollision", Decision.UPSERT]
    assert sorted(Replica.objects.values_list("master_id", flat=True)) == [1, 3]
    assert not Replica.objects.filter(user__username="carol").exists()


def test_a_user_parked_earlier_in_the_batch_is_read_afresh_by_its_own_later_event():
    # Given 1 "bob" and 2 "ana" (the batch is applied in master id order: the rename that
    # parks comes from the lower id)
    apply_events([user_event(user_id=1, username="bob"), user_event(user_id=2, username="ana")])

    # When one batch brings 1's rename to "ana" (which parks 2), then 2's older-named update
    apply_events(
        [
            user_event(user_id=1, version=2, action=Action.UPDATED, username="ana"),
            user_event(user_id=2, version=2, action=Action.UPDATED, username="ana", last_name="X"),
        ]
    )

    # Then it ends as event by event: 2 takes "ana" back, and 1 waits for it parked
    names = dict(Replica.objects.values_list("master_id", "user__username"))
    assert names == {2: "ana", 1: placeholder_username(1)}
    assert User.objects.get(username="ana").last_name == "X"


def test_a_swap_of_usernames_inside_one_batch_ends_with_the_names_swapped():
    apply_events([user_event(user_id=1, username="ana"), user_event(user_id=2, username="bob")])

    apply_events(
        [
            user_event(user_id=1, version=2, action=Action.UPDATED, username="cy"),
            user_event(user_id=1, version=3, action=Action.UPDATED, username="bob"),
            user_event(user_id=2, version=2, action=Action.UPDATED, username="ana"),
        ]
    )

    names = dict(Replica.objects.values_list("master_id", "user__username"))
    assert names == {1: "bob", 2: "ana"}


@pytest.mark.django_db(transaction=True)
def test_the_listener_reads_each_received_batch_once(queue: Queue, layer_prefix):
    # Given ten creates in the queue
    for i in range(1, BATCH + 1):
        queue.send_event(create(i))
    run: list[str] = []

    # When the listener polls until all are applied
    with polled_listener(queue) as loop, sqs_responses(queue.sqs, "ReceiveMessage") as calls:

        def applied() -> bool:
            with statements() as polled:
                loop.poll_once()
            run.extend(polled)
            return Replica.objects.count() == BATCH

        until(applied, what="ten creates applied")

    # Then each received batch cost two reads, and each event its two writes
    batches = sum(1 for r in calls["ReceiveMessage"] if r.get("Messages"))
    assert len(run) <= 2 * BATCH + 2 * batches, "\n".join(run)


def listen_until(queue: Queue, done) -> list[str]:
    """Poll a real listener until ``done()``; every SQL statement it ran, savepoints too."""
    ran: list[str] = []
    with polled_listener(queue) as loop:

        def poll() -> bool:
            with CaptureQueriesContext(connection) as captured:
                loop.poll_once()
            ran.extend(q["sql"] for q in captured.captured_queries)
            return bool(done())

        until(poll, what="the listener to apply the batch")
    return ran


@pytest.mark.django_db(transaction=True)
def test_a_clean_batch_is_applied_without_a_savepoint_per_event(queue: Queue, layer_prefix):
    for i in range(1, 4):
        queue.send_event(create(i))

    ran = listen_until(queue, lambda: Replica.objects.count() == 3)

    assert not [sql for sql in ran if sql.startswith("SAVEPOINT")]


@pytest.mark.django_db(transaction=True)
def test_a_refused_event_rolls_the_fast_pass_back_and_the_rest_apply_one_by_one(
    queue: Queue, layer_prefix, caplog
):
    # Given a client-local "carol", and a batch whose middle event is the master's "carol"
    User.objects.create_user("carol", password="x")
    refused = user_event(user_id=2, username="carol")
    for event in (create(1), refused, create(3)):
        queue.send_event(event)

    # When the listener applies what it receives
    ran = listen_until(queue, lambda: Replica.objects.count() == 2)

    # Then the other two are applied, in savepoints, and the refusal logged once per receive
    assert set(Replica.objects.values_list("master_id", flat=True)) == {1, 3}
    assert [sql for sql in ran if sql.startswith("SAVEPOINT")]
    refusals = [r for r in caplog.records if str(refused.event_id) in r.getMessage()]
    assert len(refusals) == 1 and "UsernameCollision" in refusals[0].getMessage()


def test_the_listener_deletes_a_batchs_users_together_through_djangos_collector():
    # Given ten users, and receivers of Django's delete signals for users (as a client app's)
    held_before("delete", range(1, BATCH + 1))
    signalled: list[tuple[str, str]] = []

    def pre(instance, **_):
        signalled.append(("pre", instance.username))

    def post(instance, **_):
        signalled.append(("post", instance.username))

    pre_delete.connect(pre, sender=User, dispatch_uid="test-pre")
    post_delete.connect(post, sender=User, dispatch_uid="test-post")

    # When the listener receives their ten deletes in one batch
    try:
        with batch_applier() as loop, statements() as run:
            handled, rest = loop.apply(sqs_messages(delete(i) for i in ids(BATCH)))
    finally:
        pre_delete.disconnect(sender=User, dispatch_uid="test-pre")
        post_delete.disconnect(sender=User, dispatch_uid="test-post")

    # Then every user is gone, each signalled as by user.delete(), for one UPDATE of each
    # replica and a handful of statements for all the users (read the replicas, does anyone
    # wait for the names, then Django's delete: read the users, the two m2m tables, the
    # replicas' foreign key, the users)
    assert not rest and [h.result.decision for h in handled] == [Decision.DELETE] * BATCH
    assert not loop.fallbacks
    assert not User.objects.exists()
    assert list(Replica.objects.values_list("tombstone", flat=True)) == [True] * BATCH
    names = {f"user{i}" for i in ids(BATCH)}
    assert {name for kind, name in signalled if kind == "pre"} == names
    assert {name for kind, name in signalled if kind == "post"} == names
    assert len(run) <= BATCH + 7, "\n".join(run)


def test_a_name_a_delete_frees_is_taken_later_in_the_same_batch():
    # Given 1 "ana" and 2 "bob"
    apply_events([user_event(user_id=1, username="ana"), user_event(user_id=2, username="bob")])

    # When one batch deletes 1, renames 2 to "ana" and creates 3 as "bob"
    batch = [
        user_event(user_id=1, version=2, action=Action.DELETED, username="ana"),
        user_event(user_id=2, version=2, action=Action.UPDATED, username="ana"),
        user_event(user_id=3, username="bob"),
    ]
    with batch_applier() as loop:
        handled, _ = loop.apply(sqs_messages(batch))

    # Then the first pass applied it all, with the names where the master has them
    assert not loop.fallbacks
    assert all(h.result is not None and h.result.decision.writes for h in handled)
    names = dict(Replica.objects.values_list("master_id", "user__username"))
    assert names == {1: None, 2: "ana", 3: "bob"}


def test_a_user_parked_for_a_deleted_users_name_gets_it_in_the_same_batch():
    # Given 1 "ana", and 2 parked waiting for "ana": 2's rename to "ana" came, then an
    # update of 1 that still holds it
    apply_events([user_event(user_id=1, username="ana"), user_event(user_id=2, username="bob")])
    apply_events([user_event(user_id=2, version=2, action=Action.UPDATED, username="ana")])
    apply_events([user_event(user_id=1, version=2, action=Action.UPDATED, username="ana")])
    assert User.objects.get(replica__master_id=2).username == placeholder_username(2)

    # When a batch deletes 1
    with batch_applier() as loop:
        loop.apply(sqs_messages([delete(1)]))

    # Then 2 holds "ana" at once
    assert dict(Replica.objects.values_list("master_id", "user__username")) == {1: None, 2: "ana"}
