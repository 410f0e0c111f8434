"""Backfill rate: users per second into one client that joins after the master has N users.

Starts its own stack (moto's server, a private redis-server, the master in this process
with its Celery worker; with ``--create save`` one client "early" that receives the users
live), creates N users,
then adds a client "late" (provisioned now, so it saw none of them), runs
``python -m master backfill --client late`` as an operator would, and reports the rate the
command printed and the rate until the late client's database holds every user. Prints a
line per figure and writes them as JSON. Stops everything it started.

With ``--packed`` the backfill command runs with REACTIVE_PUBLISH_BATCH=1: snapshots travel
packed into multi-event messages (the live events of the early client are unchanged).

``--create bulk`` (the default) inserts the users with ``bulk_create`` in chunks, as users a
master had before reactive-users was installed: no signal, no outbox row, no version (the
backfill gives each version 1 as it reads it). No "early" client is started then, since no
live event carries them. ``--create save`` saves them one by one as before (each a created
event the early client receives live).

``--live-renames RATE`` renames random existing users RATE times a second in a thread of
its own from the start of the backfill command until the late client holds every user,
each in its own transaction through ``save()`` (so the outbox and relay publish it). Then
the late client must equal the master: every user at the master's version with the
master's fields; the users that differ are printed. ``--profile DIR`` records py-spy
profiles of the backfill command, the late client's listener and moto, and prints where
their samples went.

    .venv/bin/python -m bench.backfill [--users 2000] [--max-depth 100] [--packed]
        [--create bulk|save] [--live-renames 0] [--profile DIR] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from bench.profiling import Profiles, render
from devstack import master_ops
from devstack.processes import python, until
from devstack.services import moto_process, redis_server
from devstack.stack import running_stack
from reactive_cli.provision import ClientSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--max-depth", type=int, default=100, help="backfill's --max-depth")
    parser.add_argument(
        "--packed", action="store_true", help="backfill with REACTIVE_PUBLISH_BATCH=1"
    )
    parser.add_argument(
        "--create",
        choices=("bulk", "save"),
        default="bulk",
        help="bulk_create the users (no events; default) or save() each (live events)",
    )
    parser.add_argument(
        "--live-renames",
        type=float,
        default=0.0,
        metavar="RATE",
        help="renames per second of existing users while the backfill runs (default 0: none)",
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        metavar="DIR",
        help="py-spy profiles of the backfill command, the late listener and moto into DIR",
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.users < 1:
        parser.error("--users must be at least 1")
    if args.live_renames < 0:
        parser.error("--live-renames must be 0 (none) or more renames per second")
    # moto only: fake credentials, never the machine's real ones
    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench")
    os.environ.update(AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)

    with tempfile.TemporaryDirectory(prefix="bench-backfill-") as tmp:
        work = Path(tmp)
        with (
            redis_server(work / "redis") as (redis_url, _),
            moto_process(work / "moto") as (moto, moto_proc),
        ):
            with running_stack(
                redis_url=redis_url,
                endpoint=moto,
                prefix="b" + uuid.uuid4().hex[:8],
                workdir=work,
                clients=[ClientSpec(name="early")] if args.create == "save" else [],
            ) as stack:
                figures = run(
                    stack,
                    args.users,
                    args.max_depth,
                    packed=args.packed,
                    create=args.create,
                    rename_rate=args.live_renames,
                    profile=args.profile,
                    moto_pid=moto_proc.pid,
                )
    for name, value in figures.items():
        print(f"{name:>32}: {value}")
    if args.out is None:
        name = "backfill-packed.json" if args.packed else "backfill.json"
        args.out = Path("bench/results") / name
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"{'written':>32}: {args.out}")


def run(
    stack: Any,
    users: int,
    max_depth: int,
    *,
    packed: bool = False,
    create: str = "bulk",
    rename_rate: float = 0.0,
    profile: Path | None = None,
    moto_pid: int = 0,
) -> dict[str, float | int | str]:
    from django.contrib.auth.models import User

    figures: dict[str, float | int | str] = {}
    started = time.perf_counter()
    if create == "save":
        early = stack.clients["early"]
        ids = [master_ops.create_user(f"bf{i}", password=None) for i in range(users)]
        until(
            lambda: early.query("SELECT COUNT(*) AS n FROM replica_replica")[0]["n"] >= users,
            timeout=1800,
            interval=0.5,
            what="the early client to hold every user",
        )
        live_s = time.perf_counter() - started
        figures["live_events_per_s_early_client"] = round(users / live_s, 1)
    else:
        ids = create_bulk(users)
    figures["create_s"] = round(time.perf_counter() - started, 2)

    late = stack.add_client(ClientSpec(name="late"))
    renamer = Renamer(ids, rename_rate)
    print(f"backfill: {users} users into client late (packed: {packed})", flush=True)
    begin = time.perf_counter()
    if rename_rate > 0:
        renamer.start()
    profiles: Profiles | None = None
    # the command's progress lines go to our stderr as it prints them
    command = subprocess.Popen(
        python("-m", "master", "backfill", "--client", "late", "--max-depth", str(max_depth)),
        env={**stack.master_env, "REACTIVE_PUBLISH_BATCH": "1" if packed else "0"},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if profile is not None:
            pids = {"backfill": command.pid, "listener-late": late.listener.pid, "moto": moto_pid}
            profiles = Profiles(profile, pids, "backfill")
        stdout, _ = command.communicate(timeout=1800)
        command_s = time.perf_counter() - begin
        if command.returncode != 0:
            raise SystemExit(f"backfill failed ({command.returncode}): its lines are above")
        # the renames go on until the late client applied every snapshot
        printed = [0.0]
        until(
            lambda: _held(late, len(ids), printed),
            timeout=1800,
            interval=0.2,
            what="the late client to hold every user",
        )
        converged_s = time.perf_counter() - begin
    finally:
        if command.poll() is None:
            command.kill()
            command.wait()
        renamer.finish()
        if profiles is not None:
            print(render(profiles.stop()), flush=True)
    if renamer.error is not None:
        raise SystemExit(f"the renames failed: {renamer.error}")
    diverged = _equal_within(late, timeout=120.0)
    equal_s = time.perf_counter() - begin
    summary = (stdout.strip().splitlines() or [""])[-1]
    printed = re.search(r"([\d.]+) users/s", summary)
    in_messages = re.search(r"in (\d+) message\(s\)", summary)
    sent = re.search(r"sent (\d+) in", summary)
    figures.update(
        {
            "users": User.objects.count(),
            "create": create,
            "backfill_command_s": round(command_s, 2),
            "backfill_rate_printed_users_per_s": float(printed.group(1)) if printed else -1.0,
            "backfill_until_converged_s": round(converged_s, 2),
            "backfill_users_per_s_into_one_client": round(users / converged_s, 1),
            "max_depth": max_depth,
            "packed": packed,
            # the summary names the messages only when fewer than the events
            "backfill_events": int(sent.group(1)) if sent else -1,
            "backfill_messages": int((in_messages or sent).group(1)) if in_messages or sent else -1,
            "live_renames_per_s_asked": rename_rate,
            "live_renames_made": renamer.made,
            "live_renames_refused": renamer.refused,
            "until_equal_to_master_s": round(equal_s, 2),
            "diverged_users": len(diverged),
            "command_summary": summary,
        }
    )
    for line in diverged[:10]:
        print(f"diverged: {line}", flush=True)
    return figures


#: Users inserted per transaction by ``create_bulk`` (one progress line each).
CREATE_CHUNK = 5000


def create_bulk(users: int) -> list[int]:
    """Insert ``users`` master users with ``bulk_create``: no signals, so no outbox row and
    no version (a backfill gives version 1 to a user without one as it reads it)."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.models import User
    from django.db import transaction

    ids: list[int] = []
    started = time.perf_counter()
    for first in range(0, users, CREATE_CHUNK):
        rows = [
            User(username=f"bf{i}", email=f"bf{i}@example.com", password=make_password(None))
            for i in range(first, min(users, first + CREATE_CHUNK))
        ]
        with transaction.atomic():
            ids.extend(int(u.pk) for u in User.objects.bulk_create(rows, batch_size=500))
        elapsed = time.perf_counter() - started
        print(f"create: {len(ids)}/{users} users ({len(ids) / elapsed:.0f}/s)", flush=True)
    return ids


class Renamer:
    """Renames random users of ``ids`` ``rate`` times a second in a thread of its own, each
    in its own transaction through ``save()``, until ``finish()``."""

    def __init__(self, ids: list[int], rate: float) -> None:
        self.ids, self.rate = ids, rate
        self.made = 0
        #: Renames the database refused (SQLite busy beyond its timeout): rolled back whole.
        self.refused = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="renames", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def finish(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _run(self) -> None:
        from django.db import OperationalError, connection, transaction

        rng = random.Random()
        begin, n = time.monotonic(), 0
        try:
            while not self._stop.is_set():
                wait = begin + n / self.rate - time.monotonic()
                if wait > 0:
                    self._stop.wait(wait)
                    continue
                user_id = rng.choice(self.ids)
                try:
                    with transaction.atomic():
                        master_ops.update_user(
                            user_id, username=f"bf{user_id}-r{n}", first_name=f"r{n}"
                        )
                    self.made += 1
                except OperationalError:
                    self.refused += 1
                n += 1
        except BaseException as exc:  # reported by the main thread
            self.error = exc
        finally:
            connection.close()


#: Least time between two progress lines of the convergence wait, in seconds.
PROGRESS_SECONDS = 2.0


def _held(late: Any, users: int, printed: list[float]) -> bool:
    """Whether the late client holds ``users`` users; a progress line now and then."""
    held = int(late.query("SELECT COUNT(*) AS n FROM replica_replica")[0]["n"])
    if held >= users or time.monotonic() - printed[0] >= PROGRESS_SECONDS:
        printed[0] = time.monotonic()
        print(f"converge: the late client holds {held}/{users} users", flush=True)
    return held >= users


#: The published fields compared between the master and the late client.
COMPARED = ("username", "email", "first_name", "last_name", "is_active")


def _differences(late: Any) -> list[str]:
    """Each user whose version or fields the late client holds otherwise than the master."""
    from django.contrib.auth.models import User

    from reactive_users.master.models import UserVersion

    versions = dict(UserVersion.objects.values_list("user_id", "version"))
    master = {
        row[0]: (versions.get(row[0]), *row[1:-1], bool(row[-1]))
        for row in User.objects.values_list("pk", *COMPARED)
    }
    rows = late.query(
        "SELECT r.master_id, r.version, u.username, u.email, u.first_name, u.last_name,"
        " u.is_active FROM replica_replica r LEFT JOIN auth_user u ON u.id = r.user_id"
    )
    client = {
        int(r["master_id"]): (int(r["version"]), *tuple(r)[2:6], bool(r["is_active"])) for r in rows
    }
    return [
        f"master id {uid}: master {master.get(uid)}, client {client.get(uid)}"
        for uid in sorted(set(master) | set(client))
        if master.get(uid) != client.get(uid)
    ]


def _equal_within(late: Any, *, timeout: float) -> list[str]:
    """Wait until the late client equals the master; what still differs after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        diverged = _differences(late)
        print(f"converge: {len(diverged)} user(s) differ from the master", flush=True)
        if not diverged or time.monotonic() > deadline:
            return diverged
        time.sleep(1.0)


if __name__ == "__main__":
    main()
