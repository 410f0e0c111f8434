"""Run the whole bench: every scenario, for each number of clients, each in its own process.

    .venv/bin/python -m bench.run [--users 1000] [--clients 1,3] [--repeat 1] [--quick]
                                  [--only throughput,sustained,latency,calls,cost,fanout]
                                  [--out bench/results/latest.json] [--profile]
                                  [--database sqlite|postgres] [--database-url URL]

Each configuration runs ``python -m bench.config`` in a subprocess (the master's Django is
set up once per process), which starts its own stack on free loopback ports and stops it.
This process is a child subreaper: whatever a configuration started and left behind (even if
it was killed) becomes our child, and is stopped here by PID. Prints one table per scenario
(figure, ratio to the prototype and to moto's ceiling, target) and writes all figures as JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

from bench import databases, procstat, profiling, reference, report
from bench.figures import figures, median_figures
from reactive_cli.localstack import RELAY_MAX_QUEUE_DEPTH

#: What ``--only`` accepts; "calls" and "cost" are measured during the throughput phases.
SCENARIOS = ("throughput", "sustained", "latency", "calls", "cost", "fanout")
#: linux/prctl.h: become the reaper of orphaned descendants.
PR_SET_CHILD_SUBREAPER = 36


def _subreaper() -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _stop_pid(pid: int, started: int | None, grace: float = 10.0) -> None:
    """SIGTERM a process (and its group, if it leads one), then SIGKILL; only if it is still
    the process we saw (same start time)."""
    if procstat.start_ticks(pid) != started:
        return
    leads_group = os.getpgid(pid) == pid if procstat.start_ticks(pid) else False
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if leads_group else os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if procstat.start_ticks(pid) != started:
                return
            time.sleep(0.1)


def _reap_leftovers(known: dict[int, int | None]) -> int:
    """Stop every process a configuration left behind: our orphaned children, and the
    descendants seen earlier. Returns how many were still running."""
    me = os.getpid()
    left = {pid: procstat.start_ticks(pid) for pid in procstat.children_of({me})}
    left.update({pid: t for pid, t in known.items() if procstat.start_ticks(pid) == t})
    running = {pid: t for pid, t in left.items() if not procstat.is_zombie(pid)}
    for pid, started in running.items():
        print(f"stopping {pid} left behind: {procstat.cmdline(pid)[:120]}", flush=True)
        _stop_pid(pid, started)
    with contextlib.suppress(ChildProcessError):  # reap what exited (zombies included)
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    return len(running)


def run_config(argv: list[str], timeout: float, database_url: str = "") -> int:
    """Run one configuration process; on interrupt, stop it and everything it started,
    and drop the PostgreSQL databases it left on ``database_url``."""
    child = subprocess.Popen(argv)
    seen: dict[int, int | None] = {}
    try:
        deadline = time.monotonic() + timeout
        ticks = 0
        while child.poll() is None:
            if ticks % 10 == 0:  # every 5 s: remembered in case the configuration is killed
                for pid in procstat.descendants(child.pid):
                    seen.setdefault(pid, procstat.start_ticks(pid))
            if time.monotonic() > deadline:
                print(f"configuration took longer than {timeout:.0f} s: stopping it", flush=True)
                raise TimeoutError
            ticks += 1
            time.sleep(0.5)
        return child.returncode
    except (KeyboardInterrupt, TimeoutError):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)  # it stops its own stack
            try:
                child.wait(120)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(10)
        raise
    finally:
        stray = _reap_leftovers(seen)
        if stray:
            print(f"stopped {stray} process(es) a configuration left behind", flush=True)
        if database_url:
            _drop_leftover_databases(database_url, child.pid)


def _drop_leftover_databases(server_url: str, pid: int) -> None:
    """Drop the databases configuration ``pid`` did not drop itself (it was killed)."""
    try:
        dropped = databases.drop(server_url, databases.leftovers(server_url, pid))
    except databases.DatabaseError as e:
        print(f"could not drop configuration {pid}'s databases: {e}", flush=True)
        return
    if dropped:
        print(f"dropped {len(dropped)} database(s) a configuration left: {', '.join(dropped)}")


def _meta(args: argparse.Namespace) -> dict[str, Any]:
    def git(*cmd: str) -> str:
        result = subprocess.run(["git", *cmd], capture_output=True, text=True, check=False)
        return result.stdout.strip()

    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cores": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "python": platform.python_version(),
        "moto": metadata.version("moto"),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(git("status", "--porcelain").splitlines()),
        "database": args.database,
        "database_server": _without_password(args.database_url),
        "args": {**vars(args), "database_url": _without_password(args.database_url)},
    }


def _config_argv(args: argparse.Namespace, clients: int, fanout: bool, out: Path) -> list[str]:
    wanted = set(args.only.split(","))
    scenarios = [s for s in ("throughput", "latency", "sustained", "fanout") if s in wanted]
    if wanted & {"calls", "cost"} and "throughput" not in scenarios:
        scenarios.insert(0, "throughput")
    argv = [
        sys.executable,
        "-m",
        "bench.config",
        "--clients",
        str(clients),
        "--users",
        str(args.users),
        "--scenarios",
        ",".join(scenarios),
        "--renames",
        str(args.renames),
        "--warmup",
        str(args.warmup),
        "--step-seconds",
        str(args.step_seconds),
        "--hold-seconds",
        str(args.hold_seconds),
        "--hot-sockets",
        str(args.hot_sockets),
        "--hot-updates",
        str(args.hot_updates),
        "--relay",
        args.relay,
        "--max-queue-depth",
        str(args.max_queue_depth),
        "--out",
        str(out),
    ]
    if args.database_url:
        argv += ["--database-url", args.database_url]
    if fanout:
        argv.append("--fanout")
    if args.publish_batch:
        argv.append("--publish-batch")
    argv += ["--writes-per-commit", str(args.writes_per_commit)]
    if args.profile_dir:
        argv += ["--profile", str(Path(args.profile_dir) / f"{clients}-clients")]
    if args.logs_dir:
        argv += ["--keep-logs", str(Path(args.logs_dir) / f"{clients}-clients")]
    return argv


def _database_label(meta: dict[str, Any]) -> str:
    server = meta.get("database_server")
    return f"{meta['database']} ({server})" if server else str(meta["database"])


def _print_profiles(directory: Path) -> None:
    """Where each profiled process spent its busy samples during the throughput phases."""
    for config in sorted(p for p in directory.iterdir() if p.is_dir()):
        summaries = profiling.summarise_dir(config)
        text = profiling.render(summaries)
        (config / "summary.txt").write_text(text + "\n")
        (config / "summary.json").write_text(json.dumps(summaries, indent=1))
        print(f"\n### Profile, {config.name}, throughput phases (py-spy; shares of busy samples)")
        print(text)
    print(f"\nprofiles (collapsed stacks, for flamegraph.pl or speedscope) in {directory}")


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, help="N: users per phase (default 1000; quick 200)")
    parser.add_argument("--clients", default="1,3", help="client counts, one process each")
    parser.add_argument("--repeat", type=int, default=1, help="runs per configuration (median)")
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer users, steps")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="scenarios to run")
    parser.add_argument("--out", default="bench/results/latest.json")
    parser.add_argument("--renames", type=int, help="timed renames (default 100; quick 30)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--step-seconds", type=float, help="ladder step (default 10; quick 4)")
    parser.add_argument("--hold-seconds", type=float, help="final hold (default 60; quick 12)")
    parser.add_argument("--hot-sockets", type=int, default=100)
    parser.add_argument("--hot-updates", type=int, help="updates of the crowded user (10; 5)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the listener(s), worker, master and moto during throughput "
        "(perturbs the figures: profile in a run of its own)",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep every process's log (beside --out, in logs-STAMP/)",
    )
    parser.add_argument(
        "--relay",
        choices=["celery", "thread"],
        default=os.environ.get("REACTIVE_RELAY") or "thread",
        help="the master's per-commit relay (REACTIVE_RELAY; default thread, as the project's)",
    )
    parser.add_argument(
        "--max-queue-depth",
        type=int,
        default=RELAY_MAX_QUEUE_DEPTH,
        help="the master's REACTIVE_RELAY_MAX_QUEUE_DEPTH (0: no pacing; default: the local "
        "stack's)",
    )
    parser.add_argument(
        "--publish-batch",
        action="store_true",
        help="the master packs pending events into multi-event messages (REACTIVE_PUBLISH_BATCH=1)",
    )
    parser.add_argument(
        "--writes-per-commit",
        type=int,
        default=1,
        metavar="K",
        help="throughput: the master writes its bursts K users per transaction (an admin bulk "
        "action, an import); default 1, each save its own transaction as a request makes it",
    )
    parser.add_argument(
        "--prototype",
        metavar="FILE",
        help="compare with the prototype measured in this session: the JSON its baseline "
        "writes (../shared/prototype/run_seed_baseline.sh); default: issue 6's figures",
    )
    parser.add_argument(
        "--database",
        choices=databases.ENGINES,
        default="sqlite",
        help="the master's and clients' databases: SQLite files, or fresh databases on a "
        "PostgreSQL server (created per configuration, dropped at its end)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="with --database postgres: the server (default: what scripts/postgres prints)",
    )
    parser.add_argument("--timeout", type=float, default=1800, help="per configuration, s")
    args = parser.parse_args(argv)
    if args.writes_per_commit < 1:
        parser.error("--writes-per-commit must be 1 or more")
    if args.prototype:
        try:
            table = reference.prototype_from_seed(json.loads(Path(args.prototype).read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            parser.error(f"--prototype {args.prototype}: not the prototype's results ({exc})")
        reference.use_prototype(table)
    if args.database_url and args.database != "postgres":
        parser.error("--database-url needs --database postgres")
    quick = args.quick
    defaults = {
        "users": (1000, 200),
        "renames": (100, 30),
        "step_seconds": (10.0, 4.0),
        "hold_seconds": (60.0, 12.0),
        "hot_updates": (10, 5),
    }
    for name, (full, short) in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, short if quick else full)
    unknown = set(args.only.split(",")) - set(SCENARIOS)
    if unknown:
        parser.error(
            f"unknown scenario(s) {', '.join(sorted(unknown))}: use {', '.join(SCENARIOS)}"
        )
    args.client_counts = [int(n) for n in args.clients.split(",")]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    args.profile_dir = str(Path(args.out).parent / f"profile-{stamp}") if args.profile else None
    args.logs_dir = str(Path(args.out).parent / f"logs-{stamp}") if args.keep_logs else None
    return args


def _without_password(url: str) -> str:
    """``url`` as it may be printed and stored: any password left out."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}@" if parts.username else ""
    return urllib.parse.urlunsplit(parts._replace(netloc=user + netloc))


def _resolve_database(args: argparse.Namespace) -> None:
    """With --database postgres: the server's URL (given, else scripts/postgres'), checked."""
    if args.database != "postgres":
        return
    if not args.database_url:
        args.database_url = databases.default_server_url(Path(__file__).resolve().parent.parent)
    databases.check_server(args.database_url)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    try:
        _resolve_database(args)
    except databases.DatabaseError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 2
    _subreaper()
    signal.signal(signal.SIGTERM, _terminate)
    meta = _meta(args)
    print(
        f"bench: {meta['cores']} cores, load average {meta['load_average_start'][0]:.2f} "
        f"(a shared machine makes every figure noisy); moto {meta['moto']}; "
        f"N={args.users}; clients {args.clients}; repeat {args.repeat}; relay {args.relay}, "
        f"pacing at {args.max_queue_depth or 'off'}, "
        f"multi-event messages {'on' if args.publish_batch else 'off'}, "
        f"{args.writes_per_commit} write(s) per master commit; "
        f"database {_database_label(meta)}",
        flush=True,
    )
    started = time.time()
    raw: dict[int, list[dict[str, Any]]] = {n: [] for n in args.client_counts}
    fanout_at = min(args.client_counts)
    interrupted = False
    with tempfile.TemporaryDirectory(prefix="reactive-bench-run-") as tmp:
        try:
            for repeat in range(args.repeat):
                for clients in args.client_counts:
                    out = Path(tmp) / f"{clients}-{repeat}.json"
                    print(
                        f"\n== {clients} client(s), run {repeat + 1}/{args.repeat} "
                        f"({time.time() - started:.0f} s in)",
                        flush=True,
                    )
                    argv_ = _config_argv(args, clients, clients == fanout_at, out)
                    code = run_config(argv_, args.timeout, args.database_url)
                    if not out.exists():
                        print(f"configuration with {clients} client(s) failed (exit {code})")
                        continue
                    raw[clients].append(json.loads(out.read_text()))
                    for name in raw[clients][-1].get("errors", {}):
                        print(
                            f"configuration with {clients} client(s): {name} failed "
                            "(traceback in the JSON)"
                        )
        except (KeyboardInterrupt, TimeoutError):
            interrupted = True
            print("\ninterrupted: every process the bench started was stopped", flush=True)
    configs = {n: median_figures(figures(r) for r in runs) for n, runs in raw.items() if runs}
    meta["load_average_end"] = os.getloadavg()
    meta["elapsed_s"] = time.time() - started
    meta["interrupted"] = interrupted
    print()
    print(report.render(configs, database=args.database))
    print(
        f"ran in {meta['elapsed_s']:.0f} s; load average at the end "
        f"{meta['load_average_end'][0]:.2f} on {meta['cores']} cores"
    )
    document = {
        "meta": meta,
        "reference": {
            "prototype": reference.PROTOTYPE,
            "moto_ceiling": reference.MOTO_CEILING,
            "targets": reference.TARGETS,
        },
        "configs": {str(n): {"figures": configs.get(n), "runs": runs} for n, runs in raw.items()},
    }
    out_path = Path(args.out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(document, indent=1, default=str))
    print(f"figures written to {out_path}")
    if args.profile_dir:
        _print_profiles(Path(args.profile_dir))
    if args.logs_dir:
        print(f"logs in {args.logs_dir}")
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
