"""The master side of a workload: changes made as an application makes them, and reads.

Every write is one ``transaction.atomic()`` around ``save()``/``delete()`` (what a request
does with ATOMIC_REQUESTS), so the user row and its outbox row commit together; inside a
``bulk()`` block the writes share its transaction (an admin bulk action, an import) and add
no savepoint. Users get no
password: hashing one (PBKDF2, ~0.3 s) would measure Django, not the pipeline.
Django is imported inside each function: this module is imported before Django is set up.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


def create(username: str, **fields: Any) -> int:
    """Create a user (unusable password) in its own transaction; its master id."""
    from django.contrib.auth.models import User
    from django.db import transaction

    with transaction.atomic(savepoint=False):
        user = User(username=username, **fields)
        user.set_unusable_password()
        user.save()
    return int(user.pk)


def update(user_id: int, **fields: Any) -> None:
    """Load a user, change ``fields`` and save, in one transaction (as a view would)."""
    from django.contrib.auth.models import User
    from django.db import transaction

    with transaction.atomic(savepoint=False):
        user = User.objects.get(pk=user_id)
        for name, value in fields.items():
            setattr(user, name, value)
        user.save()


def delete(user_id: int) -> None:
    """Delete a user in one transaction."""
    from django.contrib.auth.models import User
    from django.db import transaction

    with transaction.atomic(savepoint=False):
        User.objects.get(pk=user_id).delete()


def bulk() -> Any:
    """One transaction around several writes (a context manager)."""
    from django.db import transaction

    return transaction.atomic()


def versions(user_ids: list[int]) -> dict[int, int]:
    """The latest version the master gave each user's events."""
    from reactive_users.master.models import UserVersion

    rows = UserVersion.objects.filter(user_id__in=user_ids).values_list("user_id", "version")
    return {int(u): int(v) for u, v in rows}


def outbox_pending() -> int:
    """Outbox rows not yet published."""
    from reactive_users.master.models import OutboxEvent

    return OutboxEvent.objects.filter(sent_at__isnull=True).count()


def outbox_times(
    user_ids: list[int], min_version: int = 0
) -> dict[tuple[int, int], tuple[float | None, float | None]]:
    """(user, version) -> (created_at, sent_at) as epoch seconds, for the users' events."""
    from reactive_users.master.models import OutboxEvent

    rows = OutboxEvent.objects.filter(user_id__in=user_ids, version__gte=min_version)
    return {
        (int(u), int(v)): (_epoch(c), _epoch(s))
        for u, v, c, s in rows.values_list("user_id", "version", "created_at", "sent_at")
    }


def _epoch(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def close_connection() -> None:
    """Close this thread's database connection (threads other than the main one)."""
    from django.db import connection

    connection.close()
