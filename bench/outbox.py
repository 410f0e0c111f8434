"""What the outbox adds to a master's save: CPU and SQL per save without and with the app.

Issue 17: "CPU per save with the master app installed against the same save without it,
one run; report it and keep it <= 2x". Two setups of the same workload, each in its own
subprocess (Django is configured once per process) on a fresh database:

- ``plain``: the master project's own settings with ``reactive_users.master`` taken out of
  INSTALLED_APPS (auth, admin, sessions, ... as they are): Django saving a user, nothing else;
- ``master``: the master project as it is, so every save also writes its outbox row and
  the user's version in the save's transaction, and its commit hands the row to the relay.

The relay has no setting that turns its per-commit hand-off off (REACTIVE_RELAY is
"thread" or "celery"), so the master runs with its default, the publisher thread, and only
the saving thread's CPU is measured (``time.thread_time``): the hand-off itself is in the
save's figure, the thread's publishing is not (it is printed apart). The thread publishes
to a loopback port nothing listens on, so it never reaches AWS; what it fails to publish
stays pending, as it would with SNS down.

Per setup: a warm-up (``--warmup`` users created, updated and deleted), then N creates, N
updates (first_name) and N deletes, each in its own ``transaction.atomic()`` through
``bench.master`` (the writes bench.run's master makes). Per operation: CPU ms per save of
the saving thread, wall ms per save, and SQL statements per save (``execute_wrapper`` on
the saving thread's connection: BEGIN included, COMMIT not). ``--profile`` then runs the
master setup's operations once more under cProfile and prints where the time goes.

    .venv/bin/python -m bench.outbox [--users 2000] [--warmup 200] [--database sqlite|postgres]
                                     [--out bench/results/outbox.json] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import functools
import io
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

#: The two setups, in the order they run.
SETUPS = ("plain", "master")
#: Issue 17's ceiling on CPU per save with the app over without it.
TARGET_RATIO = 2.0
#: The PostgreSQL server the brief gives (trust auth).
POSTGRES_URL = "postgres://postgres@127.0.0.1:5432"
#: Seconds a setup's subprocess may take.
SETUP_TIMEOUT = 1800.0
#: Functions printed per ordering of the profile.
PROFILE_LINES = 25


@dataclass(frozen=True)
class OpFigures:
    """One operation of one setup."""

    operation: str
    saves: int
    cpu_ms_per_save: float
    cpu_ms_median: float
    wall_ms_per_save: float
    sql_per_save: float
    savepoints_per_save: float


@dataclass(frozen=True)
class Comparison:
    """One operation without and with the master app."""

    operation: str
    cpu_ms_plain: float
    cpu_ms_master: float
    ratio: float
    wall_ms_plain: float
    wall_ms_master: float
    sql_plain: float
    sql_master: float
    savepoints_master: float


def compare(plain: list[OpFigures], master: list[OpFigures]) -> list[Comparison]:
    """Pair each operation's figures; the ratio is CPU per save with the app over without."""
    rows = []
    by_op = {f.operation: f for f in master}
    for p in plain:
        m = by_op[p.operation]
        ratio = m.cpu_ms_per_save / p.cpu_ms_per_save if p.cpu_ms_per_save > 0 else float("inf")
        rows.append(
            Comparison(
                operation=p.operation,
                cpu_ms_plain=p.cpu_ms_per_save,
                cpu_ms_master=m.cpu_ms_per_save,
                ratio=round(ratio, 2),
                wall_ms_plain=p.wall_ms_per_save,
                wall_ms_master=m.wall_ms_per_save,
                sql_plain=p.sql_per_save,
                sql_master=m.sql_per_save,
                savepoints_master=m.savepoints_per_save,
            )
        )
    return rows


def table(rows: list[Comparison], target: float = TARGET_RATIO) -> str:
    """The comparison as text: one line per operation, the verdict against ``target``.
    "with app" is the master setup's figure beside the plain one; "svp" counts the
    savepoint statements among the master's SQL per save."""
    goal = f"(<={target:g}x)"
    verdict_width = len("MISS " + goal)
    header = (
        f"{'operation':<9} {'CPU ms/save':>11} {'with app':>9} {'ratio':>7} "
        f"{'target':>{verdict_width}} {'wall ms':>8} {'with app':>9} {'SQL/save':>8} "
        f"{'with app':>9} {'svp':>5}"
    )
    lines = [header]
    for r in rows:
        verdict = ("ok " if r.ratio <= target else "MISS ") + goal
        lines.append(
            f"{r.operation:<9} {r.cpu_ms_plain:>11.3f} {r.cpu_ms_master:>9.3f} "
            f"{r.ratio:>6.2f}x {verdict:>{verdict_width}} "
            f"{r.wall_ms_plain:>8.3f} {r.wall_ms_master:>9.3f} "
            f"{r.sql_plain:>8.2f} {r.sql_master:>9.2f} {r.savepoints_master:>5.2f}"
        )
    return "\n".join(lines)


# --- One setup, in its own process ---------------------------------------------------------


class QueryCounter:
    """A ``connection.execute_wrapper`` that counts the statements run through it, and
    apart the savepoint statements among them (SAVEPOINT, RELEASE, ROLLBACK TO)."""

    def __init__(self) -> None:
        self.queries = 0
        self.savepoints = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        self.queries += 1
        if "SAVEPOINT" in sql[:30]:
            self.savepoints += 1
        return execute(sql, params, many, context)


def _configure(setup: str) -> None:
    """Set Django up for ``setup`` (the environment is the parent's, see ``_child_env``)."""
    import django

    if setup == "master":
        os.environ["DJANGO_SETTINGS_MODULE"] = "master.settings"
    else:
        from django.conf import settings

        import master.settings as project

        values = {name: getattr(project, name) for name in dir(project) if name.isupper()}
        values["INSTALLED_APPS"] = [
            app for app in project.INSTALLED_APPS if app != "reactive_users.master"
        ]
        settings.configure(**values)
    django.setup()


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Run one save; its CPU seconds (this thread) and wall seconds."""
    cpu, wall = time.thread_time(), time.perf_counter()
    action()
    return time.thread_time() - cpu, time.perf_counter() - wall


def _workload(prefix: str, users: int) -> Iterator[tuple[str, list[Callable[[], object]]]]:
    """The three operations on ``users`` new users named ``prefix{i}``; each yielded list is
    built only once the previous one ran (updates and deletes need the created ids)."""
    from bench import master

    ids: list[int] = []

    def creator(i: int) -> Callable[[], object]:
        def create() -> None:
            ids.append(
                master.create(
                    f"{prefix}{i}",
                    email=f"{prefix}{i}@example.com",
                    first_name="created",
                    last_name="bench",
                )
            )

        return create

    yield "create", [creator(i) for i in range(users)]
    yield "update", [functools.partial(master.update, u, first_name="updated") for u in ids]
    yield "delete", [functools.partial(master.delete, u) for u in ids]


def _measure(users: int, warmup: int) -> list[OpFigures]:
    from django.db import connection

    for _, actions in _workload("warm", warmup):
        for action in actions:
            action()
    figures = []
    for operation, actions in _workload("user", users):
        counter = QueryCounter()
        cpus, walls = [], []
        with connection.execute_wrapper(counter):
            for action in actions:
                cpu, wall = _timed(action)
                cpus.append(cpu)
                walls.append(wall)
        n = len(actions)
        figures.append(
            OpFigures(
                operation=operation,
                saves=n,
                cpu_ms_per_save=round(sum(cpus) * 1000 / n, 4),
                cpu_ms_median=round(sorted(cpus)[n // 2] * 1000, 4),
                wall_ms_per_save=round(sum(walls) * 1000 / n, 4),
                sql_per_save=round(counter.queries / n, 2),
                savepoints_per_save=round(counter.savepoints / n, 2),
            )
        )
    return figures


def _profile(users: int) -> str:
    """Each operation once more under cProfile, timed by this thread's CPU (other users);
    the top functions."""
    out = io.StringIO()
    for operation, actions in _workload("profiled", users):
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        for action in actions:
            action()
        profiler.disable()
        for order in ("cumulative", "tottime"):
            out.write(f"\n=== {operation}: {len(actions)} saves, by {order} ===\n")
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(order).print_stats(PROFILE_LINES)
    return out.getvalue()


def child(setup: str, users: int, warmup: int, profile: bool) -> None:
    """Configure ``setup``, migrate its fresh database, measure; JSON on stdout."""
    from django.core.management import call_command

    _configure(setup)
    call_command("migrate", verbosity=0)
    figures = _measure(users, warmup)
    result: dict[str, Any] = {"setup": setup, "figures": [asdict(f) for f in figures]}
    from django.db import connection

    result["database"] = connection.vendor
    if setup == "master":
        from bench.measure import publisher_cpu

        result["publisher_thread_cpu_s"] = publisher_cpu()
    if profile and setup == "master":
        result["profile"] = _profile(min(users, 500))
    print(json.dumps(result))


# --- The parent: one subprocess per setup ---------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on (the relay's SNS calls are refused at once)."""
    from reactive_cli.localstack.ports import free_port

    return free_port()


def _child_env(
    workdir: Path, database_url: str | None, relay: str, redis_url: str | None
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DJANGO_SETTINGS_MODULE", "DATABASE_URL"} and not key.startswith("AWS_")
    }
    env.update(
        REACTIVE_STATE_DIR=str(workdir),
        REACTIVE_LOG_LEVEL="CRITICAL",  # the relay's refused publishing is expected here
        REACTIVE_PRODUCTION="0",
        DJANGO_DEBUG="0",  # DEBUG records every query: not what a deployed master does
        REACTIVE_RELAY=relay,
        REACTIVE_RELAY_MAX_QUEUE_DEPTH="0",
        REACTIVE_TOPIC_ARN="arn:aws:sns:us-east-1:000000000000:bench-outbox",
        AWS_ENDPOINT_URL=f"http://127.0.0.1:{_closed_port()}",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
    )
    if database_url:
        env["DATABASE_URL"] = database_url
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


@contextlib.contextmanager
def postgres_database(name: str) -> Iterator[str]:
    """A new PostgreSQL database for one setup, dropped afterwards; its URL."""
    import psycopg

    try:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SystemExit(f"bench.outbox: PostgreSQL at {POSTGRES_URL}: {first}") from None
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_setup(
    setup: str, args: argparse.Namespace, redis_url: str | None, profile: bool
) -> dict[str, Any]:
    """One setup in its own subprocess on a fresh database; what it printed."""
    with contextlib.ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-outbox-")))
        url = None
        if args.database == "postgres":
            url = stack.enter_context(postgres_database(f"bench_outbox_{setup}_{os.getpid()}"))
        argv = [sys.executable, "-m", "bench.outbox", "--child", setup]
        argv += ["--users", str(args.users), "--warmup", str(args.warmup)]
        argv += ["--profile"] if profile else []
        proc = subprocess.Popen(
            argv,
            env=_child_env(workdir, url, args.relay, redis_url),
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            out, _ = proc.communicate(timeout=SETUP_TIMEOUT)
        finally:
            if proc.poll() is None:  # interrupted or timed out: stop the setup we started
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if proc.returncode != 0:
            raise SystemExit(f"bench.outbox: the {setup} setup failed (exit {proc.returncode})")
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
        return result


def _figures(result: dict[str, Any]) -> list[OpFigures]:
    return [OpFigures(**f) for f in result["figures"]]


def best(runs: list[list[OpFigures]]) -> list[OpFigures]:
    """Each operation over several runs of one setup: each time at its least (on a shared
    machine, the figure others inflated least); the statement counts are the same."""
    merged = []
    for per_op in zip(*runs, strict=True):
        merged.append(
            dataclasses.replace(
                per_op[0],
                cpu_ms_per_save=min(f.cpu_ms_per_save for f in per_op),
                cpu_ms_median=min(f.cpu_ms_median for f in per_op),
                wall_ms_per_save=min(f.wall_ms_per_save for f in per_op),
            )
        )
    return merged


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=_positive, default=2000, help="saves per operation")
    parser.add_argument("--warmup", type=_positive, default=200, help="warm-up users")
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--repeat", type=_positive, default=1, help="runs of each setup; each time at its least"
    )
    parser.add_argument(
        "--relay",
        choices=("thread", "celery"),
        default="thread",
        help="the master's REACTIVE_RELAY (celery: a private redis-server, no worker)",
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/outbox.json"))
    parser.add_argument(
        "--profile", action="store_true", help="then profile the master's saves (cProfile)"
    )
    parser.add_argument("--child", choices=SETUPS, help=argparse.SUPPRESS)
    return parser


def main() -> None:
    args = _parser().parse_args()
    if args.child:
        child(args.child, args.users, args.warmup, args.profile)
        return
    print(
        f"bench.outbox: {args.users} saves per operation, {args.database}, relay {args.relay}",
        flush=True,
    )
    try:
        with contextlib.ExitStack() as stack:
            redis_url = None
            if args.relay == "celery":
                from devstack.services import redis_server

                redis_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-"))
                redis_url, _ = stack.enter_context(redis_server(Path(redis_dir)))
            runs: dict[str, list[dict[str, Any]]] = {setup: [] for setup in SETUPS}
            for run in range(args.repeat):  # alternating, so that both see the same machine
                last = run == args.repeat - 1
                for setup in SETUPS:
                    profile = args.profile and last and setup == "master"
                    runs[setup].append(run_setup(setup, args, redis_url, profile))
    except KeyboardInterrupt:
        raise SystemExit("bench.outbox: interrupted") from None
    except OSError as exc:  # PostgreSQL not answering, say
        raise SystemExit(f"bench.outbox: {exc}") from None
    plain = best([_figures(r) for r in runs["plain"]])
    master = best([_figures(r) for r in runs["master"]])
    rows = compare(plain, master)
    print(table(rows))
    publishers = [
        r["publisher_thread_cpu_s"] for r in runs["master"] if r.get("publisher_thread_cpu_s")
    ]
    if publishers:
        print(
            "publisher thread, not in the figures above: "
            + ", ".join(f"{p:.2f}" for p in publishers)
            + " CPU-s per run"
        )
    profile = runs["master"][-1].get("profile")
    if profile:
        print(profile)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "users": args.users,
        "warmup": args.warmup,
        "database": args.database,
        "relay": args.relay,
        "target_ratio": TARGET_RATIO,
        "repeat": args.repeat,
        "comparison": [asdict(r) for r in rows],
        "best": {"plain": [asdict(f) for f in plain], "master": [asdict(f) for f in master]},
        "runs": {
            setup: [{k: v for k, v in r.items() if k != "profile"} for r in results]
            for setup, results in runs.items()
        },
        "load_average": os.getloadavg(),
    }
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(f"figures: {args.out}")


if __name__ == "__main__":
    main()
