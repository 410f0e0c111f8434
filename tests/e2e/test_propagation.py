"""A change in the master reaches both clients' databases and the user's open sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse

import boto3
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from devstack import master_ops
from devstack.client_app import ClientApp, frame, wait_for_replica
from devstack.processes import until
from devstack.signing import attributes as signed
from devstack.stack import Stack
from reactive_users.core.aws import queues
from reactive_users.core.contract import Action, encode, new_event
from tests.e2e.conftest import in_master, unique

pytestmark = pytest.mark.asyncio
PASSWORD = "client-local-pass-1"


async def replica(app: ClientApp, master_id: int, **expected) -> dict:
    return await asyncio.to_thread(wait_for_replica, app, master_id, **expected)


async def open_stream(app: ClientApp, username: str) -> ClientConnection:
    """Log in to the client as ``username`` and open that user's own stream."""
    await asyncio.to_thread(app.set_password, username, PASSWORD)
    session = await asyncio.to_thread(app.login, username, PASSWORD)
    path = f"/ws/users/{urllib.parse.quote(username, safe='')}/"
    return await connect(
        app.ws_url + path, additional_headers={"Cookie": session}, origin=app.url, open_timeout=10
    )


async def next_frame(ws: ClientConnection, type_: str) -> dict:
    """The next frame of ``type_`` (test frames from other tests are skipped)."""
    while True:
        msg = frame(await asyncio.wait_for(ws.recv(), timeout=20))
        if msg["type"] == type_:
            return msg


async def closed(ws: ClientConnection) -> int | None:
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout=20)
    return ws.close_code


async def test_a_user_lifecycle_reaches_both_clients_and_their_open_sockets(stack: Stack):
    shop, blog = stack.clients["shop"], stack.clients["blog"]
    name = unique("ada")
    # Given a master user, replicated to both clients, with a socket open on each
    uid = await in_master(master_ops.create_user, name, first_name="Ada", email="ada@example.com")
    for app in (shop, blog):
        row = await replica(app, uid, username=name, first_name="Ada", version=1)
        assert row["password"].startswith("!"), "replicated users get an unusable password"
    sockets = [await open_stream(app, name) for app in (shop, blog)]
    for ws in sockets:
        state = await next_frame(ws, "state")
        assert (state["version"], state["user"]["first_name"]) == (1, "Ada")

    # When the master renames the user, each database and each socket sees it
    new_name = unique("ada.lovelace+x@example.com")
    await in_master(master_ops.update_user, uid, username=new_name, first_name="Augusta")
    for app, ws in zip((shop, blog), sockets, strict=True):
        await replica(app, uid, username=new_name, first_name="Augusta", version=2)
        changed = await next_frame(ws, "changed")
        assert changed["version"] == 2 and changed["user"]["username"] == new_name
        assert set(changed["changed"]) == {"username", "first_name"}

    # When deactivated: databases follow, and every socket gets a final frame and is closed
    await in_master(master_ops.update_user, uid, is_active=False)
    for app, ws in zip((shop, blog), sockets, strict=True):
        await replica(app, uid, is_active=0, version=3)
        gone = await next_frame(ws, "gone")
        assert (gone["reason"], gone["version"]) == ("deactivated", 3)
        assert await closed(ws) is not None

    # When reactivated: databases follow and the user can open the stream again
    await in_master(master_ops.update_user, uid, is_active=True)
    for app in (shop, blog):
        await replica(app, uid, is_active=1, version=4)
    sockets = [await open_stream(app, new_name) for app in (shop, blog)]
    for ws in sockets:
        assert (await next_frame(ws, "state"))["version"] == 4

    # When deleted: each client drops the user but keeps a tombstone; sockets are closed
    await in_master(master_ops.delete_user, uid)
    for app, ws in zip((shop, blog), sockets, strict=True):
        row = await replica(app, uid, tombstone=1, version=5)
        assert row["local_id"] is None
        assert (await next_frame(ws, "gone"))["reason"] == "deleted"
        assert await closed(ws) is not None


async def test_usernames_that_are_not_channels_group_names_work_end_to_end(stack: Stack):
    shop = stack.clients["shop"]
    name = f"ana.maria+{unique('t')}@example.com"
    uid = await in_master(master_ops.create_user, name, first_name="Ana")
    await replica(shop, uid, username=name)
    async with await open_stream(shop, name) as ws:
        assert (await next_frame(ws, "state"))["user"]["username"] == name
        await in_master(master_ops.update_user, uid, first_name="Ana Maria")
        assert (await next_frame(ws, "changed"))["user"]["first_name"] == "Ana Maria"


def wait_drained(queue_url: str, endpoint: str) -> None:
    """Wait until the queue holds no message, visible or in flight."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)

    def empty() -> bool:
        found = queues.queue_depth(sqs, queue_url)
        return found.visible == found.in_flight == 0

    until(empty, timeout=30, interval=0.1, what="the queue to drain")


def send_raw(app: ClientApp, endpoint: str, *bodies: str) -> None:
    """Send each body straight to the client's queue, signed as the master signs (a
    redelivery of its own events; unsigned ones are tests/e2e/test_topic_signing.py's)."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    for body in bodies:
        sqs.send_message(QueueUrl=app.queue_url, MessageBody=body, MessageAttributes=signed(body))


async def test_duplicates_reordering_and_late_updates_leave_the_client_in_the_masters_state(
    stack: Stack,
):
    shop, endpoint = stack.clients["shop"], stack.settings.aws_endpoint_url
    master_id = 900_000 + int.from_bytes(unique("x").encode()[-3:], "big") % 90_000
    name = unique("replay")

    def event(action: Action, version: int, first_name: str) -> str:
        user = {
            "username": name,
            "email": "",
            "first_name": first_name,
            "last_name": "",
            "is_active": True,
        }
        return encode(
            new_event(
                action=action,
                user_id=master_id,
                version=version,
                user=user,
                changed=("first_name",),
            )
        )

    created, v2, v3 = (
        event(Action.CREATED, 1, "one"),
        event(Action.UPDATED, 2, "two"),
        event(Action.UPDATED, 3, "three"),
    )
    # Given the same event twice and an older event after a newer one
    send_raw(shop, endpoint, created, created, v3)
    await replica(shop, master_id, first_name="three", version=3)
    send_raw(shop, endpoint, v2, created)
    # Then the newest state holds (a marker event proves the stale ones were processed)
    marker = event(Action.DELETED, 4, "three")
    send_raw(shop, endpoint, marker)
    await replica(shop, master_id, tombstone=1, version=4)
    # When an update arrives after the delete, it does not resurrect the user
    send_raw(shop, endpoint, event(Action.UPDATED, 5, "zombie"), event(Action.CREATED, 6, "z"))
    await asyncio.to_thread(wait_drained, shop.queue_url, endpoint)
    row = shop.replica(master_id)
    assert row is not None and (row["tombstone"], row["version"], row["local_id"]) == (1, 4, None)


async def test_a_malformed_message_does_not_stop_the_listener(stack: Stack):
    shop = stack.clients["shop"]
    # Given garbage, a non-event JSON and a wrong schema in the queue, then a real change
    send_raw(
        shop,
        stack.settings.aws_endpoint_url,
        "not json at all",
        json.dumps({"hi": 1}),
        json.dumps({"schema": 99}),
    )
    name = unique("after-poison")
    uid = await in_master(master_ops.create_user, name, first_name="Valid")
    # Then the valid change is applied and the listener is still running
    await replica(shop, uid, first_name="Valid")
    assert shop.listener is not None and shop.listener.alive()
