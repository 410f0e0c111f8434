"""System checks: the allow-list of published fields must name plain fields of ``auth.User``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.checks import CheckMessage, Error

from reactive_users.master.conf import reactive_settings

#: Fields of auth.User that never leave the master, whatever the allow-list says.
NEVER_PUBLISHED = frozenset({"id", "password", "last_login", "is_staff", "is_superuser"})


def check_user_fields(**kwargs: Any) -> list[CheckMessage]:
    """Refuse allow-listed user fields that ``auth.User`` does not have as plain columns."""
    plain = {f.name for f in User._meta.concrete_fields if not f.is_relation}
    allowed = sorted(plain - NEVER_PUBLISHED)
    return [
        Error(
            f"REACTIVE_USER_FIELDS names {name!r}: not a publishable field of auth.User",
            hint=f"Use some of: {', '.join(allowed)}.",
            id="users.E001",
        )
        for name in reactive_settings().user_fields
        if name not in plain or name in NEVER_PUBLISHED
    ]
