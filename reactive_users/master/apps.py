"""The master app: connects the signals of the project's user model (``AUTH_USER_MODEL``)
that record changes in the outbox, and registers the checks of what it publishes.

Its label is ``reactive_master`` (``labels.py``), so that it never clashes with a project's
own ``users`` app. A project that needs another label subclasses ``ReactiveMasterConfig``
with its own ``label`` and names that subclass in ``INSTALLED_APPS`` (README, "Relabelling").
"""

from __future__ import annotations

from django.apps import AppConfig

from reactive_users.master.labels import DEFAULT_LABEL


class ReactiveMasterConfig(AppConfig):
    """Outbox and versions of the master's users (whatever model ``AUTH_USER_MODEL`` names)."""

    name = "reactive_users.master"
    label = DEFAULT_LABEL
    verbose_name = "User events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from reactive_users.master import signals
        from reactive_users.master.checks import (
            check_legacy_label,
            check_settings,
            check_user_fields,
        )

        checks.register(check_user_fields)
        checks.register(check_settings)
        checks.register(check_legacy_label, checks.Tags.database)
        signals.connect()
