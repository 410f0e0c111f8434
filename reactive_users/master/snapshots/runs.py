"""Backfill and repair runs: send users and tombstones to one client's queue.

Users and tombstones go in master id order, in batches, no faster than the client applies
them: a backfill holds back while more than ``max_depth`` messages wait in the client's
queue, so that the live events queued behind them are not delayed long (and SQS, or moto,
is not buried). The checkpoint (``checkpoint.py``) records the last id sent after every
successful ``SendMessageBatch``, so an interrupted backfill resumes after it.

With the master's REACTIVE_PUBLISH_BATCH on, a read batch's envelopes are packed into
multi-event messages (``sender``: the relay's packing rules and byte budget). Packing
groups them by action, so a message may hold ids past one still unsent: the checkpoint
only ever advances over ids that were all sent, and ``max_depth`` counts messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from reactive_users.core.contract import Replaced
from reactive_users.core.errors import UsageError
from reactive_users.master import conf
from reactive_users.master.snapshots.checkpoint import (
    Checkpoint,
    checkpoint_path,
    checkpoint_read,
    checkpoint_write,
)
from reactive_users.master.snapshots.reads import (
    DEFAULT_BATCH,
    states_after,
    states_count,
    states_for_ids,
)
from reactive_users.master.snapshots.sender import (
    SEND_ATTEMPTS,
    Message,
    QueueSender,
    SendFailed,
    client_queue_url,
)
from reactive_users.master.snapshots.text import (
    Progress,
    UserState,
    read_limit,
    snapshot_envelopes,
)

#: Least time between two progress lines, in seconds.
PROGRESS_INTERVAL_SECONDS = 1.0
#: Most messages a backfill lets wait in the client's queue unless told otherwise: live
#: events land behind them, so a deep backlog delays them; 0 does not look.
DEFAULT_MAX_DEPTH = 100
#: How often a backfill held back by ``max_depth`` looks at the queue again, in seconds.
DEPTH_POLL_SECONDS = 0.5


@dataclass(frozen=True, kw_only=True)
class BackfillReport:
    """What a backfill (or repair) run did."""

    progress: Progress
    #: The id the run resumed after (None: started from the beginning, or a repair).
    resumed_after: int | None = None
    #: Asked-for ids the master has no record of; repairs only.
    unknown: tuple[int, ...] = ()
    #: True when ``stop_after`` ended the run before everything was sent.
    stopped: bool = False
    checkpoint: Path | None = None


@dataclass
class _Run:
    """The running totals of one backfill or repair run (internal)."""

    client: str
    users: int
    tombstones: int
    before: int
    total: int
    started: float
    last_id: int
    on_progress: Callable[[Progress], None] | None = None
    last_report: float = 0.0
    #: Most messages to let wait in the queue (0: do not look), and what is known of it.
    max_depth: int = 0
    depth_estimate: int | None = None
    held_back_at: int | None = None
    withdrawals: int = 0
    #: Messages sent in this run (fewer than the events when they were packed).
    messages: int = 0
    #: The ids of the batch being sent, in order, from the first not yet sent; and the
    #: ids of it already sent (``last_id`` advances over these only).
    unsent: list[int] = field(default_factory=list)
    sent_ids: set[int] = field(default_factory=set)

    def hold_back(self, sender: QueueSender, count: int) -> None:
        """Wait until ``count`` more messages keep the queue within ``max_depth``.

        Looks at the queue only when the messages sent since it last looked could have
        filled it, so a queue the client keeps empty costs one call per ``max_depth`` sent.
        """
        if self.max_depth <= 0:
            return
        if self.depth_estimate is not None and self.depth_estimate + count <= self.max_depth:
            self.depth_estimate += count
            return
        while (depth := sender.depth()) + count > self.max_depth and depth > 0:
            self.held_back_at = depth
            self.report()
            sender.sleep(DEPTH_POLL_SECONDS)
        self.held_back_at = None
        self.depth_estimate = depth + count

    def send(
        self, sender: QueueSender, call: Sequence[Message], states: Mapping[int, UserState]
    ) -> None:
        """Send one call's messages; count what went, and advance ``last_id`` over the ids
        of the batch that were all sent (so never past one SQS refused)."""
        self.hold_back(sender, len(call))
        failed = sender.send_messages(call)
        for message in call:
            if message.master_ids[0] in failed:
                continue
            self.messages += 1
            for master_id in message.master_ids:
                state = states[master_id]
                if state.tombstone:
                    self.tombstones += 1
                else:
                    self.users += 1
                    self.withdrawals += int(state.excluded)
                self.sent_ids.add(master_id)
        self.advance()
        if failed:
            ids = ",".join(str(i) for i in sorted(failed))
            raise SendFailed(
                f"SQS refused the events of master ids {ids} after {SEND_ATTEMPTS} attempts "
                f"({next(iter(failed.values()))})",
                failed=failed,
            )

    def start_batch(self, ids: Sequence[int]) -> None:
        """The ids (ascending) of the next batch to send."""
        self.unsent = list(reversed(ids))
        self.sent_ids = set()

    def advance(self) -> None:
        while self.unsent and self.unsent[-1] in self.sent_ids:
            self.last_id = self.unsent.pop()

    def checkpoint(self, base: Checkpoint) -> Checkpoint:
        return replace(
            base,
            last_id=self.last_id,
            users=self.users,
            tombstones=self.tombstones,
            withdrawals=self.withdrawals,
            updated=datetime.now(UTC).isoformat(),
        )

    def progress(self) -> Progress:
        return Progress(
            client=self.client,
            users=self.users,
            tombstones=self.tombstones,
            before=self.before,
            total_this_run=self.total,
            elapsed=time.monotonic() - self.started,
            last_id=self.last_id,
            held_back_at=self.held_back_at,
            withdrawals=self.withdrawals,
            messages=self.messages,
        )

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self.on_progress is not None and (
            force or now - self.last_report >= PROGRESS_INTERVAL_SECONDS
        ):
            self.last_report = now
            self.on_progress(self.progress())


def backfill(
    *,
    client: str,
    since: datetime | None = None,
    batch: int = DEFAULT_BATCH,
    restart: bool = False,
    queue_url: str | None = None,
    stop_after: int | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
    on_progress: Callable[[Progress], None] | None = None,
    on_resume: Callable[[Checkpoint], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> BackfillReport:
    """Send every user (and tombstone) in scope to ``client``'s queue, resuming a checkpoint.

    ``on_progress`` is called at most once a second and at the end; ``on_resume`` once,
    before sending, when a checkpoint is resumed. The checkpoint advances after every
    successful send, never past an event SQS refused (``SendFailed`` names them), and is
    removed once everything was sent. ``stop_after`` stops once that many events were sent
    in this run (read batches are cut to what is left, so a packed message never carries
    it past), leaving the checkpoint (to try a resume). While more than
    ``max_depth`` messages wait in the client's queue it holds back (0: never looks).
    """
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    if stop_after is not None and stop_after < 1:
        raise UsageError("--stop-after must be at least 1")
    if max_depth < 0:
        raise UsageError("--max-depth must be 0 (do not look) or more")
    sender = _sender(client, queue_url, sleep)
    settings = sender.settings
    path = checkpoint_path(settings, client)
    since_text = since.isoformat() if since is not None else None
    found = None if restart else checkpoint_read(path)
    if found is not None and found.since != since_text:
        raise UsageError(
            f"a backfill of {client} with --since {found.since or '(none)'} is in progress "
            f"({path}): give the same --since to resume it, or --restart"
        )
    now_text = datetime.now(UTC).isoformat()
    checkpoint = found or Checkpoint(
        client=client,
        prefix=settings.prefix,
        since=since_text,
        last_id=0,
        users=0,
        tombstones=0,
        started=now_text,
        updated=now_text,
    )
    if found is not None and on_resume is not None:
        on_resume(found)
    run = _Run(
        client=client,
        users=checkpoint.users,
        tombstones=checkpoint.tombstones,
        withdrawals=checkpoint.withdrawals,
        before=checkpoint.users + checkpoint.tombstones,
        total=states_count(after=checkpoint.last_id, since=since),
        started=time.monotonic(),
        last_id=checkpoint.last_id,
        on_progress=on_progress,
        max_depth=max_depth,
    )
    resumed_after = found.last_id if found is not None else None
    checkpoint_write(path, checkpoint)
    while True:
        limit = read_limit(batch, stop_after, run.users + run.tombstones - run.before)
        if limit == 0:  # stop_after reached by the previous batch, sent whole
            run.report(force=True)
            return BackfillReport(
                progress=run.progress(), resumed_after=resumed_after, stopped=True, checkpoint=path
            )
        states, upto = states_after(after=run.last_id, limit=limit, since=since)
        if upto is None:
            break
        pairs = snapshot_envelopes(states, occurred_at=datetime.now(UTC))
        run.start_batch([state.master_id for state, _ in pairs])
        by_id = {state.master_id: state for state, _ in pairs}
        for call in sender.calls(sender.messages([envelope for _, envelope in pairs])):
            try:
                run.send(sender, call, by_id)
            except SendFailed as exc:
                raise SendFailed(
                    f"{exc}; the checkpoint stays at master id {run.last_id}, before them: "
                    "rerun to resume there",
                    failed=exc.failed,
                ) from exc
            finally:  # also when SQS refused some: up to the first refusal
                checkpoint = run.checkpoint(checkpoint)
                checkpoint_write(path, checkpoint)
            run.report()
        # Ids of the batch that had nothing to send (deleted meanwhile) are done too.
        run.last_id = upto
        checkpoint = run.checkpoint(checkpoint)
        checkpoint_write(path, checkpoint)
    path.unlink(missing_ok=True)
    run.report(force=True)
    return BackfillReport(progress=run.progress(), resumed_after=resumed_after)


def repair(
    *,
    client: str,
    ids: Iterable[int],
    queue_url: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
    resets: Mapping[int, Replaced] | None = None,
) -> BackfillReport:
    """Send the current state of each of ``ids`` to ``client``'s queue (no checkpoint).

    What ``reactive diff --repair`` runs: a snapshot for each live user, a ``withdrawn`` event
    for each excluded one, a ``deleted`` event for each tombstone; for the ids in ``resets``
    (a client ahead of the master, or tombstoned there only), the same as a reset of the
    client state named there. Ids the master has no record of are reported, not sent.
    """
    sender = _sender(client, queue_url, sleep)
    wanted = sorted(set(ids) | set(resets or {}))
    run = _Run(
        client=client,
        users=0,
        tombstones=0,
        before=0,
        total=len(wanted),
        started=time.monotonic(),
        last_id=0,
    )
    unknown: list[int] = []
    for first in range(0, len(wanted), DEFAULT_BATCH):
        states, missing = states_for_ids(ids=wanted[first : first + DEFAULT_BATCH])
        unknown.extend(missing)
        pairs = snapshot_envelopes(states, occurred_at=datetime.now(UTC), resets=resets)
        run.start_batch([state.master_id for state, _ in pairs])
        by_id = {state.master_id: state for state, _ in pairs}
        for call in sender.calls(sender.messages([envelope for _, envelope in pairs])):
            run.send(sender, call, by_id)
    return BackfillReport(progress=run.progress(), unknown=tuple(unknown))


def _sender(client: str, queue_url: str | None, sleep: Callable[[float], None]) -> QueueSender:
    """The sender to ``client``'s queue, packing as the relay does when the master's
    REACTIVE_PUBLISH_BATCH is on (clients must read multi-event messages first)."""
    settings = conf.reactive_settings()
    return QueueSender(
        settings,
        client_queue_url(settings, client, queue_url),
        sleep=sleep,
        packed=conf.publish_batch(),
        budget=conf.publish_batch_bytes(),
    )
