"""Thin Celery tasks: the relay (enqueued after commits, coalesced by ``relay/kicks.py``)
and the sweep (Celery beat). The tasks are shared tasks: they join whichever Celery app the
project runs, and the project names its app in REACTIVE_CELERY_APP (``master.celery.app`` in
the reference project), loaded on first use so that the library never imports a project.

Both only call the relay: ``relay.publish.outbox_publish_pending``, and for the sweep also
``retention.outbox_purge_sent`` (sent rows past their retention). Celery is untyped, so it
stays here, in ``relay/kicks.py`` (sending the relay task) and in the project's Celery
module.
"""

from __future__ import annotations

import logging

import redis
from celery import shared_task

from reactive_users.master import conf, retention
from reactive_users.master.relay import kicks
from reactive_users.master.relay.publish import outbox_publish_pending

logger = logging.getLogger(__name__)

#: Task names stay those of the first release, so that queued runs survive an upgrade.
RELAY_TASK = kicks.RELAY_TASK
SWEEP_TASK = kicks.SWEEP_TASK


def _relay() -> int:
    """Publish every pending outbox row now, in runs of up to ``publish.DEFAULT_LIMIT``;
    the number published. Commits from the moment it starts queue a relay of their own."""
    try:
        kicks.clear(conf.celery_app().conf.broker_url, conf.reactive_settings().prefix)
    except redis.RedisError as exc:  # the mark expires by itself; kicks resume after that
        logger.warning("Could not clear the relay's queued mark: %s", exc)
    published = 0
    while True:
        report = outbox_publish_pending()
        published += report.published
        if not report.full or not report.published:
            return published  # nothing due left behind, or SNS is failing: back off


def _sweep() -> int:
    """Publish rows pending longer than REACTIVE_OUTBOX_MIN_AGE_SECONDS (lost kicks, failures),
    then delete sent rows past REACTIVE_OUTBOX_RETENTION_SECONDS for up to a second; the
    number published."""
    published = outbox_publish_pending(min_age=conf.outbox_min_age()).published
    retention.outbox_purge_sent(budget_seconds=retention.SWEEP_BUDGET_SECONDS)
    return published


# acks_late: a relay that dies mid-run is redelivered; the outbox makes a rerun harmless.
outbox_relay = shared_task(name=RELAY_TASK, acks_late=True)(_relay)
outbox_sweep = shared_task(name=SWEEP_TASK, acks_late=True)(_sweep)
