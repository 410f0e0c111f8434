"""``publish_pending --every``: the outbox sweep as one long-running program, for a master
project without Celery (README, "The master app in your own project", step 4).

The project runs as real processes on a database file: a shell saves a user while SNS is
away (its publisher thread cannot publish, the row stays in the outbox); the sweep program,
started afterwards with SNS there, publishes it to moto and stops cleanly on SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from devstack.processes import Proc, until
from devstack.signing import KEYS_TEXT
from reactive_users.core.contract import Action, decode_sqs_body
from reactive_users.core.settings import Settings
from tests.master.sqs import Topic

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.projects.email_master.settings"
CREATE = (
    "from django.contrib.auth import get_user_model\n"
    "get_user_model().objects.create_user('sweep@example.com', 'pw', name='Swept')\n"
)


def project_env(tmp_path: Path, master_settings: Settings, endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REACTIVE_CLIENT")}
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        PYTHONPATH=str(ROOT),
        EMAIL_MASTER_DB=str(tmp_path / "master.sqlite3"),
        AWS_ENDPOINT_URL=endpoint,
        AWS_REGION="us-east-1",
        REACTIVE_PREFIX=master_settings.prefix,
        REACTIVE_STATE_DIR=str(master_settings.state_dir),
        REACTIVE_SIGNING_KEYS=KEYS_TEXT,
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_sweep_program_publishes_what_the_web_process_could_not_and_stops_on_term(
    tmp_path: Path, master_settings: Settings, topic: Topic, moto_endpoint: str
) -> None:
    env = project_env(tmp_path, master_settings, moto_endpoint)
    manage(env, "migrate", "--verbosity", "0")
    # SNS away for the saving process: nothing listens on a port this socket holds.
    with socket_held() as dead:
        manage({**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{dead}"}, "shell", "-c", CREATE)

    sweep = Proc(
        "sweep",
        [sys.executable, "-m", "django", "publish_pending", "--every", "0.2"],
        env,
        tmp_path / "logs",
    )
    try:
        received = [decode_sqs_body(m["Body"]) for m in topic.queue.receive(1, timeout=30)]
        assert [e.action for e in received] == [Action.CREATED]
        assert received[0].user["name"] == "Swept"
        assert sweep.alive()
        sweep.signal(signal.SIGTERM)
        until(lambda: not sweep.alive(), timeout=15, what="the sweep program to stop on TERM")
        log = sweep.log()
    finally:
        code = sweep.stop()
    assert code == 0, log
    assert "Stopped; 0 sweep(s) failed" in log


@contextmanager
def socket_held() -> Iterator[int]:
    """A loopback port bound but never listening: connections to it are refused."""
    sock = socket.socket()
    try:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])
    finally:
        sock.close()


def test_a_failed_sweep_is_reported_and_the_next_one_runs() -> None:
    from reactive_users.master.management.commands.publish_pending import sweep_until

    stop = threading.Event()
    runs: list[int] = []
    warnings: list[str] = []

    def sweep() -> None:
        runs.append(1)
        if len(runs) == 1:
            raise RuntimeError("SNS answered 503")
        stop.set()

    assert sweep_until(stop, 0.01, sweep, warnings.append) == 1
    assert len(runs) == 2
    assert warnings == ["sweep failed, next in 0.01 s: SNS answered 503"]


@pytest.mark.parametrize("every", ["0", "-1", "3601"])
def test_every_out_of_range_is_one_clear_error(every: str, tmp_path: Path) -> None:
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="--every must be more than 0"):
        call_command("publish_pending", "--every", every)
