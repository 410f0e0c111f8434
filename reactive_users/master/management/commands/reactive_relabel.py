"""``manage.py reactive_relabel``: move the master app's tables and records from a former
label (``users`` by default) to the installed one, in one transaction (``relabel.py``).

Exit codes: 0 moved (or nothing to move, with ``--if-needed``); 1 nothing to move, or a state
it does not recognise (it changed nothing; the line says what it found); 2 bad arguments.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from reactive_users.core import exitcodes
from reactive_users.master import labels, relabel


class Command(BaseCommand):
    help = (
        "Move the outbox and versions of reactive-users' master app from a former app label "
        "(default: 'users', the label before December 2026) to the installed one: renames the "
        "tables and indexes and moves the migration records and content types, in one "
        "transaction; every outbox row, sent or not, is kept. Run it before `migrate`."
    )
    # The legacy-label check (E008) would refuse the very database this command repairs.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from",
            dest="old_label",
            default=labels.LEGACY_LABEL,
            help=f"The label the database was migrated under (default: {labels.LEGACY_LABEL}).",
        )
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="The database alias (default: default)."
        )
        parser.add_argument(
            "--if-needed",
            action="store_true",
            help="Exit 0 when there is nothing to move (for deploy scripts).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        alias, old_label = options["database"], options["old_label"]
        if alias not in connections:
            raise CommandError(f"no database {alias!r} in DATABASES", returncode=exitcodes.USAGE)
        label = labels.installed_label()
        if old_label == label:
            raise CommandError(
                f"--from {old_label}: that is the app's installed label; name the former one",
                returncode=exitcodes.USAGE,
            )
        try:
            moved = relabel.relabel(alias, old_label)
        except relabel.NothingToDo as exc:
            if options["if_needed"]:
                self.stdout.write(f"nothing to relabel: {exc}")
                return
            raise CommandError(f"nothing to relabel: {exc}", returncode=exitcodes.FAILED) from None
        except relabel.UnexpectedState as exc:
            raise CommandError(
                f"refused, nothing changed: {exc}", returncode=exitcodes.FAILED
            ) from None
        self.stdout.write(
            f"relabelled {old_label!r} -> {label!r} in database {alias!r}: "
            f"{moved.migrations} migration records, {moved.tables} tables, "
            f"{moved.indexes} indexes, {moved.content_types} content types; "
            f"{moved.events} outbox events kept ({moved.unsent} unsent). Now run migrate."
        )
