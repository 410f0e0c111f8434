"""``python manage.py reactive_listen`` (or ``listen``, its old name): run this client's SQS
listener in the foreground."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from reactive_users.client import conf
from reactive_users.client.listener.loop import MAX_PREFETCH, MAX_WAIT_TIME_SECONDS
from reactive_users.client.listener.serve import serve
from reactive_users.core import exitcodes
from reactive_users.core.errors import ReactiveError


class Command(BaseCommand):
    help = (
        "Run this client's SQS listener in the foreground (what supervisord runs). "
        "SIGTERM/SIGINT: finish the message in hand, hand the rest back, exit 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait-seconds",
            type=int,
            default=MAX_WAIT_TIME_SECONDS,
            help="ReceiveMessage long-poll time (0-20 s).",
        )
        parser.add_argument(
            "--max-messages",
            type=int,
            default=MAX_PREFETCH,
            help="Messages per ReceiveMessage (1-10).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the listener (the same function ``reactive listen`` runs) until stopped."""
        try:
            serve(
                settings=conf.shared(),
                client=conf.client_name(),
                explicit_queue_url=conf.queue_url(),
                max_messages=options["max_messages"],
                wait_seconds=options["wait_seconds"],
            )
        except ReactiveError as exc:  # one line and the documented exit code, as `reactive`
            self.stderr.write(f"{type(exc).__name__}: {exc}")
            raise SystemExit(exitcodes.exit_code(exc)) from None
