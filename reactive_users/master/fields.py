"""The project's user model and the fields of it that travel: the one place the master app
asks which model ``AUTH_USER_MODEL`` names and what it publishes.

The allow-list is ``REACTIVE_USER_FIELDS`` (``settings.REACTIVE.user_fields``). Left unset
it is the stock list (``DEFAULT_USER_FIELDS``) on Django's own ``auth.User``, so the
reference pair's wire format never changes; on any other model it is the login field
(``USERNAME_FIELD``), the email field (``EMAIL_FIELD``, if the model has it) and
``is_active`` (if it has it). "Unset" is the very ``DEFAULT_USER_FIELDS`` object that
``reactive_users.core.settings`` gives when the variable is empty; a list that is written
out, even the stock one, is taken as written and checked (``checks.py``).

A field travels when it is a concrete column of one of the kinds in ``TRAVELLING``, or a
foreign key (its id travels, under the field's name). Its value on the wire is
``changes.field_value``'s.
"""

from __future__ import annotations

import functools
import re

from django.contrib.auth import get_user_model
from django.db import models

from reactive_users.core.contract import DEFAULT_USER_FIELDS
from reactive_users.master import changes, conf

#: Column kinds whose values travel as JSON text, numbers, booleans or ISO dates. Subclasses
#: count (EmailField is a CharField, PositiveIntegerField an IntegerField); a field with
#: ``choices`` travels as its stored value.
TRAVELLING: tuple[type[models.Field], ...] = (  # type: ignore[type-arg]
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.DateField,  # DateTimeField is a DateField
)

#: Names that look like secrets: never published, whatever the allow-list says.
SECRET_NAME = re.compile(r"password|token|secret|key", re.IGNORECASE)


def user_model() -> type[models.Model]:
    """The project's user model (``AUTH_USER_MODEL``)."""
    return get_user_model()


def is_stock(model: type[models.Model]) -> bool:
    """Whether ``model`` is Django's own ``auth.User`` (not a subclass or a swap)."""
    return model._meta.label == "auth.User"


def login_field(model: type[models.Model]) -> str:
    """The name of the field users log in with (``USERNAME_FIELD``)."""
    return str(getattr(model, "USERNAME_FIELD", "username"))


def default_fields(model: type[models.Model]) -> tuple[str, ...]:
    """What travels when REACTIVE_USER_FIELDS is unset (see the module docstring)."""
    if is_stock(model):
        return DEFAULT_USER_FIELDS
    names = {f.name for f in model._meta.concrete_fields}
    wanted = [login_field(model)]
    email = getattr(model, "EMAIL_FIELD", None)
    if email and email in names:
        wanted.append(str(email))
    if "is_active" in names:
        wanted.append("is_active")
    return tuple(dict.fromkeys(wanted))


@functools.lru_cache(maxsize=16)
def _resolved(unset: bool, given: tuple[str, ...], model: type[models.Model]) -> tuple[str, ...]:
    return default_fields(model) if unset else given


def published_fields() -> tuple[str, ...]:
    """The allow-list in force: what every envelope's ``user`` carries (read per call, so
    ``override_settings`` applies; resolved once per setting and model)."""
    given = conf.reactive_settings().user_fields
    return _resolved(given is DEFAULT_USER_FIELDS, given, user_model())


def cannot_travel(field: models.Field | models.ForeignObjectRel) -> str | None:  # type: ignore[type-arg]
    """Why ``field`` cannot travel (a phrase), or None when it can."""
    if field.many_to_many or field.one_to_many or not field.concrete:
        return "a relation to many rows"
    if field.is_relation:
        return None  # a foreign key or one-to-one: its id travels
    if isinstance(field, models.BinaryField | models.JSONField):
        return f"a {type(field).__name__}, which has no plain wire value"
    if isinstance(field, TRAVELLING):
        return None
    return f"a {type(field).__name__}; text, email, boolean, integer and date fields travel"


def published_columns() -> dict[str, str]:
    """Each published field and the instance attribute its value is read from:
    ``<name>_id`` for a foreign key (its id travels under the field's name), else the
    field's own name."""
    return dict(_columns(published_fields(), user_model()))


@functools.lru_cache(maxsize=16)
def _columns(names: tuple[str, ...], model: type[models.Model]) -> tuple[tuple[str, str], ...]:
    found = {f.name: f.attname for f in model._meta.concrete_fields}
    return tuple((name, found.get(name, name)) for name in names)


def privilege_fields(model: type[models.Model]) -> tuple[str, ...]:
    """The privilege flags (``changes.PRIVILEGE_FIELDS``) this model has as columns; none on
    a model without ``is_staff``/``is_superuser`` (then nobody is excluded by default)."""
    names = {f.name for f in model._meta.concrete_fields}
    return tuple(name for name in changes.PRIVILEGE_FIELDS if name in names)
