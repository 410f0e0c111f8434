"""ASGI entry point of the master (``master.asgi:application``).

The web process publishes its commits' events itself (``REACTIVE_RELAY=thread``), so it
serves the relay's metrics on ``REACTIVE_METRICS_PORT`` when that is set, as the Celery
worker does for the runs it makes.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "master.settings")

application = get_asgi_application()

if settings.REACTIVE_RELAY == "thread":
    from master.users.metrics import serve_if_configured

    serve_if_configured(settings.REACTIVE)
