"""``python -m master users_dump``: every master user as a JSON line, for ``reactive diff``."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from reactive_users.core import databases
from reactive_users.master.snapshots import reads


class Command(BaseCommand):
    help = (
        "Print every master user and tombstone as one JSON line each, in master id order: "
        '{"master_id", "version", "tombstone", "excluded", "fields"} (the allow-listed '
        "fields; version null: no event yet; excluded: staff/superusers not published, whom "
        "clients must not hold, dumped without fields). "
        "Read-only; `reactive diff` compares it with a client's replica_dump."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Read-only: a SQLite database that is not there is reported, never created.
        if why := databases.refusal(
            connections[router.db_for_read(get_user_model())].settings_dict
        ):
            raise CommandError(why)
        write = self.stdout.write
        for state in reads.states_dump():
            write(json.dumps(state.as_json(), separators=(",", ":"), ensure_ascii=False))
