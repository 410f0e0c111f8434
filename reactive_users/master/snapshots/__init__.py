"""Snapshots of master users for one client: backfill, repair, and the dump ``diff`` reads.

A snapshot is a user's full allow-listed state at the master's *current* version; an
excluded user travels as a ``withdrawn`` event, a tombstone as a ``deleted`` event. All go
to ONE client's SQS queue, never to the topic, and interleave safely with live events
because of how they are read (``reads.py``) and how clients decide
(``reactive_users/client/decide.py``):

- a client applies a snapshot at a version NEWER than or the SAME as the one it holds, and
  ignores an OLDER one: a live change that arrives before or after a snapshot is kept.
- the client's queue must be subscribed to the topic before a backfill starts: every change
  committed after a user's snapshot was read then reaches the client as a live event.

Excluded users (staff and superusers unless ``REACTIVE_PUBLISH_STAFF``) are sent as
withdrawals, so that a client holding one (promoted by ``QuerySet.update()``, or by a
master older than withdrawals) removes it, as it removes a user deleted without an event.

Modules: ``reads`` (the ORM reads), ``text`` (states, envelopes, resets and progress lines;
pure), ``checkpoint`` (the checkpoint file), ``sender`` (SQS), ``runs`` (the backfill and
repair loops). The names below are this package's public surface, each loaded from its
module on first use, so that importing ``text`` alone loads neither the ORM nor boto3.
"""

from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the module of this package that defines it.
_HOMES = {
    "UserState": "text",
    "snapshot_envelope": "text",
    "snapshot_envelopes": "text",
    "parse_resets": "text",
    "Progress": "text",
    "progress_line": "text",
    "summary_line": "text",
    "repair_line": "text",
    "DEFAULT_BATCH": "reads",
    "users_in_scope": "reads",
    "tombstones_in_scope": "reads",
    "user_versions_ensure": "reads",
    "user_states_read": "reads",
    "states_after": "reads",
    "states_for_ids": "reads",
    "states_count": "reads",
    "states_dump": "reads",
    "users_selected": "reads",
    "Checkpoint": "checkpoint",
    "checkpoint_path": "checkpoint",
    "checkpoint_read": "checkpoint",
    "checkpoint_write": "checkpoint",
    "SEND_ATTEMPTS": "sender",
    "SendFailed": "sender",
    "QueueSender": "sender",
    "client_queue_url": "sender",
    "DEFAULT_MAX_DEPTH": "runs",
    "BackfillReport": "runs",
    "backfill": "runs",
    "repair": "runs",
    # the usage error a run raises for bad arguments
    "UsageError": "runs",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # found here from now on
    return value
