"""System checks: REACTIVE_FIELD_MAX_LENGTHS may only narrow replicated text fields."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error
from django.db import models

from reactive_users.client import conf
from reactive_users.client.limits import NEVER_CUT
from reactive_users.client.selectors import replicated_field_names


def check_field_limits(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a limit on a field that is not a replicated text field of the user model
    (a typo would otherwise leave the field unlimited, silently)."""
    user_model = get_user_model()
    text = {
        name
        for name in replicated_field_names()
        if isinstance(user_model._meta.get_field(name), models.CharField)
    }
    allowed = text - NEVER_CUT
    return [
        Error(
            f"REACTIVE_FIELD_MAX_LENGTHS names {name!r}: "
            + ("it is never cut" if name in NEVER_CUT else "not a replicated text field"),
            hint=f"Use some of: {', '.join(sorted(allowed)) or 'none'}.",
            id="replica.E001",
        )
        for name in conf.field_max_lengths()
        if name not in allowed
    ]
