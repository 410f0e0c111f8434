"""The client's ASGI app: pages and their static files over HTTP, user streams over websockets.

A stream opens with the browser's session cookie from an allowed Origin (exactly, see
``reactive_users/client/origins.py``), or with a stream token in an ``Authorization: Bearer`` header
(``reactive_users/client/token_auth.py``). Any other websocket path is refused (``client.routing``).

Run it with ``python -m daphne -b 127.0.0.1 -p PORT client.asgi:application``.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "client.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

# Django must be set up before anything imports models (the consumers do).
_django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from client.routing import websocket_urlpatterns  # noqa: E402
from reactive_users.client import conf  # noqa: E402
from reactive_users.client.handshake import OriginCheck  # noqa: E402
from reactive_users.client.token_auth import TokenAuthMiddleware  # noqa: E402

_http_app = ASGIStaticFilesHandler(_django_app) if conf.serve_static() else _django_app

application = ProtocolTypeRouter(
    {
        "http": _http_app,
        # Authorization: Bearer TOKEN (scripts, apps) → token path; else the browser path.
        "websocket": TokenAuthMiddleware(
            OriginCheck(
                AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
                conf.allowed_origins(),
            ),
            URLRouter(websocket_urlpatterns),
            allowed_origins=conf.allowed_origins(),
        ),
    }
)
