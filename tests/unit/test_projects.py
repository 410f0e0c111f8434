"""How the CLI runs a project's management commands (``reactive_cli.projects``)."""

from __future__ import annotations

import os
import sys

from reactive_cli import config, projects


def test_the_reference_projects_run_through_their_own_entry_points():
    master = projects.project_env(config.REFERENCE_MASTER, {})
    client = projects.project_env(config.REFERENCE_CLIENT, {})
    assert projects.argv(master, ["backfill"]) == [sys.executable, "-m", "master", "backfill"]
    assert projects.argv(client, ["listen"]) == [sys.executable, "-m", "client", "listen"]


def test_any_other_project_runs_as_python_m_django_with_its_settings_and_path_first():
    project = config.ProjectConfig(settings="identity.settings", pythonpath=("/srv/identity",))
    env = projects.project_env(project, {"PYTHONPATH": "/opt/lib"})
    assert env == {
        "DJANGO_SETTINGS_MODULE": "identity.settings",
        "PYTHONPATH": os.pathsep.join(["/srv/identity", "/opt/lib"]),
    }
    assert projects.argv(env, ["users_dump"]) == [sys.executable, "-m", "django", "users_dump"]
