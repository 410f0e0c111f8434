"""When a socket ends with its credentials, and the per-user cap.

The rules (credentials.py, socket_limit.py) are tested pure; the consumer in process over the
real Redis channel layer, with the signals and services that tell it to check (signals.py,
signouts.py); the cap, unknown paths and exact origins in process: test_consumers.py. The
same behaviour on a real daphne: tests/e2e/test_socket_lifetime.py, test_origins_and_paths.py.
"""

from __future__ import annotations

import subprocess
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.contrib.sessions.models import Session
from django.test import Client

from client.asgi import application
from devstack.processes import python
from reactive_users.client import credentials, tokens
from reactive_users.client.apply import event_apply
from reactive_users.client.credentials import Facts, SessionCredentials, TokenCredentials
from reactive_users.client.frames import EndReason
from reactive_users.client.models import TokenGeneration
from reactive_users.client.selectors import credential_facts, token_generation
from reactive_users.client.socket_limit import SocketLimit
from tests.client.support import user_event

ORIGIN = b"http://localhost:8001"  # client/settings.py's local default
NOW = 1_800_000_000.0

# --- the rules (pure) -------------------------------------------------------------------------


def facts(**changed: object) -> Facts:
    held = {
        "signed_in": True,
        "expires_at": NOW + 60,
        "user_active": True,
        "password_unchanged": True,
    }
    return Facts(**{**held, **changed})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        ({}, None),
        ({"signed_in": False}, EndReason.LOGGED_OUT),
        ({"expires_at": NOW}, EndReason.EXPIRED),
        ({"expires_at": None}, None),
        ({"user_active": False}, EndReason.INACTIVE),
        ({"password_unchanged": False}, EndReason.PASSWORD_CHANGED),
        ({"signed_in": False, "password_unchanged": False}, EndReason.LOGGED_OUT),
        ({"user_active": False, "password_unchanged": False}, EndReason.INACTIVE),
    ],
)
def test_the_first_rule_that_applies_says_why_the_credentials_ended(changed, reason):
    assert credentials.end_reason(facts(**changed), now=NOW) is reason


@pytest.mark.parametrize(("expires_at", "left"), [(NOW + 2, 2.0), (NOW - 1, 0.0), (None, None)])
def test_a_socket_is_due_a_check_when_its_credentials_expire(expires_at, left):
    assert credentials.seconds_left(facts(expires_at=expires_at), now=NOW) == left


class _Session:
    session_key = "k" * 32


class _User:
    pk, is_authenticated = 7, True


def test_a_sockets_credentials_are_its_token_else_its_session():
    claims = tokens.Claims(user_id=7, stamp="s", generation=2, issued_at=NOW)
    by_token = {"user": _User(), "stream_token": claims, "session": _Session()}
    by_session = {"user": _User(), "session": _Session()}

    assert credentials.of_scope(by_token, token_seconds=300) == TokenCredentials(
        user_id=7, stamp="s", generation=2, expires_at=NOW + 300
    )
    assert credentials.of_scope(by_session, token_seconds=300) == SessionCredentials(
        user_id=7, session_key="k" * 32
    )
    assert credentials.of_scope({"user": AnonymousUser()}, token_seconds=300) is None


def test_the_socket_limit_refuses_past_the_limit_per_user_and_counts_refusals():
    limit = SocketLimit()

    assert [limit.acquire(7, limit=2) for _ in range(3)] == [True, True, False]
    assert limit.acquire(8, limit=2)  # another user is not affected
    limit.release(7)

    assert limit.acquire(7, limit=2) and limit.refused == 1
    assert (limit.held(7), limit.held(8), limit.held(9)) == (2, 1, 0)


# --- the consumer, in process ---------------------------------------------------------------


def socket_test(fn):
    """An async test on a committed database and the private Redis channel layer."""
    marks = [
        pytest.mark.asyncio,
        pytest.mark.django_db(transaction=True),
        pytest.mark.usefixtures("layer_prefix"),
    ]
    for mark in marks:
        fn = mark(fn)
    return fn


@sync_to_async
def replicated(username: str = "ana", *, user_id: int = 7) -> User:
    event_apply(event=user_event(user_id=user_id, username=username))
    return User.objects.get(username=username)


@sync_to_async
def session_of(user: User) -> str:
    client = Client()
    client.force_login(user)
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def stream(
    path: str,
    *,
    session: str | None = None,
    token: str | None = None,
    origin: bytes | None = ORIGIN,
) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if origin is not None:
        headers.append((b"origin", origin))
    if session is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={session}".encode()))
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    return WebsocketCommunicator(application, path, headers)


def own(user: User) -> str:
    return f"/ws/users/{quote(user.username, safe='')}/"


async def opened(communicator: WebsocketCommunicator) -> WebsocketCommunicator:
    ok, _ = await communicator.connect()
    assert ok
    assert (await communicator.receive_json_from(timeout=5))["type"] == "state"
    return communicator


async def ends_with(communicator: WebsocketCommunicator, reason: EndReason) -> None:
    """The socket's next outputs are the ``ended`` frame and a 4401 close."""
    assert await communicator.receive_json_from(timeout=10) == {
        "type": "ended",
        "reason": reason.value,
    }
    assert await communicator.receive_output(timeout=5) == {"type": "websocket.close", "code": 4401}


@socket_test
async def test_deleting_the_session_row_ends_its_socket_at_once(settings):
    settings.REACTIVE_WS_RECHECK_SECONDS = 3600  # only the signal can end it in time
    ana = await replicated()
    session = await session_of(ana)
    socket = await opened(stream(own(ana), session=session))

    await sync_to_async(Session.objects.filter(session_key=session).delete)()

    await ends_with(socket, EndReason.LOGGED_OUT)


@socket_test
async def test_a_password_change_ends_the_session_socket_at_once(settings):
    settings.REACTIVE_WS_RECHECK_SECONDS = 3600
    ana = await replicated()
    socket = await opened(stream(own(ana), session=await session_of(ana)))

    ana.set_password("a new one")
    await sync_to_async(ana.save)()

    await ends_with(socket, EndReason.PASSWORD_CHANGED)


@socket_test
async def test_a_session_past_its_expiry_ends_its_socket_by_the_periodic_check(settings):
    settings.REACTIVE_WS_RECHECK_SECONDS = 1
    ana = await replicated()
    session = await session_of(ana)
    socket = await opened(stream(own(ana), session=session))

    # As a set_expiry that sent no signal would, and then time passing
    past = datetime.now(UTC) - timedelta(seconds=1)
    await sync_to_async(Session.objects.filter(session_key=session).update)(expire_date=past)

    await ends_with(socket, EndReason.EXPIRED)


@sync_to_async
def token_of(user: User, *, age: float = 0) -> str:
    return tokens.issue(
        user_id=user.pk,
        stamp=tokens.credential_stamp(user),
        generation=token_generation(user_id=user.pk),
        secret=settings.SECRET_KEY,
        client="shop",
        now=time.time() - age,
    )


@socket_test
async def test_a_token_socket_ends_at_its_tokens_expiry():
    ana = await replicated()
    socket = await opened(stream(own(ana), token=await token_of(ana, age=299), origin=None))

    await ends_with(socket, EndReason.EXPIRED)


@socket_test
async def test_a_logout_ends_token_sockets_and_voids_the_token(settings):
    settings.REACTIVE_WS_RECHECK_SECONDS = 3600
    ana = await replicated()
    session, token = await session_of(ana), await token_of(ana)
    socket = await opened(stream(own(ana), token=token, origin=None))

    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = session
    assert (await sync_to_async(client.post)("/accounts/logout/")).status_code == 302

    await ends_with(socket, EndReason.LOGGED_OUT)
    assert await sync_to_async(token_generation)(user_id=ana.pk) == 1
    ok, _ = await stream(own(ana), token=token, origin=None).connect()
    assert not ok


# --- services and settings --------------------------------------------------------------------


@pytest.mark.django_db
def test_the_token_generation_starts_at_zero_and_each_logout_moves_it_on():
    from reactive_users.client.signouts import token_generation_advance

    ana = User.objects.create_user("ana")
    assert token_generation(user_id=ana.pk) == 0

    token_generation_advance(user_id=ana.pk)
    token_generation_advance(user_id=ana.pk)

    assert TokenGeneration.objects.get(user_id=ana.pk).value == 2
    assert token_generation(user_id=ana.pk) == 2


@pytest.mark.django_db
def test_the_credentials_of_every_socket_are_read_in_three_queries(django_assert_num_queries):
    users = [User.objects.create_user(f"u{i}", password="pw") for i in range(4)]
    clients = [Client() for _ in users]
    for client, user in zip(clients, users, strict=True):
        client.force_login(user)
    keys = [c.cookies[settings.SESSION_COOKIE_NAME].value for c in clients]
    users[1].set_password("changed")
    users[1].save()
    Session.objects.filter(session_key=keys[2]).delete()
    held = [
        SessionCredentials(user_id=u.pk, session_key=k) for u, k in zip(users, keys, strict=True)
    ]
    held.append(
        TokenCredentials(
            user_id=users[3].pk,
            stamp=tokens.credential_stamp(users[3]),
            generation=1,
            expires_at=time.time() + 60,
        )
    )

    with django_assert_num_queries(3):
        found = credential_facts(held)

    reasons = [credentials.end_reason(f, now=time.time()) for f in found]
    assert reasons == [
        None,
        EndReason.PASSWORD_CHANGED,
        EndReason.LOGGED_OUT,
        None,
        EndReason.LOGGED_OUT,
    ]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "REACTIVE_ALLOWED_ORIGINS",
            "localhost,shop.example.com",
            "entry 'localhost' has no scheme, and so would match any scheme and port: write it "
            "as http://localhost or https://localhost",
        ),
        ("REACTIVE_ALLOWED_ORIGINS", "*", "no wildcards"),
        ("REACTIVE_WS_MAX_SOCKETS_PER_USER", "0", "within 1..10000 sockets"),
        ("REACTIVE_WS_RECHECK_SECONDS", "0", "within 1..3600 seconds"),
    ],
)
def test_settings_refuse_bare_hosts_and_out_of_range_socket_limits(
    variable, value, message, tmp_path
):
    env = {"PATH": "/usr/bin:/bin", "REACTIVE_STATE_DIR": str(tmp_path), variable: value}
    done = subprocess.run(
        python("-c", "import client.settings"), env=env, capture_output=True, text=True, timeout=30
    )

    assert done.returncode != 0
    assert "ConfigError" in done.stderr and message in done.stderr
