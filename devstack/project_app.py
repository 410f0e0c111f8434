"""A client project of the user's own (any settings module, any ASGI app) as real processes
beside a running ``Stack``: its database migrated, its web server (daphne or uvicorn), its
listener (``python -m django reactive_listen``), on the stack's SNS/SQS and Redis.

Also ``asgi_server``: the argv of either ASGI server for any ``module:application``, which
the tests use to run the reference client under uvicorn too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devstack.processes import Proc, free_port, port_open
from reactive_cli.checkout import with_reference_path
from reactive_cli.provision import ClientSpec, ensure
from reactive_users.core.settings import Settings

#: The ASGI servers a project may run: daphne (channels' own) or uvicorn (gunicorn's worker).
SERVERS = ("daphne", "uvicorn")


def asgi_server(server: str, application: str, port: int) -> list[str]:
    """The argv serving ``application`` ("module:attribute") on loopback ``port``."""
    if server == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), application]
    if server == "uvicorn":
        argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port)]
        return [*argv, "--no-access-log", "--lifespan", "off", application]
    raise ValueError(f"unknown ASGI server {server!r}: one of {', '.join(SERVERS)}")


@dataclass
class ProjectApp:
    """One running client project: its web server, its listener and its database."""

    name: str
    settings_module: str
    application: str
    env: dict[str, str]
    db_path: Path
    log_dir: Path
    port: int
    server: str = "daphne"
    procs: list[Proc] = field(default_factory=list)
    web: Proc | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        """``python -m django ARGS`` under the project's settings; return stdout."""
        done = subprocess.run(
            [sys.executable, "-m", "django", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise AssertionError(f"{self.name} {args}: {done.stderr[-3000:]}")
        return done.stdout

    def start_web(self) -> Proc:
        """Start (or restart, on the same port) the project's ASGI server."""
        argv = asgi_server(self.server, self.application, self.port)
        self.web = Proc(f"{self.server}-{self.name}", argv, self.env, self.log_dir)
        self.procs.append(self.web)  # stopped by stop() even if it never gets ready
        self.web.wait_ready(lambda: port_open(self.port), timeout=30)
        return self.web

    def start_listener(self) -> Proc:
        argv = [sys.executable, "-m", "django", "reactive_listen", "--wait-seconds", "1"]
        proc = Proc(f"listener-{self.name}", argv, self.env, self.log_dir)
        self.procs.append(proc)
        proc.wait_ready(lambda: "listening" in proc.log().lower(), timeout=30)
        return proc

    def stop(self) -> None:
        for proc in self.procs:
            proc.stop()


def start_project(
    settings: Settings,
    workdir: Path,
    *,
    name: str,
    settings_module: str,
    application: str,
    python_path: tuple[Path, ...] = (),
    server: str = "daphne",
    extra_env: dict[str, str] | None = None,
) -> ProjectApp:
    """Provision queue ``name`` on the stack's topic, migrate the project, start its web
    server and listener. Its settings read ``NAME_CLIENT_DB``-style variables from
    ``extra_env``; this sets the shared ones (endpoint, prefix, Redis, signing keys) and
    ``ALLOWED_ORIGINS``/``REACTIVE_ALLOWED_ORIGINS`` to the server's own origin."""
    ensure(settings, [ClientSpec(name=name)])
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    env = dict(os.environ)
    # The project reads its own variables: none of the test process's component settings
    # (its database, its client name) may leak into it.
    for inherited in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL", "REACTIVE_CLIENT"):
        env.pop(inherited, None)
    paths = [*(str(p) for p in python_path), with_reference_path(os.environ)]
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        PYTHONPATH=os.pathsep.join(paths),
        REDIS_URL=settings.redis_url,
        AWS_ENDPOINT_URL=settings.aws_endpoint_url or "",
        REACTIVE_PREFIX=settings.prefix,
        REACTIVE_STATE_DIR=str(workdir / "state"),
        ALLOWED_ORIGINS=origin,
        REACTIVE_ALLOWED_ORIGINS=origin,
        PYTHONUNBUFFERED="1",
        **(extra_env or {}),
    )
    app = ProjectApp(
        name=name,
        settings_module=settings_module,
        application=application,
        env=env,
        db_path=Path(env.get("NAME_CLIENT_DB", str(workdir / f"{name}.sqlite3"))),
        log_dir=workdir / "logs",
        port=port,
        server=server,
    )
    app.manage("migrate", "--no-input", "--verbosity", "0")
    try:
        app.start_web()
        app.start_listener()
    except BaseException:
        app.stop()
        raise
    return app
