"""Backfill, resume, diff and repair with every real process (``reactive`` as an operator runs it).

Each test adds a client of its own to the session's stack (its queue subscribed to the
topic, a real daphne and listener on its own SQLite file) and removes it in a finally. The
master runs in this process; ``reactive backfill`` / ``diff`` run as subprocesses, as an
operator would run them, each running the master's and the client's management commands.
The 2,000-user test comes last: the other two would otherwise send its users again.
"""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from devstack import master_ops
from devstack.client_app import ClientApp, wait_for_replica
from devstack.processes import until
from devstack.stack import Stack
from reactive_cli.provision import ClientSpec
from reactive_users.core.aws import queues

#: Users the master holds before the late client joins.
USERS = 2000
#: Users renamed again and again while the backfill runs.
RENAMED = 300
#: Seconds to wait for a client to apply a backfill (thousands of events, a busy machine).
CONVERGE_SECONDS = 300
SUMMARY = re.compile(r"sent (\d+) in ([\d.]+) s, ([\d.]+) users/s")


@contextlib.contextmanager
def added_client(stack: Stack, name: str) -> Iterator[ClientApp]:
    """A client added to the running stack now (queue, subscription, daphne, listener)."""
    app = stack.add_client(ClientSpec(name=name, max_receive_count=5, visibility_timeout=10))
    try:
        yield app
    finally:
        stack.remove_client(name)


@pytest.fixture
def config(stack: Stack, tmp_path: Path) -> Path:
    """The operator's reactive.toml: the stack's prefix and the clients these tests add."""
    path = tmp_path / "reactive.toml"
    clients = "".join(f"[clients.{name}]\n" for name in ("late", "resume", "fix", "packed"))
    path.write_text(f'prefix = "{stack.settings.prefix}"\n{clients}')
    return path


def reactive(
    stack: Stack, config: Path, *args: str, env: dict[str, str] | None = None, timeout=600
) -> subprocess.CompletedProcess[str]:
    """Run ``reactive ARGS`` with the master's environment, as an operator on its host."""
    return subprocess.run(
        [sys.executable, "-m", "reactive_cli", *args],
        env={**stack.master_env, "REACTIVE_CONFIG": str(config), "COLUMNS": "200", **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def database_env(app: ClientApp) -> dict[str, str]:
    """Where ``reactive`` finds a client's database: ``<CLIENT>_DATABASE_URL``."""
    return {f"{app.name.upper()}_DATABASE_URL": app.env["DATABASE_URL"]}


def diff(stack: Stack, config: Path, app: ClientApp, *more: str) -> tuple[int, dict]:
    """``reactive diff --client NAME --json``: exit code and report."""
    ran = reactive(
        stack, config, "diff", "--client", app.name, "--json", *more, env=database_env(app)
    )
    assert ran.returncode in (0, 1), ran.stdout[-2000:] + ran.stderr[-3000:]
    return ran.returncode, json.loads(ran.stdout)


def converged(stack: Stack, config: Path, app: ClientApp) -> dict:
    """Wait until ``reactive diff`` reports no difference; return that report."""

    last: list[dict] = []
    # Each diff is a process comparing every user: none while the client is still applying.
    sqs = boto3.client("sqs", endpoint_url=stack.settings.aws_endpoint_url)
    until(
        lambda: queues.queue_depth(sqs, app.queue_url).total == 0,
        timeout=CONVERGE_SECONDS,
        interval=0.2,
        what=f"{app.name}'s queue to drain",
    )

    def equal() -> dict | None:
        code, report = diff(stack, config, app)
        last[:] = [report]
        return report if code == 0 else None

    try:
        return until(equal, timeout=CONVERGE_SECONDS, interval=1, what=f"{app.name} to converge")
    except AssertionError as e:
        report = last[0] if last else {}
        shown = json.dumps(report.get("users", [])[:20], indent=1)
        raise AssertionError(f"{e}: last diff {report.get('totals')}: {shown}") from None


def backfill(
    stack: Stack, config: Path, app: ClientApp, *more: str
) -> subprocess.CompletedProcess[str]:
    """``reactive backfill --client NAME MORE``."""
    return reactive(stack, config, "backfill", "--client", app.name, *more)


def bulk_users(count: int, tag: str) -> list[int]:
    """``count`` master users written fast, without signals (no event, no version)."""
    from django.contrib.auth.models import User

    User.objects.bulk_create(
        [User(username=f"{tag}-{i}", first_name=f"F{i}", password="!") for i in range(count)],
        batch_size=500,
    )
    return list(
        User.objects.filter(username__startswith=f"{tag}-")
        .order_by("pk")
        .values_list("pk", flat=True)
    )


class Renamer(threading.Thread):
    """Renames each user ``rounds`` times through save(), as the application would, paced so
    that the live events do not swamp moto (whose every call slows with queue depth)."""

    def __init__(self, user_ids: list[int], *, rounds: int = 2, pause: float = 0.02) -> None:
        super().__init__(name="renamer", daemon=True)
        self.user_ids = user_ids
        self.rounds = rounds
        self.pause = pause
        self.final: dict[int, str] = {}
        self.renames = 0
        self.stop = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        from django.contrib.auth.models import User
        from django.db import connection, transaction

        try:
            for round_ in range(1, self.rounds + 1):
                for user_id in self.user_ids:
                    if self.stop.wait(self.pause):  # paces the load; set only on failure
                        return
                    name = f"live-{round_}-{user_id}"
                    with transaction.atomic():
                        user = User.objects.get(pk=user_id)
                        user.first_name = name
                        user.save()
                    self.final[user_id] = name
                    self.renames += 1
        except BaseException as exc:
            self.errors.append(exc)
        finally:
            connection.close()


def test_an_interrupted_backfill_resumes_from_its_checkpoint_and_finishes(
    stack: Stack, config: Path
):
    bulk_users(600, f"rs-{uuid.uuid4().hex[:6]}")  # whatever other tests left in the master
    with added_client(stack, "resume") as app:
        # Given a backfill that stopped after 300 events (its checkpoint kept)
        first = backfill(stack, config, app, "--batch", "100", "--stop-after", "300")
        assert first.returncode == 1, first.stdout + first.stderr[-3000:]
        assert "stopped after 300 events as asked (--stop-after)" in first.stderr
        checkpoint = Path(stack.master_env["REACTIVE_STATE_DIR"]) / (
            f"backfill-{stack.settings.prefix}-resume.json"
        )
        saved = json.loads(checkpoint.read_text())
        assert saved["users"] + saved["tombstones"] == 300

        # When it is run again
        second = backfill(stack, config, app, "--batch", "100")

        # Then it says it resumes after the checkpoint, sends only the rest, and finishes
        assert second.returncode == 0, second.stdout + second.stderr[-3000:]
        lines = second.stdout.strip().splitlines()
        assert lines[0].startswith(
            f"Resuming the backfill of resume after master id {saved['last_id']} "
            f"({saved['users']} users and {saved['tombstones']} tombstones sent since "
        )
        match = SUMMARY.search(lines[-1])
        assert match, lines[-1]
        assert f"(resumed after master id {saved['last_id']}, 300 sent before)" in lines[-1]
        print(f"\nresumed backfill: {lines[-1]}")
        assert not checkpoint.exists()

        # And the client converges: the two runs together sent every user once
        report = converged(stack, config, app)
        # (every user and tombstone in the master is an equal entry, and was sent once)
        assert 300 + int(match.group(1)) == report["totals"]["equal"], report["totals"]


PACKED = re.compile(r"users/s in (\d+) message\(s\)")


def test_a_packed_backfill_resumes_and_the_listener_converges_in_few_messages(
    stack: Stack, config: Path
):
    bulk_users(600, f"pk-{uuid.uuid4().hex[:6]}")  # whatever other tests left in the master
    packing = {"REACTIVE_PUBLISH_BATCH": "1"}
    with added_client(stack, "packed") as app:
        # Given a packed backfill stopped after 250 events (its checkpoint kept)
        first = reactive(
            stack,
            config,
            "backfill",
            "--client",
            app.name,
            "--batch",
            "200",
            "--stop-after",
            "250",
            env=packing,
        )
        assert first.returncode == 1, first.stdout + first.stderr[-3000:]
        checkpoint = Path(stack.master_env["REACTIVE_STATE_DIR"]) / (
            f"backfill-{stack.settings.prefix}-packed.json"
        )
        saved = json.loads(checkpoint.read_text())
        before = saved["users"] + saved["tombstones"]
        assert before == 250  # exactly: the second read was cut to the 50 left

        # When it is run again, packed too
        second = reactive(
            stack, config, "backfill", "--client", app.name, "--batch", "200", env=packing
        )

        # Then it sent the rest in far fewer messages than events
        assert second.returncode == 0, second.stdout + second.stderr[-3000:]
        summary = second.stdout.strip().splitlines()[-1]
        sent, messages = SUMMARY.search(summary), PACKED.search(summary)
        assert sent and messages, summary
        assert int(messages.group(1)) * 10 <= int(sent.group(1)), summary
        print(f"\npacked backfill: {summary}")

        # And the client's listener applied every event: the client equals the master
        report = converged(stack, config, app)
        assert before + int(sent.group(1)) == report["totals"]["equal"], report["totals"]


def test_diff_finds_drift_on_both_sides_and_repair_fixes_it(
    stack: Stack, config: Path, tmp_path: Path
):
    from django.contrib.auth.models import User
    from django.db import connection

    with added_client(stack, "fix") as app:
        client_env = tmp_path / "fix.env"
        client_env.write_text(f"# the client's database\nDATABASE_URL={app.env['DATABASE_URL']}\n")
        assert backfill(stack, config, app).returncode == 0
        converged(stack, config, app)

        # Given a master user changed by QuerySet.update() (no event), a client user deleted
        # by hand on the client, and a master user deleted by raw SQL (no event)
        changed = master_ops.create_user(f"upd-{uuid.uuid4().hex[:6]}", password=None)
        removed = master_ops.create_user(f"rm-{uuid.uuid4().hex[:6]}", password=None)
        vanished = master_ops.create_user(f"raw-{uuid.uuid4().hex[:6]}", password=None)
        for user_id in (changed, removed, vanished):
            wait_for_replica(app, user_id, timeout=60, version=1)
        User.objects.filter(pk=changed).update(first_name="Bulk", last_name="Update")
        app.manage(
            "shell",
            "-c",
            "from reactive_users.client.models import Replica; "
            f"Replica.objects.get(master_id={removed}).user.delete()",
        )
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM auth_user WHERE id = %s", [vanished])

        # When diff runs (the client's database from --client-env)
        ran = reactive(stack, config, "diff", "--client", "fix", "--client-env", str(client_env))

        # Then it exits 1 and lists the three, in a table with totals
        print(f"\n$ reactive diff --client fix\n{ran.stdout}")
        assert ran.returncode == 1, ran.stdout + ran.stderr[-3000:]
        rows = {
            int(line.split()[1]): line
            for line in ran.stdout.splitlines()
            if re.match(r"^\S\s+\d+\s", line)
        }
        assert set(rows) == {changed, removed, vanished}, ran.stdout
        assert "stale" in rows[changed] and "first_name, last_name differ" in rows[changed]
        assert "missing" in rows[removed] and "local user deleted" in rows[removed]
        assert "extra" in rows[vanished] and "deleted in the master" in rows[vanished]
        assert "fix: 3 differ: 1 missing, 1 extra, 1 stale;" in ran.stdout

        # When diff --repair runs, it sends exactly the three events to the client's queue
        repaired = reactive(
            stack, config, "diff", "--client", "fix", "--repair", env=database_env(app)
        )
        print(f"$ reactive diff --client fix --repair\n{repaired.stdout}{repaired.stderr}")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr[-3000:]
        assert "Sent 2 snapshot(s) and 1 tombstone(s) to fix" in repaired.stdout

        # Then a second diff exits 0, and the client holds the master's state
        converged(stack, config, app)
        again = reactive(stack, config, "diff", "--client", "fix", env=database_env(app))
        print(f"$ reactive diff --client fix; echo $?\n{again.stdout}{again.returncode}")
        assert again.returncode == 0, again.stdout + again.stderr[-3000:]
        assert wait_for_replica(app, changed, first_name="Bulk", version=1)["last_name"] == (
            "Update"
        )
        assert wait_for_replica(app, removed, version=1)["local_id"] is not None
        assert wait_for_replica(app, vanished, tombstone=1)["local_id"] is None

        # When a user the client holds is promoted by QuerySet.update() (no event, no version)
        promoted = master_ops.create_user(f"stf-{uuid.uuid4().hex[:6]}", password=None)
        wait_for_replica(app, promoted, timeout=60, version=1)
        User.objects.filter(pk=promoted).update(is_superuser=True)

        # Then diff reports it as extra (no client may hold a user the master excludes), exit 1
        code, report = diff(stack, config, app)
        assert code == 1, report
        assert [(u["master_id"], u["status"], u["reason"]) for u in report["users"]] == [
            (promoted, "extra", "staff or superuser in the master: must be withdrawn")
        ]
        # And --repair sends a withdrawal at the master's current version, which removes it
        repaired = reactive(
            stack, config, "diff", "--client", "fix", "--repair", env=database_env(app)
        )
        print(f"$ reactive diff --client fix --repair\n{repaired.stdout}{repaired.stderr}")
        assert repaired.returncode == 0, repaired.stdout + repaired.stderr[-3000:]
        assert "Sent 0 snapshot(s), 0 tombstone(s) and 1 withdrawal(s) to fix" in repaired.stdout
        converged(stack, config, app)
        assert wait_for_replica(app, promoted, version=1)["local_id"] is None
        again = reactive(stack, config, "diff", "--client", "fix", env=database_env(app))
        print(f"$ reactive diff --client fix; echo $?\n{again.stdout}{again.returncode}")
        assert again.returncode == 0, again.stdout + again.stderr[-3000:]
        assert "of them withdrawn: staff or superusers in the master)" in again.stdout


def test_a_client_added_late_is_backfilled_during_live_renames_and_converges_exactly(
    stack: Stack, config: Path
):
    from django.contrib.auth.models import User
    from django.db import connection

    from reactive_users.master.services import users_republish

    # Given a master with 2,000 users: most never had an event (bulk_create), some
    # republished (an event each), some deleted through the ORM, one deleted by raw SQL
    tag = f"bf-{uuid.uuid4().hex[:6]}"
    ids = bulk_users(USERS, tag)
    users_republish(queryset=User.objects.filter(pk__in=ids[:200]))
    User.objects.filter(pk__in=ids[-20:]).delete()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM auth_user WHERE id = %s", [ids[0]])
    renamed = ids[500 : 500 + RENAMED]

    # When a client joins now, and is backfilled while 300 users are being renamed
    with added_client(stack, "late") as app:
        renamer = Renamer(renamed)
        renamer.start()
        try:
            until(lambda: renamer.renames >= 20, timeout=60, what="renames under way")
            before = renamer.renames
            started = time.monotonic()
            ran = backfill(stack, config, app, "--batch", "500", "--max-depth", "30")
            elapsed = time.monotonic() - started
            during = renamer.renames - before
            renamer.join(300)  # its last renames may come after the backfill
        finally:
            renamer.stop.set()
            renamer.join(60)
        assert renamer.errors == []
        assert renamer.renames == 2 * RENAMED
        assert ran.returncode == 0, ran.stdout + ran.stderr[-3000:]
        summary = ran.stdout.strip().splitlines()[-1]
        match = SUMMARY.search(summary)
        assert match, summary
        progress = [line for line in ran.stderr.splitlines() if line.startswith("backfill late")]
        print(f"\nbackfill into one client: {progress[0]}\n...\n{progress[-1]}\n{summary}")
        print(
            f"backfill rate: {float(match.group(3)):.1f} users/s ({match.group(1)} users in "
            f"{float(match.group(2)):.2f} s; command {elapsed:.1f} s; {during} renames meanwhile)"
        )
        assert during > 0, "no rename happened during the backfill"
        assert int(match.group(1)) >= USERS - 20 and "tombstones" in summary
        assert re.search(r"backfill late: \d+/\d+ sent .* users/s, about .* left", ran.stderr)

        # Then the client converges exactly: diff reports no difference at all
        report = converged(stack, config, app)
        assert report["totals"]["equal"] >= USERS
        assert report["totals"]["missing"] == report["totals"]["stale"] == 0
        assert report["totals"]["extra"] == 0

        # And every live change's final value is on the client: none lost to a snapshot
        lost = {
            user_id: (name, (app.replica(user_id) or {}).get("first_name"))
            for user_id, name in renamer.final.items()
            if (app.replica(user_id) or {}).get("first_name") != name
        }
        assert lost == {}
        assert len(renamer.final) == RENAMED
        # And the deleted users are tombstones there, the raw SQL one too
        assert all(app.replica(i)["tombstone"] for i in [ids[0], *ids[-20:]])
