"""Pages, static files and settings of a client (views.py, asgi.py, settings.py)."""

from __future__ import annotations

import subprocess

import pytest
from asgiref.testing import ApplicationCommunicator
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.template import engines
from django.test import Client, RequestFactory
from django.urls import reverse

from client.asgi import application
from devstack.processes import python
from devstack.signing import KEYS_TEXT
from reactive_users.client.apply import event_apply
from reactive_users.core import naming
from tests.client.support import user_event


@pytest.mark.django_db
def test_the_me_page_requires_login():
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/account/live/"])
def test_the_component_shows_the_replicated_fields_escaped_with_stable_names(path):
    event_apply(event=user_event(version=5, first_name="<b>Ana</b>", is_active=True))
    client = Client()
    client.force_login(User.objects.get(username="ana"))

    html = client.get(path).content.decode()

    def value(name: str, shown: str) -> str:
        return (
            f'<div class="ru-field" data-ru-field="{name}"><dt class="ru-label">{label(name)}</dt>'
            f'<dd class="ru-value" data-ru-value>{shown}</dd></div>'
        )

    def label(name: str) -> str:
        return {"first_name": "First name", "is_active": "Active"}[name]

    assert value("first_name", "&lt;b&gt;Ana&lt;/b&gt;") in html
    assert value("is_active", "Yes") in html
    assert 'data-version="5"' in html and 'data-replicated="true"' in html
    for name in ("username", "email", "last_name"):
        assert f'data-ru-field="{name}"' in html
    # The stream is the logged-in user's own, under the prefix; no username in the page's URL
    assert 'data-ws-url="/ws/users/me/"' in html
    assert "data-ru-gone" in html and "data-ru-status" in html
    assert '<script type="module" src="/static/reactive_users/live.js"></script>' in html
    assert '<link rel="stylesheet" href="/static/reactive_users/live.css">' in html
    # Inside the project's own base template: one document, the project's header
    assert html.count("<html") == 1 and 'class="topbar"' in html
    assert "Email address</dt>" in html


@pytest.mark.django_db
def test_the_component_renders_nothing_for_an_anonymous_request():
    request = RequestFactory().get("/")
    request.user = AnonymousUser()
    tag = "{% load reactive_users %}[{% reactive_user_fields %}]"
    template = engines["django"].from_string(tag)

    assert template.render({}, request).replace("\n", "") == "[]"


@pytest.mark.django_db
def test_the_app_urls_reverse_by_namespaced_names_under_the_projects_prefix():
    assert reverse("reactive_users:me") == "/account/live/"
    assert reverse("reactive_users:stream-token") == "/account/live/stream-token/"


@pytest.mark.django_db
def test_a_user_logs_in_with_client_local_credentials_on_the_login_page():
    event_apply(event=user_event())
    user = User.objects.get(username="ana")
    user.set_password("client-local")
    user.save()
    client = Client(enforce_csrf_checks=False)

    response = client.post("/accounts/login/", {"username": "ana", "password": "client-local"})

    assert (response.status_code, response["Location"]) == (302, "/")
    assert client.get("/").status_code == 200


async def asgi_get(path: str) -> tuple[int, str]:
    """GET ``path`` from the ASGI application, as daphne would call it."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "query_string": b"",
        "headers": [(b"host", b"localhost")],
    }
    app = ApplicationCommunicator(application, scope)
    await app.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await app.receive_output(2)
    body = b""
    while True:
        chunk = await app.receive_output(2)
        body += chunk.get("body", b"")
        if not chunk.get("more_body"):
            await app.wait(2)  # let the handler close the file and the request
            return start["status"], body.decode()


@pytest.mark.asyncio
async def test_the_component_script_and_styles_are_served_by_the_asgi_app_itself():
    status, script = await asgi_get("/static/reactive_users/live.js")
    css_status, css = await asgi_get("/static/reactive_users/live.css")

    assert (status, css_status) == (200, 200)
    assert "textContent" in script and "innerHTML" not in script
    # The socket's URL comes from the element the tag rendered, never from the site root
    assert "root.dataset.wsUrl" in script and "/ws/" not in script
    assert ":where(.ru-live" in css


def test_clients_sharing_redis_and_cookies_never_mix():
    assert get_channel_layer().prefix == naming.channel_layer_prefix("shop")
    assert (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME) == (
        "shop_sessionid",
        "shop_csrftoken",
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("DJANGO_ALLOWED_HOSTS", "*", "may not contain '*'"),
        ("REACTIVE_CLIENT", "Shop!", "invalid client name"),
        ("REACTIVE_LOG_LEVEL", "LOUD", "not a logging level"),
        ("REACTIVE_SIGNING_KEYS", "k1:c2hvcnQ=", "key 'k1' is 5 bytes, fewer than 32"),
        ("REACTIVE_SIGNING_KEYS", "k1", "is not id:secret"),
    ],
)
def test_settings_refuse_unsafe_or_invalid_values(variable, value, message, tmp_path):
    env = {"PATH": "/usr/bin:/bin", "REACTIVE_STATE_DIR": str(tmp_path), variable: value}
    done = subprocess.run(
        python("-c", "import client.settings"), env=env, capture_output=True, text=True, timeout=30
    )

    assert done.returncode != 0
    assert "ConfigError" in done.stderr and message in done.stderr


def test_production_requires_explicit_websocket_origins(tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "REACTIVE_STATE_DIR": str(tmp_path),
        "REACTIVE_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "k" * 50,
        "REACTIVE_SIGNING_KEYS": KEYS_TEXT,
    }
    done = subprocess.run(
        python("-c", "import client.settings"), env=env, capture_output=True, text=True, timeout=30
    )

    assert "REACTIVE_ALLOWED_ORIGINS must be set" in done.stderr


@pytest.mark.parametrize("project", ["client", "master"])
def test_production_refuses_to_start_without_signing_keys(project, tmp_path):
    env = {
        "PATH": "/usr/bin:/bin",
        "REACTIVE_STATE_DIR": str(tmp_path),
        "REACTIVE_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "k" * 50,
        "REACTIVE_ALLOWED_ORIGINS": "https://shop.example.com",
    }
    done = subprocess.run(
        python("-c", f"import {project}.settings"),
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert done.returncode != 0
    assert "ConfigError: REACTIVE_SIGNING_KEYS must be set when REACTIVE_PRODUCTION=1" in (
        done.stderr
    )
    assert not (tmp_path / "signing.key").exists()  # nothing generated in production
