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

The local user is of whatever model ``AUTH_USER_MODEL`` names; the payload reaches its
fields through the field map (``fieldmap.py``). What the sockets are told is
``frames.outcome_messages``; unique values (usernames, unique emails) passing between users
are ``uniques.py``; the payload as stored is ``values.py``; an existing local user linked by
a user's first event (``REACTIVE_LINK_BY``) is ``link.py``. Once the transaction commits, the
project hears what happened to its users (``replica_signals.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.dispatch import Signal

from reactive_users.client import fieldmap, frames, limits, replica_signals
from reactive_users.client.apply.link import local_match
from reactive_users.client.apply.reads import BatchReads, read_database, replicas_for_update
from reactive_users.client.apply.uniques import free_value, unpark
from reactive_users.client.apply.values import writable_values
from reactive_users.client.decide import Decision, Held, decide, implausible
from reactive_users.client.models import Replica
from reactive_users.client.rows import row_insert, row_update
from reactive_users.client.selectors import replicated_fields
from reactive_users.core import naming
from reactive_users.core.contract import Envelope, FieldValue
from reactive_users.core.errors import ApplyError, ImplausibleVersion

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User


@dataclass(frozen=True, kw_only=True)
class ApplyResult:
    """What applying one event did, and the group messages the user's sockets must get."""

    event: Envelope
    decision: Decision
    #: Channel-layer messages for ``group``, in order (``frames.outcome_messages``).
    messages: tuple[frames.GroupMessage, ...] = ()
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
        return any(frames.closes(m) for m in self.messages)


def event_apply(
    *, event: Envelope, batch: BatchReads | None = None, savepoint: bool = True
) -> ApplyResult:
    """Apply ``event`` exactly once (whatever the delivery count), in one transaction.

    ``batch``: what was read for the whole batch (``batch_reads``), in the same
    transaction; without it the replica is read here. Inside an open transaction the event
    gets a savepoint of its own unless ``savepoint`` is False: then a failure rolls back
    the whole enclosing transaction (the fast pass of ``apply_batch``).
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
                user, cut, signal, changed = _upsert(replica, event, batch)
                truncated = tuple(cut)
                if signal is not replica_signals.user_updated or changed:
                    _announce(signal, event, user=user, changed=changed)
            elif decision in (Decision.DELETE, Decision.WITHDRAW):
                withdrawn = decision is Decision.WITHDRAW
                removed = _delete(replica, event, batch, withdrawn=withdrawn)
                if removed is not None:
                    gone = (
                        replica_signals.user_withdrawn
                        if withdrawn
                        else replica_signals.user_deleted
                    )
                    _announce(gone, event, user_id=removed)
    except BaseException:
        if batch is not None:  # rolled back: objects in hand may be ahead of the database
            batch.forget()
        raise
    return _result(event, decision, user, held_version=held, truncated=truncated)


def _announce(signal: Signal, event: Envelope, **kwargs: object) -> None:
    """Send ``signal`` about the event's user once the transaction commits."""
    replica_signals.send_on_commit(signal, get_user_model(), master_id=event.user_id, **kwargs)


def _locked_replica(master_id: int, batch: BatchReads | None) -> Replica | None:
    if batch is not None:
        known, replica = batch.take(master_id)
        if known:
            return replica
    read_database(batch)
    replicas = replicas_for_update().filter(master_id=master_id)
    return next(iter(replicas[:1]), None)  # master_id is unique: no ORDER BY (``first()``)


def _held(replica: Replica | None) -> Held | None:
    if replica is None:
        return None
    return Held(replica.version, replica.tombstone, replica.withdrawn, replica.last_event_id)


def _upsert(
    replica: Replica | None, event: Envelope, batch: BatchReads | None
) -> tuple[User, dict[str, int], Signal, list[str]]:
    """Create, link or update the event's user; the user, the fields stored cut and to
    what, the signal to send (created, linked or updated) and the local fields changed."""
    values, truncated = writable_values(event)
    user = replica.user if replica is not None else None
    signal = replica_signals.user_updated
    if replica is None and (user := local_match(values, event, batch)) is not None:
        signal = replica_signals.user_linked
    model = get_user_model()
    login = model.USERNAME_FIELD
    if user is None and login in fieldmap.mapped_fields() and not values.get(login):
        raise ApplyError(f"event {event.event_id}: master user {event.user_id} has no {login}")
    freed: dict[str, str] = {}
    uniques = fieldmap.unique_fields()
    for name in uniques:
        value = values.get(name)
        if isinstance(value, str) and (user is None or getattr(user, name) != value):
            free_value(name, value, owner=user, event=event, batch=batch)
            if user is not None:
                freed[name] = getattr(user, name)
    if user is None:
        user = model(**values)
        user.set_unusable_password()  # logs in with credentials this client sets, if any
        user.save()
        signal, changed = replica_signals.user_created, list(values)
    else:
        changed = [name for name, value in values.items() if getattr(user, name) != value]
        for name, value in values.items():
            setattr(user, name, value)
        # An UPDATE that writes nothing new (a snapshot of an equal user) is skipped. When
        # anything changed, every replicated column is written, not only the changed ones:
        # the user row was read at the batch's start, unlocked, and a local edit since then
        # must not survive because the stale copy happened to equal the event's value.
        if changed:
            user.save(update_fields=list(values))
    if batch is not None:
        for name in uniques:
            if isinstance(held := getattr(user, name), str):
                batch.claim(name, held)
    _save_replica(replica, event, user=user, values=values, truncated=truncated)
    for name, old in freed.items():
        if old:
            unpark(name, old, event=event, batch=batch)
    return user, truncated, signal, changed


def _delete(
    replica: Replica | None, event: Envelope, batch: BatchReads | None, *, withdrawn: bool
) -> int | None:
    """Remove the local user, if any; the replica keeps a tombstone, or a withdrawn marker.
    The removed user's id, or None."""
    user = replica.user if replica is not None else None
    _save_replica(replica, event, user=None, values=None, withdrawn=withdrawn)
    if user is None:
        return None
    removed = int(user.pk)
    held = [(name, value) for name in fieldmap.unique_fields() if (value := getattr(user, name))]
    if (
        batch is not None
        and batch.defer_deletes
        and all(batch.nobody_waits_for(name, value) for name, value in held)
    ):
        batch.delete_later(user)  # nobody to unpark: nothing reads the user before the flush
        return removed
    read_database(batch)  # deletes in event order
    user.delete()
    for name, value in held:
        unpark(name, value, event=event, batch=batch)
    return removed


def _save_replica(
    replica: Replica | None,
    event: Envelope,
    *,
    user: User | None,
    values: Mapping[str, FieldValue] | None,
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
    username = (values or {}).get("username")
    if isinstance(username, str):
        replica.username = username
        names = _REPLICA_WRITES_RENAMED
    wanted = {
        name: value
        for name in fieldmap.unique_fields()
        if name != "username" and isinstance(value := (values or {}).get(name), str)
    }
    if wanted:  # only on a client whose mapping writes a unique field other than username
        replica.wanted = wanted
        names = (*names, "wanted")
    if adding:  # as replica.save() would, for less work (``reactive_users.client.rows``)
        row_insert(replica)
    else:
        row_update(replica, names)


#: The replica columns every applied event writes (``updated_at`` is ``auto_now``).
_REPLICA_WRITES: tuple[str, ...] = (
    "user",
    "tombstone",
    "withdrawn",
    "version",
    "last_event_id",
    "truncated",
    "updated_at",
)
#: ... and with the payload's username (``wanted``: with its other unique values).
_REPLICA_WRITES_RENAMED = (*_REPLICA_WRITES, "username")


def _result(
    event: Envelope,
    decision: Decision,
    user: User | None,
    *,
    held_version: int | None = None,
    truncated: tuple[str, ...] = (),
) -> ApplyResult:
    fields = replicated_fields(user) if user is not None else None
    active = user is None or user.is_active
    return ApplyResult(
        event=event,
        decision=decision,
        messages=frames.outcome_messages(event, decision, fields, active=active),
        held_version=held_version,
        truncated=truncated,
    )
