"""Upgrading a database migrated under the app's former label ``users``, and relabelling.

Each test migrates a scratch database of its own (a SQLite file, or a new PostgreSQL database
when the suite runs with DATABASE_URL) with the frozen ``users`` app of
``tests/projects/legacy_master`` (the models and migrations as they were), writes outbox rows
there, then runs the master project (``python -m master``) on it: ``migrate`` refuses,
``reactive_relabel`` moves everything, ``migrate`` has nothing left to do, and every outbox row,
sent or not, is still there and publishable by the ORM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEGACY = "tests.projects.legacy_master.settings"
RELABELLED = "tests.projects.relabelled_master.settings"

#: Four outbox rows (two unsent) and a version, written by the legacy app's ORM.
SEED = """
import uuid, json
from django.utils import timezone
from tests.projects.legacy_master.users.models import OutboxEvent, UserVersion
rows = [OutboxEvent.objects.create(event_id=uuid.uuid4(), user_id=i + 1, action="created",
        version=1, body="{}", sent_at=timezone.now() if i % 2 else None) for i in range(4)]
UserVersion.objects.create(user_id=1, version=3)
print(json.dumps(sorted(str(r.event_id) for r in rows if r.sent_at is None)))
"""

#: What the master app now reads from the same database, through its own models.
READ = """
import json
from reactive_users.master.models import OutboxEvent, UserVersion
print(json.dumps({
    "unsent": sorted(str(e) for e in OutboxEvent.objects.filter(sent_at=None)
                     .values_list("event_id", flat=True)),
    "events": OutboxEvent.objects.count(),
    "versions": list(UserVersion.objects.values_list("user_id", "version")),
}))
"""


@pytest.fixture
def scratch_url(tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: PostgreSQL when the suite runs on it, else SQLite."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        yield f"sqlite:///{tmp_path / 'scratch.sqlite3'}"
        return
    import psycopg

    name = f"relabel_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base, _, query = url.partition("?")
    try:
        yield f"{base.rsplit('/', 1)[0]}/{name}{'?' + query if query else ''}"
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def django(url: str, tmp_path: Path, settings: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``manage.py`` of the project ``settings`` names, on the scratch database."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": settings,
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def master(url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return django(url, tmp_path, "master.settings", *args)


def ok(ran: subprocess.CompletedProcess[str]) -> str:
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


@pytest.fixture
def legacy_db(scratch_url: str, tmp_path: Path) -> tuple[str, list[str]]:
    """The scratch database migrated under the label ``users``, holding outbox rows; and the
    event ids of the unsent ones."""
    ok(django(scratch_url, tmp_path, LEGACY, "migrate", "--verbosity", "0"))
    unsent = json.loads(
        ok(django(scratch_url, tmp_path, LEGACY, "shell", "--no-imports", "-c", SEED))
    )
    return scratch_url, unsent


def test_migrate_refuses_a_database_still_under_the_former_label(legacy_db, tmp_path) -> None:
    url, _unsent = legacy_db

    ran = master(url, tmp_path, "migrate")

    assert ran.returncode == 1
    assert "reactive_users.E008" in ran.stderr
    assert "reactive_relabel" in ran.stderr
    # and it created nothing beside the old tables
    shown = ok(master(url, tmp_path, "showmigrations", "reactive_master"))
    assert "[X]" not in shown


def test_reactive_relabel_keeps_every_outbox_row_and_leaves_migrate_nothing(
    legacy_db, tmp_path
) -> None:
    url, unsent = legacy_db

    moved = ok(master(url, tmp_path, "reactive_relabel"))

    assert (
        "relabelled 'users' -> 'reactive_master' in database 'default': 5 migration records, "
        "2 tables, 3 indexes, 2 content types; 4 outbox events kept (2 unsent)"
    ) in moved
    # migrate: the app's migrations are all recorded; nothing of ours left to apply
    ok(master(url, tmp_path, "migrate", "--verbosity", "0"))
    ok(master(url, tmp_path, "migrate", "--check"))
    ok(master(url, tmp_path, "check", "--database", "default"))
    assert ok(master(url, tmp_path, "migrate")).rstrip().endswith("No migrations to apply.")
    read = json.loads(ok(master(url, tmp_path, "shell", "--no-imports", "-c", READ)))
    assert read == {"unsent": unsent, "events": 4, "versions": [[1, 3]]}
    tables = ok(master(url, tmp_path, "shell", "--no-imports", "-c", TABLES))
    assert json.loads(tables) == {
        "tables": ["reactive_master_outboxevent", "reactive_master_userversion"],
        "indexes": [
            "reactive_master_outbox_pending",
            "reactive_master_outbox_retry",
            "reactive_master_outbox_sent",
        ],
        "content_types": ["reactive_master"],
    }


#: The app's tables, its named indexes and its content types' label, as the database has them.
TABLES = """
import json
from django.db import connection
from django.contrib.contenttypes.models import ContentType
names = connection.introspection.table_names()
with connection.cursor() as c:
    indexes = connection.introspection.get_constraints(c, "reactive_master_outboxevent")
print(json.dumps({
    "tables": sorted(n for n in names if "outboxevent" in n or "userversion" in n),
    "indexes": sorted(n for n in indexes if "_outbox_" in n),
    "content_types": sorted({c.app_label for c in ContentType.objects.filter(
        model__in=["outboxevent", "userversion"])}),
}))
"""


def test_reactive_relabel_refuses_when_there_is_nothing_to_move(legacy_db, tmp_path) -> None:
    url, _unsent = legacy_db
    ok(master(url, tmp_path, "reactive_relabel"))

    again = master(url, tmp_path, "reactive_relabel")
    quiet = master(url, tmp_path, "reactive_relabel", "--if-needed")

    assert again.returncode == 1
    assert again.stderr.strip() == (
        "CommandError: nothing to relabel: no migration of the app is recorded under 'users' "
        "(already under 'reactive_master')"
    )
    assert quiet.returncode == 0
    assert quiet.stdout.startswith("nothing to relabel:")


def test_reactive_relabel_refuses_a_state_it_does_not_recognise(legacy_db, tmp_path) -> None:
    url, unsent = legacy_db
    # Given `migrate --skip-checks` made new, empty tables beside the old ones
    ok(master(url, tmp_path, "migrate", "--skip-checks", "--verbosity", "0"))

    ran = master(url, tmp_path, "reactive_relabel")

    assert ran.returncode == 1
    assert ran.stderr.startswith("CommandError: refused, nothing changed: migrations of the app")
    assert "recorded under both 'users' and 'reactive_master'" in ran.stderr
    # the old tables are untouched
    legacy = json.loads(
        ok(django(url, tmp_path, LEGACY, "shell", "--no-imports", "-c", UNSENT_LEGACY))
    )
    assert legacy == unsent


UNSENT_LEGACY = """
import json
from tests.projects.legacy_master.users.models import OutboxEvent
print(json.dumps(sorted(str(e) for e in OutboxEvent.objects.filter(sent_at=None)
                 .values_list("event_id", flat=True))))
"""


def test_bad_arguments_exit_2_in_one_line(scratch_url, tmp_path) -> None:
    same = master(scratch_url, tmp_path, "reactive_relabel", "--from", "reactive_master")
    nodb = master(scratch_url, tmp_path, "reactive_relabel", "--database", "nope")

    assert same.returncode == nodb.returncode == 2
    assert same.stderr.strip() == (
        "CommandError: --from reactive_master: that is the app's installed label; "
        "name the former one"
    )
    assert nodb.stderr.strip() == "CommandError: no database 'nope' in DATABASES"


def test_a_project_relabels_the_app_by_subclassing_its_config(legacy_db, tmp_path) -> None:
    url, unsent = legacy_db
    ok(master(url, tmp_path, "reactive_relabel"))

    # When the project then installs the app under a label of its own ("outbox")
    refused = django(url, tmp_path, RELABELLED, "migrate")
    moved = ok(django(url, tmp_path, RELABELLED, "reactive_relabel", "--from", "reactive_master"))

    assert refused.returncode == 1 and "reactive_relabel --from reactive_master" in refused.stderr
    # only the records move: the tables keep their names under any label
    assert "5 migration records, 0 tables, 0 indexes, 2 content types" in moved
    ok(django(url, tmp_path, RELABELLED, "migrate", "--check"))
    read = json.loads(ok(django(url, tmp_path, RELABELLED, "shell", "--no-imports", "-c", READ)))
    assert read["unsent"] == unsent


def test_a_relabelled_app_migrates_a_new_database(scratch_url, tmp_path) -> None:
    ok(django(scratch_url, tmp_path, RELABELLED, "migrate", "--verbosity", "0"))

    shown = ok(django(scratch_url, tmp_path, RELABELLED, "showmigrations", "outbox"))

    assert shown.count("[X]") == 5
    ok(django(scratch_url, tmp_path, RELABELLED, "check", "--database", "default"))
    read = json.loads(
        ok(django(scratch_url, tmp_path, RELABELLED, "shell", "--no-imports", "-c", READ))
    )
    assert read == {"unsent": [], "events": 0, "versions": []}
