"""The ``users`` app: connects the User signals that record changes in the outbox."""

from __future__ import annotations

from django.apps import AppConfig


class UsersConfig(AppConfig):
    """Outbox and versions of the master's users (``django.contrib.auth``'s User)."""

    name = "reactive_users.master"
    label = "users"
    verbose_name = "User events"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from reactive_users.master import signals
        from reactive_users.master.checks import check_user_fields

        checks.register(check_user_fields)
        signals.connect()
