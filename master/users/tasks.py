"""Thin Celery tasks: the relay (enqueued after commits, coalesced by ``kicks.py``) and the
sweep (Celery beat).

Both only call services: ``services.outbox_publish_pending``, and for the sweep also
``retention.outbox_purge_sent`` (sent rows past their retention). Celery is untyped, so it
stays here and in ``master/celery.py``.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta

import redis
from django.conf import settings

from master.celery import app
from master.users import kicks, retention, services

logger = logging.getLogger(__name__)


def _relay() -> int:
    """Publish every pending outbox row now, in runs of up to ``services.DEFAULT_LIMIT``;
    the number published. Commits from the moment it starts queue a relay of their own."""
    try:
        kicks.clear(app.conf.broker_url, settings.REACTIVE.prefix)
    except redis.RedisError as exc:  # the mark expires by itself; kicks resume after that
        logger.warning("Could not clear the relay's queued mark: %s", exc)
    published = 0
    while True:
        report = services.outbox_publish_pending()
        published += report.published
        if not report.full or not report.published:
            return published  # nothing due left behind, or SNS is failing: back off


def _sweep() -> int:
    """Publish rows pending longer than REACTIVE_OUTBOX_MIN_AGE_SECONDS (lost kicks, failures),
    then delete sent rows past REACTIVE_OUTBOX_RETENTION_SECONDS for up to a second; the
    number published."""
    min_age = timedelta(seconds=settings.REACTIVE_OUTBOX_MIN_AGE_SECONDS)
    published = services.outbox_publish_pending(min_age=min_age).published
    retention.outbox_purge_sent(budget_seconds=retention.SWEEP_BUDGET_SECONDS)
    return published


# acks_late: a relay that dies mid-run is redelivered; the outbox makes a rerun harmless.
outbox_relay = app.task(name="master.users.tasks.outbox_relay", acks_late=True)(_relay)
outbox_sweep = app.task(name="master.users.tasks.outbox_sweep", acks_late=True)(_sweep)


def enqueue_relay() -> None:
    """Enqueue one relay run unless one is queued and not started yet (``kicks.py``); if the
    broker is unreachable, log it and carry on: the save already committed, the sweep follows."""
    url, prefix = app.conf.broker_url, settings.REACTIVE.prefix
    marked = False
    try:
        marked = kicks.mark_queued(url, prefix)
        if marked:  # else the queued run has not claimed yet: this commit's row is among its rows
            outbox_relay.apply_async(retry=False)
    except Exception as exc:  # any broker failure
        logger.warning("Could not enqueue the outbox relay (the sweep will publish): %s", exc)
        if marked:  # marked but not queued: let the next commit try again
            with contextlib.suppress(Exception):
                kicks.clear(url, prefix)
