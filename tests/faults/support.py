"""Small helpers shared by the client-side fault tests: queues, listener logs, master streams.

Django is imported inside functions: this module is imported before the stack sets it up.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3

from devstack.client_app import ClientApp
from devstack.processes import Proc, until
from devstack.stack import Stack
from reactive_users.core.aws import queues

#: The listener's per-message DEBUG line (reactive_users/client/listener/loop.py ``_log_applied``).
HANDLED = re.compile(
    r"event (?P<event>[0-9a-f-]{36}) message (?P<message>\S+) \(receive (?P<receive>\d+)\): "
    r"(?P<action>\w+) master user (?P<user>\d+) v(?P<version>\d+) -> (?P<decision>\w+)"
)
#: Decisions that change the client's database
#: (reactive_users/client/decide.py ``Decision.writes``).
WRITES = frozenset({"upsert", "delete"})


def sqs(stack: Stack) -> Any:
    """A boto3 SQS client on the stack's moto (tests may import boto3 directly)."""
    return boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)


def depth(stack: Stack, queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of a queue."""
    found = queues.queue_depth(sqs(stack), queue_url)
    return found.visible, found.in_flight


def wait_drained(stack: Stack, queue_url: str, *, timeout: float = 60) -> None:
    """Wait until a queue holds nothing, visible or in flight."""
    until(
        lambda: depth(stack, queue_url) == (0, 0),
        timeout=timeout,
        interval=0.2,
        what=f"{queue_url} to drain",
    )


def receive_all(stack: Stack, queue_url: str, *, expected: int = 0) -> list[dict[str, Any]]:
    """Every message of a queue (a dead-letter queue), hidden for a minute once read.

    With ``expected`` it first waits until that many are there (moves to a DLQ happen on
    the source queue's next receive, so they arrive over a few seconds).
    """
    if expected:
        until(
            lambda: sum(depth(stack, queue_url)) >= expected,
            timeout=60,
            interval=0.2,
            what=f"{expected} messages in {queue_url}",
        )
    client, found = sqs(stack), {}
    while True:
        batch = client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=60,
            WaitTimeSeconds=0,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        if not batch:
            return list(found.values())
        found.update((m["MessageId"], m) for m in batch)


def tag(message: dict[str, Any], name: str) -> str | None:
    """A message attribute's string value (``reactive.dlq.reason``, ...), None if absent."""
    value = message.get("MessageAttributes", {}).get(name, {}).get("StringValue")
    return None if value is None else str(value)


def handled_lines(procs: Iterable[Proc]) -> list[dict[str, str]]:
    """Every message the listeners handled (decoded and applied or ignored), from their
    DEBUG logs, in log order per process."""
    return [m.groupdict() for p in procs for m in HANDLED.finditer(p.log_path.read_text())]


def redelivered_at(proc: Proc) -> list[float]:
    """When ``proc`` handled messages received more than once (its log's DEBUG lines), as
    ``time.time()`` values: the log's timestamps are local times to the millisecond."""
    times = []
    for line in proc.log_path.read_text().splitlines():
        found = HANDLED.search(line)
        if found and int(found["receive"]) > 1:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f")
            times.append(stamp.timestamp())
    return times


def mid_batch(proc: Proc) -> bool:
    """Whether the listener's last log line is a message it handled: it holds a batch that
    it has applied (part of) but not yet deleted (it logs the batch after deleting)."""
    with proc.log_path.open("rb") as log:
        log.seek(max(0, log.seek(0, 2) - 4096))
        lines = log.read().decode(errors="replace").splitlines()
    return bool(lines) and HANDLED.search(lines[-1]) is not None


def listeners(app: ClientApp) -> list[Proc]:
    """Every listener process the client has had, dead or alive."""
    return [p for p in [app.listener, *app.extra_listeners] if p is not None]


def debug_listeners(app: ClientApp) -> None:
    """Listeners started from now on log each message handled (DEBUG), for counting."""
    app.env["REACTIVE_LOG_LEVEL"] = "DEBUG"


@dataclass
class Deliveries:
    """What the listeners' logs say about a set of events."""

    handled: Counter[str] = field(default_factory=Counter)  # event id -> times handled
    writes: Counter[str] = field(default_factory=Counter)  # event id -> times it wrote
    #: Event id -> most receives SQS counted for it (> 1: delivered again).
    receives: Counter[str] = field(default_factory=Counter)

    @classmethod
    def from_logs(cls, procs: Iterable[Proc]) -> Deliveries:
        result = cls()
        for line in handled_lines(procs):
            result.handled[line["event"]] += 1
            result.writes[line["event"]] += line["decision"] in WRITES
            event, receive = line["event"], int(line["receive"])
            result.receives[event] = max(result.receives[event], receive)
        return result

    def never_handled(self, event_ids: Iterable[str]) -> list[str]:
        return [e for e in event_ids if not self.handled[e]]

    def handled_more_than_once(self) -> int:
        """Events a listener handled (applied or ignored) more than once."""
        return sum(1 for n in self.handled.values() if n > 1)

    def received_more_than_once(self) -> int:
        """Events SQS delivered more than once (a receive count above 1, or handled twice)."""
        return sum(1 for e in self.handled if self.receives[e] > 1 or self.handled[e] > 1)

    def written_then_ignored(self) -> int:
        """Events written once and, delivered again, ignored: duplicates proven harmless."""
        return sum(1 for e, n in self.handled.items() if n > 1 and self.writes[e] == 1)

    def written_more_than_once(self) -> list[str]:
        return [e for e, n in self.writes.items() if n > 1]


def outbox_event_ids(user_ids: Iterable[int]) -> list[str]:
    """The ids of every event the master recorded for ``user_ids``."""
    from reactive_users.master.models import OutboxEvent

    rows = OutboxEvent.objects.filter(user_id__in=list(user_ids))
    return [str(e) for e in rows.values_list("event_id", flat=True)]


def outbox_pending() -> int:
    """Outbox rows not yet accepted by SNS."""
    from reactive_users.master.models import OutboxEvent

    return OutboxEvent.objects.filter(sent_at__isnull=True).count()


class MasterStream(threading.Thread):
    """Makes changes in the master from a thread, in batches of one transaction each.

    ``paced()`` is called before each batch (e.g. to wait until the client's queue is not
    deep: moto slows down with queue depth). ``written`` counts the changes committed.
    """

    def __init__(
        self,
        changes: list[Callable[[], object]],
        *,
        batch: int = 50,
        paced: Callable[[], object] | None = None,
    ) -> None:
        super().__init__(name="master-stream", daemon=True)
        self.changes = changes
        self.batch = batch
        self.paced = paced
        self.written = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        from django.db import connection, transaction

        try:
            for start in range(0, len(self.changes), self.batch):
                if self.paced is not None:
                    self.paced()
                with transaction.atomic():
                    for change in self.changes[start : start + self.batch]:
                        change()
                self.written = min(len(self.changes), start + self.batch)
        except BaseException as exc:  # reported by finish()
            self.error = exc
        finally:
            connection.close()

    def finish(self, timeout: float = 300) -> None:
        """Wait for the stream to end; re-raise what stopped it."""
        self.join(timeout)
        assert not self.is_alive(), f"master stream still writing after {timeout} s"
        if self.error is not None:
            raise self.error
