"""The tables ``bench.run`` prints: one per scenario, one column per configuration.

A cell is the figure, then its ratio to the prototype (``x0.9 proto``: ours / theirs) and to
moto's ceiling (``41% moto``) where those exist, then ``ok``/``MISS`` against the issue's
target. Tables are Markdown, ready to paste into the README.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bench.reference import MOTO_CEILING, PROTOTYPE, meets, nearest, target


@dataclass(frozen=True)
class Row:
    """One figure: its key in the figures, label, format, and the reference keys to compare."""

    key: str
    label: str
    fmt: str = "{:.1f}"
    proto: str | None = None
    moto: str | None = None
    goal: str | None = None
    scale: float = 1.0


def _value(value: Any, fmt: str, scale: float) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    return fmt.format(value * scale)


def cell(row: Row, figures: Mapping[str, Any]) -> str:
    """One configuration's cell of a row."""
    clients = int(figures["clients"])
    value = figures.get(row.key)
    parts = [_value(value, row.fmt, row.scale)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        proto = nearest(PROTOTYPE, clients).get(row.proto) if row.proto else None
        if proto:
            parts.append(f"x{value / proto:.2f} proto")
        moto = nearest(MOTO_CEILING, clients).get(row.moto) if row.moto else None
        if moto:
            parts.append(f"{100 * value / moto:.0f}% moto")
        verdict = meets(clients, row.goal, value) if row.goal else None
        if verdict is not None:
            kind, bound = target(clients, row.goal)  # type: ignore[arg-type,misc]
            sign = ">=" if kind == "ge" else "<="
            parts.append(("ok" if verdict else "MISS") + f" ({sign}{bound:g})")
    return " · ".join(parts)


def table(
    title: str, rows: list[Row], configs: Mapping[int, Mapping[str, Any]], database: str = ""
) -> str:
    """A Markdown table: a row per figure that any configuration has, a column per config
    (named with the ``database`` engine when given)."""
    on = f" on {database}" if database else ""
    header = ["figure"] + [f"{n} client{'s' if n != 1 else ''}{on}" for n in configs]
    body = [
        [row.label] + [cell(row, figures) for figures in configs.values()]
        for row in rows
        if any(figures.get(row.key) is not None for figures in configs.values())
    ]
    if not body:
        return ""
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([f"### {title}", "", line(header), rule, *(line(r) for r in body), ""])


THROUGHPUT = [
    Row(
        "events_per_s",
        "events/s, all three phases",
        proto="events_per_s",
        moto="events_per_s",
        goal="events_per_s",
    ),
    Row(
        "deliveries_per_s",
        "deliveries/s (events x clients)",
        proto="deliveries_per_s",
        moto="deliveries_per_s",
    ),
    Row("events_per_s_create", "events/s, creates", proto="events_per_s", moto="events_per_s"),
    Row("events_per_s_update", "events/s, updates", proto="events_per_s", moto="events_per_s"),
    Row("events_per_s_delete", "events/s, deletes", proto="events_per_s", moto="events_per_s"),
    Row("wall_s", "first write -> every client converged, s (sum of phases)", "{:.2f}"),
    Row(
        "converged_after_last_write_s",
        "converged after the master's last write, s (worst)",
        "{:.2f}",
        goal="converged_after_last_write_s",
    ),
    Row("master_write_s", "master's own write time, s (sum of phases)", "{:.2f}"),
    Row("master_writes_per_s_create", "master writes/s, creates", "{:.0f}"),
    Row("master_writes_per_s_update", "master writes/s, updates", "{:.0f}"),
    Row("master_writes_per_s_delete", "master writes/s, deletes", "{:.0f}"),
    Row("master_write_cpu_ms_per_write", "master CPU per write, ms", "{:.2f}"),
    Row("event_lag_p50_s_create", "write -> applied per event, p50 s (creates)", "{:.2f}"),
    Row("relay_lag_p50_s_create", "outbox row -> relay settled, p50 s (creates)", "{:.2f}"),
    Row("largest_queue", "largest queue backlog seen, messages", "{:.0f}"),
    Row("largest_outbox", "largest outbox backlog seen, rows", "{:.0f}"),
    Row("backlog_formed", "queue backlog formed (> 100 messages)", "{}"),
    Row("moto_core_share", "moto's share of a core", "{:.0f}%", scale=100),
]

SUSTAINED = [
    Row(
        "sustained_events_per_s",
        "highest rate held, events/s",
        proto="events_per_s",
        moto="events_per_s",
    ),
    Row("sustained_hold_s", "held for, s", "{:.0f}"),
    Row("sustained_steps", "steps (rate, seconds, verdict)", "{}"),
]

LATENCY = [
    Row(
        "latency_p50_ms",
        "save() -> frame on every client, p50 ms",
        proto="latency_p50_ms",
        goal="latency_p50_ms",
    ),
    Row("latency_p90_ms", "p90 ms"),
    Row("latency_p99_ms", "p99 ms", proto="latency_p99_ms", goal="latency_p99_ms"),
    Row("latency_max_ms", "max ms"),
    Row("latency_hop_save_and_commit_ms_p50", "hop p50: save + commit, ms"),
    Row(
        "latency_hop_commit_to_relay_settled_ms_p50",
        "hop p50: commit -> relay settled (relay hop + PublishBatch), ms",
    ),
    Row(
        "latency_hop_relay_settled_to_applied_ms_p50",
        "hop p50: relay settled -> applied on client 1, ms",
    ),
    Row("latency_hop_commit_to_applied_ms_p50", "hop p50: commit -> applied on client 1, ms"),
    Row(
        "latency_hop_applied_to_frame_ms_p50",
        "hop p50: applied -> frame (commit, group_send, daphne), ms",
    ),
]


def calls_rows(configs: Mapping[int, Mapping[str, Any]]) -> list[Row]:
    """AWS call rows, with one row per API any configuration used."""
    rows = [
        Row(
            "aws_calls_per_delivery",
            "AWS calls per delivery (throughput)",
            "{:.3f}",
            proto="aws_calls_per_delivery",
            moto="aws_calls_per_delivery",
            goal="aws_calls_per_delivery",
        ),
        Row(
            "aws_calls_per_event",
            "AWS calls per master event (throughput)",
            "{:.3f}",
            proto="aws_calls_per_event",
        ),
    ]
    prefix = "aws_calls_per_delivery_"
    apis = sorted(
        {k.removeprefix(prefix) for f in configs.values() for k in f if k.startswith(prefix)}
    )
    rows += [
        Row(f"aws_calls_per_delivery_{api}", f"  {api} per delivery", "{:.3f}") for api in apis
    ]
    rows += [
        Row(
            "messages_published_per_event",
            "messages published per event (< 1: packed; > 1 unpacked: duplicates)",
            "{:.3f}",
        ),
        Row(
            "messages_deleted_per_delivery",
            "messages consumed per delivery (< 1: packed; > 1 unpacked: duplicates)",
            "{:.3f}",
        ),
        Row("aws_calls_per_event_idle", "AWS calls per event, one at a time (latency)", "{:.2f}"),
        Row("aws_bench_calls_excluded", "bench's own calls left out (queue-depth polls)", "{:.0f}"),
    ]
    return rows


def cost_rows(configs: Mapping[int, Mapping[str, Any]]) -> list[Row]:
    """CPU per 1,000 events per process, and peak memory."""
    rows = [
        Row(
            "relay_cpu_s_per_1000",
            "relay CPU s / 1,000 events (worker + publisher thread)",
            "{:.2f}",
            proto="relay_cpu_s_per_1000",
            goal="relay_cpu_s_per_1000",
        ),
        Row(
            "listener_cpu_s_per_1000",
            "listener CPU s / 1,000 events (busiest)",
            "{:.2f}",
            proto="listener_cpu_s_per_1000",
            goal="listener_cpu_s_per_1000",
        ),
        Row(
            "cpu_s_per_1000_master_writes", "master writes (writer thread) CPU s / 1,000", "{:.2f}"
        ),
        Row(
            "cpu_s_per_1000_bench_process", "bench process (writes + polls) CPU s / 1,000", "{:.2f}"
        ),
    ]
    names = sorted(
        {
            k.removeprefix("cpu_s_per_1000_")
            for f in configs.values()
            for k in f
            if k.startswith("cpu_s_per_1000_")
        }
        - {"master_writes", "bench_process"}
    )
    rows += [Row(f"cpu_s_per_1000_{n}", f"  {n} CPU s / 1,000 events", "{:.2f}") for n in names]
    rows += [
        Row(
            "listener_rss_mib",
            "listener peak RSS, MiB",
            "{:.0f}",
            proto="listener_rss_mib",
            goal="listener_rss_mib",
        ),
        Row("daphne_rss_mib", "daphne peak RSS, MiB", "{:.0f}"),
    ]
    return rows


FANOUT = [
    Row("fanout_sockets", "sockets asked for", "{:.0f}"),
    Row("fanout_sockets_connected", "sockets open (state frame received)", "{:.0f}"),
    Row(
        "fanout_sockets_failed",
        "sockets that failed to open",
        "{:.0f}",
        goal="fanout_sockets_failed",
    ),
    Row("fanout_sockets_closed", "sockets the server closed during the run", "{:.0f}"),
    Row("fanout_frames_expected", "frames expected", "{:.0f}"),
    Row("fanout_lost", "frames lost", "{:.0f}", goal="fanout_lost"),
    Row("fanout_over_capacity", "group sends dropped by channels-redis (over capacity)", "{:.0f}"),
    Row("fanout_duplicated", "frames duplicated", "{:.0f}"),
    Row("fanout_out_of_order", "frames out of order", "{:.0f}"),
    Row("fanout_daphne_errors", "exceptions in daphne (handshakes to closes)", "{:.0f}"),
    Row("fanout_daphne_error_kinds", "  which", "{}"),
    Row("fanout_master_write_s", "master's burst write time, s", "{:.2f}"),
    Row("fanout_first_save_to_last_frame_s", "first save -> last frame, s", "{:.2f}"),
    Row(
        "fanout_last_frame_after_last_save_s",
        "last frame after the last save, s",
        "{:.2f}",
        goal="fanout_last_frame_after_last_save_s",
    ),
    Row("fanout_frame_p50_ms", "per frame save() -> arrival, p50 ms", "{:.0f}"),
    Row("fanout_frame_p99_ms", "per frame save() -> arrival, p99 ms", "{:.0f}"),
    Row("fanout_largest_queue", "largest queue backlog seen, messages", "{:.0f}"),
    Row("fanout_daphne_peak_mib", "daphne peak RSS, MiB", "{:.0f}"),
]


SECTIONS: list[tuple[str, str, Callable[[Mapping[int, Mapping[str, Any]]], list[Row]]]] = [
    ("throughput", "Throughput (N creates, then updates, then deletes)", lambda c: THROUGHPUT),
    (
        "sustained",
        "Sustained rate (every client within 1 s, no growing backlog)",
        lambda c: SUSTAINED,
    ),
    ("latency", "Latency (sequential renames, idle pipeline)", lambda c: LATENCY),
    ("calls", "AWS calls, counted by moto's recorder", calls_rows),
    ("cost", "Cost: CPU per 1,000 events, peak memory", cost_rows),
    ("fanout", "Fan-out (one client's daphne)", lambda c: FANOUT),
]


def render(configs: Mapping[int, Mapping[str, Any]], database: str = "") -> str:
    """Every table that has figures; ``database`` (the engine) named in each header."""
    blocks = [table(title, rows(configs), configs, database) for _, title, rows in SECTIONS]
    notes = []
    for n, figures in configs.items():
        if figures.get("errors"):
            notes.append(f"ERRORS with {n} client(s): {figures['errors']} (tracebacks in the JSON)")
        formed = figures.get("backlog_formed")
        if formed and formed != "no":
            notes.append(
                f"NOTE: with {n} client(s) a queue backlog formed ({formed}): moto's cost per "
                "call grows with queue depth, so these figures measure moto as much as the code."
            )
    return "\n".join(b for b in blocks if b) + ("\n" + "\n".join(notes) if notes else "")
