"""An event's payload as this client stores it: replicated fields only, checked and fitted."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import models

from reactive_users.client import conf, limits
from reactive_users.client.selectors import replicated_field_names
from reactive_users.core.contract import Envelope, FieldValue
from reactive_users.core.errors import ApplyError


def writable_values(event: Envelope) -> tuple[dict[str, FieldValue], dict[str, int]]:
    """The payload's values for replicated fields that exist on User, checked against it
    and fitted to this client's limits (``limits.py``); and the fields stored cut, with the
    limit each was cut to."""
    values: dict[str, FieldValue] = {}
    truncated: dict[str, int] = {}
    configured, policy = conf.field_max_lengths(), conf.oversize_policy()
    for name in replicated_field_names():
        if name in event.user:
            field = User._meta.get_field(name)
            limit = limits.limit_of(getattr(field, "max_length", None), configured.get(name))
            values[name], cut = _coerce(field, event.user[name], event, limit, policy)
            if cut and limit is not None:
                truncated[name] = limit
    return values, truncated


def _coerce(
    field: Any, value: FieldValue, event: Envelope, limit: int | None, policy: limits.Policy
) -> tuple[FieldValue, bool]:
    """The value as this client stores it, and whether it was cut to ``limit``;
    ``ApplyError`` if it cannot be stored."""
    if isinstance(field, models.BooleanField):
        if not isinstance(value, bool):
            raise ApplyError(f"event {event.event_id}: {field.name} must be a boolean")
        return value, False
    if isinstance(field, models.CharField):
        text = "" if value is None else value
        if not isinstance(text, str):
            raise ApplyError(f"event {event.event_id}: {field.name} must be text")
        fitted = limits.fit(field.name, text, limit, policy)
        if fitted.refused:
            raise ApplyError(
                f"event {event.event_id}: master user {event.user_id}: {fitted.refused}"
            )
        return fitted.value, fitted.cut
    return value, False
