"""The client app's HTTP routes, mounted wherever the project likes::

    path("account/live/", include("reactive_users.client.urls")),

``reactive_users:me`` (the page: the live component inside the project's base template) and
``reactive_users:stream-token`` (``POST``: a stream token for scripts and apps). Nothing
here claims the site root or a login URL: those are the project's.
"""

from __future__ import annotations

from django.urls import path

from reactive_users.client import views

app_name = "reactive_users"

urlpatterns = [
    path("", views.me, name="me"),
    path("stream-token/", views.stream_token, name="stream-token"),
]
