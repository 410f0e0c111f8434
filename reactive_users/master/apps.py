"""The ``users`` app: connects the signals of the project's user model (``AUTH_USER_MODEL``)
that record changes in the outbox, and registers the checks of what it publishes."""

from __future__ import annotations

from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Outbox and versions of the master's users (whatever model ``AUTH_USER_MODEL`` names)."""

    name = "reactive_users.master"
    label = "users"
    verbose_name = "User events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from reactive_users.master import signals
        from reactive_users.master.checks import check_settings, check_user_fields

        checks.register(check_user_fields)
        checks.register(check_settings)
        signals.connect()
