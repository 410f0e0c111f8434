"""``python -m master publish_pending``: run the outbox relay once, then delete sent rows past
their retention (the beat sweep's work, for operators without Celery, and tests).

With ``--every SECONDS`` it keeps doing so until SIGTERM or SIGINT: the sweep as one
supervisord program, for a master project without Celery. A sweep that fails (SNS away)
is reported on stderr and the next one runs on time: the rows stay in the outbox.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

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
        parser.add_argument(
            "--every",
            type=float,
            metavar="SECONDS",
            help=(
                "keep running: sweep every SECONDS (implies --due-only) until SIGTERM or "
                "SIGINT, reporting a failed sweep and going on (a supervisord program for a "
                "master without Celery)"
            ),
        )

    def handle(
        self, *args: Any, limit: int, due_only: bool, every: float | None, **options: Any
    ) -> None:
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        if every is None:
            self.sweep(limit=limit, due_only=due_only)
            return
        if not 0 < every <= 3600:
            raise CommandError("--every must be more than 0 and at most 3600 seconds")
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)

        def sweep() -> None:
            try:
                self.sweep(limit=limit, due_only=True)
            except Exception:
                close_old_connections()  # a broken database connection is opened anew
                raise

        failed = sweep_until(stop, every, sweep, self.stderr.write)
        self.stdout.write(f"Stopped; {failed} sweep(s) failed and were retried.")

    def sweep(self, *, limit: int, due_only: bool) -> None:
        report = publish.outbox_publish_pending(limit=limit, ignore_backoff=not due_only)
        self.stdout.write(f"Published {report.published} event(s).")
        deleted = retention.outbox_purge_sent()
        if deleted:
            days = retention.retention().total_seconds() / 86400
            self.stdout.write(f"Deleted {deleted} sent event(s) older than {days:g} day(s).")
        if report.failed:
            raise CommandError(f"{report.failed} event(s) left pending: {report.error}")


def sweep_until(
    stop: threading.Event, every: float, sweep: Callable[[], None], warn: Callable[[str], Any]
) -> int:
    """Run ``sweep`` now and then every ``every`` seconds until ``stop`` is set; a sweep
    that raises is reported through ``warn`` (one line) and the loop goes on. Returns how
    many sweeps failed."""
    failed = 0
    while not stop.is_set():
        try:
            sweep()
        except Exception as exc:  # noqa: BLE001 - a failed sweep must not end the program
            failed += 1
            warn(f"sweep failed, next in {every:g} s: {exc}")
        stop.wait(every)
    return failed
