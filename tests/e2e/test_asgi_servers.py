"""The "me" stream and the component's page under both ASGI servers a project may run:
daphne (the reference client's own) and uvicorn (how gunicorn's worker runs a cookiecutter
project), each with a real websocket client, on the e2e stack's database and Redis."""

from __future__ import annotations

import asyncio
import dataclasses
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devstack import master_ops
from devstack.client_app import ClientApp, frame, wait_for_replica
from devstack.processes import Proc, free_port, port_open
from devstack.project_app import SERVERS, asgi_server
from devstack.stack import Stack
from tests.e2e.conftest import in_master, unique

PASSWORD = "servers-pass-1"


@pytest.fixture(scope="module")
def uvicorn_shop(stack: Stack) -> Iterator[ClientApp]:
    """The reference client's ASGI app under uvicorn too, on shop's database and Redis."""
    shop = stack.clients["shop"]
    port = free_port()
    env = {**shop.env, "REACTIVE_ALLOWED_ORIGINS": f"http://127.0.0.1:{port}"}
    argv = asgi_server("uvicorn", "client.asgi:application", port)
    proc = Proc("uvicorn-shop", argv, env, shop.log_dir)
    try:
        proc.wait_ready(lambda: port_open(port), timeout=30)
        yield dataclasses.replace(shop, port=port, env=env, daphne=None, listener=None)
    finally:
        proc.stop()


@pytest.mark.asyncio
@pytest.mark.parametrize("server", SERVERS)
async def test_the_me_stream_works_under_daphne_and_under_uvicorn(
    server: str, stack: Stack, request: pytest.FixtureRequest
):
    app: ClientApp = (
        stack.clients["shop"] if server == "daphne" else request.getfixturevalue("uvicorn_shop")
    )
    name = unique(f"on-{server}")
    uid = await in_master(master_ops.create_user, name, first_name="Lin")
    await asyncio.to_thread(wait_for_replica, app, uid, username=name)
    await asyncio.to_thread(app.set_password, name, PASSWORD)
    cookie = await asyncio.to_thread(app.login, name, PASSWORD)

    # The page and its script come from this server
    page = await asyncio.to_thread(fetch, f"{app.url}/", cookie)
    assert 'data-ws-url="/ws/users/me/"' in page
    assert "reactive-users:changed" in await asyncio.to_thread(
        fetch, f"{app.url}/static/reactive_users/live.js", ""
    )

    # Given the browser path: the session cookie from the server's own origin
    me = f"{app.ws_url}/ws/users/me/"
    async with connect(me, origin=app.url, additional_headers={"Cookie": cookie}) as ws:
        first = frame(await asyncio.wait_for(ws.recv(), 10))
        assert (first["type"], first["user"]["username"]) == ("state", name)
        # When the master changes the user, the frame arrives on this server's socket
        await in_master(master_ops.update_user, uid, first_name="Lin Mei")
        changed = frame(await asyncio.wait_for(ws.recv(), 15))
        assert (changed["type"], changed["user"]["first_name"]) == ("changed", "Lin Mei")

    # And the handshake rules hold on this server too: 403, never a 500
    for path, origin in [("/ws/users/me/", "http://evil.example"), ("/ws/nope/", app.url)]:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(
                f"{app.ws_url}{path}", origin=origin, additional_headers={"Cookie": cookie}
            ):
                pass
        assert refused.value.response.status_code == 403


def fetch(url: str, cookie: str) -> str:
    request = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return str(answer.read().decode())
