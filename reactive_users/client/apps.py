"""The replica app: the client's copy of the master's users, and its live streams.

Its label is ``replica`` (``labels.py``); a project whose own app already has that label
subclasses ``ReplicaConfig`` with another ``label`` before its first ``migrate`` (README,
"Relabelling"): the migrations depend on the installed label, never on the literal.
"""

from __future__ import annotations

from django.apps import AppConfig

from reactive_users.client.labels import DEFAULT_LABEL


class ReplicaConfig(AppConfig):
    """Replicated users: apply events from SQS, push them to the user's sockets."""

    name = "reactive_users.client"
    label = DEFAULT_LABEL
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the receivers that end sockets whose credentials ended; register the
        checks of the field map, the field limits and the linking policy."""
        from django.core import checks

        from reactive_users.client import signals  # noqa: F401  (importing connects them)
        from reactive_users.client.checks import (
            check_field_limits,
            check_field_map,
            check_link_by,
        )

        checks.register(check_field_map)
        checks.register(check_field_limits)
        checks.register(check_link_by)
