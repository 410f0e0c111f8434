"""The relay's Prometheus metrics (names defined in ``reactive_users.core.metrics``).

Counted wherever the relay runs; served by the Celery worker (``master/celery.py``) on
``REACTIVE_METRICS_PORT`` when it is set. The outbox gauges are read from the database at
scrape time, with the query ``reactive status`` uses.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import connections
from django.utils import timezone
from prometheus_client import CollectorRegistry

from reactive_users.core import metrics
from reactive_users.core.settings import Settings
from reactive_users.master import selectors

logger = logging.getLogger(__name__)


def _read_outbox() -> metrics.OutboxReading:
    """The outbox reading, from the scraping thread's own connection (closed after)."""
    try:
        return selectors.outbox_backlog(now=timezone.now())
    finally:
        connections.close_all()  # only this thread's connections


#: This process's registry: the relay counters and the outbox gauges.
REGISTRY = CollectorRegistry()
RELAY = metrics.RelayMetrics(REGISTRY, outbox=_read_outbox)


def serve_if_configured(settings: Settings) -> Any:
    """Serve the registry when ``REACTIVE_METRICS_PORT`` is set; the server, or None."""
    if settings.metrics_port is None:
        return None
    return metrics.serve(REGISTRY, port=settings.metrics_port, addr=settings.metrics_addr)
