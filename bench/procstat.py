"""CPU time and memory of processes, read from /proc (Linux only), and their descendants."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    """Fields of /proc/PID/stat after the command name (field 3 onwards)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds the process has used (its own threads); None if gone."""
    try:
        fields = _stat_fields(pid)
    except (FileNotFoundError, ProcessLookupError):
        return None
    return (int(fields[11]) + int(fields[12])) / _TICKS


def thread_cpu_seconds(pid: int, tid: int) -> float | None:
    """User + system CPU seconds of one thread of a process; None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def start_ticks(pid: int) -> int | None:
    """When the process started (clock ticks since boot): tells a reused PID apart."""
    try:
        return int(_stat_fields(pid)[19])
    except (FileNotFoundError, ProcessLookupError):
        return None


def is_zombie(pid: int) -> bool:
    """Whether the process has exited and only waits to be reaped (state Z)."""
    try:
        return _stat_fields(pid)[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def parent(pid: int) -> int | None:
    """The parent PID, or None if the process is gone."""
    try:
        return int(_stat_fields(pid)[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def memory_mib(pid: int) -> dict[str, float]:
    """VmHWM (peak resident) and VmRSS (resident now) in MiB; empty if the process is gone."""
    values: dict[str, float] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except (FileNotFoundError, ProcessLookupError):
        return values
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            values[key] = int(rest.split()[0]) / 1024
    return values


def children_of(pids: set[int]) -> set[int]:
    """Every live process whose parent is in ``pids`` (one level)."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and parent(int(entry)) in pids:
            found.add(int(entry))
    return found


def descendants(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (children, grandchildren, ...)."""
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = children_of(frontier) - found
        found |= frontier
    return found


def cmdline(pid: int) -> str:
    """The process's command line, space-separated ('' if gone)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of each named process now (processes that are gone are left out)."""
    snapshot = {}
    for name, pid in pids.items():
        seconds = cpu_seconds(pid)
        if seconds is not None:
            snapshot[name] = seconds
    return snapshot


def cpu_delta(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each process used between two snapshots."""
    return {name: after[name] - before[name] for name in after if name in before}
