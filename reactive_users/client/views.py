"""Pages: the logged-in user's replicated fields, kept live by ``static/replica/me.js``.

Also ``stream_token``: the short-lived token a script or an app opens its stream with.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reactive_users.client import conf, tokens
from reactive_users.client.selectors import (
    replica_state_for_user,
    replicated_fields,
    token_generation,
)
from reactive_users.core.contract import FieldValue


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


# No CSRF token needed: issuing changes nothing, a cross-site page cannot read the answer
# (no CORS) and the Lax session cookie is not sent on a cross-site POST; scripts send none.
@csrf_exempt
@never_cache
@require_POST
def stream_token(request: HttpRequest) -> JsonResponse:
    """``POST /api/stream-token/``: a token opening the logged-in user's own stream.

    Anonymous: 403 JSON (not a redirect to the login page: the caller is a program).
    """
    user = request.user
    if not user.is_authenticated:
        detail = "log in first: this endpoint needs the session cookie of a logged-in user"
        return JsonResponse({"error": "not_authenticated", "detail": detail}, status=403)
    token = tokens.issue(
        user_id=user.pk,
        stamp=tokens.credential_stamp(user),
        generation=token_generation(user_id=user.pk),
        secret=settings.SECRET_KEY,
        client=conf.client_name(),
    )
    stream = f"/ws/users/{quote(user.get_username(), safe='')}/"
    return JsonResponse({"token": token, "expires_in": conf.ws_token_seconds(), "stream": stream})


def label(name: str) -> str:
    """A field's human name, as Django's admin shows it ("first name", "email address")."""
    try:
        field = get_user_model()._meta.get_field(name)
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
