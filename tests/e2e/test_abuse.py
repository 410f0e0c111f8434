"""Abuse of the web side, on a real daphne: refused at the handshake or ignored, never written.

What is already proven elsewhere is not repeated here: no session, a forged session, a foreign
origin and another user's stream (test_websocket_security.py); an e-mail-like username
(test_propagation.py); hostile text in the page (test_browser.py); the wire (test_wire.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
import uuid
from typing import Any

import boto3
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.http11 import Response

from devstack import master_ops
from devstack.client_app import ClientApp, frame
from devstack.processes import until
from devstack.stack import Stack
from reactive_cli.localstack import WEBSOCKET_MAX_MESSAGE_BYTES
from reactive_users.core.contract import Action, FieldValue, encode, new_event
from tests.e2e.conftest import in_master, unique
from tests.e2e.test_propagation import next_frame, replica, send_raw, wait_drained

pytestmark = pytest.mark.asyncio
PASSWORD = "abuse-pass-1"
#: The largest websocket message a client's daphne takes (its --websocket-max-message-size).
DAPHNE_MAX_MESSAGE_BYTES = WEBSOCKET_MAX_MESSAGE_BYTES


# --- helpers -------------------------------------------------------------------------------


async def replicated_user(app: ClientApp, name: str, **fields: Any) -> int:
    """Create ``name`` in the master and wait until ``app`` holds it; its master id."""
    uid = await in_master(master_ops.create_user, name, **fields)
    await replica(app, uid, username=name)
    return uid


async def session_for(app: ClientApp, username: str) -> str:
    """Client-local credentials for a replicated user, then a real login: the Cookie header."""
    await asyncio.to_thread(app.set_password, username, PASSWORD)
    return await asyncio.to_thread(app.login, username, PASSWORD)


def stream_url(app: ClientApp, username: str) -> str:
    return f"{app.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"


async def open_as(app: ClientApp, username: str, session: str, **options: Any) -> ClientConnection:
    """Open ``username``'s stream with ``session``, from the client's own origin."""
    return await connect(
        stream_url(app, username),
        origin=app.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": session},
        open_timeout=10,
        **options,
    )


async def refusal(app: ClientApp, username: str, session: str) -> Response:
    """The HTTP response of a handshake that must be refused."""
    with pytest.raises(InvalidStatus) as info:
        ws = await open_as(app, username, session)
        await ws.close()
    return info.value.response


async def closed_with(ws: ClientConnection) -> int | None:
    """Read until the server closes the socket; the close code it sent."""
    with contextlib.suppress(ConnectionClosed):
        while True:
            await asyncio.wait_for(ws.recv(), timeout=20)
    return ws.close_code


def rows(app: ClientApp, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [dict(row) for row in app.query(sql, params)]


def local_user(app: ClientApp, master_id: int) -> dict[str, Any]:
    """Every column of the local auth_user row of a replicated user."""
    (row,) = rows(
        app,
        "SELECT u.* FROM auth_user u JOIN replica_replica r ON r.user_id = u.id"
        " WHERE r.master_id = ?",
        (master_id,),
    )
    return row


def snapshot(app: ClientApp, master_ids: list[int], usernames: list[str]) -> dict[str, Any]:
    """Every column of every row a client holds about these master users and usernames."""
    ids, names = ",".join("?" * len(master_ids)), ",".join("?" * len(usernames))
    users = (
        f"SELECT id FROM auth_user WHERE username IN ({names}) OR id IN"
        f" (SELECT user_id FROM replica_replica WHERE master_id IN ({ids}))"
    )
    both = (*usernames, *master_ids)
    return {
        "replica": rows(
            app,
            f"SELECT * FROM replica_replica WHERE master_id IN ({ids}) ORDER BY master_id",
            tuple(master_ids),
        ),
        "auth_user": rows(app, f"SELECT * FROM auth_user WHERE id IN ({users}) ORDER BY id", both),
        "groups": rows(
            app, f"SELECT * FROM auth_user_groups WHERE user_id IN ({users}) ORDER BY id", both
        ),
        "permissions": rows(
            app,
            f"SELECT * FROM auth_user_user_permissions WHERE user_id IN ({users}) ORDER BY id",
            both,
        ),
    }


# --- 1. sessions that no longer hold -------------------------------------------------------

#: Ways a session that once worked stops holding, as ``manage.py shell -c`` code.
INVALIDATE = {
    "expired": (
        "from datetime import timedelta; from django.utils import timezone; "
        "from django.contrib.sessions.models import Session; "
        "n = Session.objects.filter(session_key={key!r})"
        ".update(expire_date=timezone.now() - timedelta(seconds=1)); assert n == 1, n"
    ),
    "deleted": (
        "from django.contrib.sessions.models import Session; "
        "n, _ = Session.objects.filter(session_key={key!r}).delete(); assert n == 1, n"
    ),
    "password-changed": (
        "from django.contrib.auth.models import User; "
        "u = User.objects.get(username={name!r}); u.set_password('changed-pass-2'); u.save()"
    ),
}


@pytest.mark.parametrize("how", sorted(INVALIDATE))
async def test_a_session_that_no_longer_holds_is_refused_at_the_handshake(stack: Stack, how: str):
    shop = stack.clients["shop"]
    name = unique(f"stale-{how}")
    await replicated_user(shop, name, first_name="Secret First", last_name="Secret Last")
    session = await session_for(shop, name)
    # Given a session that opens the user's stream
    async with await open_as(shop, name, session) as ws:
        assert frame(await asyncio.wait_for(ws.recv(), 10))["user"]["username"] == name

    # When it expires, is deleted (as by logging out) or its password hash no longer matches
    key = session.split("=", 1)[1]
    await asyncio.to_thread(shop.manage, "shell", "-c", INVALIDATE[how].format(key=key, name=name))

    # Then the same cookie is refused at the handshake (HTTP 403), no socket, no user data
    response = await refusal(shop, name, session)
    assert response.status_code == 403
    body = response.body.decode(errors="replace")
    assert not [s for s in (name, "Secret First", "Secret Last", "version") if s in body], body


# --- 4. whatever the browser sends ---------------------------------------------------------


def browser_junk(name: str) -> list[str | bytes]:
    """Messages a hostile page could send: frame-shaped JSON, channel messages, noise, up to
    the size daphne takes."""
    fake_user = {"username": name, "first_name": "pwned", "is_active": False, "is_superuser": True}
    changed = {
        "type": "changed",
        "event_id": str(uuid.uuid4()),
        "action": "updated",
        "version": 999,
        "changed": ["first_name"],
        "user": fake_user,
        "occurred_at": "2030-01-01T00:00:00+00:00",
    }
    return [
        json.dumps(changed),
        json.dumps({"type": "user.changed", "frame": changed}),
        json.dumps({"type": "user.gone", "frame": {"type": "gone", "reason": "deleted"}}),
        json.dumps({"type": "user.test", "frame": {"type": "test", "event_id": "x"}}),
        json.dumps({"type": "websocket.disconnect", "code": 1000}),
        json.dumps({"schema": 1, "action": "deleted", "user_id": 1, "version": 2**62}),
        'not json at all {"type": ',
        "\x00\u202e\ufffd" * 100,
        bytes(range(256)) * 8,
        # as large as daphne takes: JSON, then binary
        json.dumps({**changed, "user": {"first_name": "p" * (DAPHNE_MAX_MESSAGE_BYTES - 1024)}}),
        b"\xff" * DAPHNE_MAX_MESSAGE_BYTES,
    ]


async def test_whatever_the_browser_sends_is_ignored_and_nothing_is_written(stack: Stack):
    shop = stack.clients["shop"]
    name = unique("chatty")
    uid = await replicated_user(shop, name, first_name="Quiet", last_name="Before")
    session = await session_for(shop, name)
    # the full size on the wire
    async with await open_as(shop, name, session, compression=None) as ws:
        assert frame(await asyncio.wait_for(ws.recv(), 10))["type"] == "state"
        assert shop.daphne is not None
        log_from = len(shop.daphne.log())
        user_before, replica_before = local_user(shop, uid), shop.replica(uid)

        # When the page sends junk of every shape and size over its own socket
        for message in browser_junk(name):
            await ws.send(message)
        await asyncio.wait_for(await ws.ping(), 10)  # the socket is still open

        # Then it still receives the next real update, and only that
        await in_master(master_ops.update_user, uid, last_name="After")
        changed = frame(await asyncio.wait_for(ws.recv(), 20))
    assert (changed["type"], changed["version"]) == ("changed", 2)
    assert changed["user"]["first_name"] == "Quiet"
    assert changed["user"]["last_name"] == "After"
    # And nothing the browser sent was written: only the real change is in the database
    # (the consumer handles its messages in order, so all the junk was handled by now)
    assert local_user(shop, uid) == {**user_before, "last_name": "After"}
    replica_after = shop.replica(uid)
    assert replica_before is not None and replica_after is not None
    assert replica_after == {**replica_before, "last_name": "After", "version": 2}
    new_log = shop.daphne.log()[log_from:]
    assert "Traceback" not in new_log and " ERROR " not in new_log, new_log[-3000:]


async def test_a_message_over_daphnes_size_limit_drops_only_that_socket(stack: Stack):
    shop = stack.clients["shop"]
    name = unique("huge")
    uid = await replicated_user(shop, name, first_name="Small")
    session = await session_for(shop, name)
    big, other = [await open_as(shop, name, session, compression=None) for _ in range(2)]
    for ws in (big, other):
        assert frame(await asyncio.wait_for(ws.recv(), 10))["type"] == "state"
    user_before = local_user(shop, uid)

    # When one socket sends a message one byte over daphne's limit
    try:
        await big.send("x" * (DAPHNE_MAX_MESSAGE_BYTES + 1))
        # Then daphne drops that connection (autobahn fails a too-big message by dropping the
        # TCP connection, failByDrop, so the client sees 1006 rather than a 1009 frame)...
        assert await closed_with(big) == 1006
        # ...while the user's other socket carries on and gets the next real update
        await in_master(master_ops.update_user, uid, first_name="Still Small")
        assert (await next_frame(other, "changed"))["user"]["first_name"] == "Still Small"
    finally:
        await other.close()
    assert local_user(shop, uid) == {**user_before, "first_name": "Still Small"}
    assert shop.daphne is not None and shop.daphne.alive()


# --- 5. usernames that are no Channels group name -------------------------------------------


def odd_username(kind: str) -> str:
    """A username Django allows (letters, digits, @.+-_, any script; <= 150) of ``kind``."""
    if kind == "plus-at":
        return unique("a+b@c.d")
    if kind == "max-length":
        base = unique("l.o+n_g@")
        return base + "x" * (150 - len(base))
    return unique("zoë.ñandú+用户@例子.测试")  # NFKC-stable, as Django's login form wants


@pytest.mark.parametrize("kind", ["plus-at", "max-length", "non-ascii"])
async def test_usernames_that_are_no_group_name_stream_end_to_end(stack: Stack, kind: str):
    shop = stack.clients["shop"]
    name = odd_username(kind)
    uid = await replicated_user(shop, name, first_name="Odd")
    async with await open_as(shop, name, await session_for(shop, name)) as ws:
        state = await next_frame(ws, "state")
        assert state["user"]["username"] == name
        await in_master(master_ops.update_user, uid, first_name="Odd Two")
        changed = await next_frame(ws, "changed")
    assert (changed["user"]["username"], changed["user"]["first_name"]) == (name, "Odd Two")


# --- 6. many sockets of one user -----------------------------------------------------------

#: As many as one user may hold on one daphne (REACTIVE_WS_MAX_SOCKETS_PER_USER's default).
SOCKETS = 20


async def test_every_socket_of_a_user_gets_every_rename_in_version_order(stack: Stack):
    shop = stack.clients["shop"]
    name = unique("many")
    uid = await replicated_user(shop, name, first_name="Many 0")
    session = await session_for(shop, name)
    # Given 20 sockets of the same user on one daphne, each past its state frame
    sockets = await asyncio.gather(*(open_as(shop, name, session) for _ in range(SOCKETS)))
    try:
        for ws in sockets:
            assert frame(await asyncio.wait_for(ws.recv(), 20))["version"] == 1

        # When the master renames the user three times, one after the other
        names = [unique(f"many{i}") for i in (1, 2, 3)]
        for i, new in enumerate(names, start=1):
            await in_master(master_ops.update_user, uid, username=new, first_name=f"Many {i}")
            await replica(shop, uid, username=new, version=1 + i)

        # Then each socket got exactly the three changes, in version order, none lost
        for ws in sockets:
            got = [frame(await asyncio.wait_for(ws.recv(), 20)) for _ in names]
            assert [(f["type"], f["version"]) for f in got] == [("changed", v) for v in (2, 3, 4)]
            assert [f["user"]["username"] for f in got] == names
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))


# --- 9. synthetic events never write -------------------------------------------------------


def synthetic(action: Action, user_id: int, version: int, **user: FieldValue) -> str:
    """A synthetic event as ``reactive emit-test`` builds it, with any payload."""
    event = new_event(
        action=action,
        user_id=user_id,
        version=version,
        user=user,
        changed=tuple(sorted(user)),
        synthetic=True,
    )
    return encode(event)


def dead_letters_until(sqs: Any, dlq_url: str, event_id: str) -> list[str]:
    """The bodies read from a dead-letter queue (nobody else reads it in this suite) until
    one carries ``event_id``. moto moves a message there on the receive after its last, a
    moment after the main queue stops counting it: one read could come too early."""
    bodies: list[str] = []

    def arrived() -> bool:
        while got := sqs.receive_message(QueueUrl=dlq_url, MaxNumberOfMessages=10).get("Messages"):
            bodies.extend(m["Body"] for m in got)
        return event_id in dead_ids(bodies)

    until(arrived, timeout=30, interval=0.2, what=f"event {event_id} in the dead-letter queue")
    return bodies


async def test_synthetic_events_never_change_a_client_database_whatever_their_payload(
    stack: Stack,
):
    shop, endpoint = stack.clients["shop"], stack.settings.aws_endpoint_url
    assert endpoint is not None
    # Given a live replicated user with an open socket, and a deleted one (a tombstone)
    live_name, gone_name = unique("synth"), unique("synth-gone")
    live = await replicated_user(shop, live_name, first_name="Real", email="real@example.com")
    gone = await replicated_user(shop, gone_name)
    await in_master(master_ops.delete_user, gone)
    await replica(shop, gone, tombstone=1, version=2)
    # (closed whatever happens: a socket left open fails a later test as a ResourceWarning)
    async with await open_as(shop, live_name, await session_for(shop, live_name)) as ws:
        assert (await next_frame(ws, "state"))["version"] == 1
        newcomer, zombie = unique("synth-new"), unique("synth-zombie")
        new_id = 10**12 + uuid.uuid4().int % 10**9  # a master id no client has seen
        watched = ([live, gone, new_id], [live_name, gone_name, newcomer, zombie])
        before = snapshot(shop, *watched)
        assert len(before["replica"]) == 2 and len(before["auth_user"]) == 1

        # When synthetic events with hostile payloads land in the shop's queue
        hostile = {
            "delete the live user": synthetic(Action.DELETED, live, 2, username=live_name),
            "overwrite and promote": synthetic(
                Action.UPDATED,
                live,
                3,
                username=live_name,
                first_name="pwned",
                last_name="pwned",
                email="pwned@evil.example",
                is_active=False,
                is_superuser=True,
                is_staff=True,
                password="pbkdf2_sha256$1$salt$hash",
            ),
            "rename at the largest version": synthetic(
                Action.UPDATED, live, 2**63 - 1, username=newcomer, first_name="Huge"
            ),
            "create a new user": synthetic(
                Action.CREATED, new_id, 1, username=newcomer, first_name="New", is_active=True
            ),
            "resurrect the deleted user": synthetic(
                Action.CREATED, gone, 99, username=zombie, is_active=True
            ),
            "take the live user's name": synthetic(Action.UPDATED, new_id, 5, username=live_name),
        }
        too_big = json.loads(hostile["delete the live user"])
        too_big.update(event_id=str(uuid.uuid4()), version=10**30)  # no contract accepts it
        send_raw(shop, endpoint, *hostile.values(), json.dumps(too_big))
        # ...and the listener has handled every one of them
        await asyncio.to_thread(wait_drained, shop.queue_url, endpoint)

        # Then the client holds exactly what it held, byte for byte, and no new user
        assert snapshot(shop, *watched) == before
        # The invalid one went to the dead-letter queue, none of the valid ones did
        sqs = boto3.client("sqs", endpoint_url=endpoint)
        dlq_url = stack.provisioned.dlq_urls["shop"]
        dead = await asyncio.to_thread(dead_letters_until, sqs, dlq_url, too_big["event_id"])
        ids = {json.loads(body)["event_id"] for body in hostile.values()}
        assert not ids & dead_ids(dead)
        # The live user's socket got the three events about it as test frames, and stays open
        mine = {json.loads(hostile[k])["event_id"] for k in list(hostile)[:3]}
        seen = [frame(await asyncio.wait_for(ws.recv(), 20)) for _ in mine]
        assert {f["type"] for f in seen} == {"test"} and {f["event_id"] for f in seen} == mine
        # and the next real change is the next frame, applied over the untouched version 1
        await in_master(master_ops.update_user, live, first_name="Real Two")
        changed = frame(await asyncio.wait_for(ws.recv(), 20))
        assert (changed["type"], changed["version"]) == ("changed", 2)
        assert changed["user"] == {
            "username": live_name,
            "email": "real@example.com",
            "first_name": "Real Two",
            "last_name": "",
            "is_active": True,
        }
        await replica(shop, live, first_name="Real Two", version=2)


def dead_ids(bodies: list[str]) -> set[str]:
    """The event ids of dead-letter bodies that are JSON objects with one."""
    ids: set[str] = set()
    for body in bodies:
        with contextlib.suppress(ValueError):
            value = json.loads(body)
            if isinstance(value, dict) and isinstance(value.get("event_id"), str):
                ids.add(value["event_id"])
    return ids
