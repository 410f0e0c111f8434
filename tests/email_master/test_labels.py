"""The master app installs beside the project's own ``users`` app (label ``users``, as in
cookiecutter-django projects): both load, ``check`` passes, ``migrate`` applies both."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection


def test_the_projects_users_app_and_the_master_app_have_their_own_labels() -> None:
    assert apps.get_app_config("users").name == "tests.projects.email_master.users"
    assert apps.get_app_config("reactive_master").name == "reactive_users.master"


@pytest.mark.django_db
def test_check_with_the_database_and_migrate_pass() -> None:
    # The test database was made by `migrate` (pytest-django): nothing is left unapplied,
    # and the database checks (the legacy-label one among them) find nothing.
    call_command("check", databases=["default"])
    call_command("migrate", check_unapplied=True, verbosity=0)

    tables = set(connection.introspection.table_names())
    assert {"users_profile", "reactive_master_outboxevent", "reactive_master_userversion"} <= (
        tables
    )
