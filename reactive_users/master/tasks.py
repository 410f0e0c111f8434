"""Thin Celery tasks: the relay (enqueued after commits, coalesced by ``kicks.py``) and the
sweep (Celery beat). The tasks are shared tasks: they join whichever Celery app the project
runs, and the project names its app in REACTIVE_CELERY_APP (``master.celery.app`` in the
reference project), loaded on first use so that the library never imports a project.

Both only call services: ``services.outbox_publish_pending``, and for the sweep also
``retention.outbox_purge_sent`` (sent rows past their retention). Celery is untyped, so it
stays here and in the project's Celery module.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import timedelta
from typing import Any

import redis
from celery import shared_task
from django.conf import settings
from django.utils.module_loading import import_string

from reactive_users.master import kicks, retention, services

logger = logging.getLogger(__name__)

#: Task names stay those of the first release, so that queued runs survive an upgrade.
RELAY_TASK = "master.users.tasks.outbox_relay"
SWEEP_TASK = "master.users.tasks.outbox_sweep"


def celery_app() -> Any:
    """The project's Celery app (REACTIVE_CELERY_APP, a dotted path to it)."""
    return import_string(settings.REACTIVE_CELERY_APP)


def _relay() -> int:
    """Publish every pending outbox row now, in runs of up to ``services.DEFAULT_LIMIT``;
    the number published. Commits from the moment it starts queue a relay of their own."""
    try:
        kicks.clear(celery_app().conf.broker_url, settings.REACTIVE.prefix)
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
outbox_relay = shared_task(name=RELAY_TASK, acks_late=True)(_relay)
outbox_sweep = shared_task(name=SWEEP_TASK, acks_late=True)(_sweep)


def enqueue_relay() -> None:
    """Enqueue one relay run unless one is queued and not started yet (``kicks.py``); if the
    broker is unreachable, log it and carry on: the save already committed, the sweep follows."""
    app = celery_app()
    url, prefix = app.conf.broker_url, settings.REACTIVE.prefix
    marked = False
    try:
        marked = kicks.mark_queued(url, prefix)
        if marked:  # else the queued run has not claimed yet: this commit's row is among its rows
            app.tasks[RELAY_TASK].apply_async(retry=False)
    except Exception as exc:  # any broker failure
        logger.warning("Could not enqueue the outbox relay (the sweep will publish): %s", exc)
        if marked:  # marked but not queued: let the next commit try again
            with contextlib.suppress(Exception):
                kicks.clear(url, prefix)
