"""The ``publish_pending`` management command and ``python -m master``."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command


@pytest.mark.django_db
def test_publish_pending_prints_how_many_events_were_published(topic) -> None:
    for name in ("a", "b", "c"):
        User.objects.create_user(name)
    out = StringIO()

    call_command("publish_pending", stdout=out)

    assert out.getvalue() == "Published 3 event(s).\n"
    assert len(topic.queue.receive(3)) == 3


@pytest.mark.django_db
def test_publish_pending_fails_when_events_stay_pending() -> None:
    User.objects.create_user("ana")  # and no topic was provisioned for this prefix

    with pytest.raises(CommandError, match=r"1 event\(s\) left pending: .*run provisioning"):
        call_command("publish_pending", stdout=StringIO())


def test_python_m_master_runs_management_commands(tmp_path) -> None:
    env = {**os.environ, "REACTIVE_STATE_DIR": str(tmp_path)}
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [sys.executable, "-m", "master", "help", "publish_pending"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m master publish_pending")
