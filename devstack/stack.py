"""The whole pipeline as real processes, for end-to-end tests and benchmarks.

The master runs in the calling process (its ORM is how tests and benchmarks make changes)
with a real Celery worker (and beat) as a subprocess; each client is a real daphne and a
real listener process on its own database (``devstack.client_app``): a SQLite file in the
work directory unless the caller gives a database URL (``devstack.databases``). Redis and SNS/SQS
are the private services the caller started (``devstack.services``). Everything started
here is stopped here, by PID.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devstack.client_app import ClientApp
from devstack.databases import sqlite_path, sqlite_url
from devstack.processes import Proc, concurrently, free_port
from devstack.signing import KEYS
from reactive_cli.checkout import with_reference_path
from reactive_cli.provision import ClientSpec, Desired, Provisioned, ensure, read_existing
from reactive_cli.teardown import apply_teardown, plan_teardown
from reactive_users.core.settings import Settings


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
        # The reference projects are not installed: imported from the checkout's root.
        PYTHONPATH=with_reference_path(os.environ),
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
    database_url: str | None = None,
) -> dict[str, str]:
    """Point this process's Django at a fresh master database; return the worker's env.

    ``redis_url`` (the Celery broker) and ``endpoint`` (SNS) default to the stack's own;
    fault tests give the master a Redis and an endpoint of its own to take away.
    ``database_url`` (an empty database) defaults to a SQLite file in ``workdir``.
    """
    env = _base_env(settings, workdir / "state")
    if redis_url:
        env["REDIS_URL"] = redis_url
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    env.update(
        DJANGO_SETTINGS_MODULE="master.settings",
        DATABASE_URL=database_url or sqlite_url(workdir / "master.sqlite3"),
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
    database_url: str | None = None,
) -> ClientApp:
    """Migrate, then start a client's daphne and (optionally) its listener.

    ``redis_url`` is the client's channel layer (default: the stack's Redis). Its pages'
    origin (``ClientApp.url``) is the one its sockets accept; ``extra_env`` comes last.
    ``database_url`` (an empty database) defaults to a SQLite file in ``workdir``.
    """
    env = _base_env(settings, workdir / "state")
    if redis_url:
        env["REDIS_URL"] = redis_url
    url = database_url or sqlite_url(workdir / f"client-{name}.sqlite3")
    # Not a SQLite URL: db_path names the file the client would have had, never opened.
    db_path = sqlite_path(url) or workdir / f"client-{name}.sqlite3"
    port = free_port()
    env.update(
        REACTIVE_CLIENT=name,
        DATABASE_URL=url,
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
        database_url=url,
    )
    app.manage("migrate", "--verbosity", "0")
    # Both only read the migrated database: started side by side, each waited for.
    concurrently([app.start_daphne, *([app.start_listener] if listener else [])])
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

    def start_own_worker() -> None:
        stack.worker = start_worker(master_env, workdir / "logs")

    def start_own_client(spec: ClientSpec) -> None:
        stack.clients[spec.name] = start_client(
            spec.name,
            settings,
            provisioned,
            workdir,
            listener=listeners,
            redis_url=client_redis_url,
        )

    try:
        # Already provisioned above: the worker and every client start side by side.
        starts: list[Callable[[], object]] = [start_own_worker] if worker else []
        starts += [functools.partial(start_own_client, spec) for spec in clients]
        concurrently(starts)
        stack.clients = {spec.name: stack.clients[spec.name] for spec in clients}  # in order
        yield stack
    finally:
        stops: list[Callable[[], object]] = [app.stop for app in stack.clients.values()]
        if stack.worker is not None:
            stops.append(stack.worker.stop)
        concurrently(stops)
