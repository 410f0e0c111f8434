"""Stream tokens: sign/verify (tokens.py), the endpoint (views.py), the socket (token_auth.py)."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any
from urllib.parse import quote

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.core import signing
from django.test import Client

from client.asgi import application
from devstack.processes import python
from reactive_users.client import conf, tokens
from reactive_users.client.apply import event_apply
from reactive_users.client.token_auth import bearer_token
from tests.client.support import user_event

SECRET = "s" * 50
T0 = 1_800_000_000.0


def sign(user_id: int = 7, stamp: str = "abc123", **kwargs) -> str:
    return tokens.issue(
        user_id=user_id,
        stamp=stamp,
        generation=kwargs.pop("generation", 0),
        secret=kwargs.pop("secret", SECRET),
        client=kwargs.pop("client", "shop"),
        now=kwargs.pop("now", T0),
    )


def check(token: str, **kwargs) -> tokens.Claims:
    return tokens.verify(
        token,
        secret=kwargs.pop("secret", SECRET),
        client=kwargs.pop("client", "shop"),
        max_age=kwargs.pop("max_age", 300),
        now=kwargs.pop("now", T0 + 10),
    )


# --- sign and verify (pure) -----------------------------------------------------------------


def test_a_token_round_trips_to_its_user_and_credential_stamp():
    assert check(sign(7, "abc123", generation=2)) == tokens.Claims(
        user_id=7, stamp="abc123", generation=2, issued_at=T0
    )


def test_a_token_is_valid_until_its_lifetime_has_passed_and_expired_after():
    token = sign(now=T0)

    assert check(token, now=T0 + 300, max_age=300).user_id == 7
    with pytest.raises(tokens.TokenExpired, match="> 300 seconds"):
        check(token, now=T0 + 301, max_age=300)


@pytest.mark.parametrize("where", ["payload", "timestamp", "signature"])
def test_a_tampered_token_is_refused_as_bad_not_expired(where):
    payload, timestamp, signature = sign(7).split(":")
    other_user = signing.b64_encode(b'{"u":8,"a":"abc123"}').decode()
    later = signing.b62_encode(int(T0) + 3600)
    tampered = {
        "payload": f"{other_user}:{timestamp}:{signature}",
        "timestamp": f"{payload}:{later}:{signature}",
        "signature": f"{payload}:{timestamp}:{signature[::-1]}",
    }[where]

    with pytest.raises(tokens.TokenError) as info:
        check(tampered)
    assert not isinstance(info.value, tokens.TokenExpired)


def test_a_token_under_another_secret_or_for_another_client_is_refused():
    with pytest.raises(tokens.TokenError):
        check(sign(secret="another-secret-" * 4))
    with pytest.raises(tokens.TokenError):
        check(sign(client="blog"))  # clients sharing DJANGO_SECRET_KEY still don't mix


def test_a_value_signed_with_djangos_default_salt_is_not_a_token():
    with pytest.raises(tokens.TokenError):
        check(signing.dumps({"u": 7, "a": "abc123"}, key=SECRET))


@pytest.mark.parametrize(
    "payload",
    [
        {"u": True, "a": "x", "g": 0},
        {"u": 0, "a": "x", "g": 0},
        {"u": 7, "g": 0},
        [7],
        {"u": 7, "a": "x"},
        {"u": 7, "a": "x", "g": -1},
        {"u": 7, "a": "x", "g": False},
    ],
)
def test_a_genuinely_signed_value_of_the_wrong_shape_is_refused(payload):
    other = signing.dumps(payload, key=SECRET, salt=f"{tokens.SALT}.shop")

    with pytest.raises(tokens.TokenError, match="not a stream token"):
        tokens.verify(other, secret=SECRET, client="shop", max_age=300)


@pytest.mark.parametrize("token", ["", "x" * (tokens.MAX_TOKEN_LENGTH + 1), "no-colons"])
def test_empty_oversized_or_malformed_tokens_are_refused(token):
    with pytest.raises(tokens.TokenError):
        check(token)


def test_an_empty_secret_is_refused_instead_of_falling_back_to_settings():
    with pytest.raises(ValueError, match="non-empty secret"):
        sign(secret="")


def test_the_credential_stamp_changes_with_the_password():
    user = User(username="ana", password="x")
    user.set_password("first")
    before = tokens.credential_stamp(user)

    user.set_password("second")

    assert len(before) == tokens.STAMP_LENGTH and tokens.credential_stamp(user) != before


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([], None),
        ([(b"cookie", b"shop_sessionid=x")], None),
        ([(b"authorization", b"Bearer abc:def")], "abc:def"),
        ([(b"authorization", b"bearer  abc:def ")], "abc:def"),
        ([(b"authorization", b"Basic YTpi")], ""),
        ([(b"authorization", b"Bearer")], ""),
        ([(b"authorization", b"Bearer a b")], ""),
        ([(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")], ""),
    ],
)
def test_the_bearer_token_is_read_from_the_authorization_header_only(headers, expected):
    assert bearer_token(headers) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [("soon", "is not a whole number"), ("0", "within 1..86400"), ("90000", "within 1..86400")],
)
def test_the_token_lifetime_setting_refuses_invalid_values(value, message, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "REACTIVE_STATE_DIR": str(tmp_path),
        "REACTIVE_WS_TOKEN_SECONDS": value,
    }
    done = subprocess.run(
        python("-c", "import client.settings"), env=env, capture_output=True, text=True, timeout=30
    )

    assert done.returncode != 0
    assert "ConfigError" in done.stderr and message in done.stderr


def test_the_token_lifetime_defaults_to_five_minutes():
    assert conf.ws_token_seconds() == 300


# --- the endpoint -----------------------------------------------------------------------------


def replicated(username: str = "ana", *, user_id: int = 7) -> User:
    event_apply(event=user_event(user_id=user_id, username=username))
    return User.objects.get(username=username)


def token_response(user: User | None):
    client = Client(enforce_csrf_checks=True)  # a script has no CSRF token
    if user is not None:
        client.force_login(user)
    return client.post("/account/live/stream-token/")


@pytest.mark.django_db
def test_an_anonymous_caller_gets_403_json_not_a_login_redirect():
    response = token_response(None)

    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"] == "not_authenticated"
    assert "no-store" in response["Cache-Control"]


@pytest.mark.django_db
def test_a_logged_in_user_gets_a_token_for_their_own_stream():
    ana = replicated("ana.maria+test@example.com")
    before = time.time()

    response = token_response(ana)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert set(body) == {"token", "expires_in", "stream", "me_stream"}
    assert body["me_stream"] == "/ws/users/me/"
    assert body["expires_in"] == 300
    assert body["stream"] == f"/ws/users/{quote(ana.username, safe='')}/"
    claims = tokens.verify(body["token"], secret=settings.SECRET_KEY, client="shop", max_age=300)
    issued = signing.b62_decode(body["token"].split(":")[1])
    assert claims == tokens.Claims(
        user_id=ana.pk, stamp=tokens.credential_stamp(ana), generation=0, issued_at=issued
    )
    assert int(before) <= issued <= time.time()


@pytest.mark.django_db
def test_the_endpoint_only_answers_post():
    client = Client()
    client.force_login(replicated())

    assert client.get("/account/live/stream-token/").status_code == 405


# --- the socket (in process, real Redis channel layer) --------------------------------------

ALLOWED = b"http://localhost:8001"  # client/settings.py's local default


@sync_to_async
def post_for_token(user: User) -> str:
    response = token_response(user)
    assert response.status_code == 200
    return str(json.loads(response.content)["token"])


@sync_to_async
def session_cookie(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    name = settings.SESSION_COOKIE_NAME
    return f"{name}={client.cookies[name].value}".encode()


def stream(
    username: str,
    token: str | None,
    *,
    origin: bytes | None = None,
    cookie: bytes | None = None,
    query: str = "",
) -> WebsocketCommunicator:
    headers = [(b"host", b"localhost")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if origin is not None:
        headers.append((b"origin", origin))
    if cookie is not None:
        headers.append((b"cookie", cookie))
    path = f"/ws/users/{quote(username, safe='')}/" + (f"?{query}" if query else "")
    return WebsocketCommunicator(application, path, headers)


async def accepted(communicator: WebsocketCommunicator) -> bool:
    ok, _ = await communicator.connect()
    if ok:
        assert (await communicator.receive_json_from())["type"] == "state"
        await communicator.disconnect()
    return bool(ok)


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


@socket_test
@pytest.mark.parametrize("origin", [None, ALLOWED], ids=["no-origin", "allowed-origin"])
async def test_a_token_from_the_endpoint_opens_the_own_stream_without_a_cookie(origin):
    ana = await sync_to_async(replicated)("ana")
    token = await post_for_token(ana)

    assert await accepted(stream("ana", token, origin=origin))


@socket_test
async def test_a_token_with_a_foreign_origin_is_refused(caplog):
    ana = await sync_to_async(replicated)("ana")
    token = await post_for_token(ana)

    assert not await accepted(stream("ana", token, origin=b"http://evil.example"))
    assert "refused stream" not in caplog.text  # the Origin check refused it, not the token


@socket_test
async def test_a_users_token_does_not_open_another_users_stream(caplog):
    ana = await sync_to_async(replicated)("ana", user_id=7)
    await sync_to_async(replicated)("bob", user_id=8)
    token = await post_for_token(ana)

    assert not await accepted(stream("bob", token))
    assert f"refused stream 'bob' for user {ana.pk}" in caplog.text


BAD_TOKENS = {
    "expired": "token age 30",
    "tampered": "bad token: BadSignature",
    "other-client": "bad token: BadSignature",
    "garbage": "bad token: BadSignature",
    "empty": "a token is 1..512 characters",
}


@socket_test
@pytest.mark.parametrize(("how", "reason"), BAD_TOKENS.items(), ids=list(BAD_TOKENS))
async def test_a_bad_token_is_refused_at_the_handshake(how, reason, caplog):
    ana = await sync_to_async(replicated)("ana")
    stamp = await sync_to_async(tokens.credential_stamp)(ana)
    good = await post_for_token(ana)
    own: dict[str, Any] = {
        "user_id": ana.pk,
        "stamp": stamp,
        "generation": 0,
        "secret": settings.SECRET_KEY,
    }
    token = {
        "expired": tokens.issue(**own, client="shop", now=time.time() - 301),
        "tampered": good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "other-client": tokens.issue(**own, client="blog"),
        "garbage": "not-a-token",
        "empty": "",
    }[how]

    assert not await accepted(stream("ana", token))
    assert f"refused stream token: {reason}" in caplog.text


@socket_test
async def test_a_bad_token_never_falls_back_to_a_valid_session_cookie(caplog):
    ana = await sync_to_async(replicated)("ana")
    cookie = await session_cookie(ana)
    assert await accepted(stream("ana", None, origin=ALLOWED, cookie=cookie))  # cookie alone: ok

    assert not await accepted(stream("ana", "forged:token:x", origin=ALLOWED, cookie=cookie))
    assert "refused stream token: bad token" in caplog.text


@socket_test
async def test_with_a_token_the_cookie_is_ignored(caplog):
    ana = await sync_to_async(replicated)("ana", user_id=7)
    bob = await sync_to_async(replicated)("bob", user_id=8)
    ana_token, bob_cookie = await post_for_token(ana), await session_cookie(bob)

    assert not await accepted(stream("bob", ana_token, origin=ALLOWED, cookie=bob_cookie))
    assert f"refused stream 'bob' for user {ana.pk}" in caplog.text  # the token's user


@socket_test
async def test_a_token_stops_working_when_the_password_changes(caplog):
    ana = await sync_to_async(replicated)("ana")
    token = await post_for_token(ana)
    assert await accepted(stream("ana", token))

    ana.set_password("a new one")
    await sync_to_async(ana.save)()

    assert not await accepted(stream("ana", token))
    assert f"refused stream token of user {ana.pk}: credentials changed" in caplog.text


@socket_test
async def test_a_token_stops_working_when_the_user_is_deactivated(caplog):
    ana = await sync_to_async(replicated)("ana")
    token = await post_for_token(ana)

    await sync_to_async(User.objects.filter(pk=ana.pk).update)(is_active=False)

    assert not await accepted(stream("ana", token))
    assert f"refused stream token of user {ana.pk}: no such active user" in caplog.text


@socket_test
async def test_a_token_in_the_query_string_is_ignored_and_the_socket_refused(caplog):
    ana = await sync_to_async(replicated)("ana")
    token = await post_for_token(ana)

    for query in (f"token={token}", f"access_token={token}", f"authorization=Bearer%20{token}"):
        assert not await accepted(stream("ana", None, origin=ALLOWED, query=query))
    assert caplog.text.count("refused stream 'ana' for an anonymous user") == 3


@socket_test
async def test_a_token_opens_the_me_stream_of_its_own_user_only():
    # Given ana's token, and bob's session cookie sent along with it
    ana = await sync_to_async(replicated)("ana", user_id=7)
    bob = await sync_to_async(replicated)("bob", user_id=8)
    token = await post_for_token(ana)
    communicator = stream("me", token, cookie=await session_cookie(bob))

    # Then /ws/users/me/ is ana's: the token decides, never the cookie
    ok, _ = await communicator.connect()
    assert ok
    first = await communicator.receive_json_from()
    assert first["user"]["username"] == "ana"
    await communicator.disconnect()
    # And a bad token on the me stream is refused, whatever cookie comes with it
    assert not await accepted(stream("me", "garbage", cookie=await session_cookie(bob)))
