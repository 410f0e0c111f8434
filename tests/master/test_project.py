"""Project wiring: settings refuse unsafe values, beat runs the sweep, checks guard fields."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace

from django.conf import settings as django_settings

from reactive_users.master.checks import check_user_fields


def import_settings(tmp_path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "REACTIVE_STATE_DIR": str(tmp_path), **env}
    return subprocess.run(
        [sys.executable, "-c", "import master.settings"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_settings_refuse_a_wildcard_allowed_host(tmp_path) -> None:
    result = import_settings(tmp_path, DJANGO_ALLOWED_HOSTS="example.com,*")

    assert result.returncode != 0
    assert "DJANGO_ALLOWED_HOSTS may not contain '*'" in result.stderr


def test_settings_refuse_a_sweep_interval_under_a_second(tmp_path) -> None:
    result = import_settings(tmp_path, REACTIVE_OUTBOX_SWEEP_SECONDS="0")

    assert result.returncode != 0
    assert "REACTIVE_OUTBOX_SWEEP_SECONDS='0' must be at least 1 seconds" in result.stderr


def test_settings_refuse_a_relay_queue_depth_that_is_not_off_and_under_20(tmp_path) -> None:
    for raw, message in [
        ("10", "REACTIVE_RELAY_MAX_QUEUE_DEPTH=10: use 0 (off) or 20 or more"),
        ("lots", "REACTIVE_RELAY_MAX_QUEUE_DEPTH='lots' is not a whole number"),
        ("-1", "REACTIVE_RELAY_MAX_QUEUE_DEPTH='-1' must be within 0..1000000 messages"),
    ]:
        result = import_settings(tmp_path, REACTIVE_RELAY_MAX_QUEUE_DEPTH=raw)

        assert result.returncode != 0
        assert message in result.stderr


def test_requests_are_atomic_so_an_admin_save_and_its_event_commit_together() -> None:
    assert django_settings.DATABASES["default"]["ATOMIC_REQUESTS"] is True


def test_beat_runs_the_outbox_sweep_every_configured_interval(celery_app) -> None:
    celery_app.loader.import_default_modules()  # what a worker and beat do at start

    entry = celery_app.conf.beat_schedule["outbox-sweep"]

    assert entry["task"] == "master.users.tasks.outbox_sweep"
    assert entry["schedule"] == django_settings.REACTIVE_OUTBOX_SWEEP_SECONDS
    assert {"master.users.tasks.outbox_sweep", "master.users.tasks.outbox_relay"} <= set(
        celery_app.tasks
    )


def test_a_field_outside_auth_user_fails_the_system_check(settings, master_settings) -> None:
    settings.REACTIVE = replace(master_settings, user_fields=("username", "nickname"))

    [error] = check_user_fields()

    assert error.id == "reactive_users.E001"
    assert "'nickname'" in error.msg


def test_the_default_allow_list_passes_the_system_check() -> None:
    assert check_user_fields() == []
