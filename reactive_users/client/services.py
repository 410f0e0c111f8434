"""Applying one event to this client's users: the only code that writes replicated users.

``decide()`` says what to do; this module does it in one transaction with the replica row
locked, and says what the user's sockets must be told. Users are matched by master id,
never by username, so renames and a username passed from one user to another are safe.

An upsert at the version already held (a snapshot repairing same-version drift, see
``decide``) writes like any other: the replica keeps its version and takes the event id,
and a local user deleted by hand is created again. Its sockets get a ``state`` frame rather
than a ``changed`` one: pages apply a state at the version they show, a change only above it.

A withdrawal (the user left the master's published set) removes the local user exactly as a
delete does (Django's collector, signals, parked names given back) and keeps a withdrawn
marker instead of a tombstone; the user's sockets get the final ``gone`` frame. A later
upsert of a withdrawn user creates a new local user (``_upsert`` with no user held).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import F

from reactive_users.client import conf, frames, limits
from reactive_users.client.decide import Decision, Held, decide, implausible
from reactive_users.client.models import Replica
from reactive_users.client.rows import row_insert, row_update
from reactive_users.client.selectors import replicated_field_names, replicated_fields
from reactive_users.core import naming
from reactive_users.core.contract import Action, Envelope, FieldValue
from reactive_users.core.errors import ApplyError, ImplausibleVersion, UsernameCollision

logger = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """What applying one event did, and the group messages the user's sockets must get."""

    event: Envelope
    decision: Decision
    #: Channel-layer messages for ``group``, in order (``frames.group_message`` shapes).
    messages: tuple[dict[str, Any], ...] = ()
    #: The version the client held before (None: nothing held, or a synthetic event).
    held_version: int | None = None
    #: Fields stored cut to this client's limit (REACTIVE_OVERSIZE_POLICY=truncate).
    truncated: tuple[str, ...] = ()

    @property
    def duplicate(self) -> bool:
        """Whether the client already held exactly this version (a redelivery)."""
        return not self.decision.writes and self.held_version == self.event.version

    @property
    def group(self) -> str:
        """The Channels group of the event's user."""
        return naming.user_group(self.event.user_id)

    @property
    def closes_sockets(self) -> bool:
        """Whether the user's sockets are told to close (deactivated, deleted or withdrawn)."""
        return any(m["type"] == frames.USER_GONE for m in self.messages)


def placeholder_username(master_id: int) -> str:
    """Where a replicated user waits whose username another replicated user now holds.

    '!' is not allowed by Django's username validator: no local user can own this name.
    """
    return f"!replica-{int(master_id)}"


class BatchReads:
    """What one batch's transaction reads once for all its events rather than per event:
    every replica of the batch's users (locked), which usernames no user holds, and (on
    the first name freed) which names no parked user waits for.

    A replica is used once, by the first event of its user in the batch; later events of
    that user read it again (an earlier one changed it). A name stays known free until an
    event gives it to a user. That holds as long as nothing but the batch's own events
    writes these rows, and each event writes only its own user's rows, except where it
    parks or unparks another user: that, and any failed event, drops everything known
    here, and reads go back to the database.

    With ``defer_deletes`` it also holds the local users the batch deletes whose names no
    parked user waits for (their replicas already tombstones), and deletes them all at once
    (``flush``): before any read the batch's own reads do not answer, and at its end.
    """

    def __init__(
        self,
        replicas: dict[int, Replica | None],
        free: set[str],
        freeable: set[str],
        *,
        defer_deletes: bool = False,
    ) -> None:
        self._replicas = replicas
        self._free = free
        #: Names the batch's events may free: its users' names now and in its payloads.
        self._freeable = freeable
        self._unwaited: set[str] | None = None  # read on first use: most batches free none
        self.defer_deletes = defer_deletes
        #: Users to delete at the next ``flush``, in the order their events came.
        self._doomed: list[User] = []

    def take(self, master_id: int) -> tuple[bool, Replica | None]:
        """(True, the replica or None if there was none) once per user; then (False, None)."""
        if master_id not in self._replicas:
            return False, None
        return True, self._replicas.pop(master_id)

    def is_free(self, username: str) -> bool:
        """Whether ``username`` is known to be held by no user (False: ask the database)."""
        return username in self._free

    def claim(self, username: str) -> None:
        """An event gave ``username`` to a user."""
        self._free.discard(username)

    def nobody_waits_for(self, username: str) -> bool:
        """Whether no parked user is known to wait for ``username`` (False: ask)."""
        if self._unwaited is None:
            self._unwaited = _unwaited(self._freeable)
        return username in self._unwaited

    def forget(self) -> None:
        """Another user's rows were written, or an event failed: read from the database.

        Users waiting in ``delete_later`` are still deleted at the next ``flush``."""
        self._replicas.clear()
        self._free.clear()
        self._unwaited = set()

    def delete_later(self, user: User) -> None:
        """Delete ``user`` at the next ``flush`` (its replica is already a tombstone)."""
        self._doomed.append(user)

    def flush(self) -> int:
        """Delete the users ``delete_later`` kept; how many. Call it before the transaction
        ends, and before reading what a deleted user could change (``_read_database``)."""
        doomed, self._doomed = self._doomed, []
        _users_delete(doomed)
        return len(doomed)


def batch_reads(*, events: Iterable[Envelope], defer_deletes: bool = False) -> BatchReads:
    """Read what ``events`` will need, in one or two queries; call it inside the batch's
    transaction, before the first ``event_apply(event=..., batch=...)``.

    ``defer_deletes``: the batch's deletes of local users wait for ``BatchReads.flush``,
    which the caller must call before the transaction commits (``Listener._apply_all``).

    Replica rows are locked (PostgreSQL) in master id order, the order in which the listener
    applies a batch, so competing listeners still cannot deadlock on them.
    """
    real = [e for e in events if not e.synthetic]
    ids = sorted({e.user_id for e in real})
    replicas = _replicas_for_update().filter(master_id__in=ids).order_by("master_id")
    found = {r.master_id: r for r in replicas}
    held = {r.user.username for r in found.values() if r.user is not None}
    named = {name for e in real if isinstance(name := e.user.get("username"), str) and name}
    wanted = named - held  # a user keeping its name needs no check
    # All or nothing: if any user holds one of these names, compare in the database, event
    # by event, rather than in Python (a collation may see equal names Python tells apart).
    taken = bool(wanted) and User.objects.filter(username__in=wanted).exists()
    free = set() if taken else wanted
    return BatchReads(
        {i: found.get(i) for i in ids}, free, freeable=held | named, defer_deletes=defer_deletes
    )


def _users_delete(users: list[User]) -> None:
    """Delete ``users`` through Django's collector, as ``user.delete()`` deletes one: client
    apps' foreign keys (cascade, set null, protect) and pre/post_delete signals as usual.
    Several go in one pass (``QuerySet.delete``): a handful of statements for them all
    rather than for each, about a fifth of the CPU per user (ten: ~110 us each on SQLite,
    against ~510 one by one)."""
    if len(users) == 1:
        users[0].delete()
    elif users:
        User.objects.filter(pk__in=[user.pk for user in users]).delete()


def _read_database(batch: BatchReads | None) -> None:
    """About to read users or replicas from the database: deletes kept for later go first,
    so that the read sees what deleting them one by one would have left."""
    if batch is not None:
        batch.flush()


def _unwaited(names: set[str]) -> set[str]:
    """``names`` if no live replica whose user is parked waits for any of them, else none
    (all or nothing, as for free names)."""
    if not names:
        return set()
    waiting = (
        Replica.objects.filter(username__in=names, tombstone=False, user__isnull=False)
        .exclude(user__username=F("username"))
        .exists()
    )
    return set() if waiting else set(names)


def event_apply(
    *, event: Envelope, batch: BatchReads | None = None, savepoint: bool = True
) -> ApplyResult:
    """Apply ``event`` exactly once (whatever the delivery count), in one transaction.

    ``batch``: what the listener read for the whole batch (``batch_reads``), in the same
    transaction; without it the replica is read here. Inside an open transaction the event
    gets a savepoint of its own unless ``savepoint`` is False: then a failure rolls back
    the whole enclosing transaction (the listener's fast pass, see ``_handle_batch``).
    """
    if event.synthetic:
        # decide() pushes synthetic events whatever is held: the database is not even read.
        return _result(event, decide(None, event), None)
    try:
        with transaction.atomic(savepoint=savepoint):
            replica = _locked_replica(event.user_id, batch)
            held = replica.version if replica is not None else None
            refused = implausible(_held(replica), event)
            if refused:
                raise ImplausibleVersion(
                    f"event {event.event_id}: master user {event.user_id}: {refused}"
                )
            decision = decide(_held(replica), event)
            user: User | None = None
            truncated: tuple[str, ...] = ()
            if decision is Decision.UPSERT:
                user, cut = _upsert(replica, event, batch)
                truncated = tuple(cut)
            elif decision in (Decision.DELETE, Decision.WITHDRAW):
                _delete(replica, event, batch, withdrawn=decision is Decision.WITHDRAW)
    except BaseException:
        if batch is not None:  # rolled back: objects in hand may be ahead of the database
            batch.forget()
        raise
    return _result(event, decision, user, held_version=held, truncated=truncated)


def _replicas_for_update() -> models.QuerySet[Replica]:
    """Replicas with their users in the same query, the replica rows locked.

    Only the replica rows: a user row is locked when it is written, as before the join.
    """
    return Replica.objects.select_for_update(of=("self",)).select_related("user")


def _locked_replica(master_id: int, batch: BatchReads | None) -> Replica | None:
    if batch is not None:
        known, replica = batch.take(master_id)
        if known:
            return replica
    _read_database(batch)
    replicas = _replicas_for_update().filter(master_id=master_id)
    return next(iter(replicas[:1]), None)  # master_id is unique: no ORDER BY (``first()``)


def _held(replica: Replica | None) -> Held | None:
    if replica is None:
        return None
    return Held(replica.version, replica.tombstone, replica.withdrawn, replica.last_event_id)


def _upsert(
    replica: Replica | None, event: Envelope, batch: BatchReads | None
) -> tuple[User, dict[str, int]]:
    """Create or update the event's user; the user, and the fields stored cut and to what."""
    values, truncated = _writable_values(event)
    user = replica.user if replica is not None else None
    username = values.get("username")
    if user is None and not username:
        raise ApplyError(f"event {event.event_id}: master user {event.user_id} has no username")
    freed = ""
    if isinstance(username, str) and (user is None or user.username != username):
        _free_username(username, owner=user, event=event, batch=batch)
        freed = user.username if user is not None else ""
    if user is None:
        user = User(**values)
        user.set_unusable_password()  # logs in with credentials this client sets, if any
        user.save()
    else:
        changed = any(getattr(user, name) != value for name, value in values.items())
        for name, value in values.items():
            setattr(user, name, value)
        # An UPDATE that writes nothing new (a snapshot of an equal user) is skipped. When
        # anything changed, every replicated column is written, not only the changed ones:
        # the user row was read at the batch's start, unlocked, and a local edit since then
        # must not survive because the stale copy happened to equal the event's value.
        if changed:
            user.save(update_fields=list(values))
    if batch is not None:
        batch.claim(user.username)
    _save_replica(replica, event, user=user, username=username, truncated=truncated)
    if freed:
        _unpark(freed, event=event, batch=batch)
    return user, truncated


def _delete(
    replica: Replica | None, event: Envelope, batch: BatchReads | None, *, withdrawn: bool
) -> None:
    """Remove the local user, if any; the replica keeps a tombstone, or a withdrawn marker."""
    user = replica.user if replica is not None else None
    _save_replica(replica, event, user=None, username=None, withdrawn=withdrawn)
    if user is None:
        return
    if batch is not None and batch.defer_deletes and batch.nobody_waits_for(user.username):
        batch.delete_later(user)  # nobody to unpark: nothing reads the user before the flush
        return
    _read_database(batch)  # deletes in event order
    user.delete()
    _unpark(user.username, event=event, batch=batch)


def _save_replica(
    replica: Replica | None,
    event: Envelope,
    *,
    user: User | None,
    username: FieldValue,
    withdrawn: bool = False,
    truncated: Mapping[str, int] | None = None,
) -> None:
    """Record the event's outcome: ``user`` (None: a tombstone, or a marker if ``withdrawn``)."""
    adding = replica is None
    if replica is None:
        replica = Replica(master_id=event.user_id)
    replica.user = user
    replica.tombstone = user is None and not withdrawn
    replica.withdrawn = user is None and withdrawn
    replica.version = event.version
    replica.last_event_id = event.event_id
    replica.truncated = limits.joined(truncated or {})
    names = _REPLICA_WRITES
    if isinstance(username, str):
        replica.username = username
        names = _REPLICA_WRITES_RENAMED
    if adding:  # as replica.save() would, at a fraction of its CPU (``reactive_users.client.rows``)
        row_insert(replica)
    else:
        row_update(replica, names)


#: The replica columns every applied event writes (``updated_at`` is ``auto_now``).
_REPLICA_WRITES: tuple[str, ...] = (
    "user", "tombstone", "withdrawn", "version", "last_event_id", "truncated", "updated_at",
)  # fmt: skip
#: ... and with the payload's username.
_REPLICA_WRITES_RENAMED = (*_REPLICA_WRITES, "username")


def _free_username(
    username: str, *, owner: User | None, event: Envelope, batch: BatchReads | None
) -> None:
    """Make ``username`` free for master user ``event.user_id``, or refuse to merge."""
    if batch is not None and batch.is_free(username):
        return
    _read_database(batch)  # a user deleted earlier in the batch holds no name
    # Usernames are unique: no ORDER BY (``first()`` adds one), at most one row.
    holder = next(iter(User.objects.select_for_update().filter(username=username)[:1]), None)
    if holder is None or (owner is not None and holder.pk == owner.pk):
        return
    held_by = next(iter(Replica.objects.filter(user_id=holder.pk)[:1]), None)
    if held_by is None:
        raise UsernameCollision(
            f"event {event.event_id}: username {username!r} of master user {event.user_id} "
            f"belongs to local user {holder.pk}, which is not replicated; rename or remove "
            "that local user, then send the message back from the dead-letter queue"
        )
    parked = placeholder_username(held_by.master_id)
    logger.warning(
        "event %s: username %r passes to master user %s; master user %s parked as %r "
        "until its own rename arrives",
        event.event_id, username, event.user_id, held_by.master_id, parked,
    )  # fmt: skip
    holder.username = parked
    holder.save(update_fields=["username"])
    if batch is not None:
        batch.forget()


def _unpark(username: str, *, event: Envelope, batch: BatchReads | None) -> None:
    """``username`` was just freed: give it back to a replicated user parked waiting for it.

    Parking is only right while the other user's own rename is still to come; when the
    events arrived the other way round (the parked user's state was the newer one), this
    is what puts it right, whatever the order.
    """
    if batch is not None and batch.nobody_waits_for(username):
        return
    _read_database(batch)
    waiting = (
        Replica.objects.select_for_update()
        .select_related("user")
        .filter(username=username, tombstone=False, user__isnull=False)
        .exclude(user__username=username)
        .order_by("id")
        .first()
    )
    if waiting is None or waiting.user is None:
        return
    if User.objects.filter(username=username).exists():  # a local user took it meanwhile
        return
    logger.warning(
        "event %s: username %r is free again; master user %s leaves %r for it",
        event.event_id, username, waiting.master_id, waiting.user.username,
    )  # fmt: skip
    waiting.user.username = username
    waiting.user.save(update_fields=["username"])
    if batch is not None:
        batch.forget()


def _writable_values(event: Envelope) -> tuple[dict[str, FieldValue], dict[str, int]]:
    """The payload's values for replicated fields that exist on User, checked against it
    and fitted to this client's limits (``limits.py``); and the fields stored cut, with the
    limit each was cut to."""
    values: dict[str, FieldValue] = {}
    truncated: dict[str, int] = {}
    configured, policy = conf.field_max_lengths(), conf.oversize_policy()
    for name in replicated_field_names():
        if name in event.user:
            field = User._meta.get_field(name)
            limit = limits.limit_of(getattr(field, "max_length", None), configured.get(name))
            values[name], cut = _coerce(field, event.user[name], event, limit, policy)
            if cut and limit is not None:
                truncated[name] = limit
    return values, truncated


def _coerce(
    field: Any, value: FieldValue, event: Envelope, limit: int | None, policy: limits.Policy
) -> tuple[FieldValue, bool]:
    """The value as this client stores it, and whether it was cut to ``limit``;
    ``ApplyError`` if it cannot be stored."""
    if isinstance(field, models.BooleanField):
        if not isinstance(value, bool):
            raise ApplyError(f"event {event.event_id}: {field.name} must be a boolean")
        return value, False
    if isinstance(field, models.CharField):
        text = "" if value is None else value
        if not isinstance(text, str):
            raise ApplyError(f"event {event.event_id}: {field.name} must be text")
        fitted = limits.fit(field.name, text, limit, policy)
        if fitted.refused:
            raise ApplyError(
                f"event {event.event_id}: master user {event.user_id}: {fitted.refused}"
            )
        return fitted.value, fitted.cut
    return value, False


def _result(
    event: Envelope,
    decision: Decision,
    user: User | None,
    *,
    held_version: int | None = None,
    truncated: tuple[str, ...] = (),
) -> ApplyResult:
    messages: list[dict[str, Any]] = []
    if decision is Decision.NOTIFY_ONLY:
        messages.append(frames.group_message(frames.USER_TEST, frames.test_frame(event=event)))
    elif decision is Decision.UPSERT and user is not None:
        fields = replicated_fields(user)
        if event.action is Action.SNAPSHOT:  # may be the version the page shows: a state
            # A reset may take the page back to a lower version: it says so.
            frame = frames.state_frame(version=event.version, user=fields, reset=event.reset)
        else:
            frame = frames.changed_frame(event=event, user=fields)
        messages.append(frames.group_message(frames.USER_CHANGED, frame))
        if not user.is_active:
            messages.append(_gone(frames.GoneReason.DEACTIVATED, event))
    elif decision is Decision.DELETE:
        messages.append(_gone(frames.GoneReason.DELETED, event))
    elif decision is Decision.WITHDRAW:
        messages.append(_gone(frames.GoneReason.WITHDRAWN, event))
    return ApplyResult(
        event=event,
        decision=decision,
        messages=tuple(messages),
        held_version=held_version,
        truncated=truncated,
    )


def _gone(reason: frames.GoneReason, event: Envelope) -> dict[str, Any]:
    frame = frames.gone_frame(reason=reason, version=event.version)
    return frames.group_message(frames.USER_GONE, frame)
