"""Celery in tests: point the app at a broker, run a real worker thread."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def point_celery_at(app: Any, url: str) -> None:
    """Use ``url`` as broker and result backend from now on (drops pooled connections)."""
    app.conf.update(broker_url=url, result_backend=url)
    app.close()  # forget the connection pool built for the old URL
    app.__dict__.pop("amqp", None)  # and the producer pool cached on it


@contextlib.contextmanager
def celery_broker(app: Any, url: str) -> Iterator[None]:
    """Point Celery at ``url`` inside the block, back at the previous broker after."""
    previous = app.conf.broker_url
    point_celery_at(app, url)
    try:
        yield
    finally:
        point_celery_at(app, previous)


@contextlib.contextmanager
def running_worker(app: Any, *, purge: bool = True) -> Iterator[Any]:
    """A real Celery worker (solo pool) in a thread, consuming a purged queue (unless not
    ``purge``: then it also runs what the test itself queued before)."""
    from celery.contrib.testing.worker import start_worker

    if purge:
        app.control.purge()  # relays enqueued by earlier tests' commits
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30) as worker:
        yield worker
