"""Latency: save() -> websocket frame on every client, for sequential renames of one user.

One user, logged in on every client, with one real websocket per client (the
``websockets`` library, as a browser tab would hold it). After a warm-up, each rename is
saved in the master (its own transaction) and the next starts only once every client's
socket received its frame, plus a short pause: the pipeline is idle at every save. Per
rename the hops are read back: the commit, the relay's settle (outbox ``sent_at``), the
apply on each client (replica ``updated_at``) and the frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

from bench import clientdb, master
from bench.measure import Measurement
from bench.stack import BenchStack
from bench.stats import summary
from devstack.client_app import ClientApp
from devstack.processes import until

#: Pause between two renames, in seconds: every save finds an idle pipeline.
PAUSE_S = 0.1
#: Longest wait for one frame, in seconds.
FRAME_TIMEOUT_S = 30.0


async def _frame_with(ws: ClientConnection, version: int) -> float:
    """Wait for the frame of ``version`` on ``ws``; when it arrived (epoch seconds)."""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
        if frame.get("version") == version:
            return time.time()


async def _renames(
    stack: BenchStack, uid: int, sockets: dict[str, ClientConnection], first: int, count: int
) -> list[dict[str, Any]]:
    """``count`` renames; per rename the save start/end and each socket's frame time."""
    records = []
    for i in range(count):
        version = first + i
        started = time.time()
        await asyncio.to_thread(master.update, uid, first_name=f"rename-{version}")
        saved = time.time()
        arrivals = await asyncio.gather(*(_frame_with(ws, version) for ws in sockets.values()))
        applied = {
            name: clientdb.held(app, [uid])[uid].applied_at for name, app in stack.clients.items()
        }
        records.append(
            {
                "version": version,
                "save_start": started,
                "saved": saved,
                "frames": dict(zip(sockets, arrivals, strict=True)),
                "applied": applied,
            }
        )
        await asyncio.sleep(PAUSE_S)
    return records


def _figures(records: list[dict[str, Any]], settled: dict[int, float | None]) -> dict[str, Any]:
    ms = 1000.0
    clients = list(records[0]["frames"]) if records else []
    per_client = {
        name: summary((r["frames"][name] - r["save_start"]) * ms for r in records)
        for name in clients
    }
    every = summary((max(r["frames"].values()) - r["save_start"]) * ms for r in records)
    first_client = clients[0] if clients else None
    hops: dict[str, Any] = {}
    if first_client:
        hops = {
            "save_and_commit_ms": summary((r["saved"] - r["save_start"]) * ms for r in records),
            "commit_to_relay_settled_ms": summary(
                (settled[r["version"]] - r["saved"]) * ms
                for r in records
                if settled.get(r["version"])
            ),
            "relay_settled_to_applied_ms": summary(
                (r["applied"][first_client] - settled[r["version"]]) * ms
                for r in records
                if settled.get(r["version"])
            ),
            "commit_to_applied_ms": summary(
                (r["applied"][first_client] - r["saved"]) * ms for r in records
            ),
            "applied_to_frame_ms": summary(
                (r["frames"][first_client] - r["applied"][first_client]) * ms for r in records
            ),
            "client": first_client,
        }
    return {
        "renames": len(records),
        "per_client_ms": per_client,
        "all_clients_ms": every,
        "hops_first_client": hops,
    }


@contextlib.asynccontextmanager
async def _sockets(stack: BenchStack, username: str, cookies: dict[str, str]):
    async with contextlib.AsyncExitStack() as opened:
        sockets = {}
        for name, app in stack.clients.items():
            url = f"{app.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"
            ws = await opened.enter_async_context(
                connect(url, additional_headers={"Cookie": cookies[name]}, origin=Origin(app.url))
            )
            frame = json.loads(await asyncio.wait_for(ws.recv(), FRAME_TIMEOUT_S))
            assert frame.get("type") == "state", frame
            sockets[name] = ws
        yield sockets


def _has_version(app: ClientApp, uid: int, version: int) -> Callable[[], bool]:
    return lambda: clientdb.versions(app, [uid]).get(uid) == version


def run(
    stack: BenchStack,
    *,
    renames: int = 100,
    warmup: int = 10,
    profile_dir: Path | None = None,
    progress=print,
) -> dict[str, Any]:
    """Warm up, then time ``renames`` renames; per client and all-clients percentiles."""
    username = "latency-user"
    uid = master.create(username, first_name="start")
    for app in stack.clients.values():
        until(_has_version(app, uid, 1), timeout=60, what=f"the replica on {app.name}")
    cookies = {
        name: clientdb.sessions(app, [username])[username] for name, app in stack.clients.items()
    }

    async def go() -> list[dict[str, Any]]:
        async with _sockets(stack, username, cookies) as sockets:
            await _renames(stack, uid, sockets, 2, warmup)
            await asyncio.sleep(1.0)  # let the warm-up's last deletes and logs settle
            measurement.begin()
            return await _renames(stack, uid, sockets, 2 + warmup, renames)

    measurement = Measurement(stack, "latency", profile_dir, watch_backlog=False)
    records = asyncio.run(go())
    measured = measurement.finish(len(records))
    outbox = master.outbox_times([uid], min_version=2 + warmup)
    settled = {v: s for (_, v), (_, s) in outbox.items()}
    result = _figures(records, settled)
    result.update(measured)
    result["samples_ms"] = {
        "all_clients": [
            round((max(r["frames"].values()) - r["save_start"]) * 1000, 2) for r in records
        ],
    }
    every = result["all_clients_ms"]
    progress(
        f"    latency: {renames} renames, save() -> frame on all {len(stack.clients)} client(s): "
        f"p50 {every['p50']:.1f} ms, p90 {every['p90']:.1f}, p99 {every['p99']:.1f}, "
        f"max {every['max']:.1f}"
    )
    return result
