"""The user stream websocket, in process, over the real Redis channel layer (consumers.py)."""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import quote

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from client.asgi import application
from reactive_users.client.apply import event_apply
from reactive_users.core import naming
from reactive_users.core.contract import Action, new_event
from tests.client.support import user_event

pytestmark = [pytest.mark.asyncio, pytest.mark.django_db(transaction=True)]

GROUP = naming.user_group(7)


@sync_to_async
def replicate(username: str = "ana", *, user_id: int = 7, version: int = 3) -> User:
    """A replicated user, made the real way: by applying an event."""
    event_apply(event=user_event(user_id=user_id, version=version, username=username))
    return User.objects.get(username=username)


@sync_to_async
def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


async def open_stream(
    username: str, *, user: User | None = None, origin: bytes | None = b"http://localhost:8001"
) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, f"/ws/users/{quote(username, safe='')}/", headers)


async def connected(username: str, user: User) -> WebsocketCommunicator:
    """An accepted stream whose state frame has been read."""
    stream = await open_stream(username, user=user)
    ok, _ = await stream.connect()
    assert ok
    assert (await stream.receive_json_from())["type"] == "state"
    return stream


async def test_the_own_stream_is_accepted_and_gets_the_state_frame_first(layer_prefix):
    ana = await replicate("ana", version=3)
    stream = await open_stream("ana", user=ana)

    ok, _ = await stream.connect()

    assert ok
    assert await stream.receive_json_from() == {
        "type": "state",
        "version": 3,
        "user": {
            "username": "ana",
            "email": "ana@example.com",
            "first_name": "Ana",
            "last_name": "Silva",
            "is_active": True,
        },
    }
    await stream.disconnect()


async def test_an_anonymous_socket_is_refused(layer_prefix):
    await replicate("ana")
    stream = await open_stream("ana")

    ok, _ = await stream.connect()

    assert not ok


async def test_a_user_asking_for_another_users_stream_is_refused(layer_prefix):
    ana = await replicate("ana", user_id=7)
    await replicate("bob", user_id=8)
    stream = await open_stream("bob", user=ana)

    ok, _ = await stream.connect()

    assert not ok


async def test_a_foreign_origin_is_refused(layer_prefix):
    ana = await replicate("ana")
    stream = await open_stream("ana", user=ana, origin=b"http://evil.example")

    ok, _ = await stream.connect()

    assert not ok


async def test_a_socket_without_origin_is_refused(layer_prefix):
    ana = await replicate("ana")
    stream = await open_stream("ana", user=ana, origin=None)

    ok, _ = await stream.connect()

    assert not ok


async def test_a_client_local_user_without_replica_is_refused(layer_prefix):
    local = await sync_to_async(User.objects.create_user)("carol", password="x")
    stream = await open_stream("carol", user=local)

    ok, _ = await stream.connect()

    assert not ok


async def test_a_user_changed_group_send_reaches_the_socket(layer_prefix):
    stream = await connected("ana", await replicate("ana"))
    frame = {"type": "changed", "version": 4, "user": {"first_name": "Ann"}}

    await get_channel_layer().group_send(GROUP, {"type": "user.changed", "frame": frame})

    assert await stream.receive_json_from(timeout=3) == frame
    await stream.disconnect()


async def test_a_user_test_group_send_reaches_the_socket(layer_prefix):
    stream = await connected("ana", await replicate("ana"))
    frame = {"type": "test", "event_id": "e-1", "version": 1}

    await get_channel_layer().group_send(GROUP, {"type": "user.test", "frame": frame})

    assert await stream.receive_json_from(timeout=3) == frame
    await stream.disconnect()


async def test_a_test_frame_is_acknowledged_to_the_emitters_reply_group(layer_prefix):
    stream = await connected("ana", await replicate("ana"))
    layer = get_channel_layer()
    event_id = str(uuid.uuid4())
    emitter = await layer.new_channel()
    await layer.group_add(naming.emit_reply_group(event_id), emitter)
    frame = {"type": "test", "event_id": event_id, "version": 1}
    before = time.time()

    await layer.group_send(GROUP, {"type": "user.test", "frame": frame})

    assert await stream.receive_json_from(timeout=3) == frame
    ack = await asyncio.wait_for(layer.receive(emitter), 3)
    assert {k: ack[k] for k in ("type", "hop", "event_id", "client")} == {
        "type": "emit.ack",
        "hop": "socket",
        "event_id": event_id,
        "client": "shop",
    }
    assert isinstance(ack["channel"], str) and ack["channel"]  # the socket's own channel
    assert before <= ack["at"] <= time.time()
    await stream.disconnect()


async def test_a_test_frame_whose_ack_cannot_be_addressed_still_reaches_the_socket(
    layer_prefix, caplog
):
    stream = await connected("ana", await replicate("ana"))
    frame = {"type": "test", "event_id": "not-a-uuid", "version": 1}

    await get_channel_layer().group_send(GROUP, {"type": "user.test", "frame": frame})

    assert await stream.receive_json_from(timeout=3) == frame
    await get_channel_layer().group_send(GROUP, {"type": "user.test", "frame": frame})
    assert await stream.receive_json_from(timeout=3) == frame  # the socket carries on
    assert "test event not-a-uuid: ack not sent" in caplog.text
    await stream.disconnect()


async def test_user_gone_delivers_the_final_frame_and_closes(layer_prefix):
    stream = await connected("ana", await replicate("ana"))
    frame = {"type": "gone", "reason": "deleted", "version": 4}

    await get_channel_layer().group_send(GROUP, {"type": "user.gone", "frame": frame})

    assert await stream.receive_json_from(timeout=3) == frame
    assert await stream.receive_output(timeout=3) == {"type": "websocket.close", "code": 4001}


async def test_a_message_sent_by_the_browser_is_ignored_and_the_socket_stays_healthy(layer_prefix):
    stream = await connected("ana", await replicate("ana"))

    await stream.send_to(text_data="not json at all")
    await stream.send_json_to({"type": "changed", "user": {"first_name": "Hacker"}})
    await stream.send_to(bytes_data=b"\x00\x01")

    assert await stream.receive_nothing(timeout=0.2)
    frame = {"type": "changed", "version": 4, "user": {}}
    await get_channel_layer().group_send(GROUP, {"type": "user.changed", "frame": frame})
    assert await stream.receive_json_from(timeout=3) == frame
    assert await sync_to_async(lambda: User.objects.get(username="ana").first_name)() == "Ana"
    await stream.disconnect()


async def test_a_username_django_allows_works_url_encoded(layer_prefix):
    name = "ana.maria+test@example.com"
    stream = await open_stream(name, user=await replicate(name))
    assert stream.scope["path"] == f"/ws/users/{name}/"  # decoded, as daphne hands it over

    ok, _ = await stream.connect()

    assert ok
    assert (await stream.receive_json_from())["user"]["username"] == name
    await stream.disconnect()


async def test_disconnect_leaves_the_group(layer_prefix, redis_url):
    stream = await connected("ana", await replicate("ana"))
    members = redis.Redis.from_url(redis_url)
    key = f"{layer_prefix}:group:{GROUP}"
    assert members.zcard(key) == 1

    await stream.disconnect()

    assert members.zcard(key) == 0
    members.close()


async def test_a_deleted_users_stream_is_refused_on_reconnect(layer_prefix):
    stream = await open_stream("ana", user=await replicate("ana", version=1))  # logged in
    await sync_to_async(event_apply)(event=user_event(version=2, action=Action.DELETED))

    ok, _ = await stream.connect()

    assert not ok


async def test_a_withdrawn_users_socket_gets_the_final_frame_and_cannot_come_back(layer_prefix):
    user = await replicate("ana", version=3)
    stream = await connected("ana", user)
    reopened = await open_stream("ana", user=user)  # the same session, for later

    # When the master withdraws the user, as the listener hands the result to the layer
    withdrawn = new_event(action=Action.WITHDRAWN, user_id=7, version=4, user={})
    result = await sync_to_async(event_apply)(event=withdrawn)
    for message in result.messages:
        await get_channel_layer().group_send(result.group, message)

    # Then the socket gets the final frame with its reason and is closed for good
    assert await stream.receive_json_from(timeout=3) == {
        "type": "gone",
        "reason": "withdrawn",
        "version": 4,
    }
    assert await stream.receive_output(timeout=3) == {"type": "websocket.close", "code": 4001}
    # And the same session cannot open the stream again: its user is gone from this client
    ok, _ = await reopened.connect()
    assert not ok


@pytest.mark.parametrize("path", ["/anything", "/ws/users/a/b/", "/ws/users//", "/ws/users/a"])
async def test_an_unknown_path_is_refused_at_the_handshake(path, caplog):
    stream = WebsocketCommunicator(
        application, path, [(b"host", b"localhost"), (b"origin", b"http://localhost:8001")]
    )

    ok, _ = await stream.connect()

    assert not ok
    assert "No route found" not in caplog.text


@pytest.mark.parametrize(
    "origin", [b"http://localhost:9999", b"https://localhost:8001", b"http://localhost"]
)
async def test_another_port_or_scheme_of_the_allowed_host_is_refused(layer_prefix, origin):
    ana = await replicate("ana")
    stream = await open_stream("ana", user=ana, origin=origin)

    ok, _ = await stream.connect()

    assert not ok


async def test_past_the_per_user_cap_a_socket_is_accepted_then_closed_with_4429(
    layer_prefix, settings, caplog
):
    settings.REACTIVE_WS_MAX_SOCKETS_PER_USER = 2
    ana = await replicate("ana")
    held = [await connected("ana", ana) for _ in range(2)]
    extra = await open_stream("ana", user=ana)

    ok, _ = await extra.connect()

    assert ok  # accepted only to give the close code, and nothing is sent
    assert await extra.receive_output(timeout=3) == {"type": "websocket.close", "code": 4429}
    assert f"refused a socket of user {ana.pk}: 2 open in this process" in caplog.text
    await held.pop().disconnect()
    held.append(await connected("ana", ana))  # a closed socket made room for one more
    for stream in held:
        await stream.disconnect()


async def me_stream(
    user: User | None, *, origin: bytes | None = b"http://localhost:8001"
) -> WebsocketCommunicator:
    """``/ws/users/me/``: the logged-in user's own stream, no username in the URL."""
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if user is not None:
        headers.append((b"cookie", await session_cookie(user)))
    return WebsocketCommunicator(application, "/ws/users/me/", headers)


async def test_the_me_stream_is_the_logged_in_users_own_with_no_username_in_the_url(
    layer_prefix,
):
    # Given two replicated users, bob logged in
    await replicate("ana", user_id=7, version=3)
    bob = await replicate("bob", user_id=8, version=5)
    stream = await me_stream(bob)

    ok, _ = await stream.connect()

    # Then his socket on /ws/users/me/ carries his state, not anyone else's
    assert ok
    first = await stream.receive_json_from()
    assert (first["type"], first["version"], first["user"]["username"]) == ("state", 5, "bob")
    await get_channel_layer().group_send(
        naming.user_group(8),
        {"type": "user.changed", "frame": {"type": "changed", "version": 6, "user": {}}},
    )
    assert (await stream.receive_json_from(timeout=3))["version"] == 6
    await stream.disconnect()


@pytest.mark.parametrize(
    ("who", "origin"),
    [("anonymous", b"http://localhost:8001"), ("ana", b"http://evil.example"), ("ana", None)],
    ids=["anonymous", "foreign-origin", "no-origin"],
)
async def test_the_me_stream_keeps_the_session_and_origin_rules(layer_prefix, who, origin):
    ana = await replicate("ana")
    stream = await me_stream(None if who == "anonymous" else ana, origin=origin)

    ok, _ = await stream.connect()

    assert not ok


async def test_the_me_stream_refuses_a_client_local_user_without_replica(layer_prefix):
    local = await sync_to_async(User.objects.create_user)("carol", password="x")
    stream = await me_stream(local)

    ok, _ = await stream.connect()

    assert not ok
