"""The master app's settings, read from Django's settings on every call (tests and
``override_settings`` change them at run time).

``REACTIVE`` is the shared ``reactive_users.core.settings.Settings`` (topic, prefix, AWS,
published fields); the others are the master's own, named ``REACTIVE_*`` in the project's
settings module (``master/settings.py`` documents each). A project that defines none of
them gets the defaults below, and ``REACTIVE`` read from the environment
(``reactive_users.core.settings.get_settings``); only REACTIVE_CELERY_APP has no default,
and is needed only with REACTIVE_RELAY="celery" (``checks.py`` says so at startup).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings as django_settings
from django.utils.module_loading import import_string

from reactive_users.core.settings import Settings, get_settings


def reactive_settings() -> Settings:
    """The shared settings the master publishes with: ``settings.REACTIVE``, else the
    environment's."""
    found: Settings | None = getattr(django_settings, "REACTIVE", None)
    return get_settings() if found is None else found


def publish_staff() -> bool:
    """REACTIVE_PUBLISH_STAFF: whether staff and superusers are published like any user."""
    return bool(getattr(django_settings, "REACTIVE_PUBLISH_STAFF", False))


def exclude_rule() -> Callable[[object], bool] | None:
    """REACTIVE_EXCLUDE_USER: the dotted path of the project's own exclusion rule (a callable
    taking a user, True for one clients must not hold); None: staff and superusers
    (``changes.excluded_by_privileges``)."""
    path = getattr(django_settings, "REACTIVE_EXCLUDE_USER", None)
    if not path:
        return None
    rule: Callable[[object], bool] = import_string(path)
    return rule


def relay_mode() -> str:
    """REACTIVE_RELAY: who publishes a commit's events, "thread" or "celery"."""
    return str(getattr(django_settings, "REACTIVE_RELAY", "thread"))


def relay_max_queue_depth() -> int:
    """REACTIVE_RELAY_MAX_QUEUE_DEPTH: the depth pacing holds a client queue at (0: off)."""
    return int(getattr(django_settings, "REACTIVE_RELAY_MAX_QUEUE_DEPTH", 0))


#: Default and bounds of REACTIVE_PUBLISH_BATCH_BYTES: a multi-event message's byte budget,
#: well inside SNS's 256 KiB for one message and for one PublishBatch call.
DEFAULT_PUBLISH_BATCH_BYTES = 64 * 1024
MIN_PUBLISH_BATCH_BYTES = 16 * 1024
MAX_PUBLISH_BATCH_BYTES = 200 * 1024


def publish_batch() -> bool:
    """REACTIVE_PUBLISH_BATCH: whether the relay packs pending events into multi-event
    messages (off by default: clients must all read them first)."""
    value = getattr(django_settings, "REACTIVE_PUBLISH_BATCH", False)
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def publish_batch_bytes() -> int:
    """REACTIVE_PUBLISH_BATCH_BYTES: the byte budget of one multi-event message, kept
    within MIN_PUBLISH_BATCH_BYTES..MAX_PUBLISH_BATCH_BYTES."""
    value = int(
        getattr(django_settings, "REACTIVE_PUBLISH_BATCH_BYTES", DEFAULT_PUBLISH_BATCH_BYTES)
    )
    return max(MIN_PUBLISH_BATCH_BYTES, min(MAX_PUBLISH_BATCH_BYTES, value))


def outbox_min_age() -> timedelta:
    """REACTIVE_OUTBOX_MIN_AGE_SECONDS: how old a pending row is before the sweep takes it."""
    return timedelta(seconds=float(getattr(django_settings, "REACTIVE_OUTBOX_MIN_AGE_SECONDS", 2)))


def outbox_retention() -> timedelta:
    """REACTIVE_OUTBOX_RETENTION_SECONDS: how long a sent row is kept."""
    seconds = getattr(django_settings, "REACTIVE_OUTBOX_RETENTION_SECONDS", 7 * 24 * 3600)
    return timedelta(seconds=float(seconds))


def celery_app() -> Any:
    """The project's Celery app (REACTIVE_CELERY_APP, a dotted path to it), loaded on first
    use so that the library never imports a project."""
    return import_string(django_settings.REACTIVE_CELERY_APP)
