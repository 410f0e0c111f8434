"""Pages: the logged-in user's replicated fields, kept live by ``static/replica/me.js``."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from client import conf
from client.replica.selectors import replica_state_for_user, replicated_fields
from reactive_cli.contract import FieldValue


@login_required
def me(request: HttpRequest) -> HttpResponse:
    """The user's replicated fields (escaped by the template) and the live connection state."""
    user = request.user
    assert user.is_authenticated  # login_required; narrows the type
    state = replica_state_for_user(user=user)
    values = state.user if state is not None else replicated_fields(user)
    context = {
        "fields": [(name, label(name), show(value)) for name, value in values.items()],
        "client_name": conf.client_name(),
        "version": state.version if state is not None else 0,
        "replicated": state is not None,
    }
    return render(request, "replica/me.html", context)


def label(name: str) -> str:
    """A field's human name, as Django's admin shows it ("first name", "email address")."""
    try:
        field = User._meta.get_field(name)
    except FieldDoesNotExist:
        field = None
    verbose = getattr(field, "verbose_name", None) or name.replace("_", " ")
    return str(verbose).capitalize()


def show(value: FieldValue) -> str:
    """A field value as text, exactly as me.js shows it (booleans as true/false)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
