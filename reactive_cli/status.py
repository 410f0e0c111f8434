"""``reactive status``: one model of the stack, built by a pure function from raw readings.

``build_status`` takes what supervisord, SQS, the master's database and each client's
database said (or why each could not be read) and returns the model; ``read_*`` do the I/O
and never raise for a part that is down: an unreadable part is shown with its reason, not
a traceback.

The age of a queue's oldest message is not shown: SQS publishes it only as the CloudWatch
metric ApproximateAgeOfOldestMessage (not a GetQueueAttributes attribute, and moto has no
CloudWatch for it), and peeking by ReceiveMessage would raise each message's receive count
and push it toward the dead-letter queue. The model says "n/a" and why, rather than guess.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from reactive_cli import projects
from reactive_cli.supervisor import Process, Supervisor
from reactive_users.core import aws, naming
from reactive_users.core.aws.queues import QueueDepth, client_queue_url, queue_depth
from reactive_users.core.errors import ReactiveError
from reactive_users.core.metrics import OutboxReading
from reactive_users.core.settings import READ_ONLY_ENV, Settings

#: Why the oldest message's age is not shown (see the module docstring).
OLDEST_AGE_NOTE = "n/a: SQS gives it only as a CloudWatch metric; peeking would count a receive"

#: A reading is its value, or the reason it could not be taken.
Reading = Any
#: Longest wait for a client's ``replica_stats`` or the master's ``outbox_stats``, in seconds.
REPLICA_STATS_TIMEOUT_SECONDS = 60.0
#: The listeners of a client when no supervisord of ours runs them (reactive.toml, and the
#: operator's own process manager): said once per client, not a problem.
NOT_OURS = "not run by `reactive up` (your process manager runs them)"
#: What ``outbox_stats`` prints: the fields of a reading.
OUTBOX_FIELDS = tuple(f.name for f in dataclasses.fields(OutboxReading))


@dataclass(frozen=True, kw_only=True)
class ReplicaCounts:
    """A client's replicas as ``python -m client replica_stats`` counts them."""

    replicas: int
    #: Users holding values stored cut to the client's limits (REACTIVE_OVERSIZE_POLICY).
    truncated_users: int
    truncated_fields: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class AliveListeners:
    """A client's listeners that renewed their key in Redis lately (``alive.py``)."""

    #: Each live listener process, ``host:pid``.
    identities: tuple[str, ...]
    #: Seconds since the freshest renewal (None: no listener alive).
    last_seen_seconds: float | None = None


@dataclass(frozen=True, kw_only=True)
class ListenerStatus:
    """One listener process as supervisord reports it."""

    name: str
    state: str
    pid: int | None
    uptime_seconds: int | None


@dataclass(frozen=True, kw_only=True)
class ClientStatus:
    """One client: its listener processes and its queue's depths."""

    name: str
    listeners: list[ListenerStatus]
    #: Why the listeners are unknown (supervisord not running), else "".
    listeners_error: str
    visible: int | None
    in_flight: int | None
    dead_letters: int | None
    #: Why the queue or DLQ could not be read, else "".
    queue_error: str
    #: Users holding values cut to the client's limits, in all and per field (None: not read).
    truncated_users: int | None = None
    truncated_fields: dict[str, int] = field(default_factory=dict)
    #: Why the client's database could not be read, else "".
    replicas_error: str = ""
    #: Live replicated users (None: not read).
    replicas: int | None = None
    #: Who runs the listeners when it is not a supervisord of ours (``NOT_OURS``), else "".
    listeners_note: str = ""
    #: Then, listener processes alive by their key in Redis (None: not read) and since when.
    alive: list[str] | None = None
    alive_last_seen_seconds: float | None = None
    #: Why the keys could not be read, else "".
    alive_error: str = ""
    oldest_message_age_seconds: None = None
    oldest_message_age_note: str = OLDEST_AGE_NOTE


@dataclass(frozen=True, kw_only=True)
class OutboxStatus:
    """The master's outbox: events committed but not yet accepted by SNS."""

    backlog: int | None
    oldest_pending_age_seconds: float | None
    #: Why the master's database could not be read ("unknown: ..."), else "".
    error: str
    #: Of the backlog, failed events waiting out their retry backoff.
    waiting_retry: int | None = None
    #: Every row the outbox holds, sent or not; sent rows are kept ``retention_seconds``.
    rows: int | None = None
    #: Age of the oldest sent row (None: none): the retention sweep deletes it next.
    oldest_sent_age_seconds: float | None = None
    retention_seconds: float | None = None
    #: Whether the master packs events into multi-event messages (REACTIVE_PUBLISH_BATCH):
    #: then a queue's message counts hold more events than messages (None: not known).
    publish_batch: bool | None = None


@dataclass(frozen=True, kw_only=True)
class StackStatus:
    """Everything ``reactive status`` shows."""

    clients: list[ClientStatus]
    outbox: OutboxStatus

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def build_status(
    *,
    clients: Sequence[str],
    processes: Sequence[Process] | str | None,
    queues: Mapping[str, QueueDepth | str],
    dead_letter_queues: Mapping[str, QueueDepth | str],
    outbox: OutboxReading | str,
    now: datetime,
    replicas: Mapping[str, ReplicaCounts | str] | None = None,
    alive: Mapping[str, AliveListeners | str] | None = None,
) -> StackStatus:
    """The status model from raw readings; a ``str`` reading is why it could not be taken.
    ``processes`` None: no supervisord of ours runs the listeners (``NOT_OURS``); then
    ``alive`` says which are alive by their keys in Redis."""
    return StackStatus(
        clients=[
            _with_alive(
                _with_replicas(
                    _client(
                        name,
                        processes,
                        queues.get(name, "not read"),
                        dead_letter_queues.get(name, "not read"),
                    ),
                    (replicas or {}).get(name, "not read"),
                ),
                None if alive is None else alive.get(name, "not read"),
            )
            for name in clients
        ],
        outbox=_outbox(outbox, now),
    )


def _client(
    name: str,
    processes: Sequence[Process] | str | None,
    queue: QueueDepth | str,
    dlq: QueueDepth | str,
) -> ClientStatus:
    listeners = (
        []
        if processes is None or isinstance(processes, str)
        else [
            ListenerStatus(
                name=p.name, state=p.state, pid=p.pid or None, uptime_seconds=p.uptime_seconds
            )
            for p in processes
            if p.client == name
        ]
    )
    errors = [
        f"queue: {queue}" if isinstance(queue, str) else "",
        f"dead-letter queue: {dlq}" if isinstance(dlq, str) else "",
    ]
    return ClientStatus(
        name=name,
        listeners=listeners,
        listeners_error=processes if isinstance(processes, str) else "",
        listeners_note=NOT_OURS if processes is None else "",
        visible=None if isinstance(queue, str) else queue.visible,
        in_flight=None if isinstance(queue, str) else queue.in_flight,
        dead_letters=None if isinstance(dlq, str) else dlq.visible + dlq.in_flight,
        queue_error="; ".join(e for e in errors if e),
    )


def _with_replicas(client: ClientStatus, counts: ReplicaCounts | str) -> ClientStatus:
    if isinstance(counts, str):
        return dataclasses.replace(client, replicas_error=counts)
    return dataclasses.replace(
        client,
        replicas=counts.replicas,
        truncated_users=counts.truncated_users,
        truncated_fields=dict(counts.truncated_fields),
    )


def _with_alive(client: ClientStatus, found: AliveListeners | str | None) -> ClientStatus:
    if found is None:
        return client
    if isinstance(found, str):
        return dataclasses.replace(client, alive_error=found)
    seen = found.last_seen_seconds
    return dataclasses.replace(
        client,
        alive=sorted(found.identities),
        alive_last_seen_seconds=None if seen is None else round(seen, 1),
    )


def _outbox(outbox: OutboxReading | str, now: datetime) -> OutboxStatus:
    if isinstance(outbox, str):
        return OutboxStatus(backlog=None, oldest_pending_age_seconds=None, error=outbox)
    age = round(outbox.oldest_age_seconds, 1) if outbox.backlog else None
    sent = outbox.oldest_sent_age_seconds
    return OutboxStatus(
        backlog=outbox.backlog,
        oldest_pending_age_seconds=age,
        error="",
        waiting_retry=outbox.waiting_retry,
        rows=outbox.rows,
        oldest_sent_age_seconds=None if sent is None else round(sent, 1),
        retention_seconds=outbox.retention_seconds,
        publish_batch=outbox.publish_batch,
    )


def problems(found: StackStatus) -> list[str]:
    """Why each part that could not be read was not: one line each, without repeats."""
    lines = [f"listeners: {c.listeners_error}" for c in found.clients if c.listeners_error]
    lines += [f"{c.name}: {c.queue_error}" for c in found.clients if c.queue_error]
    lines += [
        f"{c.name}: replicas not read: {c.replicas_error}"
        for c in found.clients
        if c.replicas_error
    ]
    lines += [
        f"{c.name}: listeners' liveness not read: {c.alive_error}"
        for c in found.clients
        if c.alive_error
    ]
    if found.outbox.error:
        lines.append(f"master outbox: {found.outbox.error}")
    return list(dict.fromkeys(lines))


# --- reading the parts (I/O); each returns its value or the reason it could not ---


def read_processes(sup: Supervisor) -> Sequence[Process] | str:
    """supervisord's processes, or why they could not be read."""
    try:
        return sup.processes()
    except ReactiveError as e:
        return str(e)


def read_queues(
    settings: Settings, clients: Sequence[str], *, fifo: bool = False
) -> tuple[dict[str, QueueDepth | str], dict[str, QueueDepth | str]]:
    """Each client's queue and dead-letter queue depths, or why not."""
    queues = {name: _depths(settings, name, fifo=fifo, dead_letters=False) for name in clients}
    dlqs = {name: _depths(settings, name, fifo=fifo, dead_letters=True) for name in clients}
    return queues, dlqs


def _depths(settings: Settings, client: str, *, fifo: bool, dead_letters: bool) -> QueueDepth | str:
    try:
        url = client_queue_url(settings, client, dead_letters=dead_letters, fifo=fifo)
        return queue_depth(aws.client("sqs", settings), url)
    except ReactiveError as e:
        return f"{type(e).__name__}: {e}"


#: What the projects read with: a database that is not there is reported, not created.
READ_ONLY = {READ_ONLY_ENV: "1"}


def read_outbox(env: Mapping[str, str]) -> OutboxReading | str:
    """The master's outbox: its backlog, size and oldest sent row, read through the master
    project (its ``outbox_stats`` with ``env``, which names its settings, over this process's
    environment), or why not."""
    proc = projects.start(["outbox_stats"], {**os.environ, **env, **READ_ONLY})
    return outbox_reading(projects.json_answer(proc, timeout=REPLICA_STATS_TIMEOUT_SECONDS))


def outbox_reading(found: dict[str, Any] | str) -> OutboxReading | str:
    """An ``outbox_stats`` answer as a reading, or why it is not one."""
    if isinstance(found, str):
        return f"unknown: {found}"
    try:
        # publish_batch is optional: a master of an earlier release does not say it
        fields = {k: found[k] for k in OUTBOX_FIELDS if k != "publish_batch"}
        return OutboxReading(**fields, publish_batch=found.get("publish_batch"))
    except (KeyError, TypeError) as e:
        return f"unknown: not an outbox_stats line: {type(e).__name__}: {e}"


def read_replicas(envs: Mapping[str, Mapping[str, str]]) -> dict[str, ReplicaCounts | str]:
    """Each client's replica counts, read through its own project (``python -m client
    replica_stats`` with ``envs[client]``, all at once), or why not."""
    running = {
        name: projects.start(["replica_stats"], {**env, **READ_ONLY}) for name, env in envs.items()
    }
    return {
        name: _replica_counts(projects.json_answer(proc, timeout=REPLICA_STATS_TIMEOUT_SECONDS))
        for name, proc in running.items()
    }


def _replica_counts(found: dict[str, Any] | str) -> ReplicaCounts | str:
    if isinstance(found, str):
        return found
    try:
        return ReplicaCounts(
            replicas=int(found["replicas"]),
            truncated_users=int(found["truncated_users"]),
            truncated_fields={str(k): int(v) for k, v in found["truncated_fields"].items()},
        )
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        return f"not a replica_stats line: {type(e).__name__}: {found!r:.120}"


def read_alive(
    settings: Settings, clients: Sequence[str], redis_urls: Mapping[str, str]
) -> dict[str, AliveListeners | str]:
    """Each client's listeners alive by their keys (``naming.listener_alive_key``) in its
    Redis (``redis_urls``, else REDIS_URL), or why they could not be read."""
    return {
        name: _alive(redis_urls.get(name) or settings.redis_url, settings.prefix, name)
        for name in clients
    }


def _alive(url: str, prefix: str, client: str) -> AliveListeners | str:
    import redis

    pattern = naming.listener_alive_pattern(prefix, client)
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2) as conn:
            keys = list(conn.scan_iter(match=pattern, count=100))
            values = conn.mget(keys) if keys else []
    except (OSError, redis.RedisError) as e:
        return f"Redis at {url}: {type(e).__name__}: {e} (REDIS_URL)"
    now, found, seen = time.time(), [], []
    start = len(pattern) - 1  # the key's identity follows the pattern's "*"
    for key, value in zip(keys, values, strict=True):
        if value is None:  # expired between SCAN and MGET
            continue
        found.append(key.decode()[start:])
        try:
            seen.append(now - float(json.loads(value)["at"]))
        except (ValueError, KeyError, TypeError):
            continue
    return AliveListeners(identities=tuple(found), last_seen_seconds=min(seen, default=None))
