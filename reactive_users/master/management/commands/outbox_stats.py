"""``python -m master outbox_stats``: what the outbox holds (``reactive status`` reads it)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connections, router
from django.utils import timezone

from reactive_users.core import databases
from reactive_users.master import conf
from reactive_users.master.models import OutboxEvent
from reactive_users.master.selectors import outbox_overview


class Command(BaseCommand):
    help = (
        'Print one JSON line: {"backlog", "oldest_age_seconds", "waiting_retry", "rows", '
        '"oldest_sent_age_seconds", "retention_seconds", "publish_batch"}: the events waiting '
        "to be published, the rows the outbox holds, how long sent rows are kept and whether "
        "events travel packed (REACTIVE_PUBLISH_BATCH). Read-only; `reactive status` shows it."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        # Read-only: a SQLite database that is not there is reported, never created.
        if why := databases.refusal(connections[router.db_for_read(OutboxEvent)].settings_dict):
            raise CommandError(why)
        reading = dataclasses.replace(
            outbox_overview(now=timezone.now()), publish_batch=conf.publish_batch()
        )
        self.stdout.write(json.dumps(dataclasses.asdict(reading), separators=(",", ":")))
