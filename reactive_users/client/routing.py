"""The websocket routes a project includes in its own ASGI router, behind its own auth
middleware (channels' ``AuthMiddlewareStack``, or any that sets ``scope["user"]`` and
``scope["session"]``)::

    from reactive_users.client.routing import refuse_other_paths, websocket_urlpatterns

    "websocket": AuthMiddlewareStack(
        URLRouter([*websocket_urlpatterns(), *your_routes, refuse_other_paths()])
    )

Under ``REACTIVE_WS_PREFIX`` (default ``ws/``), the same prefix the pages render:

- ``<prefix>users/me/`` — the stream of whoever the socket authenticated as (no username in
  the URL: an email in a path is awkward and ends up in access logs); what the live
  component opens.
- ``<prefix>users/<username>/`` — that user's stream, for that user only (URL-encoded; the
  ASGI path arrives decoded: any username Django allows, anything but '/').
- anything else under ``<prefix>users/`` — refused at the handshake (HTTP 403).

Each stream route checks its own handshake, so the project's middleware only has to say who
the session belongs to: a handshake with an ``Authorization: Bearer`` stream token takes the
token path (``token_auth.py``, never falling back to the cookie), any other must come from
exactly one allowed Origin (``handshake.py``) before the session counts.
``refuse_other_paths()``, last in the list, answers 403 for every path nothing else took;
without it channels' router raises "No route found" and the server answers 500.
"""

from __future__ import annotations

import re
from typing import Any

from django.urls import URLPattern, re_path

from reactive_users.client import conf
from reactive_users.client.consumers import UnknownPathConsumer, UserStreamConsumer
from reactive_users.client.handshake import OriginCheck
from reactive_users.client.token_auth import TokenAuthMiddleware

#: The path segment of the logged-in user's own stream.
ME = "me"


def guarded(consumer: Any) -> Any:
    """``consumer`` behind the stream token path and the exact Origin check."""
    allowed = conf.allowed_origins()
    return TokenAuthMiddleware(OriginCheck(consumer, allowed), consumer, allowed_origins=allowed)


def websocket_urlpatterns(prefix: str | None = None) -> list[URLPattern]:
    """The stream routes under ``prefix`` (default: ``REACTIVE_WS_PREFIX``, "ws/").

    Give a prefix only to serve the streams at a second place too; pages render the URL
    under ``REACTIVE_WS_PREFIX``.
    """
    base = re.escape(conf.ws_prefix() if prefix is None else _normal(prefix))
    stream = guarded(UserStreamConsumer.as_asgi())
    return [
        re_path(rf"^{base}users/{ME}/$", stream, name="reactive-users-me-stream"),
        re_path(rf"^{base}users/(?P<username>[^/]+)/$", stream, name="reactive-users-stream"),
        re_path(rf"^{base}users/", UnknownPathConsumer.as_asgi()),
    ]


def refuse_other_paths() -> URLPattern:
    """The last route of a project's websocket router: any path refused with HTTP 403."""
    route: URLPattern = re_path(r"", UnknownPathConsumer.as_asgi())
    return route


def me_stream_path() -> str:
    """The site-relative path of the logged-in user's own stream ("/ws/users/me/")."""
    return f"/{conf.ws_prefix()}users/{ME}/"


def user_stream_path(quoted_username: str) -> str:
    """The site-relative path of one user's stream; the username already URL-encoded."""
    return f"/{conf.ws_prefix()}users/{quoted_username}/"


def _normal(prefix: str) -> str:
    stripped = prefix.strip("/")
    return f"{stripped}/" if stripped else ""
