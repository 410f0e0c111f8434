"""Snapshots of master users for one client: backfill, repair, and the dump ``diff`` reads.

A snapshot is a user's full allow-listed state at the master's *current* version
(``Action.SNAPSHOT``); an excluded user (outside the published set, ``changes.py``) travels
as a ``withdrawn`` event at that version, with no fields; a tombstone (a ``UserVersion`` row
whose user is gone) travels as a ``deleted`` event at its version. All go to ONE client's
SQS queue (``SendMessageBatch``, 10 per call), never to the topic, and interleave safely
with live events because of how they are read and how clients decide
(``reactive_users/client/decide.py``):

- a user's fields, privileges and version are read in ONE statement (the ``User`` rows
  annotated with a subquery of ``UserVersion.version``), so under READ COMMITTED (and
  SQLite's snapshot) they are consistent: the fields (and whether the user is excluded) are
  at least those of the version's live event. Read the other way round (fields, then
  version) a snapshot could carry the fields of v with the number v+1, and the live v+1
  would then be ignored as a duplicate and lost.
- a user that never had an event has no ``UserVersion`` row: it is given version 1
  (``INSERT ... ON CONFLICT DO NOTHING``, never bumping a row a live change just wrote)
  before the read.
- a client applies a snapshot at a version NEWER than or the SAME as the one it holds, and
  ignores an OLDER one: a live change that arrives before or after a snapshot is kept.
- the client's queue must be subscribed to the topic before a backfill starts: every change
  committed after a user's snapshot was read then reaches the client as a live event.

Users and tombstones go in master id order, in batches, no faster than the client applies
them: a backfill holds back while more than ``max_depth`` messages wait in the client's
queue, so that the live events queued behind them are not delayed long (and SQS, or moto,
is not buried). A checkpoint file in the state dir
(``backfill-<prefix>-<client>.json``) records the last id sent after every successful
``SendMessageBatch``, so an interrupted backfill resumes after it. Excluded users (staff
and superusers unless ``REACTIVE_PUBLISH_STAFF``) are sent as withdrawals, so that a client
holding one (promoted by ``QuerySet.update()``, or by a master older than withdrawals)
removes it, as it removes a user deleted without an event.

Layout: selectors (reads), pure functions (envelopes, progress), the checkpoint file, the
sending loop (``backfill``). ``users_dump`` (for ``reactive diff``) uses the same reads.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery

from reactive_users.core import aws, naming, selection, signing
from reactive_users.core.contract import Action, Envelope, FieldValue, Replaced, encode, new_event
from reactive_users.core.errors import AwsError, ConfigError, ContractError, UsageError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.master import changes
from reactive_users.master.conf import reactive_settings
from reactive_users.master.models import OutboxEvent, UserVersion

logger = logging.getLogger(__name__)

#: Users (and tombstones) read per batch unless told otherwise.
DEFAULT_BATCH = 500
#: SQS SendMessageBatch takes at most 10 entries per call.
MAX_SEND_ENTRIES = 10
#: Attempts at sending one entry (or one call) before the backfill gives up.
SEND_ATTEMPTS = 4
#: Wait before the first retry, in seconds; doubles with each retry.
RETRY_BASE_SECONDS = 0.5
#: Least time between two progress lines, in seconds.
PROGRESS_INTERVAL_SECONDS = 1.0
#: Most messages a backfill lets wait in the client's queue unless told otherwise: live
#: events land behind them, so a deep backlog delays them; 0 does not look.
DEFAULT_MAX_DEPTH = 100
#: How often a backfill held back by ``max_depth`` looks at the queue again, in seconds.
DEPTH_POLL_SECONDS = 0.5
#: Version of the checkpoint file's shape.
CHECKPOINT_VERSION = 1

_VERSION = "reactive_version"


# --- What is read -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class UserState:
    """One master user as a client should hold it: live with its fields, withdrawn
    (``excluded``: outside the published set, no fields), or a tombstone.

    ``version`` is None only for a user that never had an event (the dump reads without
    giving versions).
    """

    master_id: int
    version: int | None
    tombstone: bool = False
    excluded: bool = False
    fields: Mapping[str, FieldValue] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The line ``users_dump`` prints: ``{"master_id", "version", "tombstone", ...}``."""
        return {
            "master_id": self.master_id,
            "version": self.version,
            "tombstone": self.tombstone,
            "excluded": self.excluded,
            "fields": dict(self.fields),
        }


def _publish_staff() -> bool:
    return bool(django_settings.REACTIVE_PUBLISH_STAFF)


def _changed_since(since: datetime) -> Exists:
    """Whether the row's user had an event recorded at or after ``since``."""
    recent = OutboxEvent.objects.filter(user_id=OuterRef("pk"), created_at__gte=since)
    return Exists(recent)


def users_in_scope(*, since: datetime | None = None) -> QuerySet[User]:
    """Users a backfill sends (excluded ones as withdrawals); with ``since``, those joined or
    changed since then.

    "Changed" means an event was recorded for the user at or after ``since``: a write that
    bypassed the signals (``QuerySet.update()``, raw SQL) left none; republish those users.
    """
    users = User.objects.all()
    if since is not None:
        users = users.filter(Q(date_joined__gte=since) | _changed_since(since))
    return users


def tombstones_in_scope(*, since: datetime | None = None) -> QuerySet[UserVersion]:
    """``UserVersion`` rows whose user is gone; with ``since``, with an event since then."""
    rows = UserVersion.objects.filter(~Exists(User.objects.filter(pk=OuterRef("user_id"))))
    if since is not None:
        recent = OutboxEvent.objects.filter(user_id=OuterRef("user_id"), created_at__gte=since)
        rows = rows.filter(Exists(recent))
    return rows


def user_versions_ensure(*, user_ids: Sequence[int]) -> None:
    """Give version 1 to those of ``user_ids`` that never had an event; bump nobody.

    One ``INSERT ... ON CONFLICT DO NOTHING`` (SQLite: ``INSERT OR IGNORE``) in its own
    short transaction: a live change that already wrote a version keeps it, and one that
    comes after bumps from 1.
    """
    if not user_ids:
        return
    rows = [UserVersion(user_id=user_id, version=1) for user_id in user_ids]
    with transaction.atomic():
        UserVersion.objects.bulk_create(rows, ignore_conflicts=True)


def user_states_read(*, user_ids: Sequence[int]) -> list[UserState]:
    """The users among ``user_ids`` with each one's fields, privileges and version, in ONE
    statement; an excluded user's fields are not kept.

    Users deleted meanwhile are simply absent (their delete travels as a live event).
    """
    fields = reactive_settings().user_fields
    version = UserVersion.objects.filter(user_id=OuterRef("pk")).values("version")[:1]
    rows = (
        User.objects.filter(pk__in=list(user_ids))
        .annotate(**{_VERSION: Subquery(version)})
        .order_by("pk")
        .values("pk", _VERSION, *changes.PRIVILEGE_FIELDS, *fields)
    )
    publish_staff = _publish_staff()
    states = []
    for row in rows:
        excluded = changes.excluded_by_privileges(row, publish_staff)
        states.append(
            UserState(
                master_id=int(row["pk"]),
                version=row[_VERSION],
                excluded=excluded,
                fields={} if excluded else {n: changes.field_value(row[n]) for n in fields},
            )
        )
    return states


def _tombstone_states(rows: QuerySet[UserVersion]) -> list[UserState]:
    return [
        UserState(master_id=int(user_id), version=int(version), tombstone=True)
        for user_id, version in rows.values_list("user_id", "version")
    ]


def states_after(
    *, after: int, limit: int = DEFAULT_BATCH, since: datetime | None = None
) -> tuple[list[UserState], int | None]:
    """The next batch to send: up to ``limit`` users and tombstones after master id ``after``.

    Version-less users among them are given version 1 first. Returns the states in id order
    and the highest id the batch covers (None: nothing is left).
    """
    user_ids = list(
        users_in_scope(since=since)
        .filter(pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    tombstones = _tombstone_states(
        tombstones_in_scope(since=since).filter(user_id__gt=after).order_by("user_id")[:limit]
    )
    ids = sorted([*user_ids, *(t.master_id for t in tombstones)])[:limit]
    if not ids:
        return [], None
    upto = ids[-1]
    user_ids = [i for i in user_ids if i <= upto]
    user_versions_ensure(user_ids=user_ids)
    states = [*user_states_read(user_ids=user_ids), *(t for t in tombstones if t.master_id <= upto)]
    return sorted(states, key=lambda s: s.master_id), upto


def states_for_ids(*, ids: Iterable[int]) -> tuple[list[UserState], list[int]]:
    """The current state of each of ``ids`` (versions given where missing), for a repair.

    Returns the states in id order and the ids the master knows nothing of.
    """
    wanted = sorted(set(ids))
    user_ids = list(
        users_in_scope().filter(pk__in=wanted).order_by("pk").values_list("pk", flat=True)
    )
    user_versions_ensure(user_ids=user_ids)
    states = [
        *user_states_read(user_ids=user_ids),
        *_tombstone_states(tombstones_in_scope().filter(user_id__in=wanted).order_by("user_id")),
    ]
    found = {s.master_id for s in states}
    return sorted(states, key=lambda s: s.master_id), [i for i in wanted if i not in found]


def states_count(*, after: int = 0, since: datetime | None = None) -> int:
    """How many users and tombstones a backfill from ``after`` has to send."""
    users = users_in_scope(since=since).filter(pk__gt=after).count()
    return users + tombstones_in_scope(since=since).filter(user_id__gt=after).count()


def states_dump(*, chunk: int = 1000) -> Iterator[UserState]:
    """Every user (excluded ones flagged, without fields) and tombstone in id order, without
    giving versions.

    Read-only: what ``users_dump`` prints for ``reactive diff``. Each user's fields and
    version come from one statement; chunks are read after one another.
    """
    after = 0
    while True:
        user_ids = list(
            users_in_scope()
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk]
        )
        tombstones = _tombstone_states(
            tombstones_in_scope().filter(user_id__gt=after).order_by("user_id")[:chunk]
        )
        ids = sorted([*user_ids, *(t.master_id for t in tombstones)])[:chunk]
        if not ids:
            return
        upto = ids[-1]
        users = user_states_read(user_ids=[i for i in user_ids if i <= upto])
        batch = [*users, *(t for t in tombstones if t.master_id <= upto)]
        yield from sorted(batch, key=lambda s: s.master_id)
        after = upto


def users_selected(
    *,
    ids: Sequence[int] = (),
    all_users: bool = False,
    username_regex: str | None = None,
    where: Mapping[str, Any] | None = None,
    joined_since: datetime | None = None,
) -> QuerySet[User]:
    """The users an operator picked for ``republish``: every criterion given must hold.

    ``where`` holds Django lookups on ``auth.User`` (``{"last_name__startswith": "Sm"}``).
    At least one criterion (or ``all_users``) is required, so nothing is republished by
    accident.
    """
    selection.check_chosen(
        all_users=all_users,
        ids=ids,
        username_regex=username_regex,
        where=where,
        joined_since=joined_since,
    )
    users = User.objects.all()
    if ids:
        users = users.filter(pk__in=list(ids))
    if username_regex:
        users = users.filter(username__regex=username_regex)
    if where:
        users = users.filter(**where)
    if joined_since is not None:
        users = users.filter(date_joined__gte=joined_since)
    return users


# --- Envelopes and progress (pure) ------------------------------------------------------------


def snapshot_envelope(
    state: UserState, *, occurred_at: datetime, replaces: Replaced | None = None
) -> Envelope:
    """The event that brings a client to ``state``: a snapshot, a withdrawal for an excluded
    user, or a delete for a tombstone (the last two with no fields); with ``replaces``, a
    reset of that client state (``contract.Replaced``)."""
    if state.version is None:
        raise ValueError(f"master user {state.master_id} has no version yet")
    if state.tombstone or state.excluded:
        return new_event(
            action=Action.DELETED if state.tombstone else Action.WITHDRAWN,
            user_id=state.master_id,
            version=state.version,
            user={},
            occurred_at=occurred_at,
            replaces=replaces,
        )
    return new_event(
        action=Action.SNAPSHOT,
        user_id=state.master_id,
        version=state.version,
        user=state.fields,
        changed=tuple(state.fields),
        occurred_at=occurred_at,
        replaces=replaces,
    )


def snapshot_envelopes(
    states: Iterable[UserState],
    *,
    occurred_at: datetime,
    resets: Mapping[int, Replaced] | None = None,
) -> list[tuple[UserState, Envelope]]:
    """Each sendable state with its envelope (version-less states left out); the ids in
    ``resets`` as resets of the client state named there."""
    resets = resets or {}
    return [
        (
            state,
            snapshot_envelope(state, occurred_at=occurred_at, replaces=resets.get(state.master_id)),
        )  # fmt: skip
        for state in states
        if state.version is not None
    ]


def parse_resets(text: str) -> dict[int, Replaced]:
    """The resets ``reactive diff --repair`` asks for: JSON lines ``{"master_id", "version",
    "event_id"}`` (the client state each replaces); ``UsageError`` saying what is wrong."""
    resets: dict[int, Replaced] = {}
    for line in (raw.strip() for raw in text.splitlines()):
        if not line:
            continue
        try:
            obj = json.loads(line)
            event_id = obj["event_id"]
            resets[int(obj["master_id"])] = Replaced(
                version=obj["version"], event_id=None if event_id is None else uuid.UUID(event_id)
            )
        except (ValueError, KeyError, TypeError, AttributeError, ContractError) as exc:
            why = f"{type(exc).__name__}: {exc}"
            raise UsageError(f"not a reset line ({why}): {line[:120]!r}") from exc
    return resets


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where a backfill stands: sent so far (this run and before it), and the total."""

    client: str
    #: Users sent, as snapshots or (``withdrawals`` of them) as withdrawals.
    users: int
    tombstones: int
    #: Sent by earlier runs (a resumed backfill), included in ``users``/``tombstones``.
    before: int
    #: Users and tombstones this run set out to send.
    total_this_run: int
    elapsed: float
    last_id: int
    #: Messages waiting in the queue while the backfill holds back for them; else None.
    held_back_at: int | None = None
    #: Of ``users``, those sent as withdrawals (excluded in the master).
    withdrawals: int = 0

    @property
    def sent(self) -> int:
        return self.users + self.tombstones

    @property
    def sent_this_run(self) -> int:
        return self.sent - self.before

    @property
    def rate(self) -> float:
        """Users (and tombstones) per second in this run."""
        return self.sent_this_run / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def seconds_left(self) -> float | None:
        left = max(0, self.total_this_run - self.sent_this_run)
        return left / self.rate if self.rate > 0 else None


def progress_line(p: Progress) -> str:
    """One progress line: sent, rate, time left."""
    total = p.before + p.total_this_run
    left = p.seconds_left
    eta = "?" if left is None else _duration(left)
    line = (
        f"backfill {p.client}: {p.sent}/{total} sent ({_counts(p)}), {p.rate:.1f} users/s, "
        f"about {eta} left"
    )
    if p.held_back_at is not None:
        line += f" (waiting: {p.held_back_at} messages in the queue)"
    return line


def summary_line(p: Progress, *, resumed_after: int | None) -> str:
    """The last line of a backfill: what this run sent, the rate, and totals if resumed."""
    line = (
        f"Backfill of {p.client} complete: sent {p.sent_this_run} in {p.elapsed:.2f} s, "
        f"{p.rate:.1f} users/s"
    )
    if resumed_after is None:
        return f"{line}: {_counts(p)}."
    return (
        f"{line} (resumed after master id {resumed_after}, {p.before} sent before); "
        f"in all {_counts(p)}."
    )


def _counts(p: Progress) -> str:
    """``12 users, 3 tombstones``; withdrawals among the users named when there are any."""
    withdrawn = f" ({p.withdrawals} withdrawn)" if p.withdrawals else ""
    return f"{p.users} users{withdrawn}, {p.tombstones} tombstones"


def repair_line(p: Progress) -> str:
    """What a repair sent: ``Sent 2 snapshot(s) and 1 tombstone(s) to shop in 0.02 s.``"""
    parts = [f"{p.users - p.withdrawals} snapshot(s)", f"{p.tombstones} tombstone(s)"]
    if p.withdrawals:
        parts.append(f"{p.withdrawals} withdrawal(s)")
    sent = ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Sent {sent} to {p.client} in {p.elapsed:.2f} s."


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


# --- The checkpoint ---------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """How far a backfill got: everything up to ``last_id`` was sent."""

    client: str
    prefix: str
    since: str | None
    last_id: int
    users: int
    tombstones: int
    started: str
    updated: str
    version: int = CHECKPOINT_VERSION
    #: Of ``users``, those sent as withdrawals (absent from checkpoints written before them).
    withdrawals: int = 0


def checkpoint_path(settings: Settings, client: str) -> Path:
    """Where the backfill of ``client`` keeps its checkpoint."""
    name = naming.check_client_name(client)
    return settings.state_dir / f"backfill-{settings.prefix}-{name}.json"


def checkpoint_read(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, or None if there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        return Checkpoint(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a backfill checkpoint ({exc}): delete it or pass --restart"
        ) from exc


def checkpoint_write(path: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(checkpoint), f, indent=2)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- Sending ----------------------------------------------------------------------------------


def client_queue_url(settings: Settings, client: str, explicit: str | None = None) -> str:
    """The client's queue: ``explicit``, else what provisioning recorded, else by name."""
    fifo = bool(settings.topic_arn and settings.topic_arn.endswith(".fifo"))
    return aws.client_queue_url(settings, client, fifo=fifo, explicit=explicit)


class SendFailed(AwsError):
    """SQS kept refusing some events; ``failed`` maps their master ids to the last error."""

    def __init__(self, message: str, *, failed: Mapping[int, str]) -> None:
        super().__init__(message, code="SendFailed")
        self.failed = dict(failed)


@dataclass
class QueueSender:
    """Sends envelopes to one queue, 10 per ``SendMessageBatch``, retrying what SQS refuses."""

    settings: Settings
    queue_url: str
    sleep: Callable[[float], None] = time.sleep

    def __post_init__(self) -> None:
        self._sqs = aws.client("sqs", self.settings)
        self._fifo = self.queue_url.endswith(".fifo")
        self._keys = signing_keys(self.settings)  # signed like the relay's: only it speaks

    def send(self, envelopes: Sequence[Envelope]) -> dict[int, str]:
        """Send up to 10 envelopes; returns the master ids still refused after every attempt.

        Refused entries (and a call that failed as a whole with a retryable error) are tried
        again, up to ``SEND_ATTEMPTS`` times; a permanent error of the whole call raises.
        """
        if len(envelopes) > MAX_SEND_ENTRIES:
            raise ValueError(f"at most {MAX_SEND_ENTRIES} envelopes per call")
        pending = {e.user_id: e for e in envelopes}
        errors: dict[int, str] = {}
        for attempt in range(SEND_ATTEMPTS):
            if attempt:
                self.sleep(RETRY_BASE_SECONDS * 2 ** (attempt - 1))
            try:
                errors = self._call(list(pending.values()))
            except AwsError as exc:
                if not exc.retryable or attempt == SEND_ATTEMPTS - 1:
                    raise
                logger.warning("SendMessageBatch failed, retrying: %s", exc)
                continue
            pending = {i: e for i, e in pending.items() if i in errors}
            if not pending:
                return {}
            logger.warning(
                "SQS refused %d event(s) for master ids %s (attempt %d of %d): %s",
                len(errors), ",".join(map(str, sorted(errors))), attempt + 1, SEND_ATTEMPTS,
                next(iter(errors.values())),
            )  # fmt: skip
        return errors

    def depth(self) -> int:
        """Messages waiting (visible) in the queue, as SQS approximates them."""
        return aws.queue_depth(self._sqs, self.queue_url).visible

    def _call(self, envelopes: list[Envelope]) -> dict[int, str]:
        entries = [self._entry(e) for e in envelopes]
        with aws.map_aws_errors(f"SendMessageBatch of {len(entries)} event(s) to {self.queue_url}"):
            response = self._sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
        accepted = {str(item["Id"]) for item in response.get("Successful", [])}
        refused = {
            str(item["Id"]): f"{item.get('Code', '')}: {item.get('Message', '')}"
            for item in response.get("Failed", [])
        }
        return {
            e.user_id: refused.get(str(e.user_id), "SQS answered nothing for this entry")
            for e in envelopes
            if str(e.user_id) not in accepted
        }

    def _entry(self, envelope: Envelope) -> dict[str, Any]:
        body = encode(envelope)
        entry: dict[str, Any] = {
            "Id": str(envelope.user_id),  # one entry per user in a batch
            "MessageBody": body,
            "MessageAttributes": signing.attributes(body, self._keys, action=envelope.action.value),
        }
        if self._fifo:  # the same group as the user's live events: one order per user
            entry["MessageGroupId"] = str(envelope.user_id)
            entry["MessageDeduplicationId"] = str(envelope.event_id)
        return entry


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

    def send(self, sender: QueueSender, chunk: Sequence[tuple[UserState, Envelope]]) -> None:
        """Send one chunk; count what went, and advance ``last_id`` up to the first refusal."""
        self.hold_back(sender, len(chunk))
        failed = sender.send([envelope for _, envelope in chunk])
        for state, _ in chunk:
            if state.master_id in failed:
                continue
            if state.tombstone:
                self.tombstones += 1
            else:
                self.users += 1
                self.withdrawals += int(state.excluded)
        first_failed = min(failed) if failed else None
        for state, _ in chunk:
            if first_failed is not None and state.master_id >= first_failed:
                break
            self.last_id = state.master_id
        if failed:
            ids = ",".join(str(i) for i in sorted(failed))
            raise SendFailed(
                f"SQS refused the events of master ids {ids} after {SEND_ATTEMPTS} attempts "
                f"({next(iter(failed.values()))})",
                failed=failed,
            )

    def checkpoint(self, base: Checkpoint) -> Checkpoint:
        return replace(
            base, last_id=self.last_id, users=self.users, tombstones=self.tombstones,
            withdrawals=self.withdrawals, updated=datetime.now(UTC).isoformat(),
        )  # fmt: skip

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
    removed once everything was sent. ``stop_after`` stops once at least that many events
    were sent in this run, leaving the checkpoint (to try a resume). While more than
    ``max_depth`` messages wait in the client's queue it holds back (0: never looks).
    """
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    if max_depth < 0:
        raise UsageError("--max-depth must be 0 (do not look) or more")
    settings = reactive_settings()
    sender = QueueSender(settings, client_queue_url(settings, client, queue_url), sleep=sleep)
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
        client=client, prefix=settings.prefix, since=since_text, last_id=0, users=0,
        tombstones=0, started=now_text, updated=now_text,
    )  # fmt: skip
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
        states, upto = states_after(after=run.last_id, limit=batch, since=since)
        if upto is None:
            break
        pairs = snapshot_envelopes(states, occurred_at=datetime.now(UTC))
        for start in range(0, len(pairs), MAX_SEND_ENTRIES):
            try:
                run.send(sender, pairs[start : start + MAX_SEND_ENTRIES])
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
            if stop_after is not None and run.users + run.tombstones - run.before >= stop_after:
                run.report(force=True)
                return BackfillReport(
                    progress=run.progress(), resumed_after=resumed_after, stopped=True,
                    checkpoint=path,
                )  # fmt: skip
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
    settings = reactive_settings()
    sender = QueueSender(settings, client_queue_url(settings, client, queue_url), sleep=sleep)
    wanted = sorted(set(ids) | set(resets or {}))
    run = _Run(
        client=client, users=0, tombstones=0, before=0, total=len(wanted),
        started=time.monotonic(), last_id=0,
    )  # fmt: skip
    unknown: list[int] = []
    for first in range(0, len(wanted), DEFAULT_BATCH):
        states, missing = states_for_ids(ids=wanted[first : first + DEFAULT_BATCH])
        unknown.extend(missing)
        pairs = snapshot_envelopes(states, occurred_at=datetime.now(UTC), resets=resets)
        for start in range(0, len(pairs), MAX_SEND_ENTRIES):
            run.send(sender, pairs[start : start + MAX_SEND_ENTRIES])
    return BackfillReport(progress=run.progress(), unknown=tuple(unknown))
