"""HTTP routes of a client: login, logout, the live "me" page and its stream tokens."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from reactive_users.client import views

urlpatterns = [
    path("", views.me, name="me"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(template_name="replica/login.html"),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("api/stream-token/", views.stream_token, name="stream-token"),
]
