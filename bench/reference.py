"""The figures every bench result is compared with: the prototype, moto's ceiling, the targets.

All from issue 6, measured on this project's machine kind (2 cores, moto 5.2.5's SNS/SQS
server, a real redis-server, Celery, daphne, SQLite, N = 1,000 users per phase). One place:
the tables of ``bench.run`` and the README's Performance section read them from here.
Keys are the number of clients.
"""

from __future__ import annotations

#: The blog prototype this project replaces, reproduced on this machine kind.
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

#: Targets of issue 6; ``le`` means "at most", ``ge`` "at least".
TARGETS: dict[int, dict[str, tuple[str, float]]] = {
    1: {
        "events_per_s": ("ge", 200.0),
        "converged_after_last_write_s": ("le", 1.0),
        "aws_calls_per_delivery": ("le", 0.35),
        "latency_p50_ms": ("le", 18.0),
        "latency_p99_ms": ("le", 35.0),
        "listener_cpu_s_per_1000": ("le", 1.5),
        "relay_cpu_s_per_1000": ("le", 1.5),
        "listener_rss_mib": ("le", 100.0),
        "fanout_lost": ("le", 0.0),
        # "every socket receives its frames": a socket that never opened received none.
        "fanout_sockets_failed": ("le", 0.0),
        "fanout_last_frame_after_last_save_s": ("le", 2.0),
    },
    3: {
        "events_per_s": ("ge", 120.0),
        "converged_after_last_write_s": ("le", 1.0),
        "aws_calls_per_delivery": ("le", 0.35),
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
