"""``python -m master publish_pending``: run the outbox relay once, then delete sent rows past
their retention (the beat sweep's work, for operators without Celery, and tests)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from reactive_users.master import retention
from reactive_users.master.relay import publish


class Command(BaseCommand):
    """Run the outbox relay once, retrying failed rows now, then delete sent rows past their
    retention; exit non-zero if some rows stay pending."""

    help = (
        "Publish the pending outbox rows to SNS once and print how many were published. "
        "Rows waiting to be retried after a failure are published now too (an operator's "
        "'retry now', e.g. once SNS answers again); --due-only leaves them to their backoff, "
        "as the relay does. Then delete every sent row recorded longer ago than "
        "REACTIVE_OUTBOX_RETENTION_SECONDS (default 7 days), as the beat sweep does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=publish.DEFAULT_LIMIT,
            help=f"most rows to publish (default {publish.DEFAULT_LIMIT})",
        )
        parser.add_argument(
            "--due-only",
            action="store_true",
            help="skip rows whose retry backoff is not over yet, as the relay does",
        )

    def handle(self, *args: Any, limit: int, due_only: bool, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        report = publish.outbox_publish_pending(limit=limit, ignore_backoff=not due_only)
        self.stdout.write(f"Published {report.published} event(s).")
        deleted = retention.outbox_purge_sent()
        if deleted:
            days = retention.retention().total_seconds() / 86400
            self.stdout.write(f"Deleted {deleted} sent event(s) older than {days:g} day(s).")
        if report.failed:
            raise CommandError(f"{report.failed} event(s) left pending: {report.error}")
