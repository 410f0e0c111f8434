"""Sustained rate: the master renames users at a fixed rate; do the clients keep up?

A step writes at ``rate`` events/s (renames of a pool of users, round robin, paced on a
fixed schedule) for some seconds. A thread polls each client's replica versions every
``POLL_S`` and computes the client's lag: now minus the time of the oldest master write it
has not applied yet. A step passes when every client stays within ``SUSTAINED_MAX_LAG_S``
of the master throughout, converges within that after the last write, no backlog grows
(queues + outbox, least-squares slope over the step), and the writer kept its pace.

The search: short steps from a start rate, up or down by ``STEP_FACTOR`` until one passes
and one fails, then bisecting between them; a step is cut short once a client lags
``ABORT_LAG_S`` behind. Then a full-length hold at the highest rate that passed cleanly
(lag and queue well inside the limits), and if that hold fails, up to two more at the
lower rates that passed.
Between steps the pipeline drains.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

from bench import clientdb, master
from bench.measure import Measurement
from bench.reference import SUSTAINED_MAX_LAG_S
from bench.stack import BenchStack
from bench.throughput import wait_converged, wait_drained
from bench.watch import summarise

#: Unique first names across steps: a save that changes nothing publishes nothing.
_NAMES = itertools.count()

#: Seconds between two lag polls of every client database.
POLL_S = 0.2
#: The search steps up (or down) by this factor until it has a passing and a failing rate...
STEP_FACTOR = 1.6
#: ... then bisects (geometric mean) until they are this close.
RESOLUTION = 1.25
#: Full-length holds tried at most, each at a lower passing rate than the last.
MAX_HOLDS = 3
#: A passing step is "clean" (worth holding for the full length) when every client stayed
#: within this lag and no queue got deeper than this.
CLEAN_LAG_S = 0.5
CLEAN_QUEUE_MESSAGES = 50
#: The writer must reach this share of the asked rate, else the master is the limit.
PACE_SHARE = 0.97
#: A step is cut short once a client lags this far behind (it has failed already).
ABORT_LAG_S = 3.0
#: A backlog "grows" when its least-squares slope, over the whole step, adds up to more than
#: this many seconds' worth of writes (and more than ``GROWTH_MIN_MESSAGES``).
GROWTH_S = 0.5
GROWTH_MIN_MESSAGES = 20


class LagWatch:
    """Polls clients' replica versions; the worst lag seen per client."""

    def __init__(self, stack: BenchStack, pool: list[int], base: dict[int, int]) -> None:
        self.stack, self.pool, self.base = stack, pool, base
        #: Per user, the time of each write, in version order from base + 1.
        self.writes: dict[int, list[float]] = {uid: [] for uid in pool}
        self.worst: dict[str, float] = dict.fromkeys(stack.clients, 0.0)
        self.series: dict[str, list[tuple[float, float]]] = {n: [] for n in stack.clients}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-watch", daemon=True)

    def lag(self, name: str) -> float:
        """The client's lag now: the age of the oldest write it has not applied (0 if none)."""
        held = clientdb.versions(self.stack.clients[name], self.pool)
        now = time.time()
        oldest = now
        for uid, times in self.writes.items():
            index = held.get(uid, 0) - self.base[uid]  # writes it has applied
            if 0 <= index < len(times):
                oldest = min(oldest, times[index])
        return now - oldest

    def _run(self) -> None:
        while not self._stop.is_set():
            for name in self.stack.clients:
                value = self.lag(name)
                self.worst[name] = max(self.worst[name], value)
                self.series[name].append((time.time(), value))
            self._stop.wait(POLL_S)

    def __enter__(self) -> LagWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)


def hold(stack: BenchStack, pool: list[int], rate: float, seconds: float) -> dict[str, Any]:
    """Write at ``rate`` for ``seconds``; lag, backlog growth, pace and the verdict."""
    base = master.versions(pool)
    total = max(1, round(rate * seconds))
    measurement = Measurement(stack, f"sustained-{rate:g}").begin()
    written = 0
    with LagWatch(stack, pool, base) as lag:
        start = time.time()
        for k in range(total):
            due = start + k / rate
            delay = due - time.time()
            if delay > 0:
                time.sleep(delay)
            if max(lag.worst.values()) > ABORT_LAG_S:
                break  # clearly failed: stop before the backlog gets deep
            uid = pool[k % len(pool)]
            lag.writes[uid].append(time.time())
            master.update(uid, first_name=f"s{next(_NAMES)}")  # always a change: an event
            written += 1
        last = time.time()
        expected = master.versions(pool)
        missing = wait_converged(stack, expected, timeout=max(60.0, seconds))
    drained = wait_drained(measurement)
    measured = measurement.finish(written)
    ends = [
        max((h.applied_at for h in clientdb.held(app, pool).values()), default=0.0)
        for app in stack.clients.values()
    ]
    achieved = written / (last - start) if last > start else 0.0
    backlog = summarise(measurement.watch.samples, start, last)  # while writing only
    # Growing: the slope adds up to more than the threshold over the step, and the backlog
    # did reach it (a few noisy samples of a shallow queue can slope steeply).
    threshold = max(GROWTH_S * rate, GROWTH_MIN_MESSAGES)
    slope = max(backlog["queue_growth_per_s"], backlog["outbox_growth_per_s"])
    deepest = backlog["largest_queue_depth_any"] + backlog["largest_outbox_pending"]
    growing = slope * (last - start) > threshold and deepest > threshold
    result = {
        "rate": rate,
        "seconds": seconds,
        "events": written,
        "aborted": written < total,
        "achieved_rate": achieved,
        "worst_lag_s": dict(lag.worst),
        "converged_after_last_write_s": max(ends) - last if not any(missing.values()) else None,
        "backlog": backlog,
        "backlog_growing": growing,
        "drained": drained,
        "cpu_s": measured["cpu_s"],
        "moto_core_share": measured["moto_core_share"],
        "calls_per_delivery": measured["calls"]["per_delivery"],
    }
    reasons = []
    if max(lag.worst.values()) > SUSTAINED_MAX_LAG_S:
        reasons.append(f"lag {max(lag.worst.values()):.2f} s")
    after = result["converged_after_last_write_s"]
    if after is None or after > SUSTAINED_MAX_LAG_S:
        reasons.append("not converged within 1 s of the last write")
    if growing:
        reasons.append("backlog growing")
    if achieved < PACE_SHARE * rate:
        reasons.append(f"master wrote only {achieved:.0f}/s")
    result["passed"] = not reasons
    result["why_not"] = ", ".join(reasons)
    return result


def _line(step: dict[str, Any]) -> str:
    verdict = "ok" if step["passed"] else f"FAILED ({step['why_not']})"
    return (
        f"{step['rate']:.0f} events/s for {step['seconds']:.0f} s: worst lag "
        f"{max(step['worst_lag_s'].values()):.2f} s, largest queue "
        f"{step['backlog']['largest_queue_depth_any']}, outbox "
        f"{step['backlog']['largest_outbox_pending']}: {verdict}"
    )


def _clean(step: dict[str, Any]) -> bool:
    """A pass with room to spare: a short step that only just passed rarely holds a minute."""
    return bool(
        step["passed"]
        and max(step["worst_lag_s"].values()) <= CLEAN_LAG_S
        and step["backlog"]["largest_queue_depth_any"] <= CLEAN_QUEUE_MESSAGES
    )


def _hold_candidates(steps: list[dict[str, Any]]) -> list[float]:
    """At most ``MAX_HOLDS`` rates to hold, best first: the highest clean pass (else the
    highest pass), then the passing rates below it (else a step below)."""
    passes = sorted({s["rate"] for s in steps if s["passed"]}, reverse=True)
    clean = [r for r in passes if any(_clean(s) for s in steps if s["rate"] == r)]
    first = clean[0] if clean else (passes[0] if passes else None)
    if first is None:
        return []
    below = [r for r in passes if r < first] or [round(first / STEP_FACTOR, 1)]
    return [first, *below][:MAX_HOLDS]


def run(
    stack: BenchStack,
    pool: list[int],
    *,
    start_rate: float,
    step_seconds: float,
    hold_seconds: float,
    max_rate: float,
    max_steps: int = 6,
    progress=print,
) -> dict[str, Any]:
    """Search the highest passing rate with short steps, then hold it for ``hold_seconds``.

    Up by x``STEP_FACTOR`` while steps pass, down by as much while they fail; once a rate
    passed and a higher one failed, try their geometric mean until they are within
    ``RESOLUTION`` of each other or ``max_steps`` steps ran.
    """
    steps: list[dict[str, Any]] = []

    def step(rate: float, seconds: float) -> bool:
        result = hold(stack, pool, rate, seconds)
        steps.append(result)
        progress(f"    sustained: {_line(result)}")
        return bool(result["passed"])

    passed: float | None = None
    failed: float | None = None
    rate = min(max(2.0, start_rate), max_rate)
    for _ in range(max_steps):
        if step(rate, step_seconds):
            passed = max(rate, passed or 0.0)
        else:
            failed = min(rate, failed or rate)
        if passed is not None and failed is not None:
            if failed / passed <= RESOLUTION:
                break
            rate = round((passed * failed) ** 0.5, 1)
        elif passed is not None:
            if rate >= max_rate:
                break
            rate = round(min(max_rate, rate * STEP_FACTOR), 1)
        else:
            if rate <= 2.0:
                break
            rate = round(max(2.0, rate / STEP_FACTOR), 1)
    held_rate = None
    for candidate in _hold_candidates(steps):
        if step(candidate, hold_seconds):
            held_rate = candidate
            break
    return {
        "sustained_events_per_s": held_rate,
        "hold_seconds": hold_seconds,
        "step_seconds": step_seconds,
        "steps": steps,
    }
