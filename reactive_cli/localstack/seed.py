"""The demo accounts, written inside the master's or a client's own process.

``reactive up`` (``demo``) runs ``python -m reactive_cli.localstack.seed`` with the
project's environment (its ``DJANGO_SETTINGS_MODULE``) and what to write as JSON on stdin,
so no password is on a command line or in generated source:

- ``{"master": {"admin": {username, password}, "user": {username, email, first_name}}}``:
  a superuser and a user the master publishes; each left alone if the username exists.
- ``{"client": {username, password, wait_seconds}}``: wait until the user was replicated
  to this client, then give it ``password``.

The CLI's one module that imports Django: it only ever runs in the project's process, never
in the ``reactive`` process (pyproject.toml's import contract names it for that reason).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any


def seed_master(spec: dict[str, Any]) -> None:
    from django.contrib.auth.models import User

    admin, user = spec["admin"], spec["user"]
    if not User.objects.filter(username=admin["username"]).exists():
        User.objects.create_superuser(admin["username"], "", admin["password"])
    if not User.objects.filter(username=user["username"]).exists():
        User.objects.create_user(user["username"], user["email"], first_name=user["first_name"])


def seed_client(spec: dict[str, Any]) -> None:
    from django.contrib.auth.models import User

    username = spec["username"]
    deadline = time.monotonic() + spec["wait_seconds"]
    while not User.objects.filter(username=username).exists():
        if time.monotonic() >= deadline:
            raise SystemExit(f"the {username} user was not replicated in {spec['wait_seconds']} s")
        time.sleep(0.2)
    user = User.objects.get(username=username)
    user.set_password(spec["password"])
    user.save()


def main() -> None:
    spec = json.load(sys.stdin)
    import django

    django.setup()
    if "master" in spec:
        seed_master(spec["master"])
    else:
        seed_client(spec["client"])


if __name__ == "__main__":
    main()
