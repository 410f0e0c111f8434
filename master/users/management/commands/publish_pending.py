"""``python -m master publish_pending``: run the outbox relay once, for operators and tests."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from master.users import services


class Command(BaseCommand):
    """Run the outbox relay once, retrying failed rows now; exit non-zero if some stay pending."""

    help = (
        "Publish the pending outbox rows to SNS once and print how many were published. "
        "Rows waiting to be retried after a failure are published now too (an operator's "
        "'retry now', e.g. once SNS answers again); --due-only leaves them to their backoff, "
        "as the relay does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=services.DEFAULT_LIMIT,
            help=f"most rows to publish (default {services.DEFAULT_LIMIT})",
        )
        parser.add_argument(
            "--due-only",
            action="store_true",
            help="skip rows whose retry backoff is not over yet, as the relay does",
        )

    def handle(self, *args: Any, limit: int, due_only: bool, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        report = services.outbox_publish_pending(limit=limit, ignore_backoff=not due_only)
        self.stdout.write(f"Published {report.published} event(s).")
        if report.failed:
            raise CommandError(f"{report.failed} event(s) left pending: {report.error}")
