"""ASGI entry point of the master (``master.asgi:application``).

The web process publishes its commits' events itself (``REACTIVE_RELAY=thread``), so it
serves the relay's metrics on ``REACTIVE_METRICS_PORT`` when that is set, as the Celery
worker does for the runs it makes. With ``REACTIVE_SERVE_STATIC`` on (the local stack; by
default whenever DEBUG is) it serves /static/ (the admin's CSS and JS) itself, through
Django's own handler; on a VM a web server in front serves the collected STATIC_ROOT.
"""

from __future__ import annotations

import os

from django.conf import settings
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "master.settings")

_django_app = get_asgi_application()
application = ASGIStaticFilesHandler(_django_app) if settings.REACTIVE_SERVE_STATIC else _django_app

if settings.REACTIVE_RELAY == "thread":
    from reactive_users.master.metrics import serve_if_configured

    serve_if_configured(settings.REACTIVE)
