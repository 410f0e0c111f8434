"""Linking a master user to an existing local user (``REACTIVE_LINK_BY``).

A client project that joins the fleet usually has users already. With ``REACTIVE_LINK_BY``
naming a unique field the map writes (``"email"`` typically), a master user's first event
(no replica row yet) whose value of that field matches exactly one local, non-replicated
user links that user to the master id instead of being refused (``UsernameCollision``): the
replica row points at it, the map then writes its replicated fields; its password and its
unmapped fields stay as they were. An email field is matched case-insensitively, any other
field exactly. A user already replicated (for another master id) is never linked; two or
more local users matching is refused, as an unmapped collision is. Unset: never link.

A privileged local user (staff, superuser, or holding any permission, directly or through a
group) is never linked unless ``REACTIVE_LINK_PRIVILEGED`` is True: the event is refused to
the dead-letter queue (``PrivilegedLink``) with the way to link by hand. Otherwise whoever
registers the client admin's email on the master would be linked to the admin's account
and, by changing that email on the master afterwards, take it over (docs/security.md).
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
from reactive_users.core.errors import PrivilegedLink, UsernameCollision

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
    why = privileged(user)
    if why and not conf.link_privileged():
        client = conf.client_name()
        raise PrivilegedLink(
            f"event {event.event_id}: local user {user.pk} is privileged ({why}): "
            f"REACTIVE_LINK_BY does not link master user {event.user_id} to it by {field} "
            f"{value!r}; once master user {event.user_id} is known to be that person, link "
            f"by hand: take local user {user.pk}'s privileges away, `reactive dlq redrive "
            f"--client {client} --all`, then give them back"
        )
    logger.info(
        "event %s: master user %s linked to local user %s by %s %r",
        event.event_id,
        event.user_id,
        user.pk,
        field,
        value,
    )
    return user


def privileged(user: User) -> str:
    """Why ``user`` is privileged on this client ("staff", "superuser", "permissions"), or
    "" when not: flags and permissions a model does not have count as absent."""
    flags = [name for name in ("is_staff", "is_superuser") if getattr(user, name, False) is True]
    if flags:
        return ", ".join(name.removeprefix("is_") for name in flags)
    direct = getattr(user, "user_permissions", None)
    groups = getattr(user, "groups", None)
    if direct is not None and direct.exists():
        return "permissions"
    if groups is not None and groups.filter(permissions__isnull=False).exists():
        return "group permissions"
    return ""
