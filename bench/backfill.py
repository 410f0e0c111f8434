"""Backfill rate: users per second into one client that joins after the master has N users.

Starts its own stack (moto's server, a private redis-server, the master in this process
with its Celery worker, one client "early" that receives the users live), creates N users,
then adds a client "late" (provisioned now, so it saw none of them), runs
``python -m master backfill --client late`` as an operator would, and reports the rate the
command printed and the rate until the late client's database holds every user. Prints a
line per figure and writes them as JSON. Stops everything it started.

With ``--packed`` the backfill command runs with REACTIVE_PUBLISH_BATCH=1: snapshots travel
packed into multi-event messages (the live events of the early client are unchanged).

    .venv/bin/python -m bench.backfill [--users 2000] [--max-depth 100] [--packed] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from devstack import master_ops
from devstack.processes import python, until
from devstack.services import moto_server, redis_server
from devstack.stack import running_stack
from reactive_cli.provision import ClientSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--max-depth", type=int, default=100, help="backfill's --max-depth")
    parser.add_argument(
        "--packed", action="store_true", help="backfill with REACTIVE_PUBLISH_BATCH=1"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    # moto only: fake credentials, never the machine's real ones
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        work = Path(tmp)
        with redis_server(work / "redis") as (redis_url, _), moto_server(work / "moto") as moto:
            with running_stack(
                redis_url=redis_url,
                endpoint=moto,
                prefix="b" + uuid.uuid4().hex[:8],
                workdir=work,
                clients=[ClientSpec(name="early")],
            ) as stack:
                figures = run(stack, args.users, args.max_depth, packed=args.packed)
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    if args.out is None:
        name = "backfill-packed.json" if args.packed else "backfill.json"
        args.out = Path("bench/results") / name
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'written':>32}: {args.out}")


def run(stack, users: int, max_depth: int, *, packed: bool = False) -> dict[str, float | int | str]:
    from django.contrib.auth.models import User

    early = stack.clients["early"]
    started = time.perf_counter()
    ids = [master_ops.create_user(f"bf{i}", password=None) for i in range(users)]
    until(
        lambda: early.query("SELECT COUNT(*) AS n FROM replica_replica")[0]["n"] >= users,
        timeout=1800,
        interval=0.5,
        what="the early client to hold every user",
    )
    live_s = time.perf_counter() - started

    late = stack.add_client(ClientSpec(name="late"))
    begin = time.perf_counter()
    ran = subprocess.run(
        python("-m", "master", "backfill", "--client", "late", "--max-depth", str(max_depth)),
        env={**stack.master_env, "REACTIVE_PUBLISH_BATCH": "1" if packed else "0"},
        capture_output=True,
        text=True,
        timeout=1800,
    )
    command_s = time.perf_counter() - begin
    if ran.returncode != 0:
        raise SystemExit(f"backfill failed ({ran.returncode}): {ran.stderr[-2000:]}")
    until(
        lambda: late.query("SELECT COUNT(*) AS n FROM replica_replica")[0]["n"] >= len(ids),
        timeout=1800,
        interval=0.2,
        what="the late client to hold every user",
    )
    converged_s = time.perf_counter() - begin
    summary = (ran.stdout.strip().splitlines() or [""])[-1]
    printed = re.search(r"([\d.]+) users/s", summary)
    in_messages = re.search(r"in (\d+) message\(s\)", summary)
    sent = re.search(r"sent (\d+) in", summary)
    return {
        "users": User.objects.count(),
        "live_events_per_s_early_client": round(users / live_s, 1),
        "backfill_command_s": round(command_s, 2),
        "backfill_rate_printed_users_per_s": float(printed.group(1)) if printed else -1.0,
        "backfill_until_converged_s": round(converged_s, 2),
        "backfill_users_per_s_into_one_client": round(users / converged_s, 1),
        "max_depth": max_depth,
        "packed": packed,
        # the summary names the messages only when fewer than the events
        "backfill_events": int(sent.group(1)) if sent else -1,
        "backfill_messages": int((in_messages or sent).group(1)) if in_messages or sent else -1,
        "command_summary": summary,
    }


if __name__ == "__main__":
    main()
