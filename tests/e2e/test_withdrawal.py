"""Issue 13.1: a user who leaves the published set is withdrawn from every client, for real.

Every real part of the session's stack: the master (this process) and its Celery worker,
moto's SNS/SQS over HTTP, redis-server, and two clients each with daphne and a listener.
Each check waits for its condition without failing, so that the outcome is recorded for
docs/reliability.md before anything is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from devstack import master_ops
from devstack.client_app import ClientApp
from devstack.processes import until
from devstack.stack import Stack
from reactive_users.core.contract import Action, decode
from tests.e2e.conftest import in_master, unique
from tests.e2e.test_propagation import next_frame, open_stream, send_raw, wait_drained
from tests.support.reliability import record

pytestmark = pytest.mark.asyncio
PASSWORD = "client-local-pass-1"  # what open_stream gives the user on the client
FAULT = "13.1 staff withdrawal"


def held(app: ClientApp, master_id: int) -> dict[str, Any] | None:
    """The client's replica of ``master_id`` with its local user's fields, or None (every
    replica column: a client without the ``withdrawn`` one fails the checks, not the query)."""
    rows = app.query(
        "SELECT r.*, r.user_id AS local_id, u.username, u.first_name, u.is_active"
        " FROM replica_replica r LEFT JOIN auth_user u ON u.id = r.user_id"
        " WHERE r.master_id = ?",
        (master_id,),
    )
    return dict(rows[0]) if rows else None


def has(row: dict[str, Any] | None, expected: dict[str, Any]) -> bool:
    return row is not None and all(row.get(k) == v for k, v in expected.items())


class Checks:
    """What the test saw: each check holds or not; failures are recorded, then asserted."""

    def __init__(self) -> None:
        self.done: list[tuple[str, bool]] = []

    def add(self, what: str, ok: bool) -> bool:
        self.done.append((what, ok))
        return ok

    async def holds(self, what: str, app: ClientApp, master_id: int, **expected: Any) -> bool:
        """Wait until ``app`` holds ``expected`` for ``master_id``; whether it did."""

        def check() -> bool:
            return has(held(app, master_id), expected)

        return self.add(f"{app.name}: {what}", await waited(check))

    @property
    def failed(self) -> list[str]:
        return [what for what, ok in self.done if not ok]


async def waited(check: Callable[[], Any], timeout: float = 30) -> bool:
    """``until(check)`` in a thread: True once it holds, False if it never did."""
    try:
        await asyncio.to_thread(until, check, timeout=timeout, interval=0.05)
    except AssertionError:
        return False
    return True


async def gone(ws: ClientConnection) -> tuple[dict[str, Any] | None, int | None]:
    """The socket's ``gone`` frame (None if none came) and its close code once closed."""
    frame = None
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        frame = await next_frame(ws, "gone")
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout=10)
    return frame, ws.close_code


def login_refused(app: ClientApp, username: str) -> bool:
    """Whether the client's real login page refuses ``username`` (no session is made)."""
    try:
        app.login(username, PASSWORD)
    except AssertionError:
        return True
    return False


def promote_without_signals(user_id: int) -> None:
    """A promotion written by ``QuerySet.update()``: no signal, no event, no version."""
    from django.contrib.auth.models import User

    User.objects.filter(pk=user_id).update(is_staff=True)


async def test_a_user_who_becomes_staff_is_withdrawn_everywhere_and_comes_back_when_demoted(
    stack: Stack,
):
    clients = [stack.clients["shop"], stack.clients["blog"]]
    endpoint = stack.settings.aws_endpoint_url
    assert endpoint
    checks = Checks()
    old_name, new_name = unique("wd-ada"), unique("wd-ada-renamed")

    # Given a published user, on both clients, with a socket open on each
    ada = await in_master(master_ops.create_user, old_name, first_name="Ada")
    for app in clients:
        await checks.holds("created", app, ada, version=1, username=old_name)
    sockets = [await open_stream(app, old_name) for app in clients]
    for ws in sockets:
        checks.add("state frame", (await next_frame(ws, "state"))["version"] == 1)

    # When the master promotes her to staff, then deactivates her
    await in_master(master_ops.update_user, ada, is_staff=True)
    await in_master(master_ops.update_user, ada, is_active=False)

    # Then each client removed her (a withdrawn marker, no user), each socket got the final
    # frame and was closed, and she can no longer log in on the client
    for app, ws in zip(clients, sockets, strict=True):
        await checks.holds("withdrawn", app, ada, version=2, withdrawn=1, local_id=None)
        frame, code = await gone(ws)
        final_frame = {"type": "gone", "reason": "withdrawn", "version": 2}
        checks.add(f"{app.name}: gone frame", frame == final_frame)
        checks.add(f"{app.name}: socket closed 4001", code == 4001)
        refused = await asyncio.to_thread(login_refused, app, old_name)
        checks.add(f"{app.name}: login refused", refused)

    # When her old created event (an outbox body) is delivered again, late
    bodies = await in_master(master_ops.outbox_bodies, ada)
    for app in clients:
        send_raw(app, endpoint, bodies[0])
        await asyncio.to_thread(wait_drained, app.queue_url, endpoint)
        # Then it does not bring her back
        still = has(held(app, ada), {"version": 2, "withdrawn": 1, "local_id": None})
        checks.add(f"{app.name}: stale create ignored", still)

    # When she is renamed while staff, and a new user takes her old name
    await in_master(master_ops.update_user, ada, username=new_name, first_name="Hidden")
    newcomer = await in_master(master_ops.create_user, old_name, first_name="New")
    # Then the newcomer gets the name on every client, and nobody is parked
    for app in clients:
        await checks.holds("name reused", app, newcomer, version=1, username=old_name)
        parked = app.query("SELECT id FROM auth_user WHERE username = ?", (f"!replica-{ada}",))
        checks.add(f"{app.name}: nobody parked", parked == [])

    # When she is reactivated while staff (nothing published), then demoted
    await in_master(master_ops.update_user, ada, is_active=True)
    await in_master(master_ops.update_user, ada, is_staff=False)
    # Then she is back everywhere, in full, at a higher version, and a new socket works
    sockets = []
    back = {"version": 3, "withdrawn": 0, "username": new_name, "first_name": "Hidden"}
    for app in clients:
        await checks.holds("back", app, ada, is_active=1, **back)
        sockets.append(await open_stream(app, new_name))
    for ws in sockets:
        state = await next_frame(ws, "state")
        checks.add(
            "new socket state", (state["version"], state["user"]["first_name"]) == (3, "Hidden")
        )
    # and her old withdrawal, delivered again late, does not withdraw her again
    withdrawal = (await in_master(master_ops.outbox_bodies, ada))[1]
    for app in clients:
        send_raw(app, endpoint, withdrawal)
        await asyncio.to_thread(wait_drained, app.queue_url, endpoint)
    await in_master(master_ops.update_user, ada, first_name="Ada again")
    for app, ws in zip(clients, sockets, strict=True):
        changed = await next_frame(ws, "changed")
        checks.add(f"{app.name}: socket live after stale withdrawal", changed["version"] == 4)
        await ws.close()

    # When a user the clients hold is promoted without signals, then deleted in the master
    cy = await in_master(master_ops.create_user, unique("wd-cy"), first_name="Cy")
    for app in clients:
        await checks.holds("created", app, cy, version=1)
    await in_master(promote_without_signals, cy)
    await in_master(master_ops.delete_user, cy)
    # Then the delete reaches them though the user was excluded
    for app in clients:
        await checks.holds("deleted while excluded", app, cy, version=2, tombstone=1, local_id=None)

    # Finally: every client holds what the master says of each of them
    final = {
        ada: {"version": 4, "withdrawn": 0, "username": new_name, "first_name": "Ada again"},
        newcomer: {"version": 1, "username": old_name, "first_name": "New"},
        cy: {"version": 2, "tombstone": 1, "local_id": None},
    }
    diverged = [
        f"{app.name}:{uid}"
        for app in clients
        for uid, want in final.items()
        if not has(held(app, uid), want)
    ]
    published = [
        decode(body) for uid in final for body in await in_master(master_ops.outbox_bodies, uid)
    ]
    record(
        fault=FAULT,
        test="test_a_user_who_becomes_staff_is_withdrawn_everywhere_and_comes_back_when_demoted",
        sent=len(published) + 2 * len(clients),
        checked=len(checks.done) + len(final) * len(clients),
        lost=len(checks.failed),
        diverged=len(diverged),
        detail=(
            f"{len(clients)} clients; promote, deactivate, rename while staff, name reused, "
            "demote, delete of a user promoted without signals; 2 stale events replayed per "
            f"client; {len(checks.done)} checks, failed: {checks.failed}; final states "
            f"diverged: {diverged}"
        ),
    )
    assert checks.failed == [] and diverged == []
    # And nothing of the excluded users left the master: their withdrawal and delete are empty
    assert [(e.user_id, e.action, e.version) for e in published] == [
        (ada, Action.CREATED, 1),
        (ada, Action.WITHDRAWN, 2),
        (ada, Action.UPDATED, 3),
        (ada, Action.UPDATED, 4),
        (newcomer, Action.CREATED, 1),
        (cy, Action.CREATED, 1),
        (cy, Action.DELETED, 2),
    ]
    assert [dict(e.user) for e in published if e.action is Action.WITHDRAWN] == [{}]
    assert dict(published[-1].user) == {}
