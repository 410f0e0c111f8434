"""System checks: the field map (REACTIVE_FIELD_MAP) must write fields this project's user
model has and that can hold the master's values; REACTIVE_FIELD_MAX_LENGTHS may only narrow
replicated text fields. Each error names the field and the fix."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.checks import CheckMessage, Error, Warning
from django.core.exceptions import FieldDoesNotExist
from django.db import models

from reactive_users.client import conf, fieldmap
from reactive_users.client.limits import NEVER_CUT

#: The types of the stock master fields; any other master field may be text, a boolean,
#: a number or a date (``reactive_users/master``'s allow-list), so it is only required to
#: land in a field that holds such a value.
STOCK_KINDS = {
    "username": "text",
    "email": "text",
    "first_name": "text",
    "last_name": "text",
    "is_active": "boolean",
}
#: The model fields each kind of value can be stored in.
_HOLDS: dict[str, tuple[type[models.Field[Any, Any]], ...]] = {
    "text": (models.CharField, models.TextField),
    "boolean": (models.BooleanField,),
}
#: The fields any value that travels can be stored in (a foreign key travels as its id).
_SCALAR = (
    models.CharField,
    models.TextField,
    models.BooleanField,
    models.IntegerField,
    models.DateField,
    models.TimeField,
    models.ForeignKey,
)
_FIX = "fix REACTIVE_FIELD_MAP (master field -> a field of {model})"


def check_field_map(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a mapping to a missing field, to one that cannot hold the value, two master
    fields into one, and a mapping that leaves the model's required login field unwritten
    (a replicated user would be created without it)."""
    model = get_user_model()
    label = model._meta.label
    errors: list[CheckMessage] = []
    seen: dict[str, str] = {}
    for master, local in fieldmap.field_map().items():
        error = _mapping_error(model, master, local)
        if error is None and local in seen:
            error = ("E104", f"master fields {seen[local]!r} and {master!r} both map to {local!r}")
        seen.setdefault(local, master)
        if error is not None:
            code, why = error
            errors.append(
                Error(f"REACTIVE_FIELD_MAP: {why}", hint=_FIX.format(model=label), id=_id(code))
            )
    login = model.USERNAME_FIELD
    if login not in seen and not _field_blank(model, login):
        errors.append(
            Error(
                f"REACTIVE_FIELD_MAP writes no {login!r}, {label}'s USERNAME_FIELD, and it is "
                "required: replicated users could not be created",
                hint=f"map the master field that carries it, e.g. {{'email': {login!r}}}",
                id=_id("E103"),
            )
        )
    return errors


def _mapping_error(model: Any, master: str, local: str) -> tuple[str, str] | None:
    label = model._meta.label
    try:
        field = model._meta.get_field(local)
    except FieldDoesNotExist:
        return "E101", f"{master!r} maps to {local!r}, which {label} does not have"
    if not getattr(field, "concrete", False) or field.many_to_many or field.one_to_many:
        return "E102", f"{master!r} maps to {local!r}, which is not a column of {label}"
    kind = STOCK_KINDS.get(master)
    holds = _HOLDS[kind] if kind is not None else _SCALAR
    if not isinstance(field, holds):
        what = f"a {kind} value" if kind is not None else "a plain value"
        type_name = type(field).__name__
        return "E102", f"{master!r} maps to {local!r}, a {type_name}, which cannot hold {what}"
    return None


def _field_blank(model: Any, name: str) -> bool:
    try:
        return bool(model._meta.get_field(name).blank)
    except FieldDoesNotExist:
        return False


def _id(code: str) -> str:
    return f"reactive_users.{code}"


def check_field_limits(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a limit on a field that is not a replicated text field of the user model
    (a typo would otherwise leave the field unlimited, silently); unique fields are never cut."""
    meta = get_user_model()._meta
    text = set()
    for name in fieldmap.mapped_fields():
        try:
            if isinstance(meta.get_field(name), models.CharField):
                text.add(name)
        except FieldDoesNotExist:  # check_field_map names it
            continue
    never = NEVER_CUT | set(fieldmap.unique_fields())
    allowed = text - never
    return [
        Error(
            f"REACTIVE_FIELD_MAX_LENGTHS names {name!r}: "
            + ("it is never cut" if name in never else "not a replicated text field"),
            hint=f"Use some of: {', '.join(sorted(allowed)) or 'none'}.",
            id="replica.E001",
        )
        for name in conf.field_max_lengths()
        if name not in allowed
    ]


def check_link_by(**kwargs: Any) -> list[CheckMessage]:
    """Refuse a REACTIVE_LINK_BY that is not a unique field of the user model the map writes:
    a link must find one local user, and the field must be the one the master's value lands in.
    REACTIVE_LINK_PRIVILEGED (default False) must be a boolean; True, which lets a link reach
    a local staff, superuser or user with permissions, is warned about (W105)."""
    name = conf.link_by()
    privileged = getattr(settings, "REACTIVE_LINK_PRIVILEGED", False)
    if not isinstance(privileged, bool):
        return [
            Error(
                f"REACTIVE_LINK_PRIVILEGED must be True or False, not {privileged!r}",
                hint="leave it unset (False): privileged local users are then linked by hand",
                id=_id("E106"),
            )
        ]
    if name is None:
        return []
    if privileged:
        return [
            Warning(
                "REACTIVE_LINK_PRIVILEGED = True: REACTIVE_LINK_BY may link a master user to a "
                "local staff, superuser or user with permissions, so whoever registers that "
                f"{name} on the master takes over the account",
                hint="leave it unset unless the master verifies every "
                f"{name} and its staff is this client's; link such users by hand instead",
                id=_id("W105"),
            ),
            *_link_by_errors(name),
        ]
    return _link_by_errors(name)


def _link_by_errors(name: str) -> list[CheckMessage]:
    model = get_user_model()
    field = _field_or_none(model, name)
    if field is None:
        why = "not a field of"
    elif not getattr(field, "unique", False):
        why = "not a unique field of"
    elif name not in fieldmap.mapped_fields():
        why = "a field REACTIVE_FIELD_MAP does not write, of"
    else:
        return []
    return [
        Error(
            f"REACTIVE_LINK_BY names {name!r}, {why} {model._meta.label}",
            hint="name a unique field of the user model that REACTIVE_FIELD_MAP writes "
            "(e.g. 'email'), or leave REACTIVE_LINK_BY unset",
            id=_id("E105"),
        )
    ]


def _field_or_none(model: Any, name: str) -> Any:
    try:
        return model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
