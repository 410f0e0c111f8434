"""This project's ASGI app: Django over HTTP (static files too: no proxy in front here), and
its websockets behind its own AuthMiddlewareStack, reactive-users' streams among them."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.projects.name_client.settings")

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.asgi import get_asgi_application  # noqa: E402

django_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from reactive_users.client.routing import refuse_other_paths, websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_app),
        "websocket": AuthMiddlewareStack(
            URLRouter([*websocket_urlpatterns(), refuse_other_paths()])
        ),
    }
)
