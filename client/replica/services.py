"""Applying one event to this client's users: the only code that writes replicated users.

``decide()`` says what to do; this module does it in one transaction with the replica row
locked, and says what the user's sockets must be told. Users are matched by master id,
never by username, so renames and a username passed from one user to another are safe.

An upsert at the version already held (a snapshot repairing same-version drift, see
``decide``) writes like any other: the replica keeps its version and takes the event id,
and a local user deleted by hand is created again. Its sockets get a ``state`` frame rather
than a ``changed`` one: pages apply a state at the version they show, a change only above it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import models, transaction

from client.replica import frames
from client.replica.decide import Decision, Held, decide
from client.replica.models import Replica
from client.replica.selectors import replicated_field_names, replicated_fields
from reactive_cli import naming
from reactive_cli.contract import Action, Envelope, FieldValue
from reactive_cli.errors import ApplyError, UsernameCollision

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
        """Whether the user's sockets are told to close (deactivated or deleted)."""
        return any(m["type"] == frames.USER_GONE for m in self.messages)


def placeholder_username(master_id: int) -> str:
    """Where a replicated user waits whose username another replicated user now holds.

    '!' is not allowed by Django's username validator: no local user can own this name.
    """
    return f"!replica-{int(master_id)}"


def event_apply(*, event: Envelope) -> ApplyResult:
    """Apply ``event`` exactly once (whatever the delivery count), in one transaction."""
    if event.synthetic:
        # decide() pushes synthetic events whatever is held: the database is not even read.
        return _result(event, decide(None, event), None)
    with transaction.atomic():
        replica = Replica.objects.select_for_update().filter(master_id=event.user_id).first()
        held = replica.version if replica is not None else None
        decision = decide(_held(replica), event)
        user: User | None = None
        if decision is Decision.UPSERT:
            user = _upsert(replica, event)
        elif decision is Decision.DELETE:
            _delete(replica, event)
    return _result(event, decision, user, held_version=held)


def _held(replica: Replica | None) -> Held | None:
    return None if replica is None else Held(replica.version, replica.tombstone)


def _upsert(replica: Replica | None, event: Envelope) -> User:
    values = _writable_values(event)
    user = replica.user if replica is not None else None
    username = values.get("username")
    if user is None and not username:
        raise ApplyError(f"event {event.event_id}: master user {event.user_id} has no username")
    freed = ""
    if isinstance(username, str) and (user is None or user.username != username):
        _free_username(username, owner=user, event=event)
        freed = user.username if user is not None else ""
    if user is None:
        user = User(**values)
        user.set_unusable_password()  # logs in with credentials this client sets, if any
        user.save()
    elif values:
        for name, value in values.items():
            setattr(user, name, value)
        user.save(update_fields=list(values))
    _save_replica(replica, event, user=user, username=username)
    if freed:
        _unpark(freed, event=event)
    return user


def _delete(replica: Replica | None, event: Envelope) -> None:
    user = replica.user if replica is not None else None
    _save_replica(replica, event, user=None, username=None)
    if user is not None:
        user.delete()
        _unpark(user.username, event=event)


def _save_replica(
    replica: Replica | None, event: Envelope, *, user: User | None, username: FieldValue
) -> None:
    replica = replica or Replica(master_id=event.user_id)
    replica.user = user
    replica.tombstone = user is None
    replica.version = event.version
    replica.last_event_id = event.event_id
    if isinstance(username, str):
        replica.username = username
    replica.save()


def _free_username(username: str, *, owner: User | None, event: Envelope) -> None:
    """Make ``username`` free for master user ``event.user_id``, or refuse to merge."""
    holders = User.objects.select_for_update().filter(username=username)
    holder = (holders.exclude(pk=owner.pk) if owner is not None else holders).first()
    if holder is None:
        return
    held_by = Replica.objects.filter(user_id=holder.pk).first()
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


def _unpark(username: str, *, event: Envelope) -> None:
    """``username`` was just freed: give it back to a replicated user parked waiting for it.

    Parking is only right while the other user's own rename is still to come; when the
    events arrived the other way round (the parked user's state was the newer one), this
    is what puts it right, whatever the order.
    """
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


def _writable_values(event: Envelope) -> dict[str, FieldValue]:
    """The payload's values for replicated fields that exist on User, checked against it."""
    return {
        name: _coerce(User._meta.get_field(name), event.user[name], event)
        for name in replicated_field_names()
        if name in event.user
    }


def _coerce(field: Any, value: FieldValue, event: Envelope) -> FieldValue:
    if isinstance(field, models.BooleanField):
        if not isinstance(value, bool):
            raise ApplyError(f"event {event.event_id}: {field.name} must be a boolean")
        return value
    if isinstance(field, models.CharField):
        text = "" if value is None else value
        if not isinstance(text, str) or len(text) > (field.max_length or len(text)):
            raise ApplyError(
                f"event {event.event_id}: {field.name} must be text of at most "
                f"{field.max_length} characters"
            )
        return text
    return value


def _result(
    event: Envelope, decision: Decision, user: User | None, *, held_version: int | None = None
) -> ApplyResult:
    messages: list[dict[str, Any]] = []
    if decision is Decision.NOTIFY_ONLY:
        messages.append(frames.group_message(frames.USER_TEST, frames.test_frame(event=event)))
    elif decision is Decision.UPSERT and user is not None:
        fields = replicated_fields(user)
        if event.action is Action.SNAPSHOT:  # may be the version the page shows: a state
            frame = frames.state_frame(version=event.version, user=fields)
        else:
            frame = frames.changed_frame(event=event, user=fields)
        messages.append(frames.group_message(frames.USER_CHANGED, frame))
        if not user.is_active:
            messages.append(_gone(frames.GoneReason.DEACTIVATED, event))
    elif decision is Decision.DELETE:
        messages.append(_gone(frames.GoneReason.DELETED, event))
    return ApplyResult(
        event=event, decision=decision, messages=tuple(messages), held_version=held_version
    )


def _gone(reason: frames.GoneReason, event: Envelope) -> dict[str, Any]:
    frame = frames.gone_frame(reason=reason, version=event.version)
    return frames.group_message(frames.USER_GONE, frame)
