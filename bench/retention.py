"""How long the outbox retention sweep takes, and whether saves wait for it.

Sets the master's Django project up on a fresh database (SQLite in a temporary directory,
or a new PostgreSQL database from ``--database-url``), fills the outbox with ``--rows`` sent
rows recorded 8 days ago (real event bodies) and 1,000 pending rows as old, then:

1. saves users for ``--baseline`` seconds from a saver thread, ``--save-rate`` a second (100),
   nothing else running: each save (a User update, its outbox INSERT and UserVersion upsert,
   the commit) is timed;
2. runs ``outbox_purge_sent`` with no time budget (``python -m master publish_pending``'s
   call) in the main thread while the saver goes on, and times the purge and the saves;
3. prints both: the purge's duration and rate, and the saves' p50 / p99 / max latency with
   and without the purge. ``--no-pause`` drops the pause between batches, to compare.

Saves run with ``REACTIVE_RELAY=celery`` and a broker on a closed port: a commit's kick
fails at once (no SNS, no relay writes), the same cost in both phases. Nothing is asserted.

    .venv/bin/python -m bench.retention [--rows 100000] [--database-url URL] [--no-pause]
                                        [--save-rate 100] [--batch 1000] [--no-saves]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from devstack.processes import free_port

#: Rows the outbox holds besides the sent ones: pending, as old, never to be deleted.
PENDING = 1000
#: Users the saver thread renames in turn.
USERS = 50


def _setup(database_url: str | None, workdir: Path) -> Any:
    """Django on a fresh master database; the connection's creation helper (to drop it)."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="master.settings",
        REACTIVE_STATE_DIR=str(workdir),
        REACTIVE_RELAY="celery",
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # closed: the kick fails at once
        REACTIVE_LOG_LEVEL="ERROR",
    )
    if database_url:
        os.environ["DATABASE_URL"] = database_url
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    settings.DATABASES["default"].setdefault("TEST", {})["NAME"] = (
        str(workdir / "bench.sqlite3")
        if connection.vendor == "sqlite"
        else f"bench_retention_{os.getpid()}"
    )
    connection.creation.create_test_db(verbosity=0, autoclobber=True)
    return connection.creation


def _fill(rows: int) -> list[int]:
    """``rows`` sent rows and PENDING pending ones, recorded 8 days ago; the users' ids."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from reactive_users.master.models import OutboxEvent

    users = [
        User.objects.create_user(f"saver{i}", f"saver{i}@example.com", first_name="S")
        for i in range(USERS)
    ]
    body = OutboxEvent.objects.order_by("id").values_list("body", flat=True).first() or ""
    old, chunk = timezone.now() - timezone.timedelta(days=8), 5000
    for start in range(0, rows + PENDING, chunk):
        OutboxEvent.objects.bulk_create(
            OutboxEvent(
                event_id=_uuid(),
                user_id=1,
                action="updated",
                version=i,
                body=body,
                sent_at=old if i < rows else None,
            )
            for i in range(start, min(start + chunk, rows + PENDING))
        )
    OutboxEvent.objects.filter(user_id=1).update(created_at=old)
    return [u.pk for u in users]


def _uuid() -> Any:
    import uuid

    return uuid.uuid4()


class Saver(threading.Thread):
    """Renames users in turn, each in its own transaction, at a steady rate, timing each."""

    def __init__(self, user_ids: list[int], rate: float) -> None:
        super().__init__(daemon=True)
        self.user_ids = user_ids
        self.interval = 1.0 / rate
        self.stop = threading.Event()
        self.times: list[tuple[float, float]] = []  # (started, seconds)

    def run(self) -> None:
        from django.contrib.auth.models import User
        from django.db import connection, transaction

        users = list(User.objects.filter(pk__in=self.user_ids))
        n = 0
        while not self.stop.is_set():
            user = users[n % len(users)]
            user.first_name = f"S{n}"
            started = time.perf_counter()
            with transaction.atomic():
                user.save()
            self.times.append((started, time.perf_counter() - started))
            n += 1
            time.sleep(max(0.0, started + self.interval - time.perf_counter()))
        connection.close()

    def between(self, start: float, end: float) -> list[float]:
        """Save times (ms) of the saves started in [start, end)."""
        return [s * 1000 for t, s in self.times if start <= t < end]


def _summary(ms: list[float]) -> str:
    if not ms:
        return "no save"
    ms = sorted(ms)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return (
        f"{len(ms)} saves, p50 {statistics.median(ms):.1f} ms, p99 {p99:.1f} ms, "
        f"max {ms[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--baseline", type=float, default=3.0, help="seconds of saves alone")
    parser.add_argument("--no-pause", action="store_true")
    parser.add_argument("--save-rate", type=float, default=100.0, help="saves per second")
    parser.add_argument("--batch", type=int, default=None, help="rows per batch")
    parser.add_argument("--no-saves", action="store_true", help="time the purge alone")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        creation = _setup(args.database_url, Path(tmp))
        from django.db import connection

        from reactive_users.master.models import OutboxEvent
        from reactive_users.master.retention import PURGE_BATCH_ROWS, outbox_purge_sent

        try:
            user_ids = _fill(args.rows)
            print(f"{connection.vendor}: {OutboxEvent.objects.count()} outbox rows")
            saver = Saver(user_ids, args.save_rate)
            if not args.no_saves:
                saver.start()
                time.sleep(args.baseline)
            start = time.perf_counter()
            pause = (lambda s: None) if args.no_pause else time.sleep
            deleted = outbox_purge_sent(pause=pause, batch_rows=args.batch or PURGE_BATCH_ROWS)
            end = time.perf_counter()
            saver.stop.set()
            if saver.is_alive():
                saver.join()
            left = OutboxEvent.objects.filter(sent_at__isnull=True).count()
            took = end - start
            print(
                f"purge: deleted {deleted} sent rows in {took:.2f} s "
                f"({deleted / took:,.0f} rows/s); pending rows left: {left}"
            )
            first = saver.times[0][0] if saver.times else start
            print(f"saves alone:        {_summary(saver.between(first, start))}")
            print(f"saves during purge: {_summary(saver.between(start, end))}")
        finally:
            connection.close()
            creation.destroy_test_db(creation.connection.settings_dict["NAME"], verbosity=0)


if __name__ == "__main__":
    main()
