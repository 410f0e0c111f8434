"""The client app relabelled by its project (``tests/projects/name_client/relabelled.py``):
a new database migrates under the new label (the migrations name none) and ``check`` passes;
run as the project's owner would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def manage(tmp_path: Path, *args: str) -> str:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.projects.name_client.relabelled",
        "NAME_CLIENT_DB": str(tmp_path / "db.sqlite3"),
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
        "PYTHONPATH": str(ROOT),
    }
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


def test_a_relabelled_client_app_migrates_a_new_database_and_passes_check(tmp_path) -> None:
    manage(tmp_path, "migrate", "--verbosity", "0")

    shown = manage(tmp_path, "showmigrations", "mirror")
    tables = manage(
        tmp_path,
        "shell",
        "--no-imports",
        "-c",
        "from django.db import connection; print(sorted(t for t in "
        "connection.introspection.table_names() if t.startswith(('mirror_', 'replica_'))))",
    )

    assert shown.count("[X]") == 7 and "[ ]" not in shown
    assert tables.strip() == "['mirror_replica', 'mirror_tokengeneration']"
    manage(tmp_path, "check", "--database", "default")
