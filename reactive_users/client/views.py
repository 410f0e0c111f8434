"""Pages: the logged-in user's replicated fields, kept live by the component
(``templatetags/reactive_users.py``, ``static/reactive_users/live.js``).

Also ``stream_token``: the short-lived token a script or an app opens its stream with.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from reactive_users.client import conf, routing, tokens
from reactive_users.client.selectors import token_generation


@login_required
def me(request: HttpRequest) -> HttpResponse:
    """The live component (``{% reactive_user_fields %}``) inside the project's base template
    (``REACTIVE_BASE_TEMPLATE``)."""
    return render(request, "reactive_users/me.html", {"base_template": conf.base_template()})


# No CSRF token needed: issuing changes nothing, a cross-site page cannot read the answer
# (no CORS) and the Lax session cookie is not sent on a cross-site POST; scripts send none.
@csrf_exempt
@never_cache
@require_POST
def stream_token(request: HttpRequest) -> JsonResponse:
    """``POST <mount>/stream-token/``: a token opening the logged-in user's own stream.

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
    stream = routing.user_stream_path(quote(user.get_username(), safe=""))
    return JsonResponse(
        {
            "token": token,
            "expires_in": conf.ws_token_seconds(),
            "stream": stream,
            "me_stream": routing.me_stream_path(),
        }
    )
