"""The figures every bench result is compared with: the prototype, moto's ceiling, the targets.

Measured on this project's machine kind (2 cores, moto 5.2.5's SNS/SQS server, a real
redis-server, Celery, daphne, SQLite, N = 1,000 users per phase). One place: the tables of
``bench.run`` and the README's Performance section read them from here. Keys are the number
of clients.

Absolute figures on these machines drift 10-20 % from day to day, so a ratio to the
prototype means most when the prototype ran in the same session: ``bench.run --prototype
FILE`` reads the JSON that ``../shared/prototype/run_seed_baseline.sh`` writes beside its
table, and ``use_prototype`` puts its figures in place of the built-in ones below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The blog prototype this project replaces, reproduced on this machine kind (issue 6's run;
#: ``use_prototype`` replaces it with one measured in the same session).
PROTOTYPE: dict[int, dict[str, float]] = {
    1: {
        "events_per_s": 29.8,
        "deliveries_per_s": 29.8,
        "latency_p50_ms": 21.6,
        "latency_p99_ms": 26.0,
        "aws_calls_per_event": 2.1,
        "aws_calls_per_delivery": 2.1,
        "listener_cpu_s_per_1000": 5.6,
        "relay_cpu_s_per_1000": 7.5,
        "listener_rss_mib": 85.0,
    },
    3: {
        "events_per_s": 14.5,
        "deliveries_per_s": 43.0,
        "latency_p50_ms": 36.2,
        "latency_p99_ms": 54.1,
        "aws_calls_per_event": 4.3,
        "aws_calls_per_delivery": 4.3 / 3,
        "listener_cpu_s_per_1000": 6.1,
        "relay_cpu_s_per_1000": 7.8,
        "listener_rss_mib": 84.0,
    },
}

#: What moto itself can carry with the best call pattern (PublishBatch of 10, raw delivery,
#: receives of 10, DeleteMessageBatch, queues kept drained): it is one Python process.
MOTO_CEILING: dict[int, dict[str, float]] = {
    1: {
        "events_per_s": 485.0,
        "deliveries_per_s": 485.0,
        "moto_cpu_ms_per_event": 2.06,
        "aws_calls_per_delivery": 0.30,
    },
    3: {
        "events_per_s": 177.0,
        "deliveries_per_s": 530.0,
        "moto_cpu_ms_per_event": 5.64,
        "aws_calls_per_delivery": 0.23,
    },
}

#: Targets of issue 17 (issue 6's where 17 sets none); ``le`` means "at most", ``ge`` "at least".
TARGETS: dict[int, dict[str, tuple[str, float]]] = {
    1: {
        "events_per_s": ("ge", 500.0),
        "converged_after_last_write_s": ("le", 1.0),
        "aws_calls_per_delivery": ("le", 0.05),
        "latency_p50_ms": ("le", 18.0),
        "latency_p99_ms": ("le", 30.0),
        "listener_cpu_s_per_1000": ("le", 1.5),
        "relay_cpu_s_per_1000": ("le", 1.5),
        "listener_rss_mib": ("le", 100.0),
        "fanout_lost": ("le", 0.0),
        # "every socket receives its frames": a socket that never opened received none.
        "fanout_sockets_failed": ("le", 0.0),
        "fanout_last_frame_after_last_save_s": ("le", 2.0),
    },
    3: {
        "events_per_s": ("ge", 250.0),
        "converged_after_last_write_s": ("le", 1.0),
        "aws_calls_per_delivery": ("le", 0.05),
        "listener_cpu_s_per_1000": ("le", 1.5),
        "relay_cpu_s_per_1000": ("le", 1.5),
        "listener_rss_mib": ("le", 100.0),
    },
}

#: A queue holding more than this many messages is a backlog: moto's receive then costs about
#: three times what it costs on a drained queue, and it gets worse with depth.
BACKLOG_MESSAGES = 100

#: The sustained-rate criterion: every client within this many seconds of the master.
SUSTAINED_MAX_LAG_S = 1.0


def nearest(table: dict[int, dict[str, float]], clients: int) -> dict[str, float]:
    """The reference row for ``clients`` (the nearest measured configuration)."""
    return table[min(table, key=lambda n: abs(n - clients))]


def target(clients: int, key: str) -> tuple[str, float] | None:
    """The target for ``key`` with ``clients`` clients, if the issue sets one."""
    return TARGETS.get(clients, {}).get(key)


def meets(clients: int, key: str, value: float | None) -> bool | None:
    """Whether ``value`` meets its target (None: no target, or no value)."""
    goal = target(clients, key)
    if goal is None or value is None:
        return None
    kind, bound = goal
    return value >= bound if kind == "ge" else value <= bound


def prototype_from_seed(seed: Mapping[str, Any]) -> dict[int, dict[str, float]]:
    """The prototype's figures, keyed as ``PROTOTYPE``, from the JSON its baseline script
    writes (``../shared/prototype/run_seed_baseline.py``): per client count, events/s over
    its three phases together, save -> frame p50/p99, AWS calls per event and per delivery,
    CPU per 1,000 events of a listener and of the Celery worker, a listener's peak RSS."""
    latency = {int(clients): figures for clients, figures in seed.get("latency", [])}
    table: dict[int, dict[str, float]] = {}
    for run in seed["runs"]:
        clients = int(run["clients"])
        phases = run["phases"]
        events = sum(int(phase["n"]) for phase in phases)
        wall = sum(float(phase["wall_s"]) for phase in phases)
        calls = sum(sum(phase.get("aws", {}).values()) for phase in phases)
        listeners = [
            sum(float(phase["cpu"].get(f"listener{i}", 0.0)) for phase in phases)
            for i in range(1, clients + 1)
        ]
        row = {
            "events_per_s": events / wall,
            "deliveries_per_s": events * clients / wall,
            "aws_calls_per_event": calls / events,
            "aws_calls_per_delivery": calls / (events * clients),
            "listener_cpu_s_per_1000": 1000 * sum(listeners) / len(listeners) / events,
            "relay_cpu_s_per_1000": 1000
            * sum(float(phase["cpu"].get("celery", 0.0)) for phase in phases)
            / events,
            "listener_rss_mib": max(float(rss) for rss in run.get("peak_rss_mib", [0.0])),
        }
        if clients in latency:
            row["latency_p50_ms"] = float(latency[clients]["p50"])
            row["latency_p99_ms"] = float(latency[clients]["p99"])
        table[clients] = row
    if not table:
        raise ValueError("the prototype's results hold no run")
    return table


def use_prototype(table: dict[int, dict[str, float]]) -> None:
    """Compare with ``table`` (``prototype_from_seed``) from now on, in this process."""
    PROTOTYPE.clear()
    PROTOTYPE.update(table)
