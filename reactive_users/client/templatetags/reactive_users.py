"""``{% load reactive_users %}{% reactive_user_fields %}``: the logged-in user's replicated
fields, kept live in the browser by ``static/reactive_users/live.js``.

An include-able fragment (no ``<html>`` of its own): it renders inside the project's own
base template, brings its stylesheet (every rule of zero specificity, so any rule of the
project's overrides it) and its script (a module: executed once however many components a
page holds). An anonymous request renders nothing.
"""

from __future__ import annotations

from typing import Any

from django import template

from reactive_users.client.component import component_for

register = template.Library()


@register.inclusion_tag("reactive_users/fields.html", takes_context=True)
def reactive_user_fields(context: template.Context, title: str = "") -> dict[str, Any]:
    """The component for ``request.user`` (``title``: an optional heading above the fields)."""
    request = context.get("request")
    user = getattr(request, "user", None) or context.get("user")
    if user is None or not user.is_authenticated:
        return {"component": None}
    return {"component": component_for(user), "title": title}
