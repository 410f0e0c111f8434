"""CPU and SQL per event of the listener's apply step, in this process, on a fresh SQLite file.

Sets the client's Django project up on a new database in a temporary directory, then feeds
N creates, N updates (half renames, half first-name changes) and N deletes, as SQS message
bodies in batches of 10, to the listener's own steps (``received.decode``, then
``apply_batch``): verify and decode, one transaction per batch, ``event_apply`` per event,
exactly the code the listener runs. No SQS and no Redis: what is left is the listener's own
CPU per event (issue 6: at most 1.5 CPU-s per 1,000 events, SQS calls and group sends
included).

With ``--notify`` a private redis-server is started too and every batch's frames are sent
through the listener's ``Notifier`` (channels-redis group_send), timed apart from applying.

Per phase it prints CPU ms per event (``time.process_time``: this process, all threads),
SQL statements per event (counted by ``connection.execute_wrapper``: savepoints apart, the
batch's BEGIN included, its COMMIT not), and events per second of wall time. With
``--repeat R`` the whole run is made R times, each on a new database, and each figure is
its best over the runs (least CPU and time, highest rate): on a machine others are using,
that is the figure least inflated by them. Nothing is asserted.

    .venv/bin/python -m bench.apply [--users 1000] [--batch 10] [--repeat 1] [--notify]
                                    [--json FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from devstack.signing import KEYS_TEXT, sqs_messages
from reactive_users.core.contract import Action, Envelope, FieldValue, new_event

#: SQS's most messages per receive: the listener's batch.
BATCH = 10


@dataclass(frozen=True)
class PhaseFigures:
    """What applying one phase cost."""

    phase: str
    events: int
    cpu_ms_per_event: float
    queries_per_event: float
    savepoints_per_event: float
    events_per_second: float
    not_applied: int
    notify_cpu_ms_per_event: float | None = None
    notify_ms_per_batch: float | None = None


class QueryCounter:
    """A ``connection.execute_wrapper``: counts statements, savepoints apart."""

    def __init__(self) -> None:
        self.queries = 0
        self.savepoints = 0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if "SAVEPOINT" in sql[:20]:
            self.savepoints += 1
        else:
            self.queries += 1
        return execute(sql, params, many, context)


def payload(
    i: int, *, username: str | None = None, first_name: str = "created"
) -> dict[str, FieldValue]:
    """Master user ``i``'s allow-listed fields, as the master publishes them."""
    name = username or f"user{i}"
    return {
        "username": name,
        "email": f"user{i}@example.com",
        "first_name": first_name,
        "last_name": "bench",
        "is_active": True,
    }


def phases(users: int) -> list[tuple[str, list[Envelope]]]:
    """Creates (v1), updates (v2: even ids renamed, odd ids a new first name), deletes (v3)."""
    ids = range(1, users + 1)
    creates = [
        new_event(
            action=Action.CREATED,
            user_id=i,
            version=1,
            user=payload(i),
            changed=tuple(sorted(payload(i))),
        )
        for i in ids
    ]
    updates = [
        new_event(
            action=Action.UPDATED,
            user_id=i,
            version=2,
            user=payload(i, username=f"renamed{i}")
            if i % 2 == 0
            else payload(i, first_name="updated"),
            changed=("username",) if i % 2 == 0 else ("first_name",),
        )
        for i in ids
    ]
    final = {i: payload(i, username=f"renamed{i}") if i % 2 == 0 else payload(i) for i in ids}
    deletes = [
        new_event(action=Action.DELETED, user_id=i, version=3, user=final[i], changed=())
        for i in ids
    ]
    return [("create", creates), ("update", updates), ("delete", deletes)]


def run_phase(
    notifier: Any, name: str, events: list[Envelope], batch: int, notify: bool
) -> PhaseFigures:
    """Apply ``events`` ``batch`` at a time as the listener's loop does: verify and decode
    the messages, ``apply_batch`` in one transaction, then hand the results to the notifier."""
    from django.db import connection

    from reactive_users.client import conf
    from reactive_users.client.apply import apply_batch
    from reactive_users.client.listener import received
    from reactive_users.core.settings import signing_keys

    keys = signing_keys(conf.shared())

    bodies = sqs_messages(events)
    batches = [bodies[i : i + batch] for i in range(0, len(bodies), batch)]
    counter = QueryCounter()
    apply_cpu = notify_cpu = notify_wall = apply_wall = 0.0
    not_applied = 0
    with connection.execute_wrapper(counter):
        for messages in batches:
            cpu, wall = time.process_time(), time.perf_counter()
            deliveries, refused = received.decode(messages, keys)
            handled = refused + apply_batch(deliveries).handled
            apply_cpu += time.process_time() - cpu
            apply_wall += time.perf_counter() - wall
            results = [h.result for h in handled if h.result is not None]
            not_applied += len(messages) - sum(1 for r in results if r.decision.writes)
            if notify:
                cpu, wall = time.process_time(), time.perf_counter()
                notifier.send(results)
                notify_cpu += time.process_time() - cpu
                notify_wall += time.perf_counter() - wall
    n = len(events)
    return PhaseFigures(
        phase=name,
        events=n,
        cpu_ms_per_event=round(apply_cpu * 1000 / n, 3),
        queries_per_event=round(counter.queries / n, 2),
        savepoints_per_event=round(counter.savepoints / n, 2),
        events_per_second=round(n / apply_wall, 1),
        not_applied=not_applied,
        notify_cpu_ms_per_event=round(notify_cpu * 1000 / n, 3) if notify else None,
        notify_ms_per_batch=round(notify_wall * 1000 / len(batches), 2) if notify else None,
    )


@contextlib.contextmanager
def client_project(workdir: Path, redis_url: str | None) -> Iterator[None]:
    """The client's Django project (client "shop") with its SQLite file in ``workdir``."""
    os.environ.pop("DATABASE_URL", None)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="client.settings",
        REACTIVE_CLIENT="shop",
        REACTIVE_STATE_DIR=str(workdir),
        REACTIVE_LOG_LEVEL="WARNING",
        # The keys the bench's messages are signed with (devstack's test keys).
        REACTIVE_SIGNING_KEYS=KEYS_TEXT,
    )
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    import django
    from django.db import connections

    django.setup()
    try:
        yield
    finally:
        connections.close_all()


def fresh_database() -> None:
    """Remove the SQLite file (settings are read once per process) and migrate a new one."""
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    name = Path(str(connections["default"].settings_dict["NAME"]))
    for path in (name, name.with_name(name.name + "-wal"), name.with_name(name.name + "-shm")):
        path.unlink(missing_ok=True)
    call_command("migrate", verbosity=0)


def bench(users: int, batch: int, redis_url: str | None) -> list[PhaseFigures]:
    """Run the three phases on a new database, as the listener applies them, without SQS."""
    from reactive_users.client.listener.notifier import Notifier

    fresh_database()
    notifier = Notifier() if redis_url else Notifier(layer=_NoLayer())
    try:
        return [
            run_phase(notifier, name, events, batch, notify=redis_url is not None)
            for name, events in phases(users)
        ]
    finally:
        notifier.close()


class _NoLayer:
    """A channel layer that is never called (``--notify`` not given)."""

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        raise AssertionError("not sending without --notify")


def best(runs: tuple[PhaseFigures, ...]) -> PhaseFigures:
    """One phase over several runs: each time and rate at its best (counts are the same)."""

    def least(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return min(known) if known else None

    return replace(
        runs[0],
        cpu_ms_per_event=min(f.cpu_ms_per_event for f in runs),
        events_per_second=max(f.events_per_second for f in runs),
        not_applied=max(f.not_applied for f in runs),
        notify_cpu_ms_per_event=least([f.notify_cpu_ms_per_event for f in runs]),
        notify_ms_per_batch=least([f.notify_ms_per_batch for f in runs]),
    )


def render(figures: list[PhaseFigures]) -> None:
    """One line per phase."""
    header = f"{'phase':<7} {'events':>6} {'CPU ms/ev':>9} {'SQL/ev':>6} {'svp/ev':>6} {'ev/s':>7}"
    notify = figures[0].notify_cpu_ms_per_event is not None
    print(header + ("  notify CPU ms/ev  notify ms/batch" if notify else ""))
    for f in figures:
        line = (
            f"{f.phase:<7} {f.events:>6} {f.cpu_ms_per_event:>9.3f} {f.queries_per_event:>6.2f} "
            f"{f.savepoints_per_event:>6.2f} {f.events_per_second:>7.1f}"
        )
        if notify:
            line += f"  {f.notify_cpu_ms_per_event:>16.3f}  {f.notify_ms_per_batch:>15.2f}"
        if f.not_applied:
            line += f"  ({f.not_applied} NOT APPLIED)"
        print(line)
    total_events = sum(f.events for f in figures)
    cpu = sum(f.cpu_ms_per_event * f.events for f in figures) / total_events
    print(f"all     {total_events:>6} {cpu:>9.3f}  (CPU-s per 1,000 events, apply only: {cpu:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="events per phase")
    parser.add_argument("--batch", type=int, default=BATCH, help="events per transaction")
    parser.add_argument(
        "--notify", action="store_true", help="also group_send each batch's frames (Redis)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs; each figure at its best")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        redis_url = None
        if args.notify:
            from devstack.services import redis_server

            redis_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-redis-"))
            redis_url, _ = stack.enter_context(redis_server(Path(redis_dir)))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-apply-")))
        stack.enter_context(client_project(workdir, redis_url))
        runs = [bench(args.users, args.batch, redis_url) for _ in range(args.repeat)]
    figures = [best(phase) for phase in zip(*runs, strict=True)]
    render(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([asdict(f) for f in figures], indent=2) + "\n")


if __name__ == "__main__":
    main()
