"""Thin Celery tasks: the relay (enqueued after each commit) and the sweep (Celery beat).

Both only call ``services.outbox_publish_pending``. Celery is untyped, so it stays here and
in ``master/celery.py``.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings

from master.celery import app
from master.users import services

logger = logging.getLogger(__name__)


def _relay() -> int:
    """Publish every pending outbox row now; the number published."""
    return services.outbox_publish_pending().published


def _sweep() -> int:
    """Publish rows pending longer than REACTIVE_OUTBOX_MIN_AGE_SECONDS (lost kicks, failures)."""
    min_age = timedelta(seconds=settings.REACTIVE_OUTBOX_MIN_AGE_SECONDS)
    return services.outbox_publish_pending(min_age=min_age).published


# acks_late: a relay that dies mid-run is redelivered; the outbox makes a rerun harmless.
outbox_relay = app.task(name="master.users.tasks.outbox_relay", acks_late=True)(_relay)
outbox_sweep = app.task(name="master.users.tasks.outbox_sweep", acks_late=True)(_sweep)


def enqueue_relay() -> None:
    """Enqueue one relay run; if the broker is unreachable, log it and carry on."""
    try:
        outbox_relay.apply_async(retry=False)
    except Exception as exc:  # any broker failure: the save already committed, the sweep follows
        logger.warning("Could not enqueue the outbox relay (the sweep will publish): %s", exc)
