"""Template context of the reference client's own pages: the site's name (the client's)."""

from __future__ import annotations

from django.http import HttpRequest

from reactive_users.client import conf


def site(request: HttpRequest) -> dict[str, str]:
    """``site_name`` for the base template's header and title."""
    return {"site_name": conf.client_name()}
