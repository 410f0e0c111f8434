"""Websocket routes: one stream per user, addressed by username (URL-encoded by the page)."""

from __future__ import annotations

from django.urls import re_path

from client.replica.consumers import UserStreamConsumer

websocket_urlpatterns = [
    # The ASGI path arrives decoded: accept any username Django allows, anything but '/'.
    re_path(r"^ws/users/(?P<username>[^/]+)/$", UserStreamConsumer.as_asgi()),
]
