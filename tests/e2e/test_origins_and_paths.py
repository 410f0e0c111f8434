"""Exact origins and unknown paths, against real daphnes and a real websocket client.

The shared stack's ``shop`` allows exactly its own origin, ``http://127.0.0.1:{shop}``. A
daphne of shop's with the environment ``reactive up`` gives it (before, none: the default
patterns ``localhost`` and ``127.0.0.1`` accepted any scheme and port, so ``blog``'s pages
could read ``shop``'s streams), and one allowing ``https://shop.example.com`` and
``http://localhost:8001`` check the finding's hosts and default ports. Each probe is
recorded for docs/security.md before it is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from devstack.client_app import frame
from devstack.processes import Proc, free_port, port_open, until
from devstack.stack import Stack
from reactive_cli.localstack import Layout, Ports, client_daphne
from tests.e2e.test_websocket_security import logged_in_user, stream
from tests.support import security

pytestmark = pytest.mark.asyncio
OPENED, REFUSED = "opened, state frame first", "refused: HTTP 403"

#: (Origin header, as a template of the client's ports; expected) on the shared ``shop``.
SHOP_MATRIX = [
    ("http://127.0.0.1:{shop}", OPENED),
    ("HTTP://127.0.0.1:{shop}", OPENED),
    ("http://127.0.0.1:9999", REFUSED),
    ("https://127.0.0.1", REFUSED),
    ("https://127.0.0.1:{shop}", REFUSED),
    ("http://127.0.0.1", REFUSED),
    ("http://localhost:{shop}", REFUSED),
    ("http://127.0.0.1:{blog}", REFUSED),
    # daphne's websocket library refuses an Origin whose port is no number before the app
    ("http://127.0.0.1:{shop}.evil.example", "refused: HTTP 400"),
    ("http://evil.example", REFUSED),
    ("http://127.0.0.1:{shop}/", REFUSED),
    ("http://user@127.0.0.1:{shop}", REFUSED),
    ("null", REFUSED),
    ("ws://127.0.0.1:{shop}", REFUSED),
    (None, REFUSED),
]

#: The second daphne's REACTIVE_ALLOWED_ORIGINS, and (Origin, expected) against it.
CONFIGURED = "https://shop.example.com,http://localhost:8001"
CONFIGURED_MATRIX = [
    ("https://shop.example.com", OPENED),
    ("https://shop.example.com:443", OPENED),
    ("HTTPS://SHOP.EXAMPLE.COM", OPENED),
    ("http://LOCALHOST:8001", OPENED),
    ("http://shop.example.com", REFUSED),
    ("https://shop.example.com:8443", REFUSED),
    ("https://evil.shop.example.com", REFUSED),
    ("https://shop.example.com.evil.example", REFUSED),
    ("HTTP://LOCALHOST", REFUSED),
    ("http://localhost:8002", REFUSED),
    ("http://127.0.0.1:8001", REFUSED),
    ("http://127.0.0.1:9999", REFUSED),
    ("https://127.0.0.1", REFUSED),
]

#: Websocket paths that are no stream, as (path template, what it probes).
UNKNOWN_PATHS = [
    "/anything",
    "/ws/users/{name}/b/",
    "/ws/users//",
    "/ws/users/{name}",
    "/ws/",
    "/",
    "/ws/users/{name}/%2e%2e/",
]


#: (Origin, expected) against shop as the local stack runs it, shop and blog on their ports.
LOCAL_STACK_MATRIX = [
    ("http://127.0.0.1:{shop}", OPENED),
    ("http://localhost:{shop}", OPENED),
    ("http://127.0.0.1:{blog}", REFUSED),
    ("http://localhost:{blog}", REFUSED),
    ("http://127.0.0.1:9999", REFUSED),
    ("https://127.0.0.1", REFUSED),
    ("HTTP://LOCALHOST", REFUSED),
]


@dataclass
class Daphne:
    """Another daphne of ``shop``'s (same database and channel layer), with other settings."""

    proc: Proc
    port: int

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


@contextlib.contextmanager
def shop_daphne(stack: Stack, port: int, origins: str | None) -> Iterator[Daphne]:
    """shop's daphne on ``port`` with REACTIVE_ALLOWED_ORIGINS=``origins`` (None: unset)."""
    shop = stack.clients["shop"]
    env = {k: v for k, v in shop.env.items() if k != "REACTIVE_ALLOWED_ORIGINS"}
    if origins is not None:
        env["REACTIVE_ALLOWED_ORIGINS"] = origins
    name = f"daphne-origins-{uuid.uuid4().hex[:6]}"
    proc = Proc(name, client_daphne(sys.executable, port), env, shop.log_dir)
    try:
        proc.wait_ready(lambda: port_open(port), timeout=30)
        yield Daphne(proc=proc, port=port)
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def configured(stack: Stack) -> Iterator[Daphne]:
    with shop_daphne(stack, free_port(), CONFIGURED) as daphne:
        yield daphne


@pytest.fixture(scope="module")
def local_stack_shop(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daphne]:
    """shop's daphne with the origins ``reactive up`` gives it, and blog's port beside it."""
    ports = (free_port(), stack.clients["blog"].port)
    layout = Layout(state_dir=tmp_path_factory.mktemp("up"), bind=Ports(clients=ports))
    origins = layout.client_env("shop").get("REACTIVE_ALLOWED_ORIGINS")  # None: the default
    with shop_daphne(stack, ports[0], origins) as daphne:
        yield daphne


async def outcome(url: str, origin: str | None, cookie: str) -> str:
    """What a handshake with this Origin (None: no header) and session cookie gets."""
    options: dict[str, Any] = {"additional_headers": {"Cookie": cookie}, "open_timeout": 10}
    if origin is not None:
        options["origin"] = origin
    try:
        async with connect(url, **options) as ws:
            first = frame(await asyncio.wait_for(ws.recv(), 20))
            return OPENED if first["type"] == "state" else f"opened, first frame {first}"
    except InvalidStatus as refused:
        return f"refused: HTTP {refused.response.status_code}"


def probe(area: str, attack: str, expected: str, observed: str) -> None:
    security.record(area=area, attack=attack, expected=expected, observed=observed)
    assert observed == expected, attack


async def test_only_the_clients_exact_origin_opens_a_stream(stack: Stack):
    shop, blog = stack.clients["shop"], stack.clients["blog"]
    name, session = await logged_in_user(shop)
    ports = {"shop": shop.port, "blog": blog.port}
    allowed = "http://127.0.0.1:{shop}"

    observed = {
        template: await outcome(
            stream(shop, name), None if template is None else template.format(**ports), session
        )
        for template, _ in SHOP_MATRIX
    }

    for template, expected in SHOP_MATRIX:
        shown = "no Origin header" if template is None else f"Origin {template}"
        attack = f"session socket from {shown} (allowed: {allowed})"
        security.record(
            area="websocket: origin", attack=attack, expected=expected, observed=observed[template]
        )
    assert observed == dict(SHOP_MATRIX)


async def test_the_local_stacks_shop_refuses_blogs_pages_and_every_other_port(
    stack: Stack, local_stack_shop: Daphne
):
    shop = stack.clients["shop"]
    name, session = await logged_in_user(shop)
    url = stream(shop, name).replace(shop.ws_url, local_stack_shop.ws_url)
    ports = {"shop": local_stack_shop.port, "blog": stack.clients["blog"].port}

    observed = {
        template: await outcome(url, template.format(**ports), session)
        for template, _ in LOCAL_STACK_MATRIX
    }

    for template, expected in LOCAL_STACK_MATRIX:
        attack = f"session socket to reactive up's shop from Origin {template}"
        security.record(
            area="websocket: origin", attack=attack, expected=expected, observed=observed[template]
        )
    assert observed == dict(LOCAL_STACK_MATRIX)


async def test_origins_match_after_normalising_case_and_default_ports(
    stack: Stack, configured: Daphne
):
    shop = stack.clients["shop"]
    name, session = await logged_in_user(shop)
    url = stream(shop, name).replace(shop.ws_url, configured.ws_url)

    observed = {origin: await outcome(url, origin, session) for origin, _ in CONFIGURED_MATRIX}

    for origin, expected in CONFIGURED_MATRIX:
        attack = f"session socket from Origin {origin} (allowed: {CONFIGURED.replace(',', ', ')})"
        security.record(
            area="websocket: origin", attack=attack, expected=expected, observed=observed[origin]
        )
    assert observed == dict(CONFIGURED_MATRIX)


async def test_a_bare_host_in_the_allowed_origins_stops_daphne_at_start_with_the_fix(
    stack: Stack,
):
    shop = stack.clients["shop"]
    env = {**shop.env, "REACTIVE_ALLOWED_ORIGINS": "localhost,shop.example.com"}
    name = f"daphne-bare-{uuid.uuid4().hex[:6]}"
    proc = Proc(name, client_daphne(sys.executable, free_port()), env, shop.log_dir)
    try:
        await asyncio.to_thread(
            until, lambda: not proc.alive(), timeout=30, what="daphne to refuse its settings"
        )
    finally:
        proc.stop()
    log = proc.log_path.read_text()
    errors = [line for line in log.splitlines() if "ConfigError" in line]

    observed = f"exit {proc.popen.returncode}: {errors[-1] if errors else log[-300:]}"
    expected = (
        "exit 1: reactive_users.core.errors.ConfigError: "
        "REACTIVE_ALLOWED_ORIGINS entry 'localhost' has no scheme, and so would match any "
        "scheme and port: write it as http://localhost "
        "or https://localhost (add :PORT unless it is 80 or 443)"
    )
    probe(
        "websocket: origin",
        "REACTIVE_ALLOWED_ORIGINS=localhost,shop.example.com at start-up",
        expected,
        observed,
    )


async def test_an_unknown_websocket_path_is_refused_without_a_traceback(stack: Stack):
    shop = stack.clients["shop"]
    name, session = await logged_in_user(shop)
    assert shop.daphne is not None
    log_from = len(shop.daphne.log())

    observed = {
        path: await outcome(shop.ws_url + path.format(name=name), shop.url, session)
        for path in UNKNOWN_PATHS
    }
    # ...and daphne still serves the real stream after them
    after = await outcome(stream(shop, name), shop.url, session)
    new_log = shop.daphne.log()[log_from:]

    for path in UNKNOWN_PATHS:
        probe(
            "websocket: paths",
            f"socket to {path} (a logged-in user, allowed origin)",
            REFUSED,
            observed[path],
        )
    clean = "no Traceback, no ERROR line"
    bad = [line for line in new_log.splitlines() if "Traceback" in line or " ERROR " in line]
    probe("websocket: paths", "daphne's log after those sockets", clean, "; ".join(bad) or clean)
    assert after == OPENED
