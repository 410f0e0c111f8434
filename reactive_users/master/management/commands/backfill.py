"""``python -m master backfill --client NAME``: send every user to one client's queue.

Thin: parses options and prints; ``reactive_users.master.snapshots`` (``runs``) does the work.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from reactive_users.core import selection
from reactive_users.core.errors import ReactiveError
from reactive_users.master import retention
from reactive_users.master.snapshots import checkpoint, reads, runs
from reactive_users.master.snapshots import text as snapshot_text

#: Exit code after Ctrl-C or SIGTERM (128 + SIGINT), the checkpoint kept.
INTERRUPTED = 130


class Command(BaseCommand):
    help = (
        "Send every current master user (or those changed since --since) as snapshot events "
        "(staff and superusers not published: withdrawn events, with no fields), and every "
        "tombstone as a deleted event, to ONE client's SQS queue (never the topic), "
        "at the master's current versions. Resumable: a checkpoint in the state dir records "
        "the last master id sent; a rerun resumes after it (--restart starts over). With "
        "--ids, sends just those users (what `reactive diff --repair` runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--client", required=True, help="The client whose queue gets them.")
        parser.add_argument(
            "--since", help="Only users joined or with an event since this date (ISO 8601)."
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=reads.DEFAULT_BATCH,
            help=f"Users read per batch (default {reads.DEFAULT_BATCH}; 10 per send).",
        )
        parser.add_argument("--restart", action="store_true", help="Ignore the checkpoint.")
        parser.add_argument(
            "--ids", help="Only these master ids (1,2,3; '-' reads them from stdin): a repair."
        )
        parser.add_argument(
            "--resets",
            help="'-': read from stdin JSON lines {master_id, version, event_id} "
            "naming the client state each user's master state must replace whatever its "
            "version (a reset: what `reactive diff --repair` sends a replica ahead of the master)",
        )
        parser.add_argument(
            "--max-depth",
            type=int,
            default=runs.DEFAULT_MAX_DEPTH,
            help="Hold back while more messages than this wait in the client's queue, so live "
            f"events behind them are not delayed (default {runs.DEFAULT_MAX_DEPTH}; 0: "
            "send as fast as SQS takes them).",
        )
        parser.add_argument("--queue-url", help="The client's queue (default: found by name).")
        parser.add_argument(
            "--stop-after",
            type=int,
            help="Stop once this many events were sent (exactly: packed or not), keeping the "
            "checkpoint (to try resume).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            if options["ids"] is not None or options["resets"] is not None:
                self._repair(options)
            else:
                self._backfill(options)
        except KeyboardInterrupt:
            raise CommandError(
                "interrupted: the checkpoint keeps what was sent; rerun to resume",
                returncode=INTERRUPTED,
            ) from None
        except ReactiveError as exc:
            raise CommandError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _backfill(self, options: dict[str, Any]) -> None:
        client = options["client"]
        since = selection.parse_since(options["since"]) if options["since"] else None
        if since is not None and since < timezone.now() - retention.retention():
            days = retention.retention().total_seconds() / 86400
            sys.stderr.write(
                f"warning: --since goes back further than the outbox keeps sent events "
                f"({days:g} day(s), REACTIVE_OUTBOX_RETENTION_SECONDS): a user whose changes "
                "since then are all older than that is sent only if they joined since; "
                "backfill without --since to send everyone\n"
            )

        def resumed(found: checkpoint.Checkpoint) -> None:
            self.stdout.write(
                f"Resuming the backfill of {client} after master id {found.last_id} "
                f"({found.users} users and {found.tombstones} tombstones sent since "
                f"{found.started}); --restart starts over."
            )
            self.stdout.flush()

        def progress(p: snapshot_text.Progress) -> None:
            sys.stderr.write(snapshot_text.progress_line(p) + "\n")
            sys.stderr.flush()

        report = runs.backfill(
            client=client,
            since=since,
            batch=options["batch"],
            restart=options["restart"],
            queue_url=options["queue_url"],
            stop_after=options["stop_after"],
            max_depth=options["max_depth"],
            on_progress=progress,
            on_resume=resumed,
        )
        p = report.progress
        if report.stopped:
            raise CommandError(
                f"stopped after {p.sent_this_run} events as asked (--stop-after), "
                f"{p.rate:.1f} users/s; checkpoint at master id {p.last_id} in "
                f"{report.checkpoint}: rerun to resume"
            )
        self.stdout.write(snapshot_text.summary_line(p, resumed_after=report.resumed_after))

    def _repair(self, options: dict[str, Any]) -> None:
        if options["resets"] is not None:
            if options["resets"] != "-" or options["ids"] is not None:
                raise CommandError("--resets takes '-' (JSON lines on stdin), without --ids")
            ids: list[int] = []
            resets = snapshot_text.parse_resets(sys.stdin.read())
        else:
            text = sys.stdin.read() if options["ids"] == "-" else options["ids"]
            ids, resets = selection.parse_ids(text), {}
        report = runs.repair(
            client=options["client"], ids=ids, queue_url=options["queue_url"], resets=resets
        )
        self.stdout.write(snapshot_text.repair_line(report.progress))
        if report.unknown:
            unknown = ",".join(map(str, report.unknown))
            raise CommandError(
                f"the master has no record of master ids {unknown} (no such user, no "
                "tombstone): nothing sent for them"
            )


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM ends a backfill like Ctrl-C: the checkpoint keeps what was sent."""
    raise KeyboardInterrupt
