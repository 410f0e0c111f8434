"""The client's ASGI app: pages and their static files over HTTP, user streams over websockets.

Written as a user's project writes it: its own ``AuthMiddlewareStack`` around its own
router, which includes the reactive-users stream routes (``reactive_users.client.routing``:
each checks the exact Origin or the stream token itself) and, last, refuses every other
path with HTTP 403.

Run it with ``python -m daphne -b 127.0.0.1 -p PORT client.asgi:application``, or under
uvicorn (``python -m uvicorn --port PORT client.asgi:application``; gunicorn's uvicorn
worker likewise).
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

from reactive_users.client import conf  # noqa: E402
from reactive_users.client.routing import refuse_other_paths, websocket_urlpatterns  # noqa: E402

_http_app = ASGIStaticFilesHandler(_django_app) if conf.serve_static() else _django_app

application = ProtocolTypeRouter(
    {
        "http": _http_app,
        "websocket": AuthMiddlewareStack(
            URLRouter([*websocket_urlpatterns(), refuse_other_paths()])
        ),
    }
)
