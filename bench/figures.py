"""The headline figures of one configuration's raw results, as one flat dict, and their median
over repetitions. Keys are stable: the tables, the JSON and the README use them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from bench.stats import median_of

PHASES = ("create", "update", "delete")


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def _throughput(raw: dict[str, Any], f: dict[str, Any]) -> None:
    phases = _get(raw, "throughput", "phases") or {}
    if not phases:
        return
    clients = raw["clients"]
    for kind in PHASES:
        p = phases.get(kind)
        if not p:
            continue
        f[f"events_per_s_{kind}"] = p.get("events_per_s")
        f[f"wall_s_{kind}"] = p.get("wall_s")
        f[f"master_write_s_{kind}"] = p.get("master_write_s")
        f[f"master_writes_per_s_{kind}"] = p.get("master_writes_per_s")
        f[f"converged_after_last_write_s_{kind}"] = p.get("converged_after_last_write_s")
        f[f"largest_queue_{kind}"] = _get(p, "backlog", "largest_queue_depth_any")
        f[f"largest_outbox_{kind}"] = _get(p, "backlog", "largest_outbox_pending")
        f[f"moto_core_share_{kind}"] = p.get("moto_core_share")
        lags = [_get(c, "event_lag_s", "p50") for c in (p.get("per_client") or {}).values()]
        f[f"event_lag_p50_s_{kind}"] = max((x for x in lags if x is not None), default=None)
        f[f"relay_lag_p50_s_{kind}"] = _get(p, "outbox_to_relay_settled_s", "p50")
    done = [phases[k] for k in PHASES if k in phases]
    walls = [p.get("wall_s") for p in done]
    if done and all(walls):
        events = sum(p["events"] for p in done)
        wall = sum(walls)
        f["events_per_s"] = events / wall
        f["deliveries_per_s"] = events * clients / wall
        f["wall_s"] = wall
    converged = [p.get("converged_after_last_write_s") for p in done]
    f["converged_after_last_write_s"] = max((c for c in converged if c is not None), default=None)
    f["master_write_s"] = sum(p.get("master_write_s") or 0 for p in done)
    f["master_write_cpu_ms_per_write"] = (
        1000 * sum(p.get("master_write_cpu_s") or 0 for p in done) / sum(p["events"] for p in done)
    )
    f["largest_queue"] = max((p["backlog"]["largest_queue_depth_any"] for p in done), default=0)
    f["largest_outbox"] = max((p["backlog"]["largest_outbox_pending"] for p in done), default=0)
    formed = sorted({q for p in done for q in p["backlog"]["backlog_queues"]})
    f["backlog_formed"] = ", ".join(formed) if formed else "no"
    elapsed = sum(p["elapsed_s"] for p in done)
    moto = sum(p["cpu_s"].get("moto", 0.0) for p in done)
    f["moto_core_share"] = moto / elapsed if elapsed else None
    _calls(done, clients, f)
    _cost(done, raw, f)


def _calls(done: list[dict[str, Any]], clients: int, f: dict[str, Any]) -> None:
    events = sum(p["calls"]["events"] for p in done)
    by_api: dict[str, int] = {}
    bench = 0
    for p in done:
        for api, n in p["calls"]["by_api"].items():
            by_api[api] = by_api.get(api, 0) + n
        bench += sum(p["calls"]["bench_own_calls_excluded"].values())
    total = sum(by_api.values())
    f["aws_calls_per_event"] = total / events if events else None
    f["aws_calls_per_delivery"] = total / (events * clients) if events else None
    for api, n in sorted(by_api.items()):
        f[f"aws_calls_per_delivery_{api}"] = n / (events * clients) if events else None
    f["aws_bench_calls_excluded"] = bench
    published = sum(p["calls"].get("messages", {}).get("published", 0) for p in done)
    deleted = sum(p["calls"].get("messages", {}).get("deleted", 0) for p in done)
    f["messages_published_per_event"] = published / events if events else None
    f["messages_deleted_per_delivery"] = deleted / (events * clients) if events else None


def _cost(done: list[dict[str, Any]], raw: dict[str, Any], f: dict[str, Any]) -> None:
    events = sum(p["events"] for p in done)
    cpu: dict[str, float] = {}
    for p in done:
        for name, seconds in p["cpu_s"].items():
            cpu[name] = cpu.get(name, 0.0) + seconds
    per_k = 1000 / events if events else 0.0
    write_cpu = sum(p.get("master_write_cpu_s") or 0 for p in done)
    f["cpu_s_per_1000_master_writes"] = write_cpu * per_k
    f["cpu_s_per_1000_bench_process"] = cpu.get("master", 0.0) * per_k
    for name, seconds in sorted(cpu.items()):
        if name != "master":
            f[f"cpu_s_per_1000_{name}"] = seconds * per_k
    listeners = [v for k, v in cpu.items() if k.startswith("listener-")]
    f["listener_cpu_s_per_1000"] = max(listeners) * per_k if listeners else None
    # The relay: the Celery worker, plus the master's publisher thread with
    # REACTIVE_RELAY=thread (then the worker only sweeps).
    relay = cpu.get("worker", 0.0) + cpu.get("publisher-thread", 0.0)
    f["relay_cpu_s_per_1000"] = relay * per_k if "worker" in cpu else None


def _latency(raw: dict[str, Any], f: dict[str, Any]) -> None:
    lat = raw.get("latency")
    if not lat:
        return
    for key in ("p50", "p90", "p99", "max"):
        f[f"latency_{key}_ms"] = lat["all_clients_ms"][key]
    hops = lat.get("hops_first_client") or {}
    for hop in (
        "save_and_commit_ms",
        "commit_to_relay_settled_ms",
        "relay_settled_to_applied_ms",
        "commit_to_applied_ms",
        "applied_to_frame_ms",
    ):
        f[f"latency_hop_{hop}_p50"] = _get(hops, hop, "p50")
    f["aws_calls_per_event_idle"] = lat["calls"]["per_event"]


def _sustained(raw: dict[str, Any], f: dict[str, Any]) -> None:
    sus = raw.get("sustained")
    if not sus:
        return
    f["sustained_events_per_s"] = sus.get("sustained_events_per_s") or "none held"
    f["sustained_hold_s"] = sus.get("hold_seconds")
    hold = sus.get("hold_seconds")

    def short(step: dict[str, Any]) -> str:
        held = "held " if step["seconds"] == hold else ""
        why = (
            step["why_not"]
            .split(",")[0]
            .replace("not converged within 1 s of the last write", "late")
        )
        return f"{held}{step['rate']:g} " + ("ok" if step["passed"] else f"no ({why})")

    f["sustained_steps"] = ", ".join(short(s) for s in sus.get("steps", []))


def _fanout(raw: dict[str, Any], f: dict[str, Any]) -> None:
    fan = raw.get("fanout")
    if not fan:
        return
    f["fanout_sockets"] = fan["sockets"]
    f["fanout_sockets_connected"] = fan.get("sockets_connected")
    f["fanout_sockets_failed"] = fan["sockets_failed"]
    f["fanout_sockets_closed"] = fan.get("sockets_closed_by_server")
    f["fanout_frames_expected"] = fan["frames_expected"]
    f["fanout_lost"] = fan["frames_lost"]
    f["fanout_duplicated"] = fan["frames_duplicated"]
    f["fanout_over_capacity"] = fan.get("channel_layer_over_capacity")
    errors = fan.get("daphne_errors") or {}
    f["fanout_daphne_errors"] = sum(errors.values())
    f["fanout_daphne_error_kinds"] = "; ".join(f"{n}x {k}" for k, n in errors.items()) or "none"
    f["fanout_out_of_order"] = fan["frames_out_of_order"]
    f["fanout_first_save_to_last_frame_s"] = fan["first_save_to_last_frame_s"]
    f["fanout_last_frame_after_last_save_s"] = fan["last_frame_after_last_save_s"]
    f["fanout_master_write_s"] = fan["master_write_s"]
    f["fanout_frame_p50_ms"] = fan["frame_ms"]["p50"]
    f["fanout_frame_p99_ms"] = fan["frame_ms"]["p99"]
    f["fanout_daphne_peak_mib"] = fan.get("daphne_mib", {}).get("VmHWM")
    f["fanout_largest_queue"] = _get(fan, "backlog", "largest_queue_depth_any")


def _memory(raw: dict[str, Any], f: dict[str, Any]) -> None:
    memory = raw.get("memory_mib") or {}
    listeners = [m.get("VmHWM") for k, m in memory.items() if k.startswith("listener-")]
    daphnes = [m.get("VmHWM") for k, m in memory.items() if k.startswith("daphne-")]
    f["listener_rss_mib"] = max((x for x in listeners if x), default=None)
    f["daphne_rss_mib"] = max((x for x in daphnes if x), default=None)


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of one configuration run."""
    f: dict[str, Any] = {"clients": raw["clients"], "users": raw["users"]}
    for part in (_throughput, _latency, _sustained, _fanout, _memory):
        part(raw, f)
    if raw.get("errors"):
        f["errors"] = ", ".join(raw["errors"])
    return f


def median_figures(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Figure by figure, the median over repetitions (text figures: the first run's)."""
    runs = list(runs)
    keys = list(dict.fromkeys(k for r in runs for k in r))
    merged: dict[str, Any] = {}
    for key in keys:
        values = [r.get(key) for r in runs]
        numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
        merged[key] = median_of(numbers) if numbers else next((v for v in values if v), None)
    return merged
