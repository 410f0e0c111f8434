"""Fault 1: a listener SIGKILLed in the middle of a stream of 2,000 events, then restarted."""

from __future__ import annotations

import random
import signal
import time
import uuid
from collections.abc import Callable

from devstack import master_ops
from devstack.convergence import wait_converged
from devstack.processes import until
from devstack.stack import Stack
from tests.faults.conftest import AddClient
from tests.faults.support import (
    Deliveries,
    MasterStream,
    debug_listeners,
    depth,
    listeners,
    mid_batch,
    outbox_event_ids,
    outbox_pending,
    redelivered_at,
    wait_drained,
)
from tests.support.reliability import record

EVENTS = 2_000
USERS = 300
#: Kill the listener once this many changes are committed (and it holds messages).
KILL_AFTER = 700
#: Keep the queue shallow: moto's SQS slows down linearly with queue depth.
MAX_BACKLOG = 40


def stream(prefix: str, ids: list[int]) -> list[Callable[[], object]]:
    """2,000 changes: 300 creates spread over the first part, updates of random users."""
    rng = random.Random(5)
    changes: list[Callable[[], object]] = []
    created = 0
    for i in range(EVENTS):
        if created < USERS and (created < 50 or i % 3 == 0 or EVENTS - i <= USERS - created):
            changes.append(lambda n=created: ids.append(create(prefix, n)))
            created += 1
        else:
            pick = rng.random()
            changes.append(lambda i=i, pick=pick: update(ids, i, pick))
    return changes


def create(prefix: str, n: int) -> int:
    return master_ops.create_user(
        f"{prefix}-{n}", password=None, first_name="new", email=f"{prefix}-{n}@example.com"
    )


def update(ids: list[int], i: int, pick: float) -> None:
    uid = ids[int(pick * len(ids))]
    fields: dict[str, object] = {"first_name": f"f{i}"}
    if i % 7 == 0:
        fields["email"] = f"u{uid}-{i}@example.com"
    if i % 40 == 0:
        fields["is_active"] = bool(i % 80)  # deactivations and reactivations
    master_ops.update_user(uid, **fields)


def test_a_listener_killed_mid_stream_and_restarted_converges_without_loss(
    stack: Stack, add_client: AddClient
):
    # Given a client whose listener logs every message it handles, its queue provisioned
    # with the defaults (a 30 s visibility timeout: the listener receives with its own
    # short one, REACTIVE_LISTENER_VISIBILITY_SECONDS) and 10 receives before the DLQ
    app = add_client("kill", listener=False, max_receive_count=10)
    debug_listeners(app)
    first = app.start_listener()
    ids: list[int] = []

    def shallow() -> None:
        until(lambda: depth(stack, app.queue_url)[0] < MAX_BACKLOG, timeout=120, interval=0.1)

    writer = MasterStream(stream(uuid.uuid4().hex[:6], ids), paced=shallow)
    writer.start()

    # When the listener is SIGKILLed mid-stream, in the middle of a batch, then restarted
    until(
        lambda: writer.written >= KILL_AFTER or not writer.is_alive(),
        timeout=120,
        what=f"{KILL_AFTER} changes",
    )
    if not writer.is_alive():
        writer.finish()  # it stopped early: raise what stopped it
    until(lambda: mid_batch(first), timeout=60, interval=0.001, what="the middle of a batch")
    first.signal(signal.SIGKILL)
    killed, killed_at = time.time(), writer.written
    first.popen.wait(10)
    held = depth(stack, app.queue_url)[1]
    second = app.start_listener()
    writer.finish()

    # Then the client converges to the master's state, every event reached it, and
    # duplicates changed nothing: no event wrote twice, nothing went to the DLQ
    until(lambda: outbox_pending() == 0, timeout=60, what="the outbox to be published")
    comparison = wait_converged(app, ids, timeout=180)
    wait_drained(stack, app.queue_url)
    dead = sum(depth(stack, stack.provisioned.dlq_urls[app.name]))
    events = outbox_event_ids(ids)
    seen = Deliveries.from_logs(listeners(app))
    never = seen.never_handled(events)
    twice = seen.written_more_than_once()
    back = [t - killed for t in redelivered_at(second)]  # what the killed one held, again
    record(
        fault="1. listener SIGKILLed mid-stream",
        test="test_a_listener_killed_mid_stream_and_restarted_converges_without_loss",
        sent=len(events),
        checked=len(events) - len(never),
        lost=len(never) + len(comparison.missing),
        diverged=len(comparison.diverged) + len(twice),
        detail=(
            f"SIGKILL mid-batch after {killed_at} changes ({held} message(s) in flight, "
            f"handled again {min(back, default=0):.1f}-{max(back, default=0):.1f} s after "
            f"the kill); "
            f"{seen.received_more_than_once()} event(s) received more than once "
            f"({seen.written_then_ignored()} applied by the killed listener, then ignored "
            f"as duplicates), none applied twice; {len(ids)} users: {comparison.summary()}; "
            f"{dead} dead letters"
        ),
    )
    assert len(events) == EVENTS
    assert not never, f"{len(never)} events never reached the client: {never[:5]}"
    assert comparison.converged, comparison.summary()
    assert not twice, f"events applied more than once: {twice[:5]}"
    assert dead == 0
    assert first.popen.returncode == -signal.SIGKILL
