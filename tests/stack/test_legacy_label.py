"""`reactive up` over a state directory whose master database an earlier checkout made,
with the master app under its former label ``users``: it moves it (``reactive_relabel
--if-needed``) before migrating, and the outbox rows are still there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack.conftest import local_stack

ROOT = Path(__file__).resolve().parents[2]

SEED = """
import json, uuid
from django.utils import timezone
from tests.projects.legacy_master.users.models import OutboxEvent
rows = [OutboxEvent.objects.create(event_id=uuid.uuid4(), user_id=1000 + i, action="created",
        version=1, body="{}", sent_at=timezone.now()) for i in range(3)]
print(json.dumps(sorted(str(r.event_id) for r in rows)))
"""

READ = """
import json
from reactive_users.master.models import OutboxEvent
print(json.dumps(sorted(str(e) for e in OutboxEvent.objects.filter(user_id__gte=1000)
                 .values_list("event_id", flat=True))))
"""


def django(state_dir: Path, settings: str, *args: str, url: str | None = None) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONPATH": str(ROOT)}
    env["REACTIVE_STATE_DIR"] = str(state_dir)
    env.pop("DATABASE_URL", None)
    if url:
        env["DATABASE_URL"] = url
    ran = subprocess.run(
        [sys.executable, "-m", "django", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    return ran.stdout


def test_up_moves_a_master_database_made_under_the_label_users(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    state_dir = tmp_path_factory.mktemp("legacy") / "st"
    state_dir.mkdir(mode=0o700)
    legacy = "tests.projects.legacy_master.settings"
    url = f"sqlite:///{state_dir / 'master.sqlite3'}"
    django(state_dir, legacy, "migrate", "--verbosity", "0", url=url)
    seeded = json.loads(django(state_dir, legacy, "shell", "--no-imports", "-c", SEED, url=url))

    with local_stack(state_dir, "--client", "shop", clients=("shop",)) as run:
        assert run.started is not None and run.started.code == 0

        kept = django(state_dir, "master.settings", "shell", "--no-imports", "-c", READ)
        shown = django(state_dir, "master.settings", "showmigrations", "reactive_master")

    assert json.loads(kept) == seeded
    assert shown.count("[X]") == 5 and "[ ]" not in shown
