"""``python -m client replica_stats``: counts of this client's replicas (``reactive status``)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router

from reactive_users.client.models import Replica
from reactive_users.client.selectors import replica_truncation
from reactive_users.core import databases


class Command(BaseCommand):
    help = (
        'Print one JSON line: {"replicas", "truncated_users", "truncated_fields"}: live '
        "replicated users, and those holding values stored cut to this client's limits "
        "(REACTIVE_OVERSIZE_POLICY=truncate), per field. Read-only; `reactive status` shows it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Read-only: a SQLite database that is not there is reported, never created.
        if why := databases.refusal(connections[router.db_for_read(Replica)].settings_dict):
            raise CommandError(why)
        self.stdout.write(json.dumps(replica_truncation(), separators=(",", ":")))
