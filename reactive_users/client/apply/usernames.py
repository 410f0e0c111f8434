"""Usernames passing between replicated users: parking the holder, giving a freed name back.

Users are matched by master id, never by username, so a username passed from one user to
another is safe: the user holding it waits under a placeholder (parked) until its own
rename arrives, and gets it back if the events arrived the other way round.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import User

from reactive_users.client.apply.reads import BatchReads, read_database
from reactive_users.client.models import Replica
from reactive_users.core.contract import Envelope
from reactive_users.core.errors import UsernameCollision

logger = logging.getLogger(__name__)


def placeholder_username(master_id: int) -> str:
    """Where a replicated user waits whose username another replicated user now holds.

    '!' is not allowed by Django's username validator: no local user can own this name.
    """
    return f"!replica-{int(master_id)}"


def free_username(
    username: str, *, owner: User | None, event: Envelope, batch: BatchReads | None
) -> None:
    """Make ``username`` free for master user ``event.user_id``, or refuse to merge."""
    if batch is not None and batch.is_free(username):
        return
    read_database(batch)  # a user deleted earlier in the batch holds no name
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
        event.event_id,
        username,
        event.user_id,
        held_by.master_id,
        parked,
    )
    holder.username = parked
    holder.save(update_fields=["username"])
    if batch is not None:
        batch.forget()


def unpark(username: str, *, event: Envelope, batch: BatchReads | None) -> None:
    """``username`` was just freed: give it back to a replicated user parked waiting for it.

    Parking is only right while the other user's own rename is still to come; when the
    events arrived the other way round (the parked user's state was the newer one), this
    is what puts it right, whatever the order.
    """
    if batch is not None and batch.nobody_waits_for(username):
        return
    read_database(batch)
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
        event.event_id,
        username,
        waiting.master_id,
        waiting.user.username,
    )
    waiting.user.username = username
    waiting.user.save(update_fields=["username"])
    if batch is not None:
        batch.forget()
