"""Websocket routes: one stream per user, addressed by username (URL-encoded by the page).

Any other path is refused at the handshake (HTTP 403) by the last route; without it
channels' router raised "No route found", daphne answered 500 and logged a traceback.
"""

from __future__ import annotations

from django.urls import re_path

from reactive_users.client.consumers import UnknownPathConsumer, UserStreamConsumer

websocket_urlpatterns = [
    # The ASGI path arrives decoded: accept any username Django allows, anything but '/'.
    re_path(r"^ws/users/(?P<username>[^/]+)/$", UserStreamConsumer.as_asgi()),
    re_path(r"", UnknownPathConsumer.as_asgi()),
]
