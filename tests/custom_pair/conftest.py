"""The custom pair on real parts, once per session: moto's server and a redis-server, the master
``tests/projects/email_master`` in this process (its ORM is how the tests change users; its
publisher thread relays each commit to SNS) with the outbox sweep a master without Celery runs
beside it (``publish_pending --every 1``: what the thread could not publish, say while SQLite
was locked under load, goes out within a second), and ``tests/projects/name_client`` as two
clients' listeners, each started as an operator would: ``reactive provision`` and ``reactive
listen --client NAME`` with a ``reactive.toml`` naming both projects' settings modules and
Python path. ``names`` has no linking policy; ``linked`` links existing local users by email
(``REACTIVE_LINK_BY``). Every process started here is stopped here, by PID.

Run with ``-p no:django``: Django is set up here, as the master.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devstack.processes import Proc, free_port, port_open, python, until
from devstack.project_app import asgi_server

#: The checkout's root: both test projects import from it (reactive.toml's pythonpath).
ROOT = Path(__file__).resolve().parents[2]
MASTER_SETTINGS = "tests.projects.email_master.settings"
CLIENT_SETTINGS = "tests.projects.name_client.settings"
#: The clients: name -> extra environment of its listener (and of ``reactive`` run on it).
CLIENTS = {"names": {}, "linked": {"NAME_CLIENT_LINK_BY": "email"}}
#: name_client's ASGI application, as its owner's daphne serves it.
CLIENT_ASGI = "tests.projects.name_client.asgi:application"


@dataclass
class Pair:
    """The running pair: where its files are, its listeners, and ``reactive`` to run on it."""

    workdir: Path
    config: Path
    state_dir: Path
    env: dict[str, str]
    listeners: dict[str, Proc] = field(default_factory=dict)

    def db(self, client: str) -> Path:
        return self.workdir / f"{client}.sqlite3"

    def client_env(self, client: str) -> dict[str, str]:
        """What a process of ``client``'s project runs with: its own database and policy."""
        return {**self.env, "DATABASE_URL": f"sqlite:///{self.db(client)}", **CLIENTS[client]}

    def reactive(
        self, *args: str, client: str | None = None, stdin: str | None = None, timeout: float = 300
    ) -> subprocess.CompletedProcess[str]:
        """``reactive ARGS --config reactive.toml`` as an operator runs it on this host; with
        ``client``, that client's database is the one its project opens."""
        env = self.client_env(client) if client else self.env
        words = 2 if args[0] == "dlq" else 1  # --config goes with the command, before any --
        argv = [*args[:words], "--config", str(self.config), *args[words:]]
        return subprocess.run(
            python("-m", "reactive_cli", *argv),
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.workdir,
        )

    def ok(self, *args: str, client: str | None = None) -> str:
        """``reactive ARGS``, which must exit 0; its stdout."""
        ran = self.reactive(*args, client=client)
        assert ran.returncode == 0, f"reactive {' '.join(args)}: {ran.stdout[-2000:]}{ran.stderr}"
        return ran.stdout

    def query(self, client: str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        """Rows of ``client``'s database, read-only."""
        uri = f"file:{self.db(client)}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            db.row_factory = sqlite3.Row
            return [dict(row) for row in db.execute(sql, params)]

    def user(self, client: str, master_id: int) -> dict[str, Any] | None:
        """The local user replicating ``master_id`` (with its replica's version and flags)."""
        rows = self.query(
            client,
            "SELECT u.id, u.email, u.full_name, u.is_active, u.is_staff, r.version, "
            "r.tombstone FROM replica_replica r LEFT JOIN accounts_user u ON u.id = r.user_id "
            "WHERE r.master_id = ?",
            (master_id,),
        )
        return rows[0] if rows else None

    def wait_user(self, client: str, master_id: int, **expected: Any) -> dict[str, Any]:
        """Wait until ``client`` holds ``master_id`` with the ``expected`` values."""

        def check() -> dict[str, Any] | None:
            self.assert_listening()
            row = self.user(client, master_id)
            return row if row and all(row[k] == v for k, v in expected.items()) else None

        return until(check, timeout=30, what=f"{client}: master user {master_id} as {expected}")

    def assert_listening(self) -> None:
        """Fail at once, with its log, if a listener exited."""
        for name, proc in self.listeners.items():
            assert proc.alive(), f"listener {name} exited: {proc.log()[-3000:]}"

    def diff(self, client: str) -> subprocess.CompletedProcess[str]:
        return self.reactive("diff", "--client", client, "--json", client=client)


def _master_env(workdir: Path, state_dir: Path, redis_url: str, endpoint: str) -> dict[str, str]:
    inherited = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "AWS_ENDPOINT_URL": endpoint,
        "REDIS_URL": redis_url,
        "REACTIVE_PREFIX": "c" + uuid.uuid4().hex[:10],
        "REACTIVE_STATE_DIR": str(state_dir),
        "EMAIL_MASTER_DB": str(workdir / "master.sqlite3"),
        # Each client's database as `reactive` finds it (<CLIENT>_DATABASE_URL)
        **{f"{c.upper()}_DATABASE_URL": f"sqlite:///{workdir / c}.sqlite3" for c in CLIENTS},
        "PYTHONPATH": os.pathsep.join([str(ROOT), *([inherited] if inherited else [])]),
        "PYTHONUNBUFFERED": "1",
        "COLUMNS": "200",
    }


def _write_config(path: Path, prefix: str) -> None:
    project = f'pythonpath = ["{ROOT}"]\n'
    clients = "".join(
        f'[clients.{name}]\nsettings = "{CLIENT_SETTINGS}"\n{project}'
        "max_receive_count = 2\nvisibility_timeout = 5\n"
        for name in CLIENTS
    )
    path.write_text(
        f'prefix = "{prefix}"\n[master]\nsettings = "{MASTER_SETTINGS}"\n{project}{clients}'
    )


@pytest.fixture(scope="session")
def pair(
    redis_url: str, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pair]:
    workdir = tmp_path_factory.mktemp("custom-pair")
    state_dir = workdir / "state"
    env = _master_env(workdir, state_dir, redis_url, moto_endpoint)
    config = workdir / "reactive.toml"
    _write_config(config, env["REACTIVE_PREFIX"])
    found = Pair(workdir=workdir, config=config, state_dir=state_dir, env=env)
    found.ok("provision")
    for client in CLIENTS:
        found.ok("manage", client, "--", "migrate", "--verbosity", "0", client=client)
    # The master: this process, on its own database, with the topic provisioning recorded.
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = MASTER_SETTINGS
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    sweep = Proc(
        "master-sweep",
        python("-m", "django", "publish_pending", "--every", "1"),
        {**env, "DJANGO_SETTINGS_MODULE": MASTER_SETTINGS},
        workdir / "logs",
    )
    try:
        for client in CLIENTS:
            argv = python("-m", "reactive_cli", "listen", "--client", client)
            proc = Proc(
                f"listen-{client}",
                [*argv, "--config", str(config)],
                found.client_env(client),
                workdir / "logs",
            )
            found.listeners[client] = proc  # its queue keeps what comes before it listens
        yield found
    finally:
        for proc in found.listeners.values():  # all told at once: each ends its long poll
            proc.signal(signal.SIGTERM)
        for proc in found.listeners.values():
            proc.stop()
        sweep.stop()


@dataclass(frozen=True)
class Web:
    """A client's web process: where it answers, and where its outgoing mail lands."""

    url: str
    mail_dir: Path
    proc: Proc


@pytest.fixture(scope="session")
def names_web(pair: Pair) -> Iterator[Web]:
    """Client ``names``' web process: daphne serving name_client's ``asgi.py`` on its own
    database, pages and streams for its own origin only, each mail a file in ``mail_dir``."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    mail_dir = pair.workdir / "mail-names"
    mail_dir.mkdir()
    env = {
        **pair.client_env("names"),
        "DJANGO_SETTINGS_MODULE": CLIENT_SETTINGS,
        "REACTIVE_CLIENT": "names",
        "ALLOWED_ORIGINS": url,
        "NAME_CLIENT_MAIL_DIR": str(mail_dir),
    }
    proc = Proc(
        "daphne-names", asgi_server("daphne", CLIENT_ASGI, port), env, pair.workdir / "logs"
    )
    try:
        proc.wait_ready(lambda: port_open(port), timeout=30)
        yield Web(url=url, mail_dir=mail_dir, proc=proc)
    finally:
        proc.stop()


def new_email(name: str) -> str:
    """An address unique to this run."""
    return f"{name}-{uuid.uuid4().hex[:6]}@example.com"


# --- the master, as its own code changes users (imported after Django is set up) ----------


def create(email: str, name: str = "", **fields: Any) -> int:
    """A master user created as the project's sign-up would (no password: unusable)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email, None, name=name, **fields)
    return int(user.pk)


def update(user_id: int, **fields: Any) -> None:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(pk=user_id)
    for name, value in fields.items():
        setattr(user, name, value)
    user.save()


def delete(user_id: int) -> None:
    from django.contrib.auth import get_user_model

    get_user_model().objects.get(pk=user_id).delete()
