"""Stream tokens on a real daphne: a script logs in, gets a token, opens its stream cookie-less."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from devstack import master_ops
from devstack.client_app import ClientApp, frame, wait_for_replica
from devstack.stack import Stack
from tests.e2e.conftest import in_master, unique

pytestmark = pytest.mark.asyncio
PASSWORD = "pw-for-token-auth"


async def logged_in_user(app: ClientApp, name: str | None = None) -> tuple[str, int, str]:
    """A replicated user logged in to ``app`` by its login page: (username, master id, Cookie)."""
    name = name or unique("tok")
    uid = await in_master(master_ops.create_user, name, first_name="Tess")
    await asyncio.to_thread(wait_for_replica, app, uid, username=name)
    await asyncio.to_thread(app.set_password, name, PASSWORD)
    return name, uid, await asyncio.to_thread(app.login, name, PASSWORD)


def post_for_token(app: ClientApp, cookie: str | None) -> tuple[int, dict[str, str], Any]:
    """POST /account/live/stream-token/ as a script would (a Cookie header, no CSRF token)."""
    headers = {"Cookie": cookie} if cookie else {}
    request = urllib.request.Request(
        f"{app.url}/account/live/stream-token/", data=b"", headers=headers, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), json.loads(refused.read())


async def token_for(app: ClientApp, cookie: str) -> dict[str, Any]:
    status, _headers, body = await asyncio.to_thread(post_for_token, app, cookie)
    assert status == 200, body
    return dict(body)


def stream_url(app: ClientApp, username: str) -> str:
    return f"{app.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"


async def open_with_token(url: str, token: str, **kwargs: Any) -> ClientConnection:
    """A socket carrying only the token: no cookie, and no Origin unless one is given."""
    headers = {"Authorization": f"Bearer {token}"}
    return await connect(url, additional_headers=headers, open_timeout=10, **kwargs)


async def handshake_status(url: str, **kwargs: Any) -> int:
    """The HTTP status a refused handshake answered (fails if the socket opened)."""
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    return info.value.response.status_code


async def next_frame(ws: ClientConnection, type_: str) -> dict[str, Any]:
    while True:
        msg = frame(await asyncio.wait_for(ws.recv(), timeout=20))
        if msg["type"] == type_:
            return msg


def shell_token(app: ClientApp, username: str, *, age: int) -> str:
    """A token signed inside the client itself (its secret key), dated ``age`` seconds ago."""
    code = (
        "import time; from django.conf import settings; "
        "from django.contrib.auth.models import User; "
        "from reactive_users.client import conf; from reactive_users.client import tokens; "
        f"u = User.objects.get(username={username!r}); "
        "from reactive_users.client.selectors import token_generation; "
        "print(tokens.issue(user_id=u.pk, stamp=tokens.credential_stamp(u), "
        "generation=token_generation(user_id=u.pk), "
        f"secret=settings.SECRET_KEY, client=conf.client_name(), now=time.time() - {age}))"
    )
    return app.manage("shell", "-c", code).strip().splitlines()[-1]  # after the shell's banner


async def test_an_anonymous_script_gets_a_403_json_answer_not_a_login_page(stack: Stack):
    status, headers, body = await asyncio.to_thread(post_for_token, stack.clients["shop"], None)

    assert status == 403
    assert headers["Content-Type"] == "application/json"
    assert body["error"] == "not_authenticated"
    assert "no-store" in headers["Cache-Control"]


async def test_a_token_opens_the_users_own_stream_and_a_master_change_arrives_live(stack: Stack):
    shop = stack.clients["shop"]
    name, uid, cookie = await logged_in_user(shop)

    # Given a token from the endpoint, got with the session cookie
    status, headers, body = await asyncio.to_thread(post_for_token, shop, cookie)
    assert status == 200 and "no-store" in headers["Cache-Control"]
    assert body["expires_in"] == 300
    assert body["stream"] == f"/ws/users/{urllib.parse.quote(name, safe='')}/"

    # When a script opens the stream with the token alone (no cookie, no Origin)
    async with await open_with_token(shop.ws_url + body["stream"], body["token"]) as ws:
        # Then the state frame comes first, and a change saved in the master arrives live
        state = frame(await asyncio.wait_for(ws.recv(), timeout=20))
        assert (state["type"], state["user"]["username"]) == ("state", name)
        await in_master(master_ops.update_user, uid, first_name="Tessa")
        changed = await next_frame(ws, "changed")
        assert changed["user"]["first_name"] == "Tessa"


async def test_expired_tampered_and_other_users_tokens_are_refused_with_403(stack: Stack):
    shop = stack.clients["shop"]
    alice, _, alice_cookie = await logged_in_user(shop)
    _bob, _, bob_cookie = await logged_in_user(shop)
    own = stream_url(shop, alice)
    alice_token = (await token_for(shop, alice_cookie))["token"]
    bob_token = (await token_for(shop, bob_cookie))["token"]
    # The client's own secret signs a fresh token that works, and an hour-old one that doesn't
    fresh, expired = [await asyncio.to_thread(shell_token, shop, alice, age=a) for a in (0, 3600)]
    async with await open_with_token(own, fresh) as ws:
        assert frame(await asyncio.wait_for(ws.recv(), timeout=20))["type"] == "state"
    tampered = alice_token[:-3] + ("xyz" if not alice_token.endswith("xyz") else "abc")

    statuses = [
        await handshake_status(own, additional_headers={"Authorization": f"Bearer {token}"})
        for token in (expired, tampered, bob_token, "not-a-token")
    ]

    assert statuses == [403, 403, 403, 403]


async def test_another_clients_token_for_the_same_user_is_refused(stack: Stack):
    shop, blog = stack.clients["shop"], stack.clients["blog"]
    name, uid, shop_cookie = await logged_in_user(shop)
    await asyncio.to_thread(wait_for_replica, blog, uid, username=name)
    await asyncio.to_thread(blog.set_password, name, PASSWORD)
    blog_cookie = await asyncio.to_thread(blog.login, name, PASSWORD)
    blog_token = (await token_for(blog, blog_cookie))["token"]
    bearer = {"Authorization": f"Bearer {blog_token}"}

    assert await handshake_status(stream_url(shop, name), additional_headers=bearer) == 403
    async with await open_with_token(stream_url(blog, name), blog_token) as ws:  # its own client
        assert frame(await asyncio.wait_for(ws.recv(), timeout=20))["type"] == "state"
    assert shop_cookie  # the user is logged in on shop too: only the token was wrong there


async def test_a_token_in_the_query_string_is_refused(stack: Stack):
    shop = stack.clients["shop"]
    name, _, cookie = await logged_in_user(shop)
    token = (await token_for(shop, cookie))["token"]
    url = stream_url(shop, name)

    for query in (f"token={token}", f"access_token={token}"):
        assert await handshake_status(f"{url}?{query}") == 403
        assert await handshake_status(f"{url}?{query}", origin=shop.url) == 403


async def test_a_token_socket_with_an_origin_must_name_an_allowed_one(stack: Stack):
    shop = stack.clients["shop"]
    name, _, cookie = await logged_in_user(shop)
    token = (await token_for(shop, cookie))["token"]
    url, bearer = stream_url(shop, name), {"Authorization": f"Bearer {token}"}

    foreign = "http://evil.example"
    assert await handshake_status(url, additional_headers=bearer, origin=foreign) == 403
    async with await open_with_token(url, token, origin=shop.url) as ws:
        assert frame(await asyncio.wait_for(ws.recv(), timeout=20))["type"] == "state"
