"""One bench configuration (a number of clients) in its own process: ``bench.run`` runs this.

    python -m bench.config --clients 3 --users 1000 --out part.json [--scenarios ...]

The master's Django is set up once per process, so each configuration gets its own. Order:
start the stack; throughput create and update phases (their users are the pool of the next
scenarios); latency; sustained rate; fan-out; the throughput delete phase; peak memory.
Writes every figure as JSON to ``--out``. Everything started is stopped on the way out,
also on SIGTERM or Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from bench import fanout, latency, master, procstat, sustained, throughput
from bench.reference import MOTO_CEILING, nearest
from bench.stack import bench_stack
from bench.throughput import wait_converged

SCENARIOS = ("throughput", "latency", "sustained", "fanout")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """First SIGTERM/SIGINT: unwind (every ``finally`` stops its processes); later ones are
    ignored so that the cleanup itself is not cut short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt(f"signal {signum}")


def _progress(text: str) -> None:
    print(text, flush=True)


def _pool(stack: Any, users: int) -> dict[int, str]:
    """Users for the scenarios when the throughput phases do not make them (not measured)."""
    names = [f"pool-{i:05d}" for i in range(users)]
    ids = [master.create(name, first_name="pool") for name in names]
    wait_converged(stack, master.versions(ids))
    return dict(zip(ids, names, strict=True))


def _attempt(result: dict[str, Any], name: str, scenario: Callable[[], Any]) -> Any:
    """Run one scenario; an error is recorded (and printed) and the next scenario runs."""
    started = time.time()
    try:
        value = scenario()
    except Exception as exc:
        result.setdefault("errors", {})[name] = traceback.format_exc()
        _progress(f"    {name} FAILED: {type(exc).__name__}: {exc}")
        return None
    finally:
        elapsed = time.time() - started
        result.setdefault("scenario_s", {})[name] = elapsed
        _progress(f"    ({name}: {elapsed:.0f} s)")
    return value


def run(args: argparse.Namespace, result: dict[str, Any]) -> None:
    """Every selected scenario on one stack; fills ``result`` as it goes."""
    wanted = set(args.scenarios.split(","))
    profile_dir = Path(args.profile) if args.profile else None
    with tempfile.TemporaryDirectory(prefix=f"reactive-bench-{args.clients}c-") as tmp:
        try:
            _scenarios(args, result, wanted, profile_dir, Path(tmp))
        finally:
            if args.keep_logs:
                _keep_logs(Path(tmp), Path(args.keep_logs))


def _keep_logs(work: Path, into: Path) -> None:
    """Copy every process's log out of the work directory before it is deleted."""
    for log in work.rglob("*.log"):
        target = into / log.relative_to(work)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)


def _scenarios(
    args: argparse.Namespace,
    result: dict[str, Any],
    wanted: set[str],
    profile_dir: Path | None,
    work: Path,
) -> None:
    """Start the stack in ``work`` and run the wanted scenarios on it."""
    started = time.time()
    with bench_stack(
        work, args.clients, progress=_progress, database_url=args.database_url
    ) as stack:
        result["startup_s"] = time.time() - started
        result["pids"] = stack.pids()
        _progress(f"  stack up in {result['startup_s']:.1f} s: {', '.join(stack.clients)}")
        pool: dict[int, str] = {}
        if "throughput" in wanted:
            _progress("  throughput")
            made = _attempt(
                result,
                "throughput",
                lambda: throughput.run(
                    stack,
                    args.users,
                    per_commit=args.writes_per_commit,
                    profile_dir=profile_dir,
                    progress=_progress,
                ),
            )
            if made:
                ids, phases = made
                result["throughput"] = {"phases": phases}
                pool = {uid: f"tp-{i:05d}" for i, uid in enumerate(ids)}
        if not pool and wanted & {"sustained", "fanout"}:
            pool = _pool(stack, args.users)
        if "latency" in wanted:
            _progress("  latency")
            result["latency"] = _attempt(
                result,
                "latency",
                lambda: latency.run(
                    stack, renames=args.renames, warmup=args.warmup, progress=_progress
                ),
            )
        if "sustained" in wanted:
            _progress("  sustained rate")
            result["sustained"] = _attempt(
                result,
                "sustained",
                lambda: sustained.run(
                    stack,
                    list(pool),
                    start_rate=_start_rate(args),
                    step_seconds=args.step_seconds,
                    hold_seconds=args.hold_seconds,
                    max_rate=nearest_ceiling(args.clients),
                    progress=_progress,
                ),
            )
        if "fanout" in wanted and args.fanout:
            _progress("  fan-out")
            result["fanout"] = _attempt(
                result,
                "fanout",
                lambda: fanout.run(
                    stack,
                    pool,
                    hot_sockets=args.hot_sockets,
                    hot_updates=args.hot_updates,
                    progress=_progress,
                ),
            )
        if result.get("throughput"):
            deleted = _attempt(
                result,
                "throughput-delete",
                lambda: throughput.delete_phase(
                    stack,
                    list(pool),
                    per_commit=args.writes_per_commit,
                    profile_dir=profile_dir,
                    progress=_progress,
                ),
            )
            if deleted:
                result["throughput"]["phases"]["delete"] = deleted
        result["memory_mib"] = {
            name: procstat.memory_mib(pid)
            for name, pid in stack.pids().items()
            if name.startswith(("listener-", "daphne-", "worker", "moto", "redis"))
        }
        _progress("  stopping the stack")


def nearest_ceiling(clients: int) -> float:
    """The highest rate worth trying: moto's ceiling for this many clients."""
    return nearest(MOTO_CEILING, clients)["events_per_s"]


#: Where the sustained search starts, as a share of moto's ceiling for the client count: the
#: pipeline sustains about a third of it (2026-11-24: 154/s of 485 to one client, 51-82/s of
#: 177 to three), so the search starts near its answer rather than climbing from a burst
#: rate that a backlog held down.
START_SHARE_OF_CEILING = 0.3


def _start_rate(args: argparse.Namespace) -> float:
    """Where the sustained search starts: ``--start-rate``, else ``START_SHARE_OF_CEILING``
    of moto's ceiling for this many clients, at least 20 events/s."""
    if args.start_rate:
        return float(args.start_rate)
    return round(max(20.0, START_SHARE_OF_CEILING * nearest_ceiling(args.clients)), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clients", type=int, required=True)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--renames", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--hold-seconds", type=float, default=60.0)
    parser.add_argument("--start-rate", type=float, default=0.0)
    parser.add_argument("--fanout", action="store_true", help="run fan-out in this configuration")
    parser.add_argument("--hot-sockets", type=int, default=100)
    parser.add_argument("--hot-updates", type=int, default=10)
    parser.add_argument("--profile", default="", help="directory for py-spy profiles")
    parser.add_argument("--relay", choices=["celery", "thread"], default="celery")
    parser.add_argument("--max-queue-depth", type=int, default=0)
    parser.add_argument("--publish-batch", action="store_true", help="REACTIVE_PUBLISH_BATCH=1")
    parser.add_argument("--writes-per-commit", type=int, default=1)
    parser.add_argument("--keep-logs", default="", help="copy the processes' logs here")
    parser.add_argument(
        "--database-url",
        default="",
        help="a PostgreSQL server: fresh databases for the master and clients (default SQLite)",
    )
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    os.environ["REACTIVE_RELAY"] = args.relay  # read by the master's settings at setup
    os.environ["REACTIVE_RELAY_MAX_QUEUE_DEPTH"] = str(args.max_queue_depth)
    os.environ["REACTIVE_PUBLISH_BATCH"] = "1" if args.publish_batch else "0"
    started = time.time()
    result: dict[str, Any] = {
        "clients": args.clients,
        "users": args.users,
        "relay": args.relay,
        "max_queue_depth": args.max_queue_depth,
        "publish_batch": args.publish_batch,
        "writes_per_commit": args.writes_per_commit,
        "database": "postgres" if args.database_url else "sqlite",
    }
    code = 0
    try:
        run(args, result)
    except KeyboardInterrupt:
        print("  interrupted: everything started was stopped", file=sys.stderr, flush=True)
        code = 130
    except Exception:
        result.setdefault("errors", {})["stack"] = traceback.format_exc()
        print(result["errors"]["stack"], file=sys.stderr, flush=True)
        code = 1
    finally:
        result["elapsed_s"] = time.time() - started
        Path(args.out).write_text(json.dumps(result, indent=1, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main())
