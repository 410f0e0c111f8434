"""Throughput: N creates, then N updates, then N deletes, from one sequential master writer.

Each phase is timed from the first master write to the moment the last client applied the
last event (the latest ``updated_at`` of the phase's replica rows: exact, not a polling
interval), and measured with ``Measurement`` (CPU per process, AWS calls by API, largest
queue and outbox backlog, moto's share of a core). A phase ends when every client holds every
user at the master's version and every queue and the outbox are empty again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import clientdb, master
from bench.measure import Measurement
from bench.stack import BenchStack
from bench.stats import summary
from devstack.processes import until

#: Longest wait for every client to converge after a phase's last write, in seconds.
CONVERGE_TIMEOUT_S = 600.0


def wait_converged(
    stack: BenchStack, expected: dict[int, int], *, timeout: float = CONVERGE_TIMEOUT_S
) -> dict[str, int]:
    """Poll until every client holds every user at ``expected`` versions; what is missing.

    The convergence time itself comes from the replica rows (``updated_at``), so polling
    every 0.2 s costs no precision, only less of the bench's CPU."""
    apps = list(stack.clients.values())

    def left() -> dict[str, int]:
        return {app.name: clientdb.missing(app, expected) for app in apps}

    try:
        until(lambda: not any(left().values()), timeout=timeout, interval=0.2, what="convergence")
    except AssertionError:
        return left()
    return {app.name: 0 for app in apps}


def wait_drained(measurement: Measurement, timeout: float = 120.0) -> bool:
    """Wait until every queue and the outbox are empty (the last deletes are in)."""
    try:
        until(measurement.watch.drained, timeout=timeout, interval=0.1, what="drained queues")
    except AssertionError:
        return False
    return True


def phase(
    stack: BenchStack,
    kind: str,
    items: list[Any],
    write: Callable[[Any], int],
    *,
    per_commit: int = 1,
    profile_dir: Path | None = None,
) -> tuple[list[int], dict[str, Any]]:
    """Write ``items`` one after another with ``write`` (returns the user id), ``per_commit``
    of them in each transaction; measure it."""
    measurement = Measurement(stack, f"throughput-{kind}", profile_dir).begin()
    wrote_at: dict[int, float] = {}
    cpu0 = time.thread_time()
    first = time.time()
    for at in range(0, len(items), per_commit):
        with master.bulk() if per_commit > 1 else contextlib.nullcontext():
            for item in items[at : at + per_commit]:
                start = time.time()
                user_id = write(item)
                wrote_at[user_id] = start
    last = time.time()
    write_cpu = time.thread_time() - cpu0
    ids = list(wrote_at)
    expected = master.versions(ids)
    missing = wait_converged(stack, expected)
    drained = wait_drained(measurement)
    measured = measurement.finish(len(ids))
    result = _figures(stack, kind, ids, wrote_at, first, last, expected)
    result.update(
        measured,
        master_write_s=last - first,
        master_writes_per_s=len(ids) / (last - first) if last > first else None,
        master_write_cpu_s=write_cpu,
        missing_after_timeout=missing,
        drained=drained,
    )
    return ids, result


def _figures(
    stack: BenchStack,
    kind: str,
    ids: list[int],
    wrote_at: dict[int, float],
    first: float,
    last: float,
    expected: dict[int, int],
) -> dict[str, Any]:
    """Convergence per client from the replica rows; per-event lag; relay lag from the outbox."""
    per_client: dict[str, Any] = {}
    for name, app in stack.clients.items():
        rows = clientdb.held(app, ids)
        done = [r for uid, r in rows.items() if r.version >= expected.get(uid, 0)]
        converged_at = max((r.applied_at for r in done), default=None)
        per_client[name] = {
            "applied": len(done),
            "converged_at": converged_at,
            "event_lag_s": summary(
                rows[uid].applied_at - wrote_at[uid]
                for uid in ids
                if uid in rows and rows[uid].version >= expected.get(uid, 0)
            ),
        }
    ends = [c["converged_at"] for c in per_client.values()]
    complete = all(c["applied"] == len(ids) for c in per_client.values())
    end = max(e for e in ends if e is not None) if complete and ends else None
    wall = end - first if end is not None else None
    outbox = master.outbox_times(ids, min_version=min(expected.values(), default=0))
    relay = [
        sent - made
        for (uid, version), (made, sent) in outbox.items()
        if made is not None and sent is not None and expected.get(uid) == version
    ]
    events = len(ids)
    clients = len(stack.clients)
    return {
        "kind": kind,
        "events": events,
        "clients": clients,
        "converged": complete,
        "wall_s": wall,
        "events_per_s": events / wall if wall else None,
        "deliveries_per_s": events * clients / wall if wall else None,
        "converged_after_last_write_s": end - last if end is not None else None,
        "per_client": per_client,
        "outbox_to_relay_settled_s": summary(relay),
    }


def run(
    stack: BenchStack,
    users: int,
    *,
    per_commit: int = 1,
    profile_dir: Path | None = None,
    progress=print,
) -> tuple[list[int], dict[str, Any]]:
    """The create and update phases; the users they made (the delete phase comes last)."""
    names = [f"tp-{i:05d}" for i in range(users)]
    ids, created = phase(
        stack,
        "create",
        names,
        lambda name: master.create(name, first_name="created", email=f"{name}@example.com"),
        per_commit=per_commit,
        profile_dir=profile_dir,
    )
    progress("    " + line(created))
    _, updated = phase(
        stack,
        "update",
        ids,
        lambda uid: _then(uid, master.update, uid, first_name="updated", last_name="bench"),
        per_commit=per_commit,
        profile_dir=profile_dir,
    )
    progress("    " + line(updated))
    return ids, {"create": created, "update": updated}


def delete_phase(
    stack: BenchStack,
    ids: list[int],
    *,
    per_commit: int = 1,
    profile_dir: Path | None = None,
    progress=print,
) -> dict[str, Any]:
    """The delete phase."""
    _, deleted = phase(
        stack,
        "delete",
        ids,
        lambda uid: _then(uid, master.delete, uid),
        per_commit=per_commit,
        profile_dir=profile_dir,
    )
    progress("    " + line(deleted))
    return deleted


def _then(value: int, action: Callable[..., None], *args: Any, **kwargs: Any) -> int:
    """Do ``action(*args, **kwargs)``, then give ``value`` (the user id a phase writes)."""
    action(*args, **kwargs)
    return value


def line(result: dict[str, Any]) -> str:
    """One progress line for a phase."""
    rate = result.get("events_per_s")
    backlog = result.get("backlog", {})
    speed = f"{rate:.1f} events/s" if rate else "NOT converged"
    return (
        f"{result['kind']}: {result['events']} events, {speed}; master wrote in "
        f"{result['master_write_s']:.2f} s; converged "
        f"{_fmt(result.get('converged_after_last_write_s'))} s after the last write; largest "
        f"queue {backlog.get('largest_queue_depth_any', '?')}, outbox "
        f"{backlog.get('largest_outbox_pending', '?')}"
        + ("; BACKLOG FORMED" if backlog.get("backlog_formed") else "")
    )


def _fmt(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"
