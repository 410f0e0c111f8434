"""Fault 4: the channel layer's Redis down while a listener applies events.

The client's database must follow the master whatever Redis does; the listener must stay
the same living process; a page that reconnects once Redis is back gets the current state
first and later changes live. Two outages: a long one while the master makes changes, and
a short restart while everything is idle (connections pooled before it are then dead).
"""

from __future__ import annotations

import json
import time
import urllib.parse
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from devstack import master_ops
from devstack.client_app import ClientApp, wait_for_replica
from devstack.convergence import master_state, wait_converged
from devstack.processes import until
from devstack.services import RestartableRedis
from devstack.stack import Stack
from tests.faults.conftest import AddClient
from tests.support.reliability import record

PASSWORD = "client-local-pass-4"
#: Changes per phase: creates of other users, and updates of the watched user, interleaved.
OTHERS = 30
UPDATES = 10


class Page:
    """What the client page does with its socket: open it, and reopen it when it fails."""

    def __init__(self, app: ClientApp, username: str, cookie: str) -> None:
        self.url = f"{app.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"
        self.origin, self.cookie = app.url, cookie
        #: Handshakes that failed (HTTP status, or the error), over the page's life.
        self.failed: list[str] = []

    def open(self) -> ClientConnection:
        """Open the stream, retrying failed handshakes as the page does (it backs off)."""

        def attempt() -> ClientConnection | None:
            try:
                return connect(
                    self.url,
                    additional_headers={"Cookie": self.cookie},
                    origin=self.origin,
                    open_timeout=10,
                )
            except InvalidStatus as exc:
                self.failed.append(f"HTTP {exc.response.status_code}")
            except (OSError, InvalidHandshake) as exc:  # dropped or timed out mid-handshake
                self.failed.append(type(exc).__name__)
            return None

        return until(attempt, timeout=30, interval=0.2, what=f"a socket on {self.url}")


def next_frame(ws: ClientConnection, timeout: float = 20) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(ws.recv(timeout=timeout))
    return value


def close_code(ws: ClientConnection, timeout: float = 20) -> int | None:
    """Read until the server closes the socket; its close code (None if it stayed open)."""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ws.recv(timeout=max(0.1, deadline - time.monotonic()))
    except ConnectionClosed:
        return ws.close_code
    except TimeoutError:
        return None
    return None


def changes(prefix: str, uid: int, tag: str) -> list[int]:
    """OTHERS creates and UPDATES updates of ``uid``, interleaved; every id touched."""
    ids = [uid]
    for n in range(max(OTHERS, UPDATES)):
        if n < OTHERS:
            ids.append(master_ops.create_user(f"{prefix}-{tag}{n}", password=None))
        if n < UPDATES:
            master_ops.update_user(uid, first_name=f"{tag}{n}")
    return ids


def timed_changes(app: ClientApp, prefix: str, uid: int, tag: str) -> tuple[list[int], float]:
    """Make the changes and wait until the client holds them; (ids, seconds it took)."""
    start = time.monotonic()
    ids = changes(prefix, uid, tag)
    comparison = wait_converged(app, ids, timeout=180)
    assert comparison.converged, comparison.summary()
    return ids, time.monotonic() - start


def catch_up(page: Page, uid: int, first_name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Reconnect; (the first frame, the frame of a change the master makes after).

    Frames the listener held back while Redis was away may still come after the state, as
    the page ignores them: those not newer than the state are skipped here too.
    """
    with page.open() as ws:
        state = next_frame(ws)
        master_ops.update_user(uid, first_name=first_name)
        live = next_frame(ws)
        while live["version"] <= state["version"]:
            live = next_frame(ws)
        return state, live


def test_with_the_channel_layer_down_the_database_is_updated_and_pages_catch_up_on_reconnect(
    stack: Stack, add_client: AddClient, layer: RestartableRedis
):
    # Given a replicated user whose page is open on the client
    app = add_client("layer")
    assert app.listener is not None
    prefix = uuid.uuid4().hex[:6]
    name = f"{prefix}-watched"
    uid = master_ops.create_user(name, password=None, first_name="first")
    wait_for_replica(app, uid, version=1)
    app.set_password(name, PASSWORD)
    page = Page(app, name, app.login(name, PASSWORD))
    pid = app.listener.pid
    with page.open() as before:
        assert next_frame(before)["type"] == "state"
        # ... and how long changes take to reach the client's database with the layer up
        up_ids, up_seconds = timed_changes(app, prefix, uid, "up")

        # When the layer's Redis goes away while the master makes changes
        layer.stop()
        down_ids, down_seconds = timed_changes(app, prefix, uid, "down")

        # Then the client's database still follows, and the listener is the same process,
        # alive, having logged the layer's failure (the open socket is closed by daphne)
        failures = app.listener.log().count("channel layer failed")
        alive_while_down = app.listener.alive() and app.listener.pid == pid
        old_socket = close_code(before)

    # When Redis is back, a reconnecting page gets the current state first, then changes live
    layer.start()
    after_outage = master_state([uid])[uid].version
    state, live = catch_up(page, uid, "after outage")

    # When Redis restarts while all is idle (what was pooled before is dead), the same
    failed_before_blip = len(page.failed)
    layer.stop()
    layer.start()
    after_blip = master_state([uid])[uid].version
    blip_state, blip_live = catch_up(page, uid, "after blip")

    ids = sorted(set(up_ids + down_ids))
    final = wait_converged(app, ids, timeout=60)
    frames = [
        (state, "state", after_outage),
        (live, "changed", after_outage + 1),
        (blip_state, "state", after_blip),
        (blip_live, "changed", after_blip + 1),
    ]
    wrong = [f for f, kind, version in frames if (f["type"], f["version"]) != (kind, version)]
    record(
        fault="4. channel layer's Redis down",
        test="test_with_the_channel_layer_down_the_database_is_updated_and_pages_catch_up_on_"
        "reconnect",
        sent=2 * (OTHERS + UPDATES) + 2,
        checked=len(ids) + len(frames),
        lost=len(final.missing),
        diverged=len(final.diverged) + len(wrong),
        detail=(
            f"{OTHERS + UPDATES} changes reached the database in {down_seconds:.1f} s with "
            f"Redis down ({up_seconds:.1f} s up); listener pid {pid} kept running and logged "
            f"{failures} failed batch(es); the open socket was closed ({old_socket}); after "
            f"the outage and after an idle restart a reconnecting page got the current state "
            f"then live changes (failed handshakes first: {page.failed[:failed_before_blip]} "
            f"and {page.failed[failed_before_blip:]})"
        ),
    )
    assert final.converged, final.summary()
    assert alive_while_down, f"listener {pid} died or was replaced:\n{app.listener.log()[-3000:]}"
    assert app.listener.alive() and app.listener.pid == pid
    assert failures >= 1, "the listener never noticed that the channel layer was down"
    assert not wrong, f"stale or missing frames: {wrong}"
    assert state["user"]["first_name"] == f"down{UPDATES - 1}"
    assert (live["user"]["first_name"], blip_live["user"]["first_name"]) == (
        "after outage",
        "after blip",
    )


#: Changes made while the channel layer is frozen: creates of other users, and updates of
#: the watched user (whose page must get every one of them once Redis answers again).
FROZEN_CREATES = 100
FROZEN_UPDATES = 10


def test_with_the_channel_layer_frozen_the_database_keeps_up_and_frames_follow_when_it_answers(
    stack: Stack, add_client: AddClient, layer: RestartableRedis
):
    # Given a replicated user whose page is open on the client, frames arriving
    app = add_client("frozen")
    assert app.listener is not None
    prefix = uuid.uuid4().hex[:6]
    name = f"{prefix}-watched"
    uid = master_ops.create_user(name, password=None, first_name="first")
    wait_for_replica(app, uid, version=1)
    app.set_password(name, PASSWORD)
    page = Page(app, name, app.login(name, PASSWORD))
    pid = app.listener.pid
    with page.open() as ws:
        assert next_frame(ws)["type"] == "state"
        master_ops.update_user(uid, first_name="warm")
        assert next_frame(ws)["user"]["first_name"] == "warm"
        start_version = master_state([uid])[uid].version

        # When the channel layer's Redis is frozen (SIGSTOP: connections open, no answer)
        # while the master makes changes
        layer.freeze()
        try:
            started = time.monotonic()
            ids = [uid]
            for n in range(FROZEN_CREATES):
                ids.append(master_ops.create_user(f"{prefix}-f{n}", password=None))
                if n % (FROZEN_CREATES // FROZEN_UPDATES) == 0:
                    master_ops.update_user(uid, first_name=f"frozen{n}")
            # Then the client's database follows while Redis is still frozen
            frozen = wait_converged(app, ids, timeout=180)
            seconds = time.monotonic() - started
            alive = app.listener.alive() and app.listener.pid == pid
        finally:
            layer.thaw()
        # ... and once Redis answers again, the page gets the frames it missed, in order, up
        # to the last change (every one, unless the notifier saw Redis fail meanwhile: then
        # a user's older frames not sent yet gave way to newer ones)
        final = master_state([uid])[uid].version
        versions: list[int] = []
        ended = "open"
        try:
            while not versions or versions[-1] < final:
                versions.append(next_frame(ws, timeout=30)["version"])
        except TimeoutError:
            ended = "no more frames"
        except ConnectionClosed:
            ended = f"closed by the server ({ws.close_code})"

    expected = list(range(start_version + 1, final + 1))
    in_order = versions == sorted(set(versions)) and set(versions) <= set(expected)
    rate = (FROZEN_CREATES + FROZEN_UPDATES) / seconds
    record(
        fault="13.5 channel layer's Redis frozen (SIGSTOP)",
        test="test_with_the_channel_layer_frozen_the_database_keeps_up_and_frames_follow_when_"
        "it_answers",
        sent=FROZEN_CREATES + FROZEN_UPDATES,
        checked=len(ids) + len(expected),
        lost=len(frozen.missing) + (not versions or versions[-1] != final),
        diverged=len(frozen.diverged) + (not in_order),
        detail=(
            f"{FROZEN_CREATES + FROZEN_UPDATES} changes reached the client's database in "
            f"{seconds:.1f} s with its channel layer's Redis SIGSTOPped ({rate:.0f} events/s; "
            f"listener pid {pid} kept running); after SIGCONT the open page got "
            f"{len(versions)} frame(s) for the {len(expected)} changes of its user "
            f"({'in order' if in_order else 'out of order'}, the last one's "
            f"{'included' if versions and versions[-1] == final else 'missing'}; socket "
            f"{ended})"
        ),
    )
    assert frozen.converged, frozen.summary()
    assert alive, f"listener {pid} died or was replaced:\n{app.listener.log()[-3000:]}"
    assert versions and versions[-1] == final, f"the last change never reached the page: {versions}"
    assert in_order, f"frames out of order or unknown: {versions} (expected within {expected})"
