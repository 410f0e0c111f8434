"""Unique values passing between replicated users: parking the holder, giving a freed value back.

A unique field the mapping writes (``fieldmap.unique_fields``: a username, a unique email)
may be given by the master to a user while another replicated user still holds it here.
Users are matched by master id, never by such a value, so that is safe: the user holding it
waits under a placeholder (parked) until its own change arrives, and gets the value back if
the events arrived the other way round. A client-local (not replicated) user holding it is
never merged: the event is refused (``UsernameCollision``, naming the field).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model

from reactive_users.client.apply.reads import BatchReads, read_database, waiting_for
from reactive_users.client.models import PLACEHOLDER, Replica
from reactive_users.core.contract import Envelope
from reactive_users.core.errors import UsernameCollision

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User

logger = logging.getLogger(__name__)


def placeholder_username(master_id: int) -> str:
    """Where a replicated user waits whose unique value another replicated user now holds."""
    return f"{PLACEHOLDER}{int(master_id)}"


def free_value(
    field: str, value: str, *, owner: User | None, event: Envelope, batch: BatchReads | None
) -> None:
    """Make ``value`` of unique ``field`` free for master user ``event.user_id``, or refuse
    to merge."""
    if batch is not None and batch.is_free(field, value):
        return
    read_database(batch)  # a user deleted earlier in the batch holds no value
    # The field is unique: no ORDER BY (``first()`` adds one), at most one row.
    users = get_user_model()._default_manager.select_for_update().filter(**{field: value})
    holder = next(iter(users[:1]), None)
    if holder is None or (owner is not None and holder.pk == owner.pk):
        return
    held_by = next(iter(Replica.objects.filter(user_id=holder.pk)[:1]), None)
    if held_by is None:
        raise UsernameCollision(
            f"event {event.event_id}: {field} {value!r} of master user {event.user_id} "
            f"belongs to local user {holder.pk}, which is not replicated; rename or remove "
            "that local user, then send the message back from the dead-letter queue"
        )
    parked = placeholder_username(held_by.master_id)
    logger.warning(
        "event %s: %s %r passes to master user %s; master user %s parked as %r "
        "until its own change arrives",
        event.event_id,
        field,
        value,
        event.user_id,
        held_by.master_id,
        parked,
    )
    setattr(holder, field, parked)
    holder.save(update_fields=[field])
    if batch is not None:
        batch.forget()


def unpark(field: str, value: str, *, event: Envelope, batch: BatchReads | None) -> None:
    """``value`` of ``field`` was just freed: give it back to a replicated user parked
    waiting for it.

    Parking is only right while the other user's own change is still to come; when the
    events arrived the other way round (the parked user's state was the newer one), this
    is what puts it right, whatever the order.
    """
    if batch is not None and batch.nobody_waits_for(field, value):
        return
    read_database(batch)
    waiting = (
        Replica.objects.select_for_update()
        .select_related("user")
        .filter(tombstone=False, user__isnull=False)
        .filter(waiting_for(field, [value]))
        .order_by("id")
        .first()
    )
    if waiting is None or waiting.user is None:
        return
    if get_user_model()._default_manager.filter(**{field: value}).exists():
        return  # a local user took it meanwhile
    logger.warning(
        "event %s: %s %r is free again; master user %s leaves %r for it",
        event.event_id,
        field,
        value,
        waiting.master_id,
        getattr(waiting.user, field),
    )
    setattr(waiting.user, field, value)
    waiting.user.save(update_fields=[field])
    if batch is not None:
        batch.forget()
