"""``python -m client replica_dump``: this client's replicas as JSON lines (``reactive diff``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from reactive_users.client.models import Replica
from reactive_users.client.selectors import replica_records
from reactive_users.core import databases


class Command(BaseCommand):
    help = (
        "Print every replicated user of this client as one JSON line each, in master id order: "
        '{"master_id", "version", "tombstone", "withdrawn", "fields"} (fields null: the local '
        "user is gone; withdrawn: the master excludes the user, no local user). "
        "Read-only; `reactive diff` compares it with the master's users_dump."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Read-only: a SQLite database that is not there is reported, never created.
        if why := databases.refusal(connections[router.db_for_read(Replica)].settings_dict):
            raise CommandError(why)
        write = self.stdout.write
        for record in replica_records():
            write(json.dumps(record, separators=(",", ":"), ensure_ascii=False))
