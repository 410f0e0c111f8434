"""The websocket on a real daphne refuses anyone who is not the stream's own user."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devstack import master_ops
from devstack.client_app import ClientApp, frame, wait_for_replica
from devstack.stack import Stack
from tests.e2e.conftest import in_master, unique

pytestmark = pytest.mark.asyncio


async def logged_in_user(app: ClientApp) -> tuple[str, str]:
    """A replicated user logged in to ``app``: (username, session id)."""
    name = unique("sec")
    uid = await in_master(master_ops.create_user, name)
    await asyncio.to_thread(wait_for_replica, app, uid, username=name)
    await asyncio.to_thread(app.set_password, name, "pw-for-security")
    return name, await asyncio.to_thread(app.login, name, "pw-for-security")


def stream(app: ClientApp, username: str) -> str:
    return f"{app.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"


async def refused(url: str, **kwargs) -> int:
    with pytest.raises(InvalidStatus) as info:
        async with connect(url, open_timeout=10, **kwargs):
            pass
    return info.value.response.status_code


async def test_a_socket_without_a_session_is_refused(stack: Stack):
    shop = stack.clients["shop"]
    name, _session = await logged_in_user(shop)
    assert await refused(stream(shop, name), origin=shop.url) == 403


async def test_a_forged_session_is_refused(stack: Stack):
    shop = stack.clients["shop"]
    name, _session = await logged_in_user(shop)
    cookie = {"Cookie": f"{shop.name}_sessionid=forgedforgedforgedforgedforged12"}
    assert await refused(stream(shop, name), origin=shop.url, additional_headers=cookie) == 403


async def test_a_foreign_origin_is_refused(stack: Stack):
    shop = stack.clients["shop"]
    name, session = await logged_in_user(shop)
    headers = {"Cookie": session}
    status = await refused(
        stream(shop, name), origin="http://evil.example", additional_headers=headers
    )
    assert status == 403


async def test_user_a_cannot_open_user_bs_stream(stack: Stack):
    shop = stack.clients["shop"]
    alice, alice_session = await logged_in_user(shop)
    bob, _ = await logged_in_user(shop)
    headers = {"Cookie": alice_session}
    assert await refused(stream(shop, bob), origin=shop.url, additional_headers=headers) == 403
    # ...while her own stream opens with the same session and origin
    async with connect(stream(shop, alice), origin=shop.url, additional_headers=headers) as ws:
        assert frame(await asyncio.wait_for(ws.recv(), 10))["user"]["username"] == alice
