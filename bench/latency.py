"""save() -> websocket frame latency on one client, and AWS calls per event.

Runs the real pipeline (private redis-server, moto's SNS/SQS server behind a counting proxy,
a real Celery worker, a real daphne and listener) and renames one user N times, waiting for
each frame before the next save. Prints figures; asserts nothing.

    .venv/bin/python -m bench.latency [--renames 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import urllib.parse
from pathlib import Path

from websockets.asyncio.client import connect

from bench.counting_proxy import CountingProxy
from reactive_cli.provision import ClientSpec
from tests.support import master_ops
from tests.support.services import moto_server, redis_server
from tests.support.stack import frame, running_stack, wait_for_replica


async def measure(stack, renames: int, proxy: CountingProxy) -> None:
    shop = stack.clients["shop"]
    uid = await asyncio.to_thread(master_ops.create_user, "bench-user", first_name="start")
    await asyncio.to_thread(wait_for_replica, shop, uid, username="bench-user")
    await asyncio.to_thread(shop.set_password, "bench-user", "bench-pass")
    session = await asyncio.to_thread(shop.login, "bench-user", "bench-pass")
    url = f"{shop.ws_url}/ws/users/{urllib.parse.quote('bench-user')}/"
    latencies: list[float] = []
    async with connect(url, additional_headers={"Cookie": session}, origin=shop.url) as ws:
        await ws.recv()  # the state frame
        await asyncio.sleep(1)  # let the idle pipeline settle (empty long polls in flight)
        before = proxy.snapshot()
        for i in range(renames):
            start = time.perf_counter()
            await asyncio.to_thread(master_ops.update_user, uid, first_name=f"rename-{i}")
            while frame(await asyncio.wait_for(ws.recv(), 30)).get("version") != i + 2:
                pass
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(0.2)
        after = proxy.snapshot()
    calls = after - before
    total = sum(calls.values())
    print(f"renames: {renames}, one client, save() -> websocket frame")
    print(
        f"  median {statistics.median(latencies):.1f} ms, worst {max(latencies):.1f} ms, "
        f"best {min(latencies):.1f} ms"
    )
    print(f"  all: {', '.join(f'{x:.1f}' for x in latencies)}")
    print(f"AWS calls during the renames: {total} ({total / renames:.2f} per event)")
    for action, n in sorted(calls.items()):
        print(f"  {action}: {n} ({n / renames:.2f} per event)")
    print("  (ReceiveMessage includes empty long polls while idle between renames)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--renames", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reactive-bench-") as tmp:
        work = Path(tmp)
        with (
            redis_server(work / "redis") as (redis_url, _),
            moto_server(work / "moto") as moto,
            CountingProxy(moto) as proxy,
        ):
            with running_stack(
                redis_url=redis_url,
                endpoint=proxy.url,
                prefix="bench",
                workdir=work,
                clients=[ClientSpec(name="shop")],
            ) as stack:
                asyncio.run(measure(stack, args.renames, proxy))


if __name__ == "__main__":
    import os

    os.environ.update(
        AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1"
    )
    main()
