"""Says, in Redis, that this listener's loop is running: for ``reactive status``.

An operator's own process manager (their supervisord, systemd, a container platform) runs the
listeners, so ``status`` cannot ask our supervisord about them. Instead each listener process
renews one key (``naming.listener_alive_key``: prefix, client, ``host:pid``) with a time to
live, from its loop, at most every ``ALIVE_INTERVAL_SECONDS``: a listener whose loop is
stuck or dead stops renewing it and drops out after ``naming.LISTENER_ALIVE_TTL_SECONDS``. On
a clean stop the key is removed. A Redis that cannot be written is a warning, never a stop
of the loop.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis

from reactive_users.client.listener.acks import listener_identity
from reactive_users.core import naming
from reactive_users.core.settings import Settings

logger = logging.getLogger(__name__)

#: Seconds between two renewals of the key (the loop renews it when it comes round).
ALIVE_INTERVAL_SECONDS = 10.0


class Alive:
    """Renews the listener's key through ``record`` when due; ``forget`` removes it."""

    def __init__(
        self,
        record: Callable[[], None],
        forget: Callable[[], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = ALIVE_INTERVAL_SECONDS,
    ) -> None:
        self._record = record
        self._forget = forget
        self._clock = clock
        self._interval = interval
        self._due: float | None = None  # None: never recorded (or the last try failed)
        self._failing = False

    def beat(self) -> None:
        """Renew the key if it is due; a failure is logged once until it works again."""
        now = self._clock()
        if self._due is not None and now < self._due:
            return
        self._due = now + self._interval
        try:
            self._record()
        except Exception as exc:
            if not self._failing:
                logger.warning(
                    "could not record this listener as alive in Redis (reactive status will "
                    "not see it): %s: %s",
                    type(exc).__name__,
                    exc,
                )
            self._failing = True
            return
        self._failing = False

    def forget(self) -> None:
        """Remove the key (a clean stop), best effort."""
        try:
            self._forget()
        except Exception as exc:
            logger.info("could not remove this listener's alive key: %s", exc)


def redis_alive(settings: Settings, client: str) -> Alive:
    """An ``Alive`` renewing this process's key in ``settings.redis_url`` (REDIS_URL)."""
    conn = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=2, socket_timeout=2)
    key = naming.listener_alive_key(settings.prefix, client, listener_identity())

    def record() -> None:
        conn.set(key, json.dumps({"at": time.time()}), ex=naming.LISTENER_ALIVE_TTL_SECONDS)

    def forget() -> None:
        conn.delete(key)

    return Alive(record, forget)
