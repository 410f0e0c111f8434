"""The master's own web process publishes what it commits (the default publisher thread,
no relay task) and serves the relay's metrics: an admin save reaches a client this way."""

from __future__ import annotations

import re
import sys
import uuid

import requests
from prometheus_client.parser import text_string_to_metric_families

from devstack.client_app import wait_for_replica
from devstack.processes import Proc, free_port, until
from devstack.stack import Stack

PUBLISHED = "reactive_relay_events_published_total"


def published_by(url: str) -> float:
    """The relay's published-events counter as the process at ``url`` serves it."""
    for family in text_string_to_metric_families(requests.get(url, timeout=5).text):
        for sample in family.samples:
            if sample.name == PUBLISHED:
                return float(sample.value)
    raise AssertionError(f"{PUBLISHED} not served at {url}")


def admin_add_user(base: str, admin: str, password: str, username: str) -> int:
    """Log in to the master's admin and add a user through its form; the new user's id."""
    web = requests.Session()
    login = f"{base}/admin/login/"
    web.get(login, timeout=10)
    answer = web.post(
        login,
        data={
            "csrfmiddlewaretoken": web.cookies["csrftoken"],
            "username": admin,
            "password": password,
            "next": "/admin/",
        },
        headers={"Referer": login},
        timeout=10,
    )
    assert answer.url.endswith("/admin/"), f"admin login failed: {answer.status_code}"
    add = f"{base}/admin/auth/user/add/"
    web.get(add, timeout=10)
    answer = web.post(
        add,
        data={
            "csrfmiddlewaretoken": web.cookies["csrftoken"],
            "username": username,
            "usable_password": "true",
            "password1": "a-long-master-password-1",
            "password2": "a-long-master-password-1",
        },
        headers={"Referer": add},
        timeout=10,
    )
    found = re.search(r"/admin/auth/user/(\d+)/change/", answer.url)
    assert found, f"user not added: {answer.status_code} {answer.url} {answer.text[:800]}"
    return int(found.group(1))


def test_an_admin_save_is_published_by_the_web_process_itself(stack: Stack) -> None:
    from django.contrib.auth.models import User

    admin, password = f"root-{uuid.uuid4().hex[:6]}", "root-password-1"
    User.objects.create_superuser(admin, f"{admin}@example.com", password)  # not published
    port, metrics_port = free_port(), free_port()
    env = {
        **stack.master_env,
        "REACTIVE_RELAY": "thread",
        "REACTIVE_METRICS_PORT": str(metrics_port),
    }
    argv = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)]
    web = Proc("master-web", [*argv, "master.asgi:application"], env, stack.workdir / "logs")
    try:
        scrape = f"http://127.0.0.1:{metrics_port}/metrics"
        web.wait_ready(lambda: "Listening on TCP address" in web.log(), timeout=60)
        until(lambda: requests.get(scrape, timeout=2).ok, timeout=30, what="metrics served")
        assert published_by(scrape) == 0

        name = f"webmade-{uuid.uuid4().hex[:6]}"
        uid = admin_add_user(f"http://127.0.0.1:{port}", admin, password, name)

        wait_for_replica(stack.clients["shop"], uid, username=name, version=1)
        until(lambda: published_by(scrape) == 1, timeout=20, what="the web process's count")
    finally:
        web.stop()
