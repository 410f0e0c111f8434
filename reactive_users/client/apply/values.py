"""An event's payload as this client stores it: replicated fields only, checked and fitted."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from reactive_users.client import conf, fieldmap, limits
from reactive_users.core.contract import Envelope, FieldValue
from reactive_users.core.errors import ApplyError


def writable_values(event: Envelope) -> tuple[dict[str, FieldValue], dict[str, int]]:
    """The payload's values of the mapped master fields, by this client's user fields
    (``fieldmap.py``), checked against them and fitted to this client's limits
    (``limits.py``); and the fields stored cut, with the limit each was cut to."""
    values: dict[str, FieldValue] = {}
    truncated: dict[str, int] = {}
    configured, policy = conf.field_max_lengths(), conf.oversize_policy()
    meta, uniques = get_user_model()._meta, fieldmap.unique_fields()
    for master, name in fieldmap.field_map().items():
        if master in event.user:
            field = meta.get_field(name)
            limit = limits.limit_of(getattr(field, "max_length", None), configured.get(name))
            fitted = _coerce(field, event.user[master], event, limit, policy, name in uniques)
            values[name], cut = fitted
            if cut and limit is not None:
                truncated[name] = limit
    return values, truncated


def _coerce(
    field: Any,
    value: FieldValue,
    event: Envelope,
    limit: int | None,
    policy: limits.Policy,
    unique: bool,
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
        fitted = limits.fit(field.name, text, limit, policy, never_cut=unique)
        if fitted.refused:
            raise ApplyError(
                f"event {event.event_id}: master user {event.user_id}: {fitted.refused}"
            )
        return fitted.value, fitted.cut
    return value, False
