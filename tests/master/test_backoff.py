"""The relay's retry backoff: a row SNS did not take waits longer after each failure.

SNS is moto over HTTP, or a port where nothing listens (an unreachable endpoint). Time
does not pass in these tests: a row's backoff is read from its ``retry_at``, bracketed by
the clock before and after the run, and "the backoff ran out" is written into the row.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from devstack.processes import free_port
from reactive_users.master import selectors
from reactive_users.master.models import OutboxEvent
from reactive_users.master.relay.publish import outbox_publish_pending
from reactive_users.master.relay.retry import backoff_seconds, least_backoff_seconds


def make_users(*names: str) -> list[User]:
    return [User.objects.create_user(username=name) for name in names]


def rows() -> list[OutboxEvent]:
    return list(OutboxEvent.objects.order_by("id"))


def claimable_at(now: datetime) -> list[int]:
    """Ids of the rows a relay running at ``now`` would take (read only: nothing claimed)."""
    return [row.id for row in selectors.outbox_claimable(limit=100, now=now)]


def backoff_over() -> None:
    """Write into every pending row that its backoff ran out."""
    OutboxEvent.objects.filter(sent_at__isnull=True).update(retry_at=timezone.now())


@pytest.fixture
def sns_down(settings, master_settings, topic):
    """SNS unreachable: the provisioned topic, behind a port where nothing listens."""
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings.REACTIVE = replace(master_settings, aws_endpoint_url=endpoint, topic_arn=topic.arn)


@pytest.mark.django_db
def test_a_failed_row_waits_its_backoff_before_a_relay_takes_it_again(sns_down) -> None:
    # Given a row whose publish failed
    make_users("ana")
    before = timezone.now()
    assert outbox_publish_pending().failed == 1
    after = timezone.now()

    # Then it is due again one base delay (less jitter) after the failure
    [row] = rows()
    assert row.attempts == 1 and row.retry_at is not None
    assert before + timedelta(seconds=least_backoff_seconds(1)) <= row.retry_at
    assert row.retry_at <= after + timedelta(seconds=backoff_seconds(1, draw=0.0))

    # And a relay leaves it alone until then, and takes it from then on
    assert claimable_at(row.retry_at - timedelta(milliseconds=1)) == []
    assert claimable_at(row.retry_at) == [row.id]


@pytest.mark.django_db
def test_each_failure_of_a_row_makes_its_next_wait_longer(sns_down) -> None:
    make_users("ana")
    waits: list[tuple[float, float]] = []

    # When the row fails four times, each time once its backoff ran out
    for _ in range(4):
        backoff_over()
        before = timezone.now()
        assert outbox_publish_pending().failed == 1
        after = timezone.now()
        [row] = rows()
        assert row.retry_at is not None
        waits.append(
            ((row.retry_at - after).total_seconds(), (row.retry_at - before).total_seconds())
        )

    # Then each wait lies within the rule's bounds for that attempt: 1, 2, 4, 8 s less jitter
    assert rows()[0].attempts == 4
    for attempt, (shortest, longest) in enumerate(waits, start=1):
        assert least_backoff_seconds(attempt) <= longest
        assert shortest <= backoff_seconds(attempt, draw=0.0)


@pytest.mark.django_db
def test_a_new_row_is_published_at_once_while_older_failed_rows_wait(
    settings, master_settings, sns_down, topic
) -> None:
    # Given a row that failed while SNS was down
    make_users("failed-earlier")
    outbox_publish_pending()
    [failed] = rows()

    # When SNS answers again and a new user is saved before the failed row's backoff ran out
    settings.REACTIVE = replace(master_settings, topic_arn=topic.arn)
    make_users("saved-now")

    # Then the relay publishes the new row now, and leaves the failed one to its backoff
    assert outbox_publish_pending().published == 1
    old, new = rows()
    assert (new.sent_at is not None, new.attempts, new.retry_at) == (True, 1, None)
    assert (old.sent_at, old.attempts, old.retry_at) == (None, 1, failed.retry_at)
    assert [m["Body"] for m in topic.queue.receive(1)] == [new.body]


@pytest.mark.django_db
def test_a_failed_call_backs_off_every_row_it_left_pending(sns_down) -> None:
    # Given more rows than one PublishBatch call takes, and an SNS that cannot be reached
    make_users(*(f"user{i}" for i in range(25)))

    # When the relay's first call fails as a whole
    report = outbox_publish_pending()

    # Then every row of the run is pending with one attempt, waiting to be retried
    assert (report.published, report.failed) == (0, 25)
    assert {(r.sent_at, r.attempts, r.claim) for r in rows()} == {(None, 1, None)}
    assert all(r.retry_at is not None for r in rows())
    assert claimable_at(timezone.now()) == []


@pytest.mark.django_db
def test_the_sweep_leaves_rows_waiting_to_retry_alone(sns_down) -> None:
    make_users("ana")
    outbox_publish_pending()

    assert outbox_publish_pending(min_age=timedelta(0)).failed == 0
    assert [r.attempts for r in rows()] == [1]


@pytest.mark.django_db
def test_publish_pending_retries_waiting_rows_now_unless_told_to_wait(
    settings, master_settings, sns_down, topic
) -> None:
    # Given two rows that failed and wait out their backoff, and SNS answering again
    make_users("ana", "bob")
    outbox_publish_pending()
    settings.REACTIVE = replace(master_settings, topic_arn=topic.arn)

    # When the operator runs publish_pending --due-only, Then the rows keep waiting
    out = StringIO()
    call_command("publish_pending", "--due-only", stdout=out)
    assert out.getvalue() == "Published 0 event(s).\n"

    # When the operator runs publish_pending, Then both are published now
    call_command("publish_pending", stdout=out)
    assert out.getvalue().endswith("Published 2 event(s).\n")
    assert [(r.sent_at is not None, r.attempts) for r in rows()] == [(True, 2), (True, 2)]
    assert len(topic.queue.receive(2)) == 2
