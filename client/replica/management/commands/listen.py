"""``python -m client listen``: run this client's SQS listener in the foreground."""

from __future__ import annotations

import logging
import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from client import conf
from client.replica import listener
from reactive_cli.errors import ReactiveError

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Run this client's SQS listener in the foreground (what supervisord runs). "
        "SIGTERM/SIGINT: finish the message in hand, hand the rest back, exit 0."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait-seconds", type=int, default=listener.MAX_WAIT_TIME_SECONDS,
            help="ReceiveMessage long-poll time (0-20 s).",
        )  # fmt: skip
        parser.add_argument(
            "--max-messages", type=int, default=listener.MAX_PREFETCH,
            help="Messages per ReceiveMessage (1-10).",
        )  # fmt: skip

    def handle(self, *args: Any, **options: Any) -> None:
        """Resolve the queue, install the signal handlers and run until stopped."""
        try:
            loop = listener.Listener(
                settings=conf.shared(),
                client=conf.client_name(),
                queue_url=listener.queue_url_for(
                    settings=conf.shared(), client=conf.client_name(), explicit=conf.queue_url()
                ),
                max_messages=options["max_messages"],
                wait_seconds=options["wait_seconds"],
            )
        except ReactiveError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc

        def on_signal(signum: int, frame: FrameType | None) -> None:
            logger.info("%s: stopping after the message in hand", signal.Signals(signum).name)
            loop.request_stop(interrupt=True)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        loop.run()
