"""The live component's data: the logged-in user's replicated fields under this project's
own labels, the version they are at, and the stream the page opens (``templatetags``).

Values are shown as text, the same way here and in ``static/reactive_users/live.js``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.core.exceptions import FieldDoesNotExist

from reactive_users.client import routing
from reactive_users.client.selectors import replica_state_for_user, replicated_fields
from reactive_users.core.contract import FieldValue

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser as User


@dataclass(frozen=True)
class Field:
    """One replicated field as the component shows it."""

    #: This project's user field ("full_name"), as the frames name it.
    name: str
    #: Its verbose name, capitalised as Django's admin shows it ("Full name").
    label: str
    value: str


@dataclass(frozen=True)
class Component:
    """What the template renders for one user."""

    fields: tuple[Field, ...]
    version: int
    #: A live replicated user: the page opens the stream. Else it shows the local values.
    replicated: bool
    #: The site-relative path of the user's own stream, under REACTIVE_WS_PREFIX.
    stream: str


def component_for(user: User) -> Component:
    """The component of the logged-in ``user``."""
    state = replica_state_for_user(user=user)
    values = state.user if state is not None else replicated_fields(user)
    return Component(
        fields=tuple(Field(name, label(name), show(value)) for name, value in values.items()),
        version=state.version if state is not None else 0,
        replicated=state is not None,
        stream=routing.me_stream_path(),
    )


def label(name: str) -> str:
    """A field's human name in this project ("Full name", "Email address")."""
    try:
        field = get_user_model()._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    verbose = getattr(field, "verbose_name", None) or name.replace("_", " ")
    text = str(verbose)
    return text[:1].upper() + text[1:]


def show(value: FieldValue) -> str:
    """A field value as text, exactly as live.js shows it (booleans as Yes/No)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)
