"""Coalesced relay kicks: at most one relay task waits in the broker at a time.

A commit enqueues a relay task only if none is queued and not yet started: a Redis key set
with NX marks one as queued. The task deletes the key before it claims rows, so a commit
after the delete queues a run of its own, and a commit before it is among the rows that run
claims: no commit is left behind, and a burst of 1,000 commits costs a handful of relay
runs instead of 1,000 (each a claim transaction and a broker round trip). The key expires
after ``KICK_TTL_SECONDS`` in case its task is lost; the sweep covers that gap anyway.

The task is sent by its name (``RELAY_TASK``), so a saving process needs neither the task
module nor, in the thread relay, Celery at all; ``reactive_users/master/tasks.py`` defines
the tasks under these names.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from typing import Any

import redis

from reactive_users.core import naming

logger = logging.getLogger(__name__)

#: Task names stay those of the first release, so that queued runs survive an upgrade (they
#: name no app label: relabelling the app leaves them as they are).
RELAY_TASK = "master.users.tasks.outbox_relay"
SWEEP_TASK = "master.users.tasks.outbox_sweep"

#: Seconds the "relay queued" mark lives at most (its task lost: kicks resume after this).
KICK_TTL_SECONDS = 10
#: A down broker must not hold a save: connect and reply timeouts, in seconds.
TIMEOUT_SECONDS = 1.0


def mark_queued(broker_url: str, prefix: str) -> bool:
    """Mark a relay task as queued; False if one already is (then enqueue nothing)."""
    key = naming.relay_kick_key(prefix)
    return bool(_redis(broker_url, os.getpid()).set(key, 1, nx=True, ex=KICK_TTL_SECONDS))


def clear(broker_url: str, prefix: str) -> None:
    """A relay run starts, or its enqueueing failed: the next commit queues a new one."""
    _redis(broker_url, os.getpid()).delete(naming.relay_kick_key(prefix))


@functools.cache
def _redis(url: str, pid: int) -> redis.Redis:
    """One client per broker URL and process (a forked child builds its own)."""
    return redis.Redis.from_url(
        url, socket_connect_timeout=TIMEOUT_SECONDS, socket_timeout=TIMEOUT_SECONDS
    )


def enqueue_relay(app: Any, prefix: str) -> None:
    """Enqueue one relay run on Celery ``app`` unless one is queued and not started yet; if
    the broker is unreachable, log it and carry on: the save already committed, the sweep
    follows."""
    url = app.conf.broker_url
    marked = False
    try:
        marked = mark_queued(url, prefix)
        if marked:  # else the queued run has not claimed yet: this commit's row is among its rows
            app.send_task(RELAY_TASK, retry=False, ignore_result=app.conf.task_ignore_result)
    except Exception as exc:  # any broker failure
        logger.warning("Could not enqueue the outbox relay (the sweep will publish): %s", exc)
        if marked:  # marked but not queued: let the next commit try again
            with contextlib.suppress(Exception):
                clear(url, prefix)
