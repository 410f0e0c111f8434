"""Which master fields this client stores, and in which of its own user model's fields.

An event's ``user`` dict carries the master's allow-listed fields by the master's names.
``REACTIVE_FIELD_MAP`` (a dict in the Django settings, or ``name=full_name,email=email`` in
the environment of the reference client) maps each master field this client stores to a
field of its own user model (whatever ``AUTH_USER_MODEL`` is). Master fields it leaves out
are ignored; the model's other fields are never written. Without it: the identity over the
stock fields (username, email, first and last name, is_active) the model has, limited to
the allow-list in ``REACTIVE_SETTINGS`` when the project defines it: the reference pair's
behaviour.

Every unique field a mapping writes (a username, a unique email) is one a replicated user
may have to wait for (``apply/uniques.py``). The model is read when asked, never at import.
"""

from __future__ import annotations

import functools
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist
from django.core.signals import setting_changed
from django.db import models
from django.dispatch import receiver

from reactive_users.client import conf

#: The fields of Django's stock user model that travel by default, in the master's order.
STOCK_FIELDS = ("username", "email", "first_name", "last_name", "is_active")


@functools.cache
def field_map() -> dict[str, str]:
    """{master field: this client's user field}, in the order values are written."""
    configured = conf.field_map_setting()
    if configured is not None:
        return dict(configured)
    concrete = {f.name for f in get_user_model()._meta.concrete_fields}
    allowed = conf.shared().user_fields if conf.has_shared() else STOCK_FIELDS
    return {name: name for name in allowed if name in STOCK_FIELDS and name in concrete}


def mapped_fields() -> tuple[str, ...]:
    """This client's user fields the mapping writes."""
    return tuple(field_map().values())


@functools.cache
def unique_fields() -> tuple[str, ...]:
    """The mapped fields whose values are unique among this client's users (text only)."""
    meta = get_user_model()._meta
    found = []
    for name in mapped_fields():
        field: Any = _field(meta, name)
        if isinstance(field, models.CharField) and field.unique:
            found.append(name)
    return tuple(found)


def master_name(local: str) -> str:
    """The master field a client field is mapped from (itself if none is)."""
    for master, mapped in field_map().items():
        if mapped == local:
            return master
    return local


def _field(meta: Any, name: str) -> Any:
    try:
        return meta.get_field(name)
    except FieldDoesNotExist:  # a mapping to a missing field: the system check names it
        return None


@receiver(setting_changed)
def _forget(*, setting: str, **kwargs: Any) -> None:
    """A test changed a setting the mapping is made of: compute it again."""
    if setting in {"REACTIVE_FIELD_MAP", "REACTIVE_SETTINGS", "AUTH_USER_MODEL"}:
        field_map.cache_clear()
        unique_fields.cache_clear()
