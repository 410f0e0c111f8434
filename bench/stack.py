"""The pipeline a bench configuration runs on, as in production, on free loopback ports.

moto's server (with its request recorder writing into the work dir), a private
redis-server, the master in this process (its ORM makes the changes), a Celery worker and a
separate Celery beat as the deployment runs them (production sweep settings, DEBUG off), and
per client a daphne and a listener on their own database (``devstack.stack``): SQLite files,
or fresh databases on a PostgreSQL server (``bench.databases``), dropped at the end.
Everything is stopped by PID on the way out, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import databases
from devstack.client_app import ClientApp
from devstack.processes import Proc, python
from devstack.services import moto_process, redis_server
from devstack.stack import configure_master, start_client
from reactive_cli.provision import ClientSpec, Provisioned, ensure
from reactive_users.core.settings import Settings

#: Client names, in order: a configuration with N clients uses the first N.
CLIENT_NAMES = ("shop", "blog", "wiki", "news", "docs", "shop2", "blog2", "wiki2")
#: The prefix of the bench's topic and queues.
PREFIX = "bench"
#: Credentials of every pipeline process (moto accepts anything; never real ones).
PIPELINE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "DJANGO_DEBUG": "0",  # as deployed: DEBUG keeps every query in memory
}
#: The clients' per-user socket cap (default 20): the fan-out's hot user holds hundreds.
SOCKET_CAP = {"REACTIVE_WS_MAX_SOCKETS_PER_USER": "10000"}


@dataclass
class BenchStack:
    """A running pipeline: services, master, worker, beat and clients."""

    workdir: Path
    endpoint: str
    redis_url: str
    settings: Settings
    provisioned: Provisioned
    procs: dict[str, Proc] = field(default_factory=dict)
    clients: dict[str, ClientApp] = field(default_factory=dict)

    def pids(self) -> dict[str, int]:
        """Every process of the pipeline by role ("master" is this process)."""
        pids = {"master": os.getpid()}
        pids.update({name: proc.pid for name, proc in self.procs.items()})
        for name, app in self.clients.items():
            if app.listener is not None:
                pids[f"listener-{name}"] = app.listener.pid
            if app.daphne is not None:
                pids[f"daphne-{name}"] = app.daphne.pid
        return pids


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[tuple[str, Proc]]:
    """moto's server in its own process, its recorder writing into ``workdir``."""
    recorder = {"MOTO_RECORDER_FILEPATH": str(workdir / "recording.jsonl")}
    with moto_process(workdir, env=recorder, timeout=60) as (url, proc):
        yield url, proc


def _celery(env: dict[str, str], log_dir: Path, name: str, args: list[str], ready: str) -> Proc:
    proc = Proc(name, python("-m", "celery", "-A", "master.celery", *args), env, log_dir)
    try:
        proc.wait_ready(lambda: ready in proc.log(), timeout=90)
    except BaseException:
        proc.stop()
        raise
    return proc


@contextlib.contextmanager
def bench_stack(
    workdir: Path, clients: int, progress=print, database_url: str = ""
) -> Iterator[BenchStack]:
    """Start the whole pipeline with ``clients`` clients; stop all of it on the way out.

    ``database_url``: a PostgreSQL server on which the master and every client get a fresh
    database of their own (dropped last, once every process is stopped); empty: SQLite files.
    """
    os.environ.update(PIPELINE_ENV)
    os.environ.pop("AWS_PROFILE", None)
    logs = workdir / "logs"
    names = CLIENT_NAMES[:clients]
    with contextlib.ExitStack() as stop:
        urls: dict[str, str] = {}
        if database_url:
            urls = stop.enter_context(
                databases.fresh(database_url, os.getpid(), ["master", *names])
            )
        redis_url, redis = stop.enter_context(redis_server(workdir / "redis"))
        endpoint, moto = stop.enter_context(moto_server(workdir / "moto"))
        settings = Settings(prefix=PREFIX, redis_url=redis_url, aws_endpoint_url=endpoint)
        provisioned = ensure(settings, [ClientSpec(name=n) for n in names])
        stack = BenchStack(workdir, endpoint, redis_url, settings, provisioned)
        stack.procs.update(redis=redis, moto=moto)
        master_env = configure_master(
            settings, provisioned, workdir, database_url=urls.get("master")
        )
        # The worker and beat get the deployment's sweep settings, not the tests' 1 s.
        for name in ("REACTIVE_OUTBOX_SWEEP_SECONDS", "REACTIVE_OUTBOX_MIN_AGE_SECONDS"):
            master_env.pop(name, None)
        progress(f"  starting the Celery worker and beat, {clients} client(s) ...")
        worker = _celery(
            master_env, logs, "worker", ["worker", "--pool=solo", "--loglevel=INFO"], "ready."
        )
        stop.callback(worker.stop)
        stack.procs["worker"] = worker
        beat_file = str(workdir / "beat-schedule")
        beat = _celery(
            master_env, logs, "beat", ["beat", "--loglevel=INFO", "-s", beat_file], "Starting"
        )
        stop.callback(beat.stop)
        stack.procs["beat"] = beat
        for name in names:
            # The fan-out scenario opens --hot-sockets sockets of one user: past the cap.
            app = start_client(
                name,
                settings,
                provisioned,
                workdir,
                extra_env=SOCKET_CAP,
                database_url=urls.get(name),
            )
            stop.callback(app.stop)
            stack.clients[name] = app
        try:
            yield stack
        finally:
            from django.db import connections

            connections.close_all()
