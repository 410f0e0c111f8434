"""One client's daphne holding hundreds of sockets through handshake and close storms.

The daphne is started with the project's own command line (``localstack.client_daphne``, so
with its message cap) and the project's channel layer, on the shop client's database and
Redis, beside the stack's daphnes. Its Redis connections carry a name (``client_name`` in
the URL, which redis-py sends as CLIENT SETNAME), so ``CLIENT LIST`` tells them apart.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels_redis.core import RedisChannelLayer
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from devstack import master_ops
from devstack.client_app import ClientApp, frame
from devstack.processes import Proc, free_port, port_open, until
from devstack.stack import Stack
from reactive_cli.localstack import WEBSOCKET_MAX_MESSAGE_BYTES, client_daphne
from reactive_users.client.frames import changed_frame
from reactive_users.core.contract import MAX_BODY_BYTES, MAX_VALUE_CHARS, Action, encode, new_event
from tests.e2e.conftest import in_master, unique
from tests.e2e.test_abuse import closed_with, replicated_user
from tests.e2e.test_propagation import next_frame

PASSWORD = "fanout-pass-1"
#: Users, and sockets each: 320 sockets on one daphne.
USERS, PER_USER = 4, 80
#: Handshakes in flight at a time, as ``bench/sockets.py`` gates its crowd.
GATE = 50
#: Sockets closed at once while as many new ones open.
CHURN = 160
#: What daphne's log must never hold: the pool overflowing, a consumer or handshake dying.
FAILURES = ("MaxConnectionsError", "Too many connections", "Traceback", "Exception inside")
#: The client fields a frame's ``user`` can carry text in (django.contrib.auth's User).
TEXT_FIELDS = ("username", "email", "first_name", "last_name")


@dataclass
class Daphne:
    """The daphne under test: its process, port and the name of its Redis connections."""

    proc: Proc
    port: int
    redis_name: str

    def stream_url(self, username: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/users/{urllib.parse.quote(username, safe='')}/"

    def failures(self) -> list[str]:
        """Lines of its log that name a failure."""
        return [line for line in self.proc.log().splitlines() if any(f in line for f in FAILURES)]


@pytest.fixture(scope="module")
def daphne(stack: Stack) -> Iterator[Daphne]:
    shop = stack.clients["shop"]
    name, port = f"fanout-{uuid.uuid4().hex[:8]}", free_port()
    # Each user's sockets, and the churn's new ones opening while the old ones close: no cap.
    cap = str(PER_USER + CHURN // USERS)
    env = {
        **shop.env,
        "REDIS_URL": f"{shop.env['REDIS_URL']}?client_name={name}",
        "REACTIVE_WS_MAX_SOCKETS_PER_USER": cap,
    }
    proc = Proc(f"daphne-{name}", client_daphne(sys.executable, port), env, shop.log_dir)
    try:
        proc.wait_ready(lambda: port_open(port), timeout=30)
        yield Daphne(proc=proc, port=port, redis_name=name)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def redis_client(stack: Stack) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(stack.clients["shop"].env["REDIS_URL"])
    try:
        yield client
    finally:
        client.close()


# --- helpers -------------------------------------------------------------------------------


async def logged_in(app: ClientApp, names: list[str]) -> dict[str, str]:
    """Client-local passwords for replicated users (one shell), then real logins: cookies."""
    code = (
        "from django.contrib.auth.models import User\n"
        f"for u in User.objects.filter(username__in={names!r}):\n"
        f"    u.set_password({PASSWORD!r}); u.save()"
    )
    await asyncio.to_thread(app.manage, "shell", "-c", code)
    cookies = [await asyncio.to_thread(app.login, name, PASSWORD) for name in names]
    return dict(zip(names, cookies, strict=True))


async def open_socket(
    daphne: Daphne, origin: str, username: str, cookie: str, gate: asyncio.Semaphore
) -> ClientConnection | str:
    """Open ``username``'s stream and read its state frame: the socket, or why it failed."""
    async with gate:
        try:
            ws = await connect(
                daphne.stream_url(username),
                origin=origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": cookie},
                open_timeout=60,
                compression=None,
            )
        except InvalidStatus as exc:
            return f"{username}: HTTP {exc.response.status_code}"
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            return f"{username}: {type(exc).__name__}: {exc}"
        try:
            state = frame(await asyncio.wait_for(ws.recv(), 60))
        except Exception as exc:  # counted and reported below, as a socket that failed
            await ws.close()
            return f"{username}: no state frame: {type(exc).__name__}: {exc}"
    if (state["type"], state["user"]["username"]) != ("state", username):
        await ws.close()
        return f"{username}: first frame {state}"
    return ws


async def open_crowd(
    daphne: Daphne, origin: str, cookies: dict[str, str], per_user: int
) -> tuple[list[tuple[str, ClientConnection]], list[str]]:
    """``per_user`` sockets of every user, ``GATE`` handshakes at a time: (open, failures)."""
    gate = asyncio.Semaphore(GATE)
    names = [name for name in cookies for _ in range(per_user)]
    got = await asyncio.gather(*(open_socket(daphne, origin, n, cookies[n], gate) for n in names))
    opened = [(n, ws) for n, ws in zip(names, got, strict=True) if not isinstance(ws, str)]
    return opened, [ws for ws in got if isinstance(ws, str)]


def blocked_receive(client: redis.Redis, name: str) -> tuple[int, int] | None:
    """The connection named ``name`` blocked in channels-redis's receive: (id, age in s)."""
    for entry in client.client_list():
        if entry.get("name") == name and entry.get("cmd") == "bzpopmin":
            return int(entry["id"]), int(entry["age"])
    return None


def wait_for_empty_receives(client: redis.Redis, name: str, count: int) -> None:
    """Wait until one connection of ``name`` sat through ``count`` receives that found nothing.

    An idle receive blocks ``brpop_timeout`` s in Redis, comes back empty and blocks again
    on the same connection. A connection whose receive failed is closed, and the next
    receive blocks on a new one: the wait starts over then, so ``until`` fails.
    """
    need = count * int(RedisChannelLayer.brpop_timeout) + 1
    since: dict[int, int] = {}  # connection id -> its age when first seen blocked

    def held() -> bool:
        now = blocked_receive(client, name)
        if now is None:
            return False
        first = since.setdefault(now[0], now[1])
        return now[1] - first >= need

    until(held, timeout=need + 30, interval=0.2, what=f"a receive of {name} to hold {need} s")


# --- the crowd -----------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_daphne_holds_hundreds_of_sockets_through_handshake_and_close_storms(
    stack: Stack, daphne: Daphne, redis_client: redis.Redis
):
    shop = stack.clients["shop"]
    names = [unique(f"crowd{i}") for i in range(USERS)]
    uids = {name: await replicated_user(shop, name, first_name="Crowd") for name in names}
    cookies = await logged_in(shop, names)

    # Given 320 sockets on one daphne, opened 50 handshakes at a time, each past its state frame
    crowd, failed = await open_crowd(daphne, shop.url, cookies, PER_USER)
    try:
        assert not failed, failed[:10]
        # When half of them close at once while as many new ones open
        leaving, crowd = crowd[:CHURN], crowd[CHURN:]
        closing = asyncio.gather(*(ws.close() for _, ws in leaving))
        opening = open_crowd(daphne, shop.url, cookies, CHURN // USERS)
        _, (joined, failed) = await asyncio.gather(closing, opening)
        crowd += joined
        assert not failed, failed[:10]
        # ...and all sit idle through two receives that come back empty
        await asyncio.to_thread(wait_for_empty_receives, redis_client, daphne.redis_name, 2)

        # Then one change of each user reaches every one of its sockets, none lost
        for uid in uids.values():
            await in_master(master_ops.update_user, uid, first_name="Crowd Two")
        got = await asyncio.gather(*(next_frame(ws, "changed") for _, ws in crowd))
    finally:
        await asyncio.gather(*(ws.close() for _, ws in crowd))
    assert len(got) == USERS * PER_USER
    assert [(f["user"]["username"], f["version"]) for f in got] == [(n, 2) for n, _ in crowd]
    # And daphne never ran out of Redis connections, nor lost a handshake or a consumer
    assert daphne.proc.alive()
    assert not daphne.failures(), daphne.failures()[:10]


# --- the message cap -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_the_largest_frame_the_contract_allows_fits_under_the_message_cap():
    # Given the largest "changed" frame: the four text fields the client holds, each 1,024
    # emoji (12 bytes of escaped JSON apiece), and a changed list as long as an event allows
    held: dict[str, str | bool] = dict.fromkeys(TEXT_FIELDS, "\U0001f600" * MAX_VALUE_CHARS)
    held |= {"is_active": True, "date_joined": "2026-01-01 00:00:00.000000+00:00"}
    bare = new_event(action=Action.UPDATED, user_id=1, version=2**63 - 1, user={"username": "u"})
    room = MAX_BODY_BYTES - len(encode(bare).encode())
    changed = tuple(f"f{i:062d}" for i in range((room - 2) // 66))  # 63 chars + '"",' each
    event = new_event(
        action=Action.UPDATED,
        user_id=1,
        version=2**63 - 1,
        user={"username": "u"},
        changed=changed,
    )
    assert len(encode(event).encode()) <= MAX_BODY_BYTES  # a valid event

    # When the consumer encodes it, it is within what autobahn lets daphne send
    sent = await AsyncJsonWebsocketConsumer.encode_json(changed_frame(event=event, user=held))
    assert len(sent.encode()) <= WEBSOCKET_MAX_MESSAGE_BYTES


def test_the_deploy_file_caps_every_client_daphne_as_the_local_stack_does():
    conf = Path(__file__).parents[2] / "deploy" / "supervisord.conf"
    commands = [line for line in conf.read_text().splitlines() if "client.asgi" in line]
    assert commands
    for line in commands:
        assert f" --websocket-max-message-size {WEBSOCKET_MAX_MESSAGE_BYTES} " in line


@pytest.mark.asyncio
async def test_a_message_over_the_cap_drops_only_its_socket(stack: Stack, daphne: Daphne):
    shop = stack.clients["shop"]
    name = unique("capped")
    uid = await replicated_user(shop, name, first_name="Capped")
    cookie = (await logged_in(shop, [name]))[name]
    gate = asyncio.Semaphore(GATE)
    sockets = [await open_socket(daphne, shop.url, name, cookie, gate) for _ in range(3)]
    assert all(isinstance(ws, ClientConnection) for ws in sockets), sockets
    big, full, other = (ws for ws in sockets if isinstance(ws, ClientConnection))

    try:
        # When one socket sends a message of exactly the cap and another one byte more
        await full.send("x" * WEBSOCKET_MAX_MESSAGE_BYTES)
        await big.send("x" * (WEBSOCKET_MAX_MESSAGE_BYTES + 1))
        # Then daphne drops the one over the cap (autobahn drops the TCP connection: 1006)...
        assert await closed_with(big) == 1006
        # ...and the user's other sockets get the next real change
        await in_master(master_ops.update_user, uid, first_name="Still Capped")
        for ws in (full, other):
            assert (await next_frame(ws, "changed"))["user"]["first_name"] == "Still Capped"
    finally:
        await asyncio.gather(full.close(), other.close())
    assert daphne.proc.alive()
    assert not daphne.failures(), daphne.failures()[:10]
