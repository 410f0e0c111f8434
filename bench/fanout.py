"""Fan-out: every user of a pool with one open websocket on one client, plus one user with
many sockets; a burst of updates to all of them through the whole pipeline.

The sockets live in their own process (``bench.sockets``), logged in with sessions written
in one batch into the client's database (``clientdb.sessions``). The master then updates
every pool user once and the crowded user several times, spread through the burst, as fast
as one writer saves. Every socket must receive every version of its user, in order: a
version a socket never saw is a lost frame. Per frame: time from its save() to its arrival.
"""

from __future__ import annotations

import json
import queue
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench import clientdb, master, procstat
from bench.measure import Measurement
from bench.stack import BenchStack
from bench.stats import summary
from bench.throughput import wait_converged
from devstack.processes import python, until

#: Longest wait for every socket to connect, in seconds.
CONNECT_TIMEOUT_S = 300.0
#: Once every client applied every event, how long its frames may still take, in seconds.
FRAME_GRACE_S = 15.0


def _lines(stream: Any, into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line.rstrip("\n"))


def _wait_line(lines: queue.Queue[str], prefix: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        except queue.Empty:
            raise TimeoutError(
                f"no {prefix!r} from the socket process in {timeout:.0f} s"
            ) from None
        if line.startswith(prefix):
            return line


def _plan(pool: list[int], hot: int, hot_updates: int) -> list[int]:
    """Every pool user once, the hot user ``hot_updates`` times spread evenly among them."""
    order: list[int] = []
    every = max(1, len(pool) // max(1, hot_updates))
    for i, uid in enumerate(pool):
        if i % every == 0 and order.count(hot) < hot_updates:
            order.append(hot)
        order.append(uid)
    order.extend([hot] * (hot_updates - order.count(hot)))
    return order


def run(
    stack: BenchStack,
    pool: dict[int, str],
    *,
    hot_sockets: int = 100,
    hot_updates: int = 10,
    timeout: float = 600.0,
    progress=print,
) -> dict[str, Any]:
    """Open the sockets, burst the updates, count what every socket got."""
    app = next(iter(stack.clients.values()))
    hot_name = "fanout-hot"
    hot = master.create(hot_name, first_name="hot")
    until(lambda: clientdb.versions(app, [hot]).get(hot) == 1, timeout=60, what="hot replica")
    names = {**pool, hot: hot_name}
    cookies = clientdb.sessions(app, list(names.values()))
    base = master.versions(list(names))
    order = _plan(list(pool), hot, hot_updates)
    expect = {names[uid]: base[uid] + order.count(uid) for uid in names}
    sockets = [{"user": n, "cookie": cookies[n], "count": 1} for n in pool.values()]
    sockets.append({"user": hot_name, "cookie": cookies[hot_name], "count": hot_sockets})
    with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "result.json"
        spec = {
            "ws_base": app.ws_url,
            "origin": app.url,
            "sockets": sockets,
            "expect": expect,
            "concurrency": 100,
            "timeout": CONNECT_TIMEOUT_S + timeout,
        }
        spec_path.write_text(json.dumps(spec))
        argv = python("-m", "bench.sockets", str(spec_path), str(out_path))
        daphne_from = len(app.daphne.log()) if app.daphne else 0
        farm = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            lines: queue.Queue[str] = queue.Queue()
            threading.Thread(target=_lines, args=(farm.stdout, lines), daemon=True).start()
            ready = _wait_line(lines, "READY", CONNECT_TIMEOUT_S)
            progress(f"    fan-out: sockets {ready.removeprefix('READY ')}")
            log_from = {n: len(a.listener.log()) for n, a in stack.clients.items() if a.listener}
            measurement = Measurement(stack, "fanout").begin()
            saved_at: dict[tuple[int, int], float] = {}
            version = dict(base)
            first = time.time()
            for uid in order:
                version[uid] += 1
                saved_at[(uid, version[uid])] = time.time()
                master.update(uid, first_name=f"fan-{version[uid]}")
            last = time.time()
            # Every event applied (or the timeout): then its frames are sent; grant them a grace.
            wait_converged(stack, master.versions(list(names)), timeout=timeout)
            try:
                _wait_line(lines, "DONE", FRAME_GRACE_S)
            except TimeoutError:
                pass  # the sockets still missing frames are counted as lost below
            measured = measurement.finish(len(order))
            dropped = _over_capacity(stack, log_from)
        finally:
            if farm.poll() is None and farm.stdin is not None:
                try:
                    farm.stdin.write("STOP\n")
                    farm.stdin.close()
                except OSError:
                    pass
            try:
                farm.wait(60)
            except subprocess.TimeoutExpired:
                farm.kill()
                farm.wait(10)
        crowd = json.loads(out_path.read_text())
    opened = sum(1 for socket in crowd["sockets"] if socket["initial"] is not None)
    daphne_errors = _daphne_errors(app, daphne_from, opened)
    result = _figures(crowd, names, saved_at, first, last)
    result.update(
        users=len(pool),
        hot_sockets=hot_sockets,
        hot_updates=hot_updates,
        events=len(order),
        master_write_s=last - first,
        daphne_mib=procstat.memory_mib(app.daphne.pid) if app.daphne else {},
        backlog=measured.get("backlog"),
        channel_layer_over_capacity=dropped,
        daphne_errors=daphne_errors,
        cpu_s=measured["cpu_s"],
    )
    progress(
        f"    fan-out: {result['sockets']} sockets, {result['frames_expected']} frames expected, "
        f"{result['frames_lost']} lost; last frame {result['last_frame_after_last_save_s']:.2f} s "
        f"after the last save; per frame p50 {result['frame_ms']['p50']:.0f} ms, "
        f"p99 {result['frame_ms']['p99']:.0f} ms"
    )
    return result


#: The last line of a traceback: ``package.module.SomeError: message``.
_EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Timeout)): (.*)$")


def _daphne_errors(app: Any, start: int, sockets: int) -> dict[str, int]:
    """Exceptions daphne logged from the sockets' first handshake to their last close, by
    type and message (e.g. a channel-layer call failing inside a consumer). The closes are
    handled after the crowd process exits: wait until daphne logged a disconnect for every
    socket and its log stayed still for 2 s (at most 60 s)."""
    if app.daphne is None:
        return {}
    deadline = time.monotonic() + 60
    text, still_since = app.daphne.log(), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = app.daphne.log()
        if len(now) != len(text):
            text, still_since = now, time.monotonic()
        closed = text.count("WSDISCONNECT", start) >= sockets
        if closed and time.monotonic() - still_since >= 2.0:
            break
    found: dict[str, int] = {}
    for line in text[start:].splitlines():
        match = _EXCEPTION_LINE.match(line)
        if match:
            key = f"{match.group(1)}: {match.group(2)[:80]}"
            found[key] = found.get(key, 0) + 1
    return found


def _over_capacity(stack: BenchStack, log_from: dict[str, int]) -> int:
    """Group sends channels-redis dropped during the burst, from the listeners' logs: it
    logs "N of M channels over capacity in group G" and drops the message for those N."""
    dropped = 0
    for name, start in log_from.items():
        listener = stack.clients[name].listener
        for line in listener.log()[start:].splitlines() if listener else []:
            if "channels over capacity in group" in line:
                dropped += int(line.split(" of ", 1)[0].rsplit(" ", 1)[-1])
    return dropped


def _figures(
    crowd: dict[str, Any],
    names: dict[int, str],
    saved_at: dict[tuple[int, int], float],
    first: float,
    last: float,
) -> dict[str, Any]:
    ids = {name: uid for uid, name in names.items()}
    expected = lost = duplicates = out_of_order = failed = closed = 0
    latencies, arrivals = [], []
    lost_detail: list[dict[str, Any]] = []
    failed_detail: list[dict[str, Any]] = []
    for socket in crowd["sockets"]:
        if socket["initial"] is None:
            failed += 1
            if len(failed_detail) < 5:
                failed_detail.append({"user": socket["user"], "error": socket.get("error", "")})
            continue
        uid = ids[socket["user"]]
        closed += 1 if socket.get("closed_by_server") else 0
        wanted = set(range(socket["initial"] + 1, socket["expect"] + 1))
        seen = [v for v, _, _ in socket["frames"]]
        expected += len(wanted)
        missing = sorted(wanted - set(seen))
        lost += len(missing)
        if missing and len(lost_detail) < 20:
            lost_detail.append(
                {
                    "user": socket["user"],
                    "missing_versions": missing,
                    "received": seen,
                    "error": socket.get("error", ""),
                }
            )
        duplicates += len(seen) - len(set(seen))
        out_of_order += sum(1 for a, b in zip(seen, seen[1:], strict=False) if b < a)
        for version, at, _ in socket["frames"]:
            if (uid, version) in saved_at:
                latencies.append((at - saved_at[(uid, version)]) * 1000)
                arrivals.append(at)
    last_frame = max(arrivals, default=None)
    return {
        "sockets": len(crowd["sockets"]),
        "sockets_connected": len(crowd["sockets"]) - failed,
        "sockets_failed": failed,
        "failed_examples": failed_detail,
        "sockets_closed_by_server": closed,
        "frames_expected": expected,
        "frames_received": len(latencies),
        "frames_lost": lost,
        "lost_examples": lost_detail,
        "frames_duplicated": duplicates,
        "frames_out_of_order": out_of_order,
        "first_save_to_last_frame_s": last_frame - first if last_frame else None,
        "last_frame_after_last_save_s": last_frame - last if last_frame else None,
        "frame_ms": summary(latencies),
    }
