"""Sampling profiles of pipeline processes with py-spy, and where their samples go.

``py-spy record --format raw`` (collapsed stacks, one "frame;frame;... count" a line) runs
against each process while a workload runs; SIGINT makes it write. py-spy is a tool of the
bench, not of the project: ``.venv/bin/pip install py-spy``. Idle samples (a thread blocked
in a long poll or a select) are left out by py-spy, so shares are of busy samples.
The figures of a profiled run are perturbed (py-spy takes CPU too): profile in its own run.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: Samples per second per profiled process.
RATE_HZ = 100

#: Hops worth naming in each kind of process: (label, substring of a frame). A sample
#: counts for a hop when any frame of its stack contains the substring.
HOPS: dict[str, list[tuple[str, str]]] = {
    "listener": [
        ("poll_once (one batch, all of it)", "Listener.poll_once"),
        ("SQS ReceiveMessage (botocore)", "ClientQueue.receive"),
        ("decode envelope", "decode_sqs_body"),
        ("apply the batch (one transaction)", "apply_batch"),
        ("  event_apply (the ORM work of each event)", "event_apply"),
        ("  SQLite commit", "BaseDatabaseWrapper.commit"),
        ("group_send (channels-redis, the notifier's thread)", "Notifier._deliver"),
        ("SQS DeleteMessageBatch (botocore)", "ClientQueue.delete"),
        ("heartbeat (ChangeMessageVisibilityBatch)", "Heartbeat._beat"),
        ("close_old_connections", "close_old_connections"),
        ("logging", "Logger._log"),
    ],
    "worker": [
        ("relay task run (outbox_publish_pending)", "outbox_publish_pending"),
        ("  claim rows (a write transaction, even when none)", "outbox_claim"),
        ("  SNS PublishBatch (botocore)", "_publish_batch"),
        ("  settle rows (a write transaction)", "outbox_settle"),
        ("  of which SQLite commit", "BaseDatabaseWrapper.commit"),
        ("logging", "Logger._log"),
    ],
    "master": [
        ("bench writes (all of a save/delete)", "bench/master.py"),
        ("Model.save", "Model.save"),
        ("record outbox row (user_saved)", "user_saved"),
        ("record delete (user_deleted)", "user_deleted"),
        ("delete collector", "Collector.collect"),
        ("on_commit: enqueue the relay (Celery apply_async)", "enqueue_relay"),
        ("publisher thread (REACTIVE_RELAY=thread)", "Publisher._run"),
        ("SQLite commit", "BaseDatabaseWrapper.commit"),
        ("bench backlog watch (not the master)", "BacklogWatch"),
    ],
    "daphne": [
        ("consumer user_changed/send_json", "user_changed"),
        ("channels-redis receive", "RedisChannelLayer.receive"),
    ],
    "moto": [
        ("SNS PublishBatch, delivery to SQS included", "SNSResponse.publish_batch"),
        ("  of which SNS -> SQS delivery", "SQSBackend.send_message"),
        ("SQS ReceiveMessage", "SQSResponse.receive_message"),
        (
            "  of which the retention check (queue attributes, per message)",
            "is_message_valid_based_on_retention_period",
        ),
        ("SQS DeleteMessageBatch", "SQSResponse.delete_message_batch"),
        (
            "SQS GetQueueAttributes requests (the bench's depth polls)",
            "SQSResponse.get_queue_attributes",
        ),
        ("logging each request", "Logger._log"),
    ],
}

#: Where a busy sample's innermost frame is: (label, substring of its file or function),
#: first match wins. SQLite's C time shows in the Python frame that called it.
AREAS: list[tuple[str, str]] = [
    ("SQLite commit", "BaseDatabaseWrapper._commit"),
    ("SQLite execute", "django/db/backends/sqlite3/"),
    ("Django (ORM, Python)", "django/"),
    ("channels-redis / msgpack", "channels_redis/"),
    ("redis-py", "redis/"),
    ("Celery / kombu", "celery/"),
    ("Celery / kombu", "kombu/"),
    ("Celery / kombu", "billiard/"),
    ("botocore", "botocore/"),
    ("HTTP client (urllib3, http.client, socket)", "urllib3/"),
    ("HTTP client (urllib3, http.client, socket)", "http/client"),
    ("HTTP client (urllib3, http.client, socket)", "(socket.py"),
    ("moto", "moto/"),
    ("werkzeug / flask / socketserver", "werkzeug"),
    ("werkzeug / flask / socketserver", "flask/"),
    ("werkzeug / flask / socketserver", "socketserver"),
    ("asyncio / selectors", "asyncio/"),
    ("asyncio / selectors", "selectors"),
    ("twisted / autobahn / daphne", "twisted/"),
    ("twisted / autobahn / daphne", "autobahn/"),
    ("twisted / autobahn / daphne", "daphne/"),
    ("logging", "logging/"),
    ("json", "json/"),
    ("threading", "threading"),
    ("project code (client, master, reactive_cli, bench)", "client/"),
    ("project code (client, master, reactive_cli, bench)", "master/"),
    ("project code (client, master, reactive_cli, bench)", "reactive_cli/"),
    ("project code (client, master, reactive_cli, bench)", "bench/"),
]


def area_of(frame: str) -> str:
    """The area of an innermost frame (``AREAS``), else "other"."""
    return next((label for label, needle in AREAS if needle in frame), "other")


def py_spy() -> str:
    """The py-spy executable (beside this interpreter, else on PATH)."""
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("--profile needs py-spy: .venv/bin/pip install py-spy")
    return found


def kind_of(name: str) -> str:
    """The kind of a named process ("listener-shop" -> "listener")."""
    return name.split("-", 1)[0]


class Profiles:
    """py-spy recorders on named processes; ``stop()`` summarises what they sampled."""

    def __init__(self, outdir: Path, pids: Mapping[str, int], label: str) -> None:
        self.outdir = outdir
        outdir.mkdir(parents=True, exist_ok=True)
        self.files = {name: outdir / f"{label}-{name}.collapsed.txt" for name in pids}
        exe = py_spy()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        for name, pid in pids.items():
            argv = [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(RATE_HZ),
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(self.files[name]),
            ]
            log = (outdir / f"{label}-{name}.py-spy.log").open("wb")
            self._procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> dict[str, Any]:
        """Stop every recorder (SIGINT: py-spy writes its file), by PID; the summaries."""
        for proc in self._procs.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        for proc in self._procs.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        return {name: summarise(path, kind_of(name)) for name, path in self.files.items()}


def _frames(stack: str) -> list[str]:
    return stack.split(";")


def summarise(path: Path | list[Path], kind: str, top: int = 15) -> dict[str, Any]:
    """Busy samples, the share of each known hop, and the top functions (self, inclusive);
    several files (one process, several phases) are added up."""
    paths = path if isinstance(path, list) else [path]
    stacks: Counter[str] = Counter()
    for one in paths:
        if not one.exists():
            continue
        for line in one.read_text(errors="replace").splitlines():
            text, _, number = line.rpartition(" ")
            if text and number.isdigit():
                stacks[text] += int(number)
    if not stacks:
        return {"file": [str(p) for p in paths], "samples": 0, "error": "py-spy wrote nothing"}
    total = sum(stacks.values())
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    hops: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    for stack, count in stacks.items():
        frames = _frames(stack)
        self_time[_function(frames[-1])] += count
        areas[area_of(frames[-1])] += count
        for function in {_function(f) for f in frames}:
            inclusive[function] += count
        for label, needle in HOPS.get(kind, []):
            if any(needle in f for f in frames):
                hops[label] += count

    project: Counter[str] = Counter()
    for stack, count in stacks.items():
        for function in {_function(f) for f in _frames(stack) if _is_project(f)}:
            project[function] += count
    # Entry points (the listener's loop, the bench's phase) hold nearly every sample: skip.
    project = Counter({k: v for k, v in project.items() if v < 0.9 * total})

    def share(counter: Counter[str]) -> list[tuple[str, float]]:
        return (
            [(k, round(100 * v / total, 1)) for k, v in counter.most_common(top)] if total else []
        )

    return {
        "file": [str(p) for p in paths],
        "samples": total,
        "hops_pct": {
            label: round(100 * hops[label] / total, 1) if total else 0.0
            for label, _ in HOPS.get(kind, [])
        },
        "self_by_area_pct": share(areas),
        "top_self_pct": share(self_time),
        "top_project_inclusive_pct": share(project),
        "top_inclusive_pct": share(inclusive),
    }


def _is_project(frame: str) -> bool:
    """A frame of the project's own code (not the bench's)."""
    where = frame.partition(" (")[2]
    return where.startswith(("client/", "master/", "reactive_cli/"))


def _function(frame: str) -> str:
    """``name (path/to/file.py:123)`` -> ``name (path/to/file.py)``: one entry per function."""
    name, _, where = frame.partition(" (")
    return f"{name} ({where.rsplit(':', 1)[0]})" if where else name


def summarise_dir(directory: Path, label_prefix: str = "throughput-") -> dict[str, Any]:
    """Per process, the summary of all its files in ``directory`` whose label starts so."""
    by_process: dict[str, list[Path]] = {}
    for path in sorted(directory.glob(f"{label_prefix}*.collapsed.txt")):
        label_and_name = path.name.removesuffix(".collapsed.txt")
        name = label_and_name.split("-", 2)[2] if label_and_name.count("-") >= 2 else label_and_name
        by_process.setdefault(name, []).append(path)
    return {name: summarise(paths, kind_of(name)) for name, paths in by_process.items()}


def render(summaries: Mapping[str, Any]) -> str:
    """The summaries as text, one block per process."""
    lines = []
    for name, s in summaries.items():
        lines.append(f"  {name}: {s.get('samples', 0)} busy samples at {RATE_HZ} Hz")
        for label, pct in s.get("hops_pct", {}).items():
            lines.append(f"    {pct:5.1f}%  {label}")
        lines.append("    innermost frame by area:")
        for label, pct in s.get("self_by_area_pct", [])[:8]:
            lines.append(f"      {pct:5.1f}%  {label}")
        lines.append("    top self:")
        for function, pct in s.get("top_self_pct", [])[:8]:
            lines.append(f"      {pct:5.1f}%  {function}")
        lines.append("    project functions, inclusive:")
        for function, pct in s.get("top_project_inclusive_pct", [])[:10]:
            lines.append(f"      {pct:5.1f}%  {function}")
    return "\n".join(lines)
