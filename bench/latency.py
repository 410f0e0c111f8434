"""save() -> websocket frame latency, throughput of a burst, and AWS calls per event.

Runs the real pipeline (private redis-server, moto's SNS/SQS server, a real Celery worker,
daphne and listener, SQLite) on one client, twice: once talking to moto directly, to time
N renames of one user (each save waits for its frame before the next); once through a
counting proxy, to count the AWS calls of the idle renames and of a burst of changes.
Prints figures; asserts nothing. moto is the ceiling here (see TOOLCHAIN.md).

    .venv/bin/python -m bench.latency [--renames 10] [--burst 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench.counting_proxy import CountingProxy
from reactive_cli.provision import ClientSpec
from tests.support import master_ops
from tests.support.processes import until
from tests.support.services import moto_server, redis_server
from tests.support.stack import Stack, frame, running_stack, wait_for_replica


@contextlib.asynccontextmanager
async def user_socket(stack: Stack, username: str):
    shop = stack.clients["shop"]
    uid = await asyncio.to_thread(master_ops.create_user, username, first_name="start")
    await asyncio.to_thread(wait_for_replica, shop, uid, username=username)
    await asyncio.to_thread(shop.set_password, username, "bench-pass")
    cookie = await asyncio.to_thread(shop.login, username, "bench-pass")
    url = f"{shop.ws_url}/ws/users/{urllib.parse.quote(username, safe='')}/"
    async with connect(url, additional_headers={"Cookie": cookie}, origin=shop.url) as ws:
        await ws.recv()  # the state frame
        yield uid, ws


async def renames(uid: int, ws: ClientConnection, n: int) -> list[float]:
    """Rename n times; each save waits for its frame; returns latencies in ms."""
    await asyncio.sleep(1)  # let the idle pipeline settle
    latencies = []
    for i in range(n):
        start = time.perf_counter()
        await asyncio.to_thread(master_ops.update_user, uid, first_name=f"rename-{i}")
        while frame(await asyncio.wait_for(ws.recv(), 30)).get("version") != i + 2:
            pass
        latencies.append((time.perf_counter() - start) * 1000)
        await asyncio.sleep(0.2)
    return latencies


def burst(stack: Stack, n: int) -> float:
    """Create n users as fast as the master saves them; seconds until the client has all.

    Users get no password: hashing one (PBKDF2, ~0.3 s) would measure Django, not the pipeline.
    """
    shop = stack.clients["shop"]
    start = time.perf_counter()
    for i in range(n):
        master_ops.create_user(f"burst-{i}", password=None)
    saved = time.perf_counter() - start

    def converged() -> bool:
        rows = shop.query("SELECT count(*) FROM auth_user WHERE username LIKE 'burst-%'")
        return int(rows[0][0]) == n

    until(converged, timeout=600, interval=0.05, what=f"{n} burst users on the client")
    total = time.perf_counter() - start
    print(
        f"burst: {n} creates saved in {saved:.2f} s; all in the client DB after {total:.2f} s "
        f"-> {n / total:.1f} events/s"
    )
    return total


def print_calls(title: str, calls: Counter[str], events: int) -> None:
    total = sum(calls.values())
    print(f"{title}: {total} AWS calls for {events} events = {total / events:.2f} per event")
    for action, count in sorted(calls.items()):
        print(f"  {action}: {count} ({count / events:.2f} per event)")


@contextlib.contextmanager
def services() -> Iterator[tuple[Path, str, str]]:
    with tempfile.TemporaryDirectory(prefix="reactive-bench-") as tmp:
        work = Path(tmp)
        with redis_server(work / "redis") as (redis_url, _), moto_server(work / "moto") as moto:
            yield work, redis_url, moto


def timed_run(n: int) -> None:
    with (
        services() as (work, redis_url, moto),
        running_stack(
            redis_url=redis_url,
            endpoint=moto,
            prefix="bench",
            workdir=work,
            clients=[ClientSpec(name="shop")],
        ) as stack,
    ):

        async def go() -> list[float]:
            async with user_socket(stack, "bench-user") as (uid, ws):
                return await renames(uid, ws, n)

        ms = asyncio.run(go())
    print(f"save() -> websocket frame, one client, {n} renames (moto direct):")
    print(
        f"  median {statistics.median(ms):.1f} ms, worst {max(ms):.1f} ms, "
        f"best {min(ms):.1f} ms; all: {', '.join(f'{x:.1f}' for x in ms)}"
    )


def counted_run(n: int, burst_n: int) -> None:
    with (
        services() as (work, redis_url, moto),
        CountingProxy(moto) as proxy,
        running_stack(
            redis_url=redis_url,
            endpoint=proxy.url,
            prefix="bench",
            workdir=work,
            clients=[ClientSpec(name="shop")],
        ) as stack,
    ):

        async def go() -> Counter[str]:
            async with user_socket(stack, "bench-user") as (uid, ws):
                before = proxy.snapshot()
                await renames(uid, ws, n)
                return proxy.snapshot() - before

        print_calls(f"idle renames (one at a time, {n})", asyncio.run(go()), n)
        print("  (each event alone: one PublishBatch, one ReceiveMessage, one DeleteMessageBatch)")
        before = proxy.snapshot()
        burst(stack, burst_n)
        print_calls(f"burst of {burst_n} creates", proxy.snapshot() - before, burst_n)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--renames", type=int, default=10)
    parser.add_argument("--burst", type=int, default=300)
    parser.add_argument("--phase", choices=["all", "timed", "counted"], default="all")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    if args.phase == "timed":
        timed_run(args.renames)
    elif args.phase == "counted":
        counted_run(args.renames, args.burst)
    else:  # each phase in its own process: Django reads its settings once per process
        print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()[0]:.2f}")
        for phase in ("timed", "counted"):
            argv = [
                sys.executable,
                "-m",
                "bench.latency",
                "--phase",
                phase,
                "--renames",
                str(args.renames),
                "--burst",
                str(args.burst),
            ]
            subprocess.run(argv, check=True)


if __name__ == "__main__":
    main()
