"""A crowd of websocket clients in its own process: connect, report READY, record frames.

    python -m bench.sockets SPEC.json RESULT.json

SPEC: ``{"ws_base", "origin", "sockets": [{"user", "cookie", "count"}], "expect": {user:
version}, "concurrency", "timeout"}``. Opens ``count`` sockets per user (at most
``concurrency`` handshakes at a time), reads each one's state frame, prints ``READY n`` on
stdout, then records every frame with its arrival time (epoch seconds) until every socket
saw its user's expected version, ``STOP`` arrives on stdin, or ``timeout`` seconds pass;
writes RESULT and exits. Its own process, so that the master's writes in the bench process
do not delay reading frames (and the measured times).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Origin

#: Longest wait for one handshake and its state frame, in seconds.
CONNECT_TIMEOUT_S = 60.0


class Socket:
    """One client socket: its user, first version and the frames it received."""

    def __init__(self, user: str, expect: int) -> None:
        self.user, self.expect = user, expect
        self.initial: int | None = None
        self.frames: list[tuple[int, float, str]] = []
        self.done = asyncio.Event()
        self.ws: ClientConnection | None = None
        self.error = ""
        #: Set when we close it; ``closed`` records a close the server made before that.
        self.closing = False
        self.closed: dict[str, Any] | None = None

    async def open(self, spec: dict[str, Any], cookie: str, gate: asyncio.Semaphore) -> None:
        url = f"{spec['ws_base']}/ws/users/{urllib.parse.quote(self.user, safe='')}/"
        async with gate:
            try:
                self.ws = await asyncio.wait_for(
                    connect(
                        url,
                        additional_headers={"Cookie": cookie},
                        origin=Origin(spec["origin"]),
                        open_timeout=CONNECT_TIMEOUT_S,
                        max_queue=None,
                    ),
                    CONNECT_TIMEOUT_S,
                )
                state = json.loads(await asyncio.wait_for(self.ws.recv(), CONNECT_TIMEOUT_S))
                self.initial = int(state["version"])
            except Exception as exc:  # counted and reported: the run goes on
                self.error = f"{type(exc).__name__}: {exc}"
        if self.initial is not None and self.initial >= self.expect:
            self.done.set()

    async def read(self) -> None:
        if self.ws is None:
            return
        with contextlib.suppress(Exception):
            async for raw in self.ws:
                frame = json.loads(raw)
                version = int(frame.get("version", 0))
                self.frames.append((version, time.time(), str(frame.get("type"))))
                if version >= self.expect:
                    self.done.set()
        if not self.closing:  # the server closed it while we were still listening
            self.closed = {
                "at": time.time(),
                "code": self.ws.close_code,
                "reason": self.ws.close_reason,
            }

    def result(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "initial": self.initial,
            "expect": self.expect,
            "frames": self.frames,
            "error": self.error,
        }


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """In a daemon thread: set ``stop`` on a STOP line or end of input."""
    for line in sys.stdin:
        if line.strip() == "STOP":
            break
    with contextlib.suppress(RuntimeError):  # the loop may be gone already
        loop.call_soon_threadsafe(stop.set)


async def main(spec: dict[str, Any], out: Path) -> None:
    gate = asyncio.Semaphore(int(spec.get("concurrency", 100)))
    sockets, opening = [], []
    for entry in spec["sockets"]:
        for _ in range(int(entry.get("count", 1))):
            socket = Socket(entry["user"], int(spec["expect"][entry["user"]]))
            sockets.append(socket)
            opening.append(socket.open(spec, entry["cookie"], gate))
    started = time.time()
    await asyncio.gather(*opening)
    connected = [s for s in sockets if s.initial is not None]
    print(f"READY {len(connected)} of {len(sockets)} in {time.time() - started:.1f} s", flush=True)
    readers = [asyncio.create_task(s.read()) for s in connected]
    everyone: asyncio.Future[Any] = asyncio.ensure_future(
        asyncio.gather(*(s.done.wait() for s in connected))
    )
    stopped = asyncio.Event()
    threading.Thread(
        target=_watch_stdin, args=(asyncio.get_running_loop(), stopped), daemon=True
    ).start()
    stop: asyncio.Future[Any] = asyncio.ensure_future(stopped.wait())
    await asyncio.wait(
        [everyone, stop],
        timeout=float(spec["timeout"]),
        return_when=asyncio.FIRST_COMPLETED,
    )
    for socket in sockets:
        socket.closing = True
    for waiting in (everyone, stop):
        waiting.cancel()
    await asyncio.gather(everyone, stop, return_exceptions=True)
    result = {"sockets": [s.result() for s in sockets]}
    out.write_text(json.dumps(result))
    for task in readers:
        task.cancel()
    closing = [s.ws.close() for s in connected if s.ws is not None]
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.gather(*closing, return_exceptions=True), 15)
    print("DONE", flush=True)


if __name__ == "__main__":
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spec_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
    asyncio.run(main(json.loads(spec_path.read_text()), out_path))
    sys.exit(0)
