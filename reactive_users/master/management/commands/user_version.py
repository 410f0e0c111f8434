"""``python -m master user_version USERNAME``: a master user's id and version (``reactive
emit-test USER`` targets it)."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections, router

from reactive_users.core import databases
from reactive_users.master.models import UserVersion


class Command(BaseCommand):
    help = (
        'Print one JSON line: {"user_id", "username", "login_field", "version"} for the master '
        "user with this login (the value of the user model's USERNAME_FIELD, which login_field "
        "names: a username, or an email), or "
        '{"user_id": null} if there is none. Read-only.'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username", help="The master user's login (USERNAME_FIELD).")

    def handle(self, *args: Any, **options: Any) -> None:
        username = options["username"]
        model = get_user_model()
        # Read-only: a SQLite database that is not there is reported, never created.
        if why := databases.refusal(connections[router.db_for_read(model)].settings_dict):
            raise CommandError(why)
        user = model._default_manager.filter(**{model.USERNAME_FIELD: username}).first()
        held = UserVersion.objects.filter(user_id=user.pk).first() if user else None
        found = {
            "user_id": None if user is None else int(user.pk),
            "username": username,
            "login_field": model.USERNAME_FIELD,
            "version": held.version if held else None,
        }
        self.stdout.write(json.dumps(found, separators=(",", ":")))
