"""``python -m master republish``: publish users changed by writes that bypassed the signals.

Thin: picks users (``snapshots.reads.users_selected``) and calls ``services.users_republish``.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import FieldError, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from reactive_users.core import selection
from reactive_users.core.errors import ReactiveError
from reactive_users.master import services
from reactive_users.master.snapshots import reads


class Command(BaseCommand):
    help = (
        "Record an 'updated' event (next version, every allow-listed field) for each chosen "
        "user, so that every client gets what QuerySet.update(), bulk_create/bulk_update, raw "
        "SQL or loaddata wrote without signals. The relay publishes them as usual. Criteria "
        "combine (all must hold). A staff user or superuser (unless published) gets a "
        "'withdrawn' event instead, with no fields: every client removes them."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ids", help="Master ids, e.g. 1,2,3.")
        parser.add_argument("--all", action="store_true", help="Every user.")
        parser.add_argument("--username-regex", help="Logins (USERNAME_FIELD) matching this regex.")
        parser.add_argument(
            "--where",
            action="append",
            default=[],
            metavar="LOOKUP=VALUE",
            help="A Django lookup on the user model, e.g. is_active=false (repeatable).",
        )
        parser.add_argument("--joined-since", help="Users whose date_joined is on/after DATE.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Print how many users match; record nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            users = reads.users_selected(
                ids=selection.parse_ids(options["ids"]) if options["ids"] else (),
                all_users=options["all"],
                username_regex=options["username_regex"],
                where=selection.parse_where(options["where"]),
                joined_since=(
                    selection.parse_since(options["joined_since"], option="--joined-since")
                    if options["joined_since"]
                    else None
                ),
            )
            if options["dry_run"]:
                self.stdout.write(f"{users.count()} user(s) match; nothing recorded (--dry-run).")
                return
            count = services.users_republish(queryset=users)
        except ReactiveError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        except (FieldError, ValidationError, ValueError, TypeError) as exc:
            raise CommandError(f"--where: {exc}") from exc
        self.stdout.write(
            f"Republished {count} user(s): each got its next version and an outbox event; "
            "the relay publishes them to every client."
        )
