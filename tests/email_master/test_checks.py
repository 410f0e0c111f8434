"""``manage.py check`` in the custom-user project refuses a bad allow-list, naming the field
and the fix (``reactive_users/master/checks.py``); run as its owner would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def check(fields: str | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.projects.email_master.settings"}
    if fields is not None:
        env["DJANGO_SETTINGS_MODULE"] += "_fields"
        env["EMAIL_MASTER_USER_FIELDS"] = fields
    return subprocess.run(
        [sys.executable, "-m", "django", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_project_as_written_passes() -> None:
    done = check(None)
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    ("fields", "message", "hint"),
    [
        (
            "email,nickname",
            "(reactive_users.E001) REACTIVE_USER_FIELDS names 'nickname': accounts.User has "
            "no such field",
            "HINT: Remove it from REACTIVE_USER_FIELDS, or use some of: email, is_active, "
            "joined_at, name, newsletter, plan.",
        ),
        (
            "email,preferences",
            "(reactive_users.E002) REACTIVE_USER_FIELDS names 'preferences', which cannot "
            "travel: it is a JSONField, which has no plain wire value",
            "HINT: Remove 'preferences' from REACTIVE_USER_FIELDS",
        ),
        (
            "email,password",
            "(reactive_users.E003) REACTIVE_USER_FIELDS names 'password': a password, login "
            "time, privilege flag or id; it never leaves the master",
            "HINT: Remove 'password' from REACTIVE_USER_FIELDS.",
        ),
        (
            "email,api_token",
            "(reactive_users.E003) REACTIVE_USER_FIELDS names 'api_token': its name looks "
            "like a secret",
            "HINT: Remove 'api_token' from REACTIVE_USER_FIELDS.",
        ),
        (
            "name,is_active",
            "(reactive_users.E004) REACTIVE_USER_FIELDS leaves out 'email', the "
            "USERNAME_FIELD of accounts.User",
            "HINT: Add 'email' to REACTIVE_USER_FIELDS",
        ),
    ],
)
def test_a_bad_allow_list_fails_the_check_naming_the_field_and_the_fix(
    fields: str, message: str, hint: str
) -> None:
    done = check(fields)

    assert done.returncode == 1
    assert message in done.stderr
    assert hint in done.stderr


def test_an_exclusion_rule_that_does_not_import_fails_the_check(settings) -> None:
    from reactive_users.master.checks import check_settings

    settings.REACTIVE_EXCLUDE_USER = "tests.projects.email_master.accounts.rules.nope"

    [error] = check_settings()

    assert error.id == "reactive_users.E006"
    assert "REACTIVE_EXCLUDE_USER='tests.projects.email_master.accounts.rules.nope'" in error.msg
