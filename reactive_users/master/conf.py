"""The master app's settings, read from Django's settings on every call (tests and
``override_settings`` change them at run time).

``REACTIVE`` is the shared ``reactive_users.core.settings.Settings`` (topic, prefix, AWS,
published fields); the others are the master's own, named ``REACTIVE_*`` in the project's
settings module (``master/settings.py`` documents each).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from reactive_users.core.settings import Settings


def reactive_settings() -> Settings:
    """The shared settings the master publishes with: ``settings.REACTIVE``."""
    return django_settings.REACTIVE


def publish_staff() -> bool:
    """REACTIVE_PUBLISH_STAFF: whether staff and superusers are published like any user."""
    return bool(django_settings.REACTIVE_PUBLISH_STAFF)


def relay_mode() -> str:
    """REACTIVE_RELAY: who publishes a commit's events, "thread" or "celery"."""
    return str(django_settings.REACTIVE_RELAY)


def relay_max_queue_depth() -> int:
    """REACTIVE_RELAY_MAX_QUEUE_DEPTH: the depth pacing holds a client queue at (0: off)."""
    return int(django_settings.REACTIVE_RELAY_MAX_QUEUE_DEPTH)


def outbox_min_age() -> timedelta:
    """REACTIVE_OUTBOX_MIN_AGE_SECONDS: how old a pending row is before the sweep takes it."""
    return timedelta(seconds=django_settings.REACTIVE_OUTBOX_MIN_AGE_SECONDS)


def outbox_retention() -> timedelta:
    """REACTIVE_OUTBOX_RETENTION_SECONDS: how long a sent row is kept."""
    return timedelta(seconds=float(django_settings.REACTIVE_OUTBOX_RETENTION_SECONDS))


def celery_app() -> Any:
    """The project's Celery app (REACTIVE_CELERY_APP, a dotted path to it), loaded on first
    use so that the library never imports a project."""
    return import_string(django_settings.REACTIVE_CELERY_APP)
