"""The master's Celery app: ``celery -A master.celery worker`` and ``celery -A master.celery beat``.

Configured from Django settings (namespace ``CELERY``); tasks are found in each app's
``tasks.py``. Celery is untyped, so its use stays here and in ``reactive_users/master/tasks.py``.
"""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "master.settings")

app = Celery("master")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def _keep_django_logging(**kwargs: Any) -> None:
    """Leave logging as Django's LOGGING set it (stderr, REACTIVE_LOG_LEVEL)."""


# A receiver on setup_logging stops Celery from replacing Django's logging configuration.
setup_logging.connect(_keep_django_logging, weak=False)


def _serve_metrics(**kwargs: Any) -> None:
    """Serve the relay's Prometheus metrics once the worker is up (REACTIVE_METRICS_PORT)."""
    from django.conf import settings

    from reactive_users.master.metrics import serve_if_configured

    serve_if_configured(settings.REACTIVE)


worker_ready.connect(_serve_metrics, weak=False)
