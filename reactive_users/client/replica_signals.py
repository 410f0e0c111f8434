"""The signals the client app sends once an applied event is committed, for a project to keep
its own rows in step with its replicated users (allauth's ``EmailAddress``, a profile).

Each is sent with ``sender`` (the user model), ``master_id`` and:

- ``user_created``: ``user``, ``changed`` (the local fields written);
- ``user_updated``: ``user``, ``changed`` (the local fields whose value changed; not sent
  when an event changed nothing);
- ``user_linked``: ``user`` (an existing local user the event linked to the master id by
  ``REACTIVE_LINK_BY``), ``changed``;
- ``user_withdrawn`` and ``user_deleted``: ``user_id`` (the local user is gone).

They are sent from ``transaction.on_commit``: receivers see the committed rows, and nothing
is sent for an event rolled back. They are sent with ``send_robust``: a receiver that raises
is logged with its traceback and never stops the listener nor loses the event, which stays
applied. They run in the listener's thread once its batch commits, before it takes the next:
a receiver should be quick and hand slow work to a task queue. Making a receiver do its own
work reliably (and idempotently: backfill and repair may send ``user_updated`` again) is the
project's job.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.dispatch import Signal

logger = logging.getLogger(__name__)

user_created = Signal()
user_updated = Signal()
user_linked = Signal()
user_withdrawn = Signal()
user_deleted = Signal()


def send_on_commit(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` once the open transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _send(signal, sender, kwargs))


def _send(signal: Signal, sender: Any, kwargs: dict[str, Any]) -> None:
    for receiver, outcome in signal.send_robust(sender, **kwargs):
        if isinstance(outcome, Exception):
            logger.error(
                "receiver %r of a replicated user's signal failed (master user %s); "
                "the event stays applied",
                receiver,
                kwargs.get("master_id"),
                exc_info=outcome,
            )
