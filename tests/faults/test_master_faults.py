"""Faults on the master's side: its Celery broker gone, SNS down or failing, the master killed
between its commit and the publish. Each ends with a client holding the master's state.

The master saving the changes is this process (its Django is the stack's master), except
in fault 8, where a second master process on the same database is killed on purpose.
"""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack import master_ops
from devstack.convergence import wait_converged
from devstack.processes import python, until
from devstack.services import RestartableRedis
from devstack.stack import Stack
from reactive_users.core import aws
from tests.faults.conftest import AddClient
from tests.faults.support import outbox_event_ids, sqs
from tests.support.fault_proxy import FaultProxy, Mode
from tests.support.reliability import record

ROOT = Path(__file__).resolve().parents[2]


def saved(change: Callable[..., Any], *args: Any, **fields: Any) -> Any:
    """Make one change in its own transaction, as a request would (ATOMIC_REQUESTS)."""
    from django.db import transaction

    with transaction.atomic():
        return change(*args, **fields)


def last_outbox_id() -> int:
    from reactive_users.master.models import OutboxEvent

    return OutboxEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def outbox_after(first: int) -> Any:
    """The outbox rows written after row ``first`` (this test's rows)."""
    from reactive_users.master.models import OutboxEvent

    return OutboxEvent.objects.filter(id__gt=first).order_by("id")


def unsent_after(first: int) -> int:
    return int(outbox_after(first).filter(sent_at__isnull=True).count())


def tag() -> str:
    return uuid.uuid4().hex[:6]


def eventually(predicate: Callable[[], object], *, timeout: float, what: str) -> bool:
    """Whether ``predicate`` came true within ``timeout`` s; the test records either way."""
    try:
        until(predicate, timeout=timeout, interval=0.1, what=what)
    except AssertionError:
        return False
    return True


# --- fault 2: the Celery broker down while the master saves ----------------------------------

#: Changes saved while the broker is down: creates, renames, deactivations, deletes.
CREATES, DEACTIVATIONS, DELETES = 200, 50, 50


@pytest.fixture
def celery_relay() -> Iterator[None]:
    """This process (the master) kicks a Celery relay task per commit (REACTIVE_RELAY=celery)."""
    from django.conf import settings

    previous = settings.REACTIVE_RELAY
    settings.REACTIVE_RELAY = "celery"
    try:
        yield
    finally:
        settings.REACTIVE_RELAY = previous


@pytest.mark.usefixtures("celery_relay")
def test_saves_while_the_broker_is_down_all_commit_and_are_published_once_it_is_back(
    stack: Stack, broker: RestartableRedis, add_client: AddClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a client, and the worker (with its beat) connected to the broker
    shop = add_client("shop")
    assert stack.worker is not None
    worker_pid = stack.worker.pid
    first = last_outbox_id()
    prefix = tag()

    # When the broker goes away and the master saves 500 changes
    broker.stop()
    ids: list[int] = []
    with caplog.at_level(logging.WARNING, logger="reactive_users.master.tasks"):
        for n in range(CREATES):
            ids.append(
                saved(
                    master_ops.create_user,
                    f"{prefix}-{n}",
                    password=None,
                    first_name="new",
                    email=f"{prefix}{n}@example.com",
                )
            )
        for uid in ids:
            saved(master_ops.update_user, uid, first_name="renamed")
        for uid in ids[:DEACTIVATIONS]:
            saved(master_ops.update_user, uid, is_active=False)
        for uid in ids[DEACTIVATIONS : DEACTIVATIONS + DELETES]:
            saved(master_ops.delete_user, uid)
    kicks_failed = caplog.text.count("Could not enqueue the outbox relay")

    # Then every save committed its outbox row, none was published, each kick's failure logged
    rows = outbox_after(first)
    written, pending_while_down = rows.count(), unsent_after(first)

    # When the broker comes back (empty: like a Redis that crashed)
    broker.start()

    # Then the worker reconnects by itself and its sweep publishes all 500
    eventually(lambda: unsent_after(first) == 0, timeout=120, what="the outbox published")
    comparison = wait_converged(shop, ids)
    unsent = unsent_after(first)
    same_worker = stack.worker.pid == worker_pid and stack.worker.alive()
    record(
        fault="2. Celery broker (Redis) down while the master saves",
        test="test_saves_while_the_broker_is_down_all_commit_and_are_published_once_it_is_back",
        sent=written,
        checked=written - unsent,
        lost=unsent + len(comparison.missing),
        diverged=len(comparison.diverged),
        detail=(
            f"{written} saves ({CREATES} creates, {CREATES} renames, {DEACTIVATIONS} "
            f"deactivations, {DELETES} deletes) with the broker stopped: all committed, "
            f"{kicks_failed} failed kicks logged, {pending_while_down} rows pending; broker "
            f"restarted empty; worker pid {worker_pid} "
            f"{'reconnected by itself' if same_worker else 'did NOT survive'} and its beat "
            f"sweep published {written - unsent}; client: {comparison.summary()}"
        ),
    )
    assert written == 500
    assert pending_while_down == 500
    assert kicks_failed == 500
    assert unsent == 0
    assert comparison.converged, comparison.summary()
    assert same_worker


def test_the_default_relay_publishes_while_the_broker_is_down(
    stack: Stack, broker: RestartableRedis, add_client: AddClient
) -> None:
    from django.conf import settings

    assert settings.REACTIVE_RELAY == "thread"
    # Given a client, When the broker goes away and the master saves 100 changes
    shop = add_client("shop")
    first, prefix = last_outbox_id(), tag()
    broker.stop()
    try:
        ids = [
            saved(master_ops.create_user, f"{prefix}-{n}", password=None, first_name="new")
            for n in range(CREATES // 2)
        ]
        for uid in ids:
            saved(master_ops.update_user, uid, first_name="renamed")

        # Then the publisher thread publishes them all without the broker, and the client
        # converges before the broker is back
        published = eventually(
            lambda: unsent_after(first) == 0, timeout=120, what="the outbox published"
        )
        comparison = wait_converged(shop, ids)
    finally:
        broker.start()
    written, unsent = outbox_after(first).count(), unsent_after(first)
    record(
        fault="2. Celery broker (Redis) down while the master saves",
        test="test_the_default_relay_publishes_while_the_broker_is_down",
        sent=written,
        checked=written - unsent,
        lost=unsent + len(comparison.missing),
        diverged=len(comparison.diverged),
        detail=(
            f"{written} saves ({len(ids)} creates, {len(ids)} renames) with the broker stopped "
            f"and the default REACTIVE_RELAY=thread: {written - unsent} published by the "
            f"saving process's thread before the broker came back; client: "
            f"{comparison.summary()}"
        ),
    )
    assert published and written == 2 * len(ids) and unsent == 0
    assert comparison.converged, comparison.summary()


# --- fault 3: SNS down, then answering errors, while the master saves -------------------------


@dataclass
class RowWatch:
    """A row's (attempts, retry_at) each time a poll saw them change."""

    row_id: int
    seen: list[tuple[int, datetime]] = field(default_factory=list)

    def poll(self) -> int:
        from reactive_users.master.models import OutboxEvent

        attempts, retry_at = OutboxEvent.objects.values_list("attempts", "retry_at").get(
            id=self.row_id
        )
        if retry_at is not None and (not self.seen or self.seen[-1] != (attempts, retry_at)):
            self.seen.append((attempts, retry_at))
        return int(attempts)

    def wait_attempts(self, attempts: int) -> bool:
        """Poll until the row was tried ``attempts`` times; whether it was."""
        try:
            until(
                lambda: self.poll() >= attempts,
                timeout=60,
                interval=0.05,
                what=f"row {self.row_id} to be tried {attempts} times",
            )
        except AssertionError:
            return False
        return True

    def gaps(self) -> list[tuple[int, float, float]]:
        """Per attempt after the first seen: (attempt, seconds its retry_at moved, least
        backoff that attempt must have waited)."""
        from reactive_users.master.relay.retry import least_backoff_seconds

        return [
            (attempts, (due - before).total_seconds(), least_backoff_seconds(attempts))
            for (_, before), (attempts, due) in zip(self.seen, self.seen[1:], strict=False)
        ]


def drain(stack: Stack, queue_url: str, want: set[str], *, timeout: float = 60) -> Counter[str]:
    """Receive and delete everything in a queue until ``want`` were all seen and a receive
    comes back empty; how many times each event id arrived."""
    client, seen = sqs(stack), Counter[str]()

    def receive() -> bool:
        messages = client.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", [])
        for message in messages:
            seen[json.loads(message["Body"])["event_id"]] += 1
        if messages:
            client.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                    for i, m in enumerate(messages)
                ],
            )
        return not messages and want <= set(seen)

    eventually(receive, timeout=timeout, what=f"{len(want)} events in {queue_url}")
    return seen


USERS_3 = 20


def test_sns_down_then_failing_is_retried_with_backoff_and_nothing_is_lost_or_applied_twice(
    stack: Stack, sns: FaultProxy, add_client: AddClient
) -> None:
    # Given a client, and a spy queue that nobody reads
    shop = add_client("shop")
    spy = add_client("spy", listener=False)
    first = last_outbox_id()
    prefix = tag()
    calls = {mode: sns.count("PublishBatch", mode) for mode in Mode}

    # When SNS refuses connections while users are created and renamed
    sns.set_mode(Mode.REFUSE)
    ids = [
        saved(master_ops.create_user, f"{prefix}-{n}", password=None, first_name="a")
        for n in range(USERS_3)
    ]
    for uid in ids:
        saved(master_ops.update_user, uid, first_name="b")
    watch = RowWatch(outbox_after(first).values_list("id", flat=True)[0])
    retried = watch.wait_attempts(3)

    # And then answers every call with an error while the users are renamed again
    sns.set_mode(Mode.ERROR)
    second = last_outbox_id()
    for uid in ids:
        saved(master_ops.update_user, uid, first_name="c", last_name="x")
    new_rows_tried = eventually(
        lambda: not outbox_after(second).filter(attempts=0).exists(),
        timeout=60,
        what="the new rows tried",
    )
    retried = watch.wait_attempts(4) and retried
    refused = sns.count("PublishBatch", Mode.REFUSE) - calls[Mode.REFUSE]
    errors = sns.count("PublishBatch", Mode.ERROR) - calls[Mode.ERROR]
    attempts_during_outage = max(r.attempts for r in outbox_after(first))

    # When SNS answers again
    sns.set_mode(Mode.PASS)

    # Then every row is published, each event reaches the spy, and the client converges
    eventually(lambda: unsent_after(first) == 0, timeout=90, what="the outbox published")
    event_ids = set(outbox_event_ids(ids))
    arrived = drain(stack, spy.queue_url, event_ids)
    comparison = wait_converged(shop, ids)
    duplicates = sum(n - 1 for e, n in arrived.items() if e in event_ids)
    never_arrived = len(event_ids - set(arrived))
    gaps = watch.gaps()
    record(
        fault="3. SNS endpoint down, then answering errors, while the master saves",
        test="test_sns_down_then_failing_is_retried_with_backoff_and_nothing_is_lost_or_applied_twice",
        sent=len(event_ids),
        checked=len(event_ids) - never_arrived,
        lost=never_arrived + unsent_after(first) + len(comparison.missing),
        diverged=len(comparison.diverged),
        detail=(
            f"{len(event_ids)} events for {USERS_3} users; PublishBatch refused {refused} and "
            f"answered 503 {errors} times (requests, botocore's own retry included); a row "
            f"was tried {attempts_during_outage} times during the outage, waiting "
            + ", ".join(f"{moved:.1f} s" for _, moved, _ in gaps)
            + f" between attempts; the spy received {len(event_ids) - never_arrived} of them "
            f"({sum(arrived.values())} messages, {duplicates} duplicates); "
            f"client: {comparison.summary()}"
        ),
    )
    # The watched row failed 3 times while SNS refused and once more while it failed, and
    # the rows saved meanwhile were tried without waiting for it
    assert retried and new_rows_tried, watch.seen
    # SNS was called again and again (more than one call's requests) while down and failing
    assert refused > aws.BOTOCORE_MAX_ATTEMPTS and errors > aws.BOTOCORE_MAX_ATTEMPTS
    # Each retry of the watched row waited out its backoff, growing with each failure
    assert len(gaps) >= 2, watch.seen
    assert all(moved >= least for _, moved, least in gaps), gaps
    assert never_arrived == 0 and unsent_after(first) == 0
    assert comparison.converged, comparison.summary()


# --- fault 8: the master's process killed between the commit and the publish ------------------

USERS_8 = 20

#: Saves users in one transaction whose first on-commit callback kills the process: after
#: COMMIT, before the relay's kick (callbacks run in the order they were registered).
KILLED_AFTER_COMMIT = """
import os, signal
from django.contrib.auth.models import User
from django.db import transaction

with transaction.atomic():
    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
    for n in range({count}):
        user = User(username="{prefix}-%d" % n, first_name="saved-then-killed")
        user.set_unusable_password()
        user.save()
print("not reached: the process was to die at commit")
"""


def test_a_master_killed_between_commit_and_publish_is_published_by_the_sweep(
    stack: Stack, add_client: AddClient
) -> None:
    from django.conf import settings
    from django.contrib.auth.models import User

    # Given a client
    shop = add_client("shop")
    first = last_outbox_id()
    prefix = tag()

    # When a second master process saves users and is SIGKILLed right after its commit
    code = KILLED_AFTER_COMMIT.format(count=USERS_8, prefix=prefix)
    child = subprocess.run(
        python("-m", "master", "shell", "-c", code),
        env=stack.master_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )

    # Then it died by SIGKILL, its users and their outbox rows committed and unsent
    ids = sorted(
        User.objects.filter(username__startswith=f"{prefix}-").values_list("id", flat=True)
    )
    rows_at_death = outbox_after(first).count()
    unsent_at_death = unsent_after(first)

    # And the beat sweep publishes them, and the client converges
    eventually(lambda: unsent_after(first) == 0, timeout=60, what="the outbox published")
    rows = list(outbox_after(first))
    min_age = timedelta(seconds=settings.REACTIVE_OUTBOX_MIN_AGE_SECONDS)
    by_sweep = sum(1 for r in rows if r.sent_at is not None and r.sent_at - r.created_at >= min_age)
    comparison = wait_converged(shop, ids)
    record(
        fault="8. master process killed between commit and publish",
        test="test_a_master_killed_between_commit_and_publish_is_published_by_the_sweep",
        sent=rows_at_death,
        checked=len(comparison.equal),
        lost=unsent_after(first) + len(comparison.missing),
        diverged=len(comparison.diverged),
        detail=(
            f"a master process saved {len(ids)} users in one transaction and was SIGKILLed by "
            f"its first on-commit callback (exit {child.returncode}); {unsent_at_death} rows "
            f"committed and unsent at its death; {by_sweep} published by the beat sweep "
            f"(at least {min_age.total_seconds():g} s after commit); client: "
            f"{comparison.summary()}"
        ),
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    assert "not reached" not in child.stdout
    assert len(ids) == USERS_8
    assert rows_at_death == unsent_at_death == USERS_8
    assert by_sweep == USERS_8
    assert comparison.converged, comparison.summary()
