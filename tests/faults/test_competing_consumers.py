"""Fault 7: two and three listener processes on one queue, updates to the same few users."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import pytest

from devstack import master_ops
from devstack.convergence import wait_converged
from devstack.processes import until
from devstack.stack import Stack
from tests.faults.conftest import AddClient
from tests.faults.support import MasterStream, depth, listeners, outbox_pending, wait_drained
from tests.support.reliability import record

USERS = 10
UPDATES = 50
#: Keep the queue shallow: moto's SQS slows down linearly with queue depth.
MAX_BACKLOG = 40
BATCH = re.compile(r"batch messages=\d+ received=\d+ applied=(\d+) ignored=(\d+)")


def interleaved(ids: list[int]) -> list[Callable[[], object]]:
    """UPDATES rounds, each changing every user once: one user's versions stream steadily."""
    changes: list[Callable[[], object]] = []
    for n in range(UPDATES):
        for k, uid in enumerate(ids):
            fields: dict[str, object] = {"first_name": f"r{n}"}
            if (n + k) % 10 == 0:
                fields["is_active"] = bool(n % 20)  # deactivations and reactivations
            changes.append(lambda uid=uid, fields=fields: master_ops.update_user(uid, **fields))
    return changes


@pytest.mark.parametrize("processes", [2, 3])
def test_competing_listeners_on_one_queue_leave_the_replica_in_the_masters_state(
    stack: Stack, add_client: AddClient, processes: int
):
    # Given a client whose queue is read by several listener processes
    app = add_client(f"compete{processes}", visibility_timeout=10, max_receive_count=10)
    for _ in range(processes - 1):
        app.start_listener()
    prefix = uuid.uuid4().hex[:6]
    ids = [master_ops.create_user(f"{prefix}-{k}", password=None) for k in range(USERS)]

    # When the master streams updates to the same few users, round after round
    def shallow() -> None:
        until(lambda: depth(stack, app.queue_url)[0] < MAX_BACKLOG, timeout=120, interval=0.05)

    writer = MasterStream(interleaved(ids), batch=USERS, paced=shallow)
    writer.start()
    writer.finish()

    # Then the replica equals the master's final state, and nothing was dead-lettered
    until(lambda: outbox_pending() == 0, timeout=60, what="the outbox to be published")
    comparison = wait_converged(app, ids, timeout=120)
    wait_drained(stack, app.queue_url)
    dead = sum(depth(stack, stack.provisioned.dlq_urls[app.name]))
    procs = listeners(app)
    applied = [sum(int(a) for a, _ in BATCH.findall(p.log())) for p in procs]
    ignored = sum(int(i) for p in procs for _, i in BATCH.findall(p.log()))
    sent = USERS * (UPDATES + 1)
    record(
        fault="7. competing consumers",
        test=f"test_competing_listeners_on_one_queue_leave_the_replica_in_the_masters_state"
        f"[{processes}]",
        sent=sent,
        checked=len(ids),
        lost=len(comparison.missing),
        diverged=len(comparison.diverged),
        detail=(
            f"{processes} listeners applied {'/'.join(map(str, applied))} events and ignored "
            f"{ignored} (older than held); {USERS} users x {UPDATES} updates: "
            f"{comparison.summary()}; {dead} dead letters"
        ),
    )
    assert comparison.converged, comparison.summary()
    assert dead == 0
    assert all(p.alive() for p in procs)
    assert sum(applied) + ignored >= sent
