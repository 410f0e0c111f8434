"""Linking a master user to an existing local user (``REACTIVE_LINK_BY``).

A client project that joins the fleet usually has users already. With ``REACTIVE_LINK_BY``
naming a unique field the map writes (``"email"`` typically), a master user's first event
(no replica row yet) whose value of that field matches exactly one local, non-replicated
user links that user to the master id instead of being refused (``UsernameCollision``): the
replica row points at it, the map then writes its replicated fields; its password and its
unmapped fields stay as they were. An email field is matched case-insensitively, any other
field exactly. A user already replicated (for another master id) is never linked; two or
more local users matching is refused, as an unmapped collision is. Unset: never link.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef

from reactive_users.client import conf
from reactive_users.client.apply.reads import BatchReads, read_database
from reactive_users.client.models import Replica
from reactive_users.core.contract import Envelope, FieldValue
from reactive_users.core.errors import UsernameCollision

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User

logger = logging.getLogger(__name__)


def local_match(
    values: Mapping[str, FieldValue], event: Envelope, batch: BatchReads | None
) -> User | None:
    """The local, non-replicated user ``event``'s first upsert links to (locked), or None."""
    field = conf.link_by()
    value = values.get(field) if field is not None else None
    if field is None or not isinstance(value, str) or not value:
        return None
    model = get_user_model()
    lookup = "iexact" if isinstance(model._meta.get_field(field), models.EmailField) else "exact"
    read_database(batch)  # a user deleted earlier in the batch matches nothing
    replicated = Exists(Replica.objects.filter(user_id=OuterRef("pk")))
    matches = list(
        model._default_manager.select_for_update()
        .filter(**{f"{field}__{lookup}": value})
        .exclude(replicated)
        .order_by("pk")[:2]
    )
    if len(matches) > 1:
        raise UsernameCollision(
            f"event {event.event_id}: {field} {value!r} of master user {event.user_id} "
            f"matches local users {matches[0].pk} and {matches[1].pk}; REACTIVE_LINK_BY "
            "links one user only: merge or rename them, then send the message back from "
            "the dead-letter queue"
        )
    if not matches:
        return None
    user = matches[0]
    logger.info(
        "event %s: master user %s linked to local user %s by %s %r",
        event.event_id,
        event.user_id,
        user.pk,
        field,
        value,
    )
    return user
