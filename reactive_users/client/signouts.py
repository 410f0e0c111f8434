"""Ending what authenticates a user's sockets: services the receivers in ``signals.py`` call.

A logout moves the user's token generation on (every stream token issued before it stops
opening sockets, and holding them) and, like a deleted session row or a password change,
tells the user's open sockets, on every daphne, to check their own credentials now
(``credentials.py``). The message goes after the commit and carries nothing secret; if the
channel layer cannot take it, the sockets' periodic check closes them instead.
"""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models import F

from reactive_users.client import frames
from reactive_users.client.models import Replica, TokenGeneration
from reactive_users.core import naming

logger = logging.getLogger(__name__)


def token_generation_advance(*, user_id: int) -> None:
    """Void every stream token of the user issued until now (a logout)."""
    with transaction.atomic():
        TokenGeneration.objects.get_or_create(user_id=user_id)
        TokenGeneration.objects.filter(user_id=user_id).update(value=F("value") + 1)


def sockets_recheck(*, user_id: int) -> None:
    """After the commit, ask every open socket of the (local) user to check its credentials."""
    master_ids = Replica.objects.filter(user_id=user_id).values_list("master_id", flat=True)
    master_id = master_ids.first()
    if master_id is None:
        return  # not a replicated user: it has no stream
    group = naming.user_group(master_id)
    transaction.on_commit(lambda: _send_recheck(group, user_id))


def _send_recheck(group: str, user_id: int) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(group, frames.recheck_message())
    except Exception as exc:  # the sign-out itself stands; the periodic check closes them
        logger.warning(
            "user %d: sockets not told to recheck their credentials: %s: %s",
            user_id,
            type(exc).__name__,
            exc,
        )
