"""A socket ends with what authenticated it, and one user holds at most 20, on a real daphne.

Every socket here is a real websocket client on the shared stack's ``shop`` (defaults:
REACTIVE_WS_RECHECK_SECONDS 5, REACTIVE_WS_MAX_SOCKETS_PER_USER 20, token lifetime 300 s).
Each probe is recorded for docs/security.md before it is asserted.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from devstack import master_ops
from devstack.client_app import ClientApp, frame
from devstack.processes import until
from devstack.stack import Stack
from tests.e2e.conftest import in_master
from tests.e2e.test_token_auth import (
    PASSWORD,
    logged_in_user,
    open_with_token,
    shell_token,
    stream_url,
    token_for,
)
from tests.support import security

pytestmark = pytest.mark.asyncio
AREA = "websocket: credentials"
#: What a socket whose credentials ended gets: one last frame, then this close code.
ENDED = "ended frame ({reason}), close 4401"
#: REACTIVE_WS_MAX_SOCKETS_PER_USER's default, the cap the shared stack runs with.
CAP = 20
#: The shared stack's token lifetime (REACTIVE_WS_TOKEN_SECONDS' default).
TOKEN_SECONDS = 300


async def open_session(app: ClientApp, username: str, cookie: str) -> ClientConnection:
    """A browser-like socket: the session cookie, from the client's own origin."""
    ws = await connect(
        stream_url(app, username),
        origin=app.url,  # type: ignore[arg-type]
        additional_headers={"Cookie": cookie},
        open_timeout=10,
    )
    assert frame(await asyncio.wait_for(ws.recv(), 20))["type"] == "state"
    return ws


async def open_token(app: ClientApp, username: str, token: str) -> ClientConnection:
    ws = await open_with_token(stream_url(app, username), token)
    assert frame(await asyncio.wait_for(ws.recv(), 20))["type"] == "state"
    return ws


async def ending(ws: ClientConnection, timeout: float = 30) -> str:
    """How the server ended the socket: its last frame and close code, described."""
    last: dict[str, Any] | None = None
    try:
        while True:
            last = frame(await asyncio.wait_for(ws.recv(), timeout))
    except TimeoutError:
        return f"still open {timeout:g} s later"
    except ConnectionClosed:
        pass
    if last is not None and last.get("type") == "ended":
        return f"ended frame ({last['reason']}), close {ws.close_code}"
    return f"last frame {last and last.get('type')}, close {ws.close_code}"


async def still_live(ws: ClientConnection, uid: int, first_name: str) -> str:
    """Whether an open socket gets the next master change: described."""
    await in_master(master_ops.update_user, uid, first_name=first_name)
    try:
        while True:
            got = frame(await asyncio.wait_for(ws.recv(), 20))
            if got["type"] == "changed":
                return f"open, got the change ({got['user']['first_name']})"
    except ConnectionClosed:
        return f"closed {ws.close_code}"
    except TimeoutError:
        return "open, but no change within 20 s"


async def handshake(url: str, **options: Any) -> str:
    """What a new handshake gets: "opened" or the HTTP status of the refusal."""
    try:
        async with connect(url, open_timeout=10, **options):
            return "opened"
    except InvalidStatus as refused:
        return f"refused: HTTP {refused.response.status_code}"


def probe(attack: str, expected: str, observed: str) -> None:
    security.record(area=AREA, attack=attack, expected=expected, observed=observed)
    assert observed == expected, attack


async def shell(app: ClientApp, code: str) -> None:
    await asyncio.to_thread(app.manage, "shell", "-c", code)


# --- logout --------------------------------------------------------------------------------


async def test_a_logout_in_another_tab_ends_that_sessions_sockets_only(stack: Stack):
    shop = stack.clients["shop"]
    name, uid, tab = await logged_in_user(shop)
    other_browser = await asyncio.to_thread(shop.login, name, PASSWORD)
    # Given a socket of the session, and one of the same user's other session
    mine, theirs = (
        await open_session(shop, name, tab),
        await open_session(shop, name, other_browser),
    )
    try:
        # When another tab of the first session signs out through the page's form
        await asyncio.to_thread(shop.logout, tab)

        # Then that session's socket gets its last frame and closes; the other carries on
        probe(
            "session socket after a logout in another tab of the same session",
            ENDED.format(reason="logged_out"),
            await ending(mine),
        )
        probe(
            "socket of the same user's other session after that logout",
            "open, got the change (Other)",
            await still_live(theirs, uid, "Other"),
        )
        probe(
            "new socket with the logged-out session cookie",
            "refused: HTTP 403",
            await handshake(
                stream_url(shop, name), origin=shop.url, additional_headers={"Cookie": tab}
            ),
        )
    finally:
        await asyncio.gather(mine.close(), theirs.close())


async def test_a_logout_ends_token_sockets_and_voids_the_token(stack: Stack):
    shop = stack.clients["shop"]
    name, _uid, cookie = await logged_in_user(shop)
    token = (await token_for(shop, cookie))["token"]
    ws = await open_token(shop, name, token)

    await asyncio.to_thread(shop.logout, cookie)

    probe(
        "token socket after its user logs out (token bound to the token generation)",
        ENDED.format(reason="logged_out"),
        await ending(ws),
    )
    probe(
        "new socket with a token issued before a logout",
        "refused: HTTP 403",
        await handshake(
            stream_url(shop, name), additional_headers={"Authorization": f"Bearer {token}"}
        ),
    )


# --- the session or the password changes -----------------------------------------------------


async def test_a_password_change_ends_session_and_token_sockets(stack: Stack):
    shop = stack.clients["shop"]
    name, _uid, cookie = await logged_in_user(shop)
    token = (await token_for(shop, cookie))["token"]
    by_session, by_token = (
        await open_session(shop, name, cookie),
        await open_token(shop, name, token),
    )

    await asyncio.to_thread(shop.set_password, name, "a-brand-new-password")

    expected = ENDED.format(reason="password_changed")
    probe(
        "session socket after a password change on the client", expected, await ending(by_session)
    )
    probe("token socket after a password change on the client", expected, await ending(by_token))


async def test_a_session_shortened_by_set_expiry_ends_its_socket_when_it_expires(stack: Stack):
    shop = stack.clients["shop"]
    name, _uid, cookie = await logged_in_user(shop)
    ws = await open_session(shop, name, cookie)
    key = cookie.split("=", 1)[1]

    # When the session is given 2 more seconds (a view calling set_expiry, say): no signal
    await shell(
        shop,
        (
            "from django.contrib.sessions.backends.db import SessionStore; "
            f"s = SessionStore(session_key={key!r}); s.set_expiry(2); s.save()"
        ),
    )

    probe(
        "session socket whose session expires (set_expiry, then time passes)",
        ENDED.format(reason="expired"),
        await ending(ws),
    )


async def test_a_session_row_deleted_by_raw_sql_ends_its_socket_by_the_periodic_check(
    stack: Stack,
):
    shop = stack.clients["shop"]
    name, _uid, cookie = await logged_in_user(shop)
    ws = await open_session(shop, name, cookie)
    key = cookie.split("=", 1)[1]

    # When the session row disappears without any signal (raw SQL)
    await shell(
        shop,
        (
            "from django.db import connection; c = connection.cursor(); "
            f"c.execute('DELETE FROM django_session WHERE session_key = %s', [{key!r}]); "
            "assert c.rowcount == 1"
        ),
    )

    probe(
        "session socket whose session row is deleted by raw SQL (no signal)",
        ENDED.format(reason="logged_out"),
        await ending(ws),
    )


async def test_a_token_socket_ends_when_its_token_expires(stack: Stack):
    shop = stack.clients["shop"]
    name, _uid, _cookie = await logged_in_user(shop)
    # A token with 10 seconds left, signed by the client itself
    token = await asyncio.to_thread(shell_token, shop, name, age=TOKEN_SECONDS - 10)
    ws = await open_token(shop, name, token)

    probe("token socket past its token's expiry", ENDED.format(reason="expired"), await ending(ws))


# --- the cap ---------------------------------------------------------------------------------


async def refused_socket(app: ClientApp, username: str, **options: Any) -> str:
    """Open one more socket: how it ended, or that it got a frame."""
    ws = await connect(stream_url(app, username), open_timeout=10, **options)
    try:
        got = frame(await asyncio.wait_for(ws.recv(), 20))
        return f"opened, got a {got['type']} frame"
    except ConnectionClosed:
        return f"accepted then closed {ws.close_code}, no frame"
    finally:
        await ws.close()


async def test_sockets_past_the_per_user_cap_are_closed_with_4429_and_counted(stack: Stack):
    shop = stack.clients["shop"]
    name, _uid, cookie = await logged_in_user(shop)
    token = (await token_for(shop, cookie))["token"]
    assert shop.daphne is not None
    log_from = len(shop.daphne.log())
    # Given the cap's worth of sockets of one user: session and token sockets count alike
    held = [await open_token(shop, name, token)]
    held += await asyncio.gather(*(open_session(shop, name, cookie) for _ in range(CAP - 1)))
    try:
        # When the user opens one more, with the cookie and with the token
        session_extra = await refused_socket(
            shop, name, origin=shop.url, additional_headers={"Cookie": cookie}
        )
        token_extra = await refused_socket(
            shop, name, additional_headers={"Authorization": f"Bearer {token}"}
        )
        expected = "accepted then closed 4429, no frame"
        probe(f"socket {CAP + 1} of one user on one daphne (session)", expected, session_extra)
        probe(f"socket {CAP + 2} of one user on one daphne (token)", expected, token_extra)
        # and each refusal is counted in daphne's log
        until(
            lambda: shop.daphne.log().count("refused a socket of user", log_from) >= 2,
            timeout=10,
            what="two refusals in daphne's log",
        )
        # Then another user is not affected, and a socket closed makes room for one more
        other, _, other_cookie = await logged_in_user(shop)
        await (await open_session(shop, other, other_cookie)).close()
        await held.pop().close()
        probe(
            "a new socket once one of the capped user's sockets closed",
            "opened",
            await reopened(shop, name, cookie),
        )
    finally:
        await asyncio.gather(*(ws.close() for ws in held))


async def reopened(app: ClientApp, username: str, cookie: str) -> str:
    """Whether a socket opens once a slot is free (the release is seen a moment after)."""

    async def attempt() -> str:
        outcome = await refused_socket(
            app, username, origin=app.url, additional_headers={"Cookie": cookie}
        )
        return "opened" if outcome.startswith("opened") else outcome

    for _ in range(50):
        if (outcome := await attempt()) == "opened":
            return outcome
        await asyncio.sleep(0.1)
    return outcome
