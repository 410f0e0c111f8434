"""Backfill, repair, dump and republish (reactive_users/master/snapshots/ and
services.users_republish).

Snapshots go to a real moto queue over HTTP; the consistent read is checked against live
saves in another thread, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from dataclasses import replace
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from devstack.processes import until
from reactive_users.core import aws
from reactive_users.core.contract import DEFAULT_USER_FIELDS, Action, decode_sqs_body
from reactive_users.master import snapshots
from reactive_users.master.models import OutboxEvent, UserVersion
from reactive_users.master.services import users_republish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def state_dir(settings, master_settings, tmp_path):
    """Checkpoints in a directory of the test's own."""
    settings.REACTIVE = replace(settings.REACTIVE, state_dir=tmp_path)
    return tmp_path


def bulk_users(count: int, prefix: str = "bulk") -> list[int]:
    """Users written without signals: no event, no version (like a data migration)."""
    User.objects.bulk_create(
        [User(username=f"{prefix}{i}", first_name=f"F{i}") for i in range(count)]
    )
    return list(
        User.objects.filter(username__startswith=prefix).order_by("pk").values_list("pk", flat=True)
    )


def version_of(user_id: int) -> int | None:
    row = UserVersion.objects.filter(user_id=user_id).first()
    return row.version if row else None


def events_in(queue, count: int):
    """The ``count`` envelopes that reached the client's queue, by master id."""
    return {e.user_id: e for e in (decode_sqs_body(m["Body"]) for m in queue.receive(count))}


@contextlib.contextmanager
def send_batches(master_settings, *, refuse: dict[str, int] | None = None):
    """Record the entries of every SendMessageBatch; make SQS refuse some entries for real.

    ``refuse`` maps an entry id (a master id) to how many calls it is refused in: its
    DelaySeconds is set beyond SQS's 900 s limit, which the server refuses per entry.
    """
    sqs = aws.client("sqs", master_settings)
    calls: list[list[str]] = []
    refuse = dict(refuse or {})

    def before(params, **_):
        calls.append([entry["Id"] for entry in params["Entries"]])
        for entry in params["Entries"]:
            if refuse.get(entry["Id"], 0) > 0:
                refuse[entry["Id"]] -= 1
                entry["DelaySeconds"] = 901

    unique = f"test-send-batches-{id(calls)}"
    sqs.meta.events.register("before-parameter-build.sqs.SendMessageBatch", before, unique)
    try:
        yield calls
    finally:
        sqs.meta.events.unregister("before-parameter-build.sqs.SendMessageBatch", unique_id=unique)


def no_sleep(seconds: float) -> None:
    """Retries without waiting (the retry timing is not what these tests prove)."""


# --- The consistent read ----------------------------------------------------------------------


def test_fields_and_version_are_read_in_one_statement():
    ids = [User.objects.create_user(f"one{i}").pk for i in range(3)]

    with CaptureQueriesContext(connection) as queries:
        states = snapshots.user_states_read(user_ids=ids)

    assert len(queries.captured_queries) == 1
    sql = queries.captured_queries[0]["sql"].lower()
    assert "auth_user" in sql and "reactive_master_userversion" in sql
    assert [(s.master_id, s.version) for s in states] == [(i, 1) for i in ids]
    assert set(states[0].fields) == set(DEFAULT_USER_FIELDS)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_snapshot_read_during_live_saves_always_pairs_fields_with_their_version():
    # Given a user whose k-th save sets first_name "r<k>" (and so version k + 1)
    user = User.objects.create_user("busy", first_name="r0")
    stop = threading.Event()
    errors: list[BaseException] = []

    def saves() -> None:
        try:
            for k in range(1, 400):
                if stop.is_set():
                    break
                with transaction.atomic():
                    saved = User.objects.get(pk=user.pk)
                    saved.first_name = f"r{k}"
                    saved.save()
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    # When snapshots are read again and again while another thread saves the user
    writer = threading.Thread(target=saves)
    writer.start()
    seen = set()
    try:
        for _ in range(300):
            (state,) = snapshots.user_states_read(user_ids=[user.pk])
            seen.add(state.version)
            # Then every read pairs the fields with exactly their version
            assert state.fields["first_name"] == f"r{state.version - 1}"
    finally:
        stop.set()
        writer.join(60)
    assert errors == []
    assert len(seen) > 1, "the reads never overlapped a save"


def test_users_without_a_version_get_version_1_and_versions_are_never_bumped():
    # Given two users written without signals, and one with three events
    bulk = bulk_users(2)
    saved = User.objects.create_user("saved")
    saved.first_name = "A"
    saved.save()
    saved.first_name = "B"
    saved.save()
    assert [version_of(i) for i in bulk] == [None, None] and version_of(saved.pk) == 3

    # When a batch is read twice
    first, _ = snapshots.states_after(after=0)
    again, _ = snapshots.states_after(after=0)

    # Then the version-less users got version 1, the other kept 3, nothing was bumped
    assert {s.master_id: s.version for s in first} == {bulk[0]: 1, bulk[1]: 1, saved.pk: 3}
    assert first == again
    assert OutboxEvent.objects.filter(user_id__in=bulk).count() == 0


def test_deleted_users_are_tombstones_with_their_last_version():
    # Given a user deleted through the ORM (an event) and one deleted by raw SQL (none)
    kept = User.objects.create_user("kept")
    deleted = User.objects.create_user("deleted")
    deleted_id = deleted.pk
    deleted.delete()
    raw = User.objects.create_user("raw")
    raw.first_name = "x"
    raw.save()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user WHERE id = %s", [raw.pk])

    states, upto = snapshots.states_after(after=0)

    assert [(s.master_id, s.version, s.tombstone) for s in states] == [
        (kept.pk, 1, False),
        (deleted_id, 2, True),
        (raw.pk, 2, True),
    ]
    assert upto == raw.pk


def test_staff_and_superusers_are_sent_excluded_without_fields_unless_published(settings):
    staff = User.objects.create_user("staff", is_staff=True, first_name="Secret")
    root = User.objects.create_superuser("root", password="x")
    plain = User.objects.create_user("plain")

    states, _ = snapshots.states_after(after=0)
    assert [(s.master_id, s.excluded, dict(s.fields)) for s in states] == [
        (staff.pk, True, {}),
        (root.pk, True, {}),
        (plain.pk, False, states[2].fields),
    ]
    assert states[2].fields["username"] == "plain"

    settings.REACTIVE_PUBLISH_STAFF = True
    states, _ = snapshots.states_after(after=0)
    assert [(s.excluded, s.fields["username"]) for s in states] == [
        (False, "staff"),
        (False, "root"),
        (False, "plain"),
    ]


def test_a_batch_holds_users_and_tombstones_in_id_order_up_to_its_limit():
    ids = bulk_users(5)
    User.objects.filter(pk=ids[1]).delete()  # a tombstone among them

    first, upto = snapshots.states_after(after=0, limit=3)
    second, upto2 = snapshots.states_after(after=upto, limit=3)
    rest, upto3 = snapshots.states_after(after=upto2, limit=3)

    assert [(s.master_id, s.tombstone) for s in first] == [
        (ids[0], False),
        (ids[1], True),
        (ids[2], False),
    ]
    assert [s.master_id for s in second] == ids[3:]
    assert (rest, upto3) == ([], None)


def test_since_takes_users_who_joined_or_had_an_event_since_then():
    old = bulk_users(2, prefix="old")
    User.objects.filter(pk__in=old).update(date_joined=timezone.now() - timedelta(days=30))
    changed = User.objects.get(pk=old[0])
    changed.first_name = "changed"
    changed.save()
    new = User.objects.create_user("new")

    since = timezone.now() - timedelta(days=1)
    states, _ = snapshots.states_after(after=0, since=since)

    assert [s.master_id for s in states] == [old[0], new.pk]


# --- Envelopes ----------------------------------------------------------------------------------


def test_live_users_become_snapshots_excluded_ones_withdrawals_and_tombstones_deletes():
    at = timezone.now()
    live = snapshots.UserState(master_id=3, version=4, fields={"username": "ana"})
    gone = snapshots.UserState(master_id=5, version=2, tombstone=True)
    staff = snapshots.UserState(master_id=6, version=1, excluded=True)
    unversioned = snapshots.UserState(master_id=7, version=None, fields={"username": "bo"})

    pairs = snapshots.snapshot_envelopes([live, gone, staff, unversioned], occurred_at=at)

    envelopes = [envelope for _, envelope in pairs]
    assert [(e.action, e.user_id, e.version, dict(e.user), e.changed) for e in envelopes] == [
        (Action.SNAPSHOT, 3, 4, {"username": "ana"}, ("username",)),
        (Action.DELETED, 5, 2, {}, ()),
        (Action.WITHDRAWN, 6, 1, {}, ()),
    ]
    assert all(e.occurred_at == at and not e.synthetic for e in envelopes)


# --- Backfill to a real queue -------------------------------------------------------------------


def test_a_backfill_sends_every_user_and_tombstone_to_the_client_queue(topic, master_settings):
    # Given 23 users (one deleted), some with events and some written without signals
    ids = bulk_users(20)
    for user_id in ids[:5]:
        user = User.objects.get(pk=user_id)
        user.last_name = "Saved"
        user.save()
    User.objects.get(pk=ids[7]).delete()
    extra = [User.objects.create_user(f"extra{i}").pk for i in range(3)]
    lines = []

    # When the client is backfilled in batches of 7
    with send_batches(master_settings) as calls:
        report = snapshots.backfill(client="shop", batch=7, on_progress=lines.append)

    # Then each user arrived once as a snapshot at its version, the deleted one as a delete
    events = events_in(topic.queue, 23)
    assert topic.queue.depth() == 23
    assert sorted(events) == sorted([*ids, *extra])
    assert {events[i].version for i in ids[:5]} == {1}
    assert (events[ids[7]].action, events[ids[7]].version) == (Action.DELETED, 1)
    assert events[ids[0]].user["last_name"] == "Saved"
    assert events[ids[8]].action is Action.SNAPSHOT
    assert events[ids[8]].user["first_name"] == "F8"
    # in batches of at most 10 per call, never more than a read batch
    assert max(len(c) for c in calls) <= 7
    assert (report.progress.users, report.progress.tombstones) == (22, 1)
    assert lines and lines[-1].sent == 23
    # and the checkpoint is gone once everything was sent
    assert not snapshots.checkpoint_path(reactive_settings(), "shop").exists()


def test_a_backfill_withdraws_excluded_users_at_their_current_version(topic, master_settings):
    # Given a published user promoted by QuerySet.update() (a client still holds it live),
    # a user created as staff (never published) and a plain one
    promoted = User.objects.create_user("promoted", first_name="Kept")
    User.objects.filter(pk=promoted.pk).update(is_superuser=True, first_name="Secret")
    staff = User.objects.create_user("staff", is_staff=True, first_name="Secret")
    plain = User.objects.create_user("plain")
    out = io.StringIO()

    # When the client is backfilled
    call_command("backfill", "--client", "shop", stdout=out)

    # Then the excluded users travel as withdrawals with no fields, at the master's current
    # version (a user never published gets version 1), the plain one as a snapshot
    events = events_in(topic.queue, 3)
    assert {k: (e.action, e.version, dict(e.user)) for k, e in events.items()} == {
        promoted.pk: (Action.WITHDRAWN, 1, {}),
        staff.pk: (Action.WITHDRAWN, 1, {}),
        plain.pk: (Action.SNAPSHOT, 1, events[plain.pk].user),
    }
    assert "Secret" not in json.dumps([dict(e.user) for e in events.values()])
    assert out.getvalue().strip().endswith(": 3 users (2 withdrawn), 0 tombstones.")


def reactive_settings():
    from django.conf import settings

    return settings.REACTIVE


def test_an_interrupted_backfill_resumes_after_its_checkpoint(topic, master_settings):
    ids = bulk_users(35)

    # When a backfill stops after 18 events (as if interrupted)
    first = snapshots.backfill(client="shop", batch=15, stop_after=18)

    # Then it sent exactly 18 (its second read cut to the 3 left), and the checkpoint holds
    # the last id sent and the counts
    path = snapshots.checkpoint_path(reactive_settings(), "shop")
    saved = snapshots.checkpoint_read(path)
    assert first.stopped and saved is not None
    assert (saved.last_id, saved.users, saved.tombstones) == (ids[17], 18, 0)

    # And a rerun says it resumes there, sends the rest only, and reports the totals
    resumed = []
    second = snapshots.backfill(client="shop", batch=15, on_resume=resumed.append)

    assert [c.last_id for c in resumed] == [ids[17]]
    assert second.resumed_after == ids[17]
    assert (second.progress.sent_this_run, second.progress.users) == (17, 35)
    events = [decode_sqs_body(m["Body"]) for m in topic.queue.receive(35)]
    assert sorted(e.user_id for e in events) == ids  # each user exactly once
    assert topic.queue.depth() == 35
    assert "resumed after master id" in snapshots.summary_line(
        second.progress, resumed_after=second.resumed_after
    )
    assert not path.exists()


def test_restart_ignores_the_checkpoint_and_another_since_is_refused(topic):
    bulk_users(12)
    snapshots.backfill(client="shop", batch=5, stop_after=5)

    with pytest.raises(snapshots.UsageError, match="give the same --since to resume it"):
        snapshots.backfill(client="shop", since=timezone.now() - timedelta(days=1))

    again = snapshots.backfill(client="shop", restart=True)
    assert again.resumed_after is None
    assert again.progress.sent_this_run == 12


def test_refused_entries_are_retried_then_sent(topic, master_settings):
    ids = bulk_users(4)

    with send_batches(master_settings, refuse={str(ids[1]): 2}) as calls:
        report = snapshots.backfill(client="shop", sleep=no_sleep)

    assert calls == [[str(i) for i in ids], [str(ids[1])], [str(ids[1])]]
    assert report.progress.users == 4
    assert sorted(e.user_id for e in events_in(topic.queue, 4).values()) == ids


def test_entries_refused_every_time_fail_naming_them_and_keep_the_checkpoint_before(
    topic, master_settings
):
    ids = bulk_users(15)

    with (
        send_batches(master_settings, refuse={str(ids[12]): 99}),
        pytest.raises(snapshots.SendFailed) as failed,
    ):
        snapshots.backfill(client="shop", sleep=no_sleep)

    assert list(failed.value.failed) == [ids[12]]
    assert f"master ids {ids[12]} after {snapshots.SEND_ATTEMPTS} attempts" in str(failed.value)
    assert f"the checkpoint stays at master id {ids[11]}, before them" in str(failed.value)
    saved = snapshots.checkpoint_read(snapshots.checkpoint_path(reactive_settings(), "shop"))
    assert saved is not None and saved.last_id == ids[11]
    assert saved.users == 14  # the ids after it in that batch were sent, and will be again

    # A rerun resumes at the refused user and finishes
    rerun = snapshots.backfill(client="shop", sleep=no_sleep)
    assert rerun.resumed_after == ids[11]
    assert rerun.progress.sent_this_run == 3


def test_a_backfill_holds_back_while_the_client_queue_is_full(topic, master_settings, sqs):
    # Given 40 users, and a client that takes messages off its queue slowly (one at a time)
    ids = bulk_users(40)
    depths: list[int] = []
    received: list[str] = []
    done = threading.Event()

    def consume() -> None:
        while not done.is_set() and len(received) < 40:
            got = sqs.receive_message(
                QueueUrl=topic.queue.url, MaxNumberOfMessages=1, WaitTimeSeconds=1
            ).get("Messages", [])
            for message in got:
                received.append(message["Body"])
                sqs.delete_message(QueueUrl=topic.queue.url, ReceiptHandle=message["ReceiptHandle"])

    def record(parsed, **_):
        depths.append(int(parsed["Attributes"]["ApproximateNumberOfMessages"]))

    client = aws.client("sqs", master_settings)
    client.meta.events.register("after-call.sqs.GetQueueAttributes", record, "test-depths")
    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        # When it is backfilled letting at most 12 messages wait
        with send_batches(master_settings) as calls:
            report = snapshots.backfill(client="shop", max_depth=12)
        until(lambda: len(received) == 40, timeout=30, what="the consumer to receive all")
    finally:
        done.set()
        consumer.join(30)
        client.meta.events.unregister("after-call.sqs.GetQueueAttributes", unique_id="test-depths")

    # Then it looked at the queue before each send of 10 (12 leaves room for one only), the
    # queue never held more than 12, and everything was sent once
    assert report.progress.users == 40
    assert len(depths) >= 4
    assert max(depths) <= 12
    assert sum(len(c) for c in calls) == 40
    assert sorted(decode_sqs_body(b).user_id for b in received) == ids


def test_max_depth_0_never_looks_at_the_queue(topic, master_settings):
    bulk_users(15)
    looked: list[int] = []
    client = aws.client("sqs", master_settings)
    client.meta.events.register(
        "before-call.sqs.GetQueueAttributes", lambda **_: looked.append(1), "test-look"
    )
    try:
        snapshots.backfill(client="shop", max_depth=0)
    finally:
        client.meta.events.unregister("before-call.sqs.GetQueueAttributes", unique_id="test-look")
    assert looked == []
    assert topic.queue.depth() == 15


def test_the_command_prints_progress_and_a_summary_with_the_rate(topic, capsys):
    bulk_users(30)
    out = io.StringIO()

    call_command("backfill", "--client", "shop", "--batch", "10", stdout=out)

    summary = out.getvalue().strip().splitlines()[-1]
    assert summary.startswith("Backfill of shop complete: sent 30 in ")
    assert "users/s: 30 users, 0 tombstones." in summary
    assert "backfill shop: 30/30 sent (30 users, 0 tombstones)" in capsys.readouterr().err


def test_the_command_says_so_when_it_resumes_and_when_it_stops(topic):
    bulk_users(25)
    with pytest.raises(CommandError, match=r"stopped after 10 events as asked \(--stop-after\)"):
        call_command("backfill", "--client", "shop", "--batch", "10", "--stop-after", "10")

    out = io.StringIO()
    call_command("backfill", "--client", "shop", stdout=out)

    first, *_, last = out.getvalue().strip().splitlines()
    assert first.startswith("Resuming the backfill of shop after master id ")
    assert "(10 users and 0 tombstones sent since " in first
    assert "sent 15 in" in last and "in all 25 users, 0 tombstones." in last


def test_an_unknown_client_queue_is_one_error(topic):
    with pytest.raises(CommandError, match="QueueNotFound: queue .*-nope does not exist"):
        call_command("backfill", "--client", "nope")


# --- Repair ---------------------------------------------------------------------------------


def test_a_repair_sends_exactly_the_ids_asked_and_names_unknown_ones(topic):
    ids = bulk_users(6)
    User.objects.get(pk=ids[2]).delete()
    staff = User.objects.create_user("staffer", is_staff=True, first_name="Secret")
    out = io.StringIO()

    with pytest.raises(CommandError, match="the master has no record of master ids 999999 "):
        call_command(
            "backfill",
            "--client",
            "shop",
            "--ids",
            f"{ids[0]},{ids[2]},{staff.pk},999999",
            stdout=out,
        )

    assert out.getvalue().strip() == (
        "Sent 1 snapshot(s), 1 tombstone(s) and 1 withdrawal(s) to shop in "
        + out.getvalue().split(" in ")[1].strip()
    )
    events = events_in(topic.queue, 3)
    assert {k: e.action for k, e in events.items()} == {
        ids[0]: Action.SNAPSHOT,
        ids[2]: Action.DELETED,
        staff.pk: Action.WITHDRAWN,
    }
    # the staff user's withdrawal, at the version a repair gives it, carries nothing of theirs
    assert (events[staff.pk].version, dict(events[staff.pk].user)) == (1, {})
    assert topic.queue.depth() == 3


# --- The dump ---------------------------------------------------------------------------------


def test_users_dump_prints_every_user_and_tombstone_without_giving_versions():
    bulk = bulk_users(1)
    saved = User.objects.create_user("dumped", first_name="D")
    gone = User.objects.create_user("gone")
    gone_id = gone.pk
    gone.delete()
    staff = User.objects.create_user("staff2", is_staff=True)
    out = io.StringIO()

    call_command("users_dump", stdout=out)

    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [(r["master_id"], r["version"], r["tombstone"], r["excluded"]) for r in lines] == [
        (bulk[0], None, False, False),
        (saved.pk, 1, False, False),
        (gone_id, 2, True, False),
        (staff.pk, None, False, True),
    ]
    assert lines[1]["fields"] == {
        "username": "dumped",
        "email": "",
        "first_name": "D",
        "last_name": "",
        "is_active": True,
    }
    assert lines[3]["fields"] == {}
    assert version_of(bulk[0]) is None


# --- Republish ----------------------------------------------------------------------------------


def test_republish_records_the_next_version_with_every_field():
    bulk = bulk_users(3)
    saved = User.objects.create_user("before")
    User.objects.filter(pk=saved.pk).update(first_name="Bulk")  # no signal, no event
    staff = User.objects.create_user("admin2", is_staff=True)

    count = users_republish(queryset=User.objects.filter(pk__in=[*bulk, saved.pk, staff.pk]))

    assert count == 5
    assert [version_of(i) for i in [*bulk, saved.pk]] == [1, 1, 1, 2]
    row = OutboxEvent.objects.filter(user_id=saved.pk).order_by("-id").first()
    event = decode_sqs_body(row.body)
    assert (event.action, event.version) == (Action.UPDATED, 2)
    assert event.changed == tuple(sorted(DEFAULT_USER_FIELDS))
    assert event.user["first_name"] == "Bulk"


def test_the_republish_command_picks_users_by_criteria():
    bulk_users(3, prefix="sm")
    other = User.objects.create_user("jones", is_active=False)
    out = io.StringIO()

    call_command("republish", "--username-regex", "^sm[01]$", "--dry-run", stdout=out)
    assert out.getvalue().strip() == "2 user(s) match; nothing recorded (--dry-run)."

    call_command("republish", "--where", "is_active=false", stdout=out)
    assert "Republished 1 user(s)" in out.getvalue()
    assert version_of(other.pk) == 2

    with pytest.raises(CommandError, match="choose users"):
        call_command("republish")
    with pytest.raises(CommandError, match="--where"):
        call_command("republish", "--where", "no_such_field=1")


def test_republish_withdraws_a_user_promoted_without_signals():
    # Given a published user promoted by QuerySet.update() (no signal, no event)
    user = User.objects.create_user("promoted", first_name="Kept")
    User.objects.filter(pk=user.pk).update(is_staff=True, first_name="Secret")

    count = users_republish(queryset=User.objects.filter(pk=user.pk))

    # Then the user gets a withdrawal at its next version, with nothing of theirs in it
    row = OutboxEvent.objects.filter(user_id=user.pk).order_by("-id").first()
    event = decode_sqs_body(row.body)
    assert count == 1
    assert (row.action, event.action, event.version) == ("withdrawn", Action.WITHDRAWN, 2)
    assert (dict(event.user), event.changed) == ({}, ())
    assert "Secret" not in row.body and "promoted" not in row.body
