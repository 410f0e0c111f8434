"""Backfill and repair with the master's REACTIVE_PUBLISH_BATCH: snapshots packed into
multi-event messages by the relay's rules, sent to a real moto queue over HTTP.

Each test counts the messages that reached the client's queue against the events in them.
"""

from __future__ import annotations

import io
import json
from dataclasses import replace
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from reactive_users.core.contract import Action, Envelope
from reactive_users.master import snapshots
from tests.master.test_batching import drain, events_of
from tests.master.test_snapshots import bulk_users, no_sleep, send_batches

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def state_dir(settings, master_settings, tmp_path):
    """Checkpoints in a directory of the test's own."""
    settings.REACTIVE = replace(settings.REACTIVE, state_dir=tmp_path)
    return tmp_path


def received(sqs: Any, url: str) -> list[tuple[str, list[Envelope]]]:
    """Every message in the queue as (action attribute, its events), signatures checked."""
    return [events_of(message) for message in drain(sqs, url)]


def flat(messages: list[tuple[str, list[Envelope]]]) -> list[Envelope]:
    return [event for _, events in messages for event in events]


def checkpoint(settings) -> snapshots.Checkpoint | None:
    return snapshots.checkpoint_read(snapshots.checkpoint_path(settings.REACTIVE, "shop"))


def test_off_every_snapshot_is_a_message_of_its_own(topic, sqs) -> None:
    bulk_users(25)
    report = snapshots.backfill(client="shop")
    raw = drain(sqs, topic.queue.url)
    assert all(json.loads(m["Body"])["schema"] == 1 for m in raw)
    messages = [events_of(m) for m in raw]
    assert (len(messages), len(flat(messages))) == (25, 25)
    assert report.progress.messages == 25


def test_on_a_backfill_packs_snapshots_by_action_and_the_summary_counts_users(
    topic, sqs, settings
) -> None:
    # Given 120 users, two deleted, one staff (excluded: a withdrawal)
    settings.REACTIVE_PUBLISH_BATCH = True
    ids = bulk_users(120)
    for user_id in ids[5:7]:
        User.objects.get(pk=user_id).delete()
    staff = User.objects.create_user("staffer", is_staff=True)
    out = io.StringIO()

    # When the client is backfilled
    with send_batches(settings.REACTIVE) as calls:
        call_command("backfill", "--client", "shop", stdout=out)

    # Then three messages carried the 121 events, one per action, in one call
    messages = received(sqs, topic.queue.url)
    assert sorted((action, len(events)) for action, events in messages) == [
        ("deleted", 2),
        ("snapshot", 118),
        ("withdrawn", 1),
    ]
    assert len(calls) == 1
    events = flat(messages)
    assert sorted(e.user_id for e in events) == sorted([*ids, staff.pk])
    assert all(e.action.value == action for action, evs in messages for e in evs)
    # and the summary still counts users and tombstones, and names the messages
    summary = out.getvalue().strip().splitlines()[-1]
    assert "users/s in 3 message(s): 119 users (1 withdrawn), 2 tombstones." in summary
    assert checkpoint(settings) is None


def test_on_the_byte_budget_splits_and_a_resumed_backfill_sends_each_user_once(
    topic, sqs, settings
) -> None:
    # Given 300 users with long names, and the smallest budget
    settings.REACTIVE_PUBLISH_BATCH = True
    settings.REACTIVE_PUBLISH_BATCH_BYTES = 16 * 1024
    ids = bulk_users(300)
    User.objects.filter(pk__in=ids).update(first_name="x" * 150, last_name="y" * 150)

    # When a backfill in read batches of 200 stops after 250 events, then resumes
    with send_batches(settings.REACTIVE) as first_calls:
        first = snapshots.backfill(client="shop", batch=200, stop_after=250)
    saved = checkpoint(settings)
    assert first.stopped and saved is not None
    sent_first = saved.users
    assert sent_first == 250  # not a packed message past it: the second read was cut to 50
    assert saved.last_id == ids[sent_first - 1]  # every id up to it, none after
    with send_batches(settings.REACTIVE) as calls:
        second = snapshots.backfill(client="shop", batch=200)

    # Then each user arrived exactly once, in messages within the budget, 10 per call at most
    raw = drain(sqs, topic.queue.url)
    assert all(len(m["Body"].encode()) <= 16 * 1024 for m in raw)
    messages = [events_of(m) for m in raw]
    assert sorted(e.user_id for e in flat(messages)) == ids
    assert len(messages) < 300 / 10
    assert all(len(c) <= 10 for c in [*first_calls, *calls])
    assert second.resumed_after == ids[sent_first - 1]
    assert (second.progress.users, second.progress.sent_this_run) == (300, 300 - sent_first)
    assert first.progress.messages + second.progress.messages == len(messages)


def test_on_a_message_refused_every_time_fails_naming_its_events_and_resumes_before_them(
    topic, sqs, settings
) -> None:
    # Given users and tombstones mixed, so that packing by action puts later ids in the
    # snapshots' message than the deletes' first id
    settings.REACTIVE_PUBLISH_BATCH = True
    ids = bulk_users(20)
    for user_id in (ids[4], ids[9]):
        User.objects.get(pk=user_id).delete()

    # When SQS refuses the deletes' message (its entry id is its first master id) every time
    with (
        send_batches(settings.REACTIVE, refuse={str(ids[4]): 99}),
        pytest.raises(snapshots.SendFailed) as failed,
    ):
        snapshots.backfill(client="shop", sleep=no_sleep)

    # Then it names both events of it, and the checkpoint stays before the first of them
    assert sorted(failed.value.failed) == [ids[4], ids[9]]
    saved = checkpoint(settings)
    assert saved is not None and saved.last_id == ids[3]
    assert (saved.users, saved.tombstones) == (18, 0)

    # And a rerun resumes there and finishes: every id arrived (some twice: at-least-once)
    rerun = snapshots.backfill(client="shop", sleep=no_sleep)
    assert rerun.resumed_after == ids[3]
    assert rerun.progress.tombstones == 2
    events = flat(received(sqs, topic.queue.url))
    assert {e.user_id for e in events} == set(ids)
    assert {e.user_id for e in events if e.action is Action.DELETED} == {ids[4], ids[9]}


def test_on_a_repair_packs_too(topic, sqs, settings) -> None:
    settings.REACTIVE_PUBLISH_BATCH = True
    ids = bulk_users(30)
    report = snapshots.repair(client="shop", ids=ids[:25])
    messages = received(sqs, topic.queue.url)
    assert [(action, len(events)) for action, events in messages] == [("snapshot", 25)]
    assert report.progress.users == 25 and report.progress.messages == 1


def test_on_a_fifo_queue_a_message_holds_one_users_events_in_its_group(
    master_settings, sqs, settings, prefix
) -> None:
    # Given a FIFO client queue
    settings.REACTIVE_PUBLISH_BATCH = True
    url = sqs.create_queue(
        QueueName=f"{prefix}-shop.fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "false"},
    )["QueueUrl"]
    ids = bulk_users(12)

    # When it is backfilled
    report = snapshots.backfill(client="shop", queue_url=url)

    # Then each user travels alone in its own message group (as its live events do)
    messages = drain(sqs, url)
    assert len(messages) == 12 and report.progress.messages == 12
    for message in messages:
        (event,) = events_of(message)[1]
        assert message["Attributes"]["MessageGroupId"] == str(event.user_id)
    assert sorted(e.user_id for m in messages for e in events_of(m)[1]) == ids
