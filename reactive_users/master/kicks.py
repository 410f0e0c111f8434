"""Coalesced relay kicks: at most one relay task waits in the broker at a time.

A commit enqueues a relay task only if none is queued and not yet started: a Redis key set
with NX marks one as queued. The task deletes the key before it claims rows, so a commit
after the delete queues a run of its own, and a commit before it is among the rows that run
claims: no commit is left behind, and a burst of 1,000 commits costs a handful of relay
runs instead of 1,000 (each a claim transaction and a broker round trip). The key expires
after ``KICK_TTL_SECONDS`` in case its task is lost; the sweep covers that gap anyway.
"""

from __future__ import annotations

import functools
import os

import redis

from reactive_users.core import naming

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
