"""Changes made in the master the way an application would: through the ORM and save().

Django is imported inside each function: this module is imported before Django is set up.
"""

from __future__ import annotations

from typing import Any


def create_user(
    username: str, *, password: str | None = "master-secret-password", **fields: Any
) -> int:
    """Create a master user (``password=None``: unusable, skips hashing); return its master id."""
    from django.contrib.auth.models import User

    user = User(username=username, **fields)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    user.save()
    return int(user.pk)


def update_user(user_id: int, **fields: Any) -> None:
    """Load a master user, change ``fields`` and save it, as a view would."""
    from django.contrib.auth.models import User

    user = User.objects.get(pk=user_id)
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()


def delete_user(user_id: int) -> None:
    """Delete a master user."""
    from django.contrib.auth.models import User

    User.objects.get(pk=user_id).delete()


def outbox_bodies(user_id: int) -> list[str]:
    """The bodies the master's outbox holds for a user, oldest first."""
    from reactive_users.master.models import OutboxEvent

    rows = OutboxEvent.objects.filter(user_id=user_id).order_by("id")
    return list(rows.values_list("body", flat=True))
