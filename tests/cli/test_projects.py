"""Commands run the Django projects reactive.toml names, not this checkout's reference ones."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def a_project(root: Path, package: str) -> None:
    """A minimal Django project of a user's, importable only from ``root``."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text("")
    (root / package / "settings.py").write_text(
        f'SECRET_KEY = "test-only"\nINSTALLED_APPS: list[str] = []\nPROJECT_MARKER = {package!r}\n'
    )


def reactive(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "REACTIVE_"))}
    return subprocess.run(
        [sys.executable, "-m", "reactive_cli", *args],
        env=env | {"REACTIVE_STATE_DIR": str(tmp_path / "state")},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_manage_runs_the_master_and_client_projects_reactive_toml_names(tmp_path):
    # Given a user's master and client projects outside this checkout, named in reactive.toml
    a_project(tmp_path / "srv" / "identity", "identity")
    a_project(tmp_path / "srv" / "shop", "shopsite")
    (tmp_path / "reactive.toml").write_text(
        '[master]\nsettings = "identity.settings"\npythonpath = "srv/identity"\n'
        '[clients.shop]\nsettings = "shopsite.settings"\npythonpath = "srv/shop"\n'
    )
    # When the operator runs a management command of each
    master = reactive(tmp_path, "manage", "master", "--", "diffsettings", "--all")
    shop = reactive(tmp_path, "manage", "shop", "--", "diffsettings", "--all")
    # Then each ran under its own project's settings
    assert master.returncode == 0, master.stderr
    assert "PROJECT_MARKER = 'identity'" in master.stdout
    assert shop.returncode == 0, shop.stderr
    assert "PROJECT_MARKER = 'shopsite'" in shop.stdout
    assert "REACTIVE_CLIENT" not in shop.stdout  # an environment variable, not a setting


def test_a_project_that_does_not_import_fails_with_its_own_error_and_exit_code(tmp_path):
    (tmp_path / "reactive.toml").write_text(
        '[master]\nsettings = "nowhere.settings"\n[clients.shop]\n'
    )
    ran = reactive(tmp_path, "manage", "master", "--", "check")
    assert ran.returncode != 0
    assert "No module named 'nowhere'" in ran.stderr
