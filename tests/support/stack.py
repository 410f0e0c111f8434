"""The whole pipeline as real processes, for end-to-end tests and benchmarks.

The master runs in the calling process (its ORM is how tests and benchmarks make changes)
with a real Celery worker (and beat) as a subprocess; each client is a real daphne and a
real listener process on its own SQLite file. Redis and SNS/SQS are the private services
the caller started. Everything started here is stopped here, by PID.
"""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactive_cli.localstack import client_daphne
from reactive_cli.provision import ClientSpec, Desired, Provisioned, ensure, read_existing
from reactive_cli.teardown import apply_teardown, plan_teardown
from reactive_users.core.settings import Settings
from tests.support.processes import Proc, free_port, port_open, python, until
from tests.support.signing import KEYS


@dataclass
class ClientApp:
    """One running client application: its daphne, its listener and its database."""

    name: str
    env: dict[str, str]
    db_path: Path
    log_dir: Path
    queue_url: str
    port: int = 0
    daphne: Proc | None = None
    listener: Proc | None = None
    extra_listeners: list[Proc] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        """Run ``python -m client ARGS`` with this client's environment; return stdout."""
        result = subprocess.run(
            python("-m", "client", *args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"client {self.name} {args}: {result.stderr[-3000:]}")
        return result.stdout

    def start_daphne(self) -> None:
        """Start (or restart, on the same port) this client's daphne."""
        self.port = self.port or free_port()
        argv = client_daphne(sys.executable, self.port)
        self.daphne = Proc(f"daphne-{self.name}", argv, self.env, self.log_dir)
        self.daphne.wait_ready(lambda: port_open(self.port), timeout=30)

    def start_listener(self) -> Proc:
        """Start one more listener process on this client's queue."""
        n = len(self.extra_listeners) + (1 if self.listener else 0)
        proc = Proc(
            f"listener-{self.name}-{n}", python("-m", "client", "listen"), self.env, self.log_dir
        )
        proc.wait_ready(lambda: "listening" in proc.log().lower(), timeout=30)
        if self.listener is None:
            self.listener = proc
        else:
            self.extra_listeners.append(proc)
        return proc

    def stop(self) -> None:
        for proc in [self.daphne, self.listener, *self.extra_listeners]:
            if proc is not None:
                proc.stop()

    # --- reading the client's database (test-only: SQLite file, read-only queries) ---

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with contextlib.closing(sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True)) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, params))

    def replica(self, master_id: int) -> dict[str, Any] | None:
        """The replica row and its local user's fields, or None if never seen."""
        rows = self.query(
            "SELECT r.master_id, r.version, r.tombstone, u.id AS local_id, u.username,"
            " u.email, u.first_name, u.last_name, u.is_active, u.password"
            " FROM replica_replica r LEFT JOIN auth_user u ON u.id = r.user_id"
            " WHERE r.master_id = ?",
            (master_id,),
        )
        return dict(rows[0]) if rows else None

    def set_password(self, username: str, password: str) -> None:
        """Give a replicated user client-local credentials, as a client's admin would."""
        code = (
            "from django.contrib.auth.models import User; "
            f"u = User.objects.get(username={username!r}); u.set_password({password!r}); u.save()"
        )
        self.manage("shell", "-c", code)

    def login(self, username: str, password: str) -> str:
        """Log in through the client's real login page; return the session's Cookie header."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_url = f"{self.url}/accounts/login/"
        page = opener.open(login_url, timeout=10).read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, "login page has no CSRF token"
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
        )
        request = urllib.request.Request(
            login_url, data=form.encode(), headers={"Referer": login_url, "Origin": self.url}
        )
        answer = opener.open(request, timeout=10)
        body = answer.read().decode(errors="replace")
        sessions = [f"{c.name}={c.value}" for c in jar if c.name.endswith("sessionid")]
        assert sessions, (
            f"login as {username!r} on {self.name} did not create a session: "
            f"{answer.status} {answer.url} {[c.name for c in jar]} {body[:1500]}"
        )
        return sessions[0]

    def logout(self, session: str) -> None:
        """Sign out through the page's own form, as another tab holding ``session`` would."""
        page = urllib.request.Request(f"{self.url}/", headers={"Cookie": session})
        with urllib.request.urlopen(page, timeout=10) as answer:
            html = answer.read().decode()
            cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or []]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, f"{self.name}'s page has no logout form for {session}"
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": match.group(1)}).encode()
        headers = {"Cookie": "; ".join([session, *cookies]), "Origin": self.url,
                   "Referer": f"{self.url}/"}  # fmt: skip
        request = urllib.request.Request(f"{self.url}/accounts/logout/", data=form, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as answer:  # the redirect to the login page
            assert answer.code == 302, f"logout on {self.name}: HTTP {answer.code}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Leave a redirect as the answer (an HTTPError) instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Stack:
    """A running pipeline: the master in this process, workers and clients as processes."""

    settings: Settings
    provisioned: Provisioned
    master_env: dict[str, str]
    clients: dict[str, ClientApp]
    workdir: Path
    worker: Proc | None = None
    #: The channel layer's Redis of clients started from now on (default: settings.redis_url).
    client_redis_url: str | None = None

    def add_client(
        self, spec: ClientSpec, *, listener: bool = True, env: dict[str, str] | None = None
    ) -> ClientApp:
        """Provision one more client (its queue subscribed to the topic) and start it, with
        ``env`` added to its environment (its own settings)."""
        provisioned = ensure(self.settings, [spec])
        self.provisioned.queue_urls.update(provisioned.queue_urls)
        self.provisioned.dlq_urls.update(provisioned.dlq_urls)
        app = start_client(
            spec.name,
            self.settings,
            provisioned,
            self.workdir,
            listener=listener,
            redis_url=self.client_redis_url,
            extra_env=env,
        )
        self.clients[spec.name] = app
        return app

    def remove_client(self, name: str) -> None:
        """Stop a client's processes and remove its subscription and queues (in that order)."""
        app = self.clients.pop(name)
        app.stop()
        desired = Desired(prefix=self.settings.prefix, clients=(ClientSpec(name=name),))
        steps = plan_teardown(desired, read_existing(self.settings, desired))
        apply_teardown(self.settings, tuple(s for s in steps if s.resource != "topic"))


def _base_env(settings: Settings, state_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        REDIS_URL=settings.redis_url,
        AWS_ENDPOINT_URL=settings.aws_endpoint_url or "",
        REACTIVE_PREFIX=settings.prefix,
        REACTIVE_STATE_DIR=str(state_dir),
        REACTIVE_LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return env


def configure_master(
    settings: Settings,
    provisioned: Provisioned,
    workdir: Path,
    *,
    redis_url: str | None = None,
    endpoint: str | None = None,
) -> dict[str, str]:
    """Point this process's Django at a fresh master database; return the worker's env.

    ``redis_url`` (the Celery broker) and ``endpoint`` (SNS) default to the stack's own;
    fault tests give the master a Redis and an endpoint of its own to take away.
    """
    env = _base_env(settings, workdir / "state")
    if redis_url:
        env["REDIS_URL"] = redis_url
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update(
        DJANGO_SETTINGS_MODULE="master.settings",
        DATABASE_URL=f"sqlite:///{workdir / 'master.sqlite3'}",
        REACTIVE_TOPIC_ARN=provisioned.topic_arn,
        REACTIVE_OUTBOX_SWEEP_SECONDS="1",
        REACTIVE_OUTBOX_MIN_AGE_SECONDS="1",
    )
    os.environ.update(env)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return env


def start_worker(env: dict[str, str], log_dir: Path) -> Proc:
    """A real Celery worker with embedded beat for the master, against the private Redis."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "master.celery",
        "worker",
        "--pool=solo",
        "--beat",
        "--loglevel=INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-s",
        str(log_dir / "beat-schedule"),
    ]
    proc = Proc("celery-worker", argv, env, log_dir)
    proc.wait_ready(lambda: "ready." in proc.log(), timeout=60)
    return proc


def start_client(
    name: str,
    settings: Settings,
    provisioned: Provisioned,
    workdir: Path,
    *,
    listener: bool = True,
    redis_url: str | None = None,
    extra_env: Mapping[str, str] | None = None,
) -> ClientApp:
    """Migrate, then start a client's daphne and (optionally) its listener.

    ``redis_url`` is the client's channel layer (default: the stack's Redis). Its pages'
    origin (``ClientApp.url``) is the one its sockets accept; ``extra_env`` comes last.
    """
    env = _base_env(settings, workdir / "state")
    if redis_url:
        env["REDIS_URL"] = redis_url
    db_path = workdir / f"client-{name}.sqlite3"
    port = free_port()
    env.update(
        REACTIVE_CLIENT=name,
        DATABASE_URL=f"sqlite:///{db_path}",
        REACTIVE_QUEUE_URL=provisioned.queue_urls[name],
        REACTIVE_ALLOWED_ORIGINS=f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    )
    app = ClientApp(
        name=name,
        env=env,
        db_path=db_path,
        log_dir=workdir / "logs",
        queue_url=provisioned.queue_urls[name],
        port=port,
    )
    app.manage("migrate", "--verbosity", "0")
    app.start_daphne()
    if listener:
        app.start_listener()
    return app


@contextlib.contextmanager
def running_stack(
    *,
    redis_url: str,
    endpoint: str,
    prefix: str,
    workdir: Path,
    clients: list[ClientSpec],
    spies: tuple[str, ...] = (),
    listeners: bool = True,
    worker: bool = True,
    master_redis_url: str | None = None,
    master_endpoint: str | None = None,
    client_redis_url: str | None = None,
) -> Iterator[Stack]:
    """Provision, start the worker and every client; stop them all on exit, even on failure.

    ``spies`` are extra subscribed queues that no listener reads: what the master publishes
    can be inspected there exactly as it arrives in SQS. The ``master_*`` and
    ``client_redis_url`` arguments give the master and the clients dependencies of their own
    (default: ``redis_url`` and ``endpoint``), so that a fault test can take one away.
    """
    settings = Settings(prefix=prefix, redis_url=redis_url, aws_endpoint_url=endpoint, signing=KEYS)
    provisioned = ensure(settings, [*clients, *(ClientSpec(name=s) for s in spies)])
    master_env = configure_master(
        settings, provisioned, workdir, redis_url=master_redis_url, endpoint=master_endpoint
    )
    stack = Stack(
        settings=settings,
        provisioned=provisioned,
        master_env=master_env,
        clients={},
        workdir=workdir,
        client_redis_url=client_redis_url,
    )
    try:
        if worker:
            stack.worker = start_worker(master_env, workdir / "logs")
        for spec in clients:
            stack.add_client(spec, listener=listeners)
        yield stack
    finally:
        for app in stack.clients.values():
            app.stop()
        if stack.worker is not None:
            stack.worker.stop()


def frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one websocket frame."""
    value: dict[str, Any] = json.loads(raw)
    return value


def wait_for_replica(app: ClientApp, master_id: int, timeout: float = 20, **expected: Any) -> dict:
    """Wait until the client's replica of ``master_id`` has the ``expected`` values."""

    def check() -> dict[str, Any] | None:
        row = app.replica(master_id)
        if row is not None and all(row.get(k) == v for k, v in expected.items()):
            return row
        return None

    return until(
        check,
        timeout=timeout,
        interval=0.05,
        what=f"{app.name} replica {master_id} to have {expected}",
    )
