"""The name_client project as its owner runs it: ``python -m django check`` refusing a
wrong field map, and its listener (``reactive_listen`` under the project's own settings)
applying a custom master's event from a real (moto server) SQS queue."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.processes import Proc, python, until
from devstack.signing import KEYS, KEYS_TEXT
from devstack.signing import attributes as signed
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core import aws
from reactive_users.core.contract import Action, encode, new_event
from reactive_users.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.projects.name_client.settings"


def project_env(tmp_path: Path, settings: str = SETTINGS, **extra: str) -> dict[str, str]:
    return {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
        "DJANGO_SETTINGS_MODULE": settings,
        "NAME_CLIENT_DB": str(tmp_path / "names.sqlite3"),
        "REACTIVE_STATE_DIR": str(tmp_path / "state"),
        "REACTIVE_SIGNING_KEYS": KEYS_TEXT,
        **extra,
    }


def django(
    tmp_path: Path, *args: str, settings: str = SETTINGS
) -> subprocess.CompletedProcess[str]:
    env = project_env(tmp_path, settings)
    argv = [sys.executable, "-m", "django", *args]
    return subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)


def check_with_map(tmp_path: Path, mapping: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python -m django check`` with the project's settings but this REACTIVE_FIELD_MAP."""
    module = tmp_path / "mapped_settings.py"
    module.write_text(f"from {SETTINGS} import *  # noqa\nREACTIVE_FIELD_MAP = {mapping!r}\n")
    return django(tmp_path, "check", settings="mapped_settings")


def test_the_project_passes_its_checks(tmp_path):
    done = django(tmp_path, "check")
    assert done.returncode == 0, done.stderr
    assert "no issues" in done.stdout


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        (
            {"name": "fullname", "email": "email"},
            "(reactive_users.E101) REACTIVE_FIELD_MAP: 'name' maps to 'fullname', "
            "which accounts.User does not have",
        ),
        (
            {"name": "full_name", "email": "email", "is_active": "full_name"},
            "(reactive_users.E102) REACTIVE_FIELD_MAP: 'is_active' maps to 'full_name', "
            "a CharField, which cannot hold a boolean value",
        ),
        (
            {"name": "full_name", "email": "email", "plan": "groups"},
            "(reactive_users.E102) REACTIVE_FIELD_MAP: 'plan' maps to 'groups', "
            "which is not a column of accounts.User",
        ),
        (
            {"name": "full_name"},
            "(reactive_users.E103) REACTIVE_FIELD_MAP writes no 'email', accounts.User's "
            "USERNAME_FIELD, and it is required",
        ),
    ],
    ids=["missing field", "wrong type", "not a column", "login unmapped"],
)
def test_a_wrong_field_map_fails_the_check_naming_the_field_and_the_fix(tmp_path, mapping, message):
    done = check_with_map(tmp_path, mapping)
    assert done.returncode == 1
    assert message in done.stderr
    assert "HINT:" in done.stderr


def test_a_linking_policy_on_a_field_that_is_not_unique_fails_the_check(tmp_path):
    module = tmp_path / "linking_settings.py"
    module.write_text(f"from {SETTINGS} import *  # noqa\nREACTIVE_LINK_BY = 'full_name'\n")
    done = django(tmp_path, "check", settings="linking_settings")
    assert done.returncode == 1
    assert (
        "(reactive_users.E105) REACTIVE_LINK_BY names 'full_name', not a unique field of "
        "accounts.User"
    ) in done.stderr
    assert "HINT:" in done.stderr


def test_the_projects_listener_applies_a_custom_masters_event_from_sqs(
    tmp_path, moto_endpoint: str, prefix: str
):
    # Given the project migrated and its queue provisioned in moto
    settings = Settings(prefix=prefix, aws_endpoint_url=moto_endpoint, signing=KEYS)
    done = ensure(settings, [ClientSpec(name="names", visibility_timeout=5)])
    migrated = django(tmp_path, "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    env = project_env(
        tmp_path, REACTIVE_PREFIX=prefix, AWS_ENDPOINT_URL=moto_endpoint, AWS_REGION="us-east-1"
    )
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    listener = Proc(
        "reactive_listen",
        python("-m", "django", "reactive_listen", "--wait-seconds", "1"),
        env,
        tmp_path,
    )
    try:
        # When the master (a custom one: no username) creates a user
        event = new_event(
            action=Action.CREATED,
            user_id=41,
            version=1,
            user={"email": "ana@example.com", "name": "Ana Silva", "is_active": True},
            changed=("email", "is_active", "name"),
        )
        body = encode(event)
        aws.client("sqs", settings).send_message(
            QueueUrl=done.queue_urls["names"],
            MessageBody=body,
            MessageAttributes=signed(body, action="created"),
        )

        # Then the project's own user table has it, by its own field names
        def row() -> tuple[str, str, int] | None:
            assert listener.alive(), listener.log()[-3000:]
            with sqlite3.connect(tmp_path / "names.sqlite3") as db:
                query = "SELECT email, full_name, is_active FROM accounts_user"
                return db.execute(query).fetchone()

        assert until(row, timeout=30, what="the user applied") == (
            "ana@example.com",
            "Ana Silva",
            1,
        )
        listener.signal(signal.SIGTERM)
        assert listener.popen.wait(timeout=30) == 0
    finally:
        listener.stop()
