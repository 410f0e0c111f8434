"""``python -m master publish_pending``: run the outbox relay once, for operators and tests."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from master.users import services


class Command(BaseCommand):
    """Run the outbox relay once; exit non-zero if some events stay pending."""

    help = "Publish the pending outbox rows to SNS once and print how many were published."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=services.DEFAULT_LIMIT,
            help=f"most rows to publish (default {services.DEFAULT_LIMIT})",
        )

    def handle(self, *args: Any, limit: int, **options: Any) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        report = services.outbox_publish_pending(limit=limit)
        self.stdout.write(f"Published {report.published} event(s).")
        if report.failed:
            raise CommandError(f"{report.failed} event(s) left pending: {report.error}")
