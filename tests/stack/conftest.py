"""The local stack as an operator runs it: `reactive` subprocesses, a real supervisord."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from reactive_cli import localstack
from reactive_cli.supervisor import Supervisor, socket_path
from tests.support.processes import free_port, port_open

#: The stack's listeners long-poll this long, so stopping one takes seconds, not 20.
LISTENER_WAIT_SECONDS = "2"


@dataclass(frozen=True)
class Ran:
    """What one ``reactive`` run printed and its exit code."""

    code: int
    out: str
    err: str


@dataclass(frozen=True)
class Cli:
    """``reactive`` run as a subprocess with one stack's environment."""

    env: dict[str, str]
    state_dir: Path
    ports: dict[str, int]

    def __call__(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Ran:
        """Run ``reactive ARGS`` with stdout and stderr pipes; ``env`` adds to the stack's."""
        done = subprocess.run(
            [sys.executable, "-m", "reactive_cli", *args],
            env=self.env | (env or {}), cwd=self.state_dir.parent, capture_output=True,
            text=True, timeout=timeout,
        )  # fmt: skip
        return Ran(done.returncode, done.stdout, done.stderr)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(socket_path(self.state_dir))


def stack_env(state_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    """The environment of an operator with no REDIS_URL, on free ports, in ``state_dir``."""
    env = dict(os.environ)
    for name in ("REDIS_URL", "REACTIVE_CONFIG", "REACTIVE_PREFIX", "REACTIVE_TOPIC_ARN",
                 "AWS_ENDPOINT_URL", "DJANGO_SETTINGS_MODULE", "REACTIVE_QUEUE_URL"):  # fmt: skip
        env.pop(name, None)
    return env | {
        "REACTIVE_STATE_DIR": str(state_dir),
        "REACTIVE_MOTO_PORT": str(ports["moto"]),
        "REACTIVE_REDIS_PORT": str(ports["redis"]),
        "REACTIVE_MASTER_PORT": str(ports["master"]),
        "REACTIVE_CLIENT_PORTS": f"{ports['shop']} {ports['blog']}",
        "REACTIVE_LISTENER_WAIT_SECONDS": LISTENER_WAIT_SECONDS,
        "COLUMNS": "200",
    }


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """``reactive`` in a fresh, short state dir (a unix socket path must stay < 108 bytes)."""
    state_dir = tmp_path_factory.mktemp("st")
    ports = {name: free_port() for name in ("moto", "redis", "master", "shop", "blog")}
    return Cli(stack_env(state_dir, ports), state_dir, ports)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A whole local stack brought up by `reactive up`; stopped afterwards whatever happened."""
    state_dir = tmp_path_factory.mktemp("stack")
    ports = {name: free_port() for name in ("moto", "redis", "master", "shop", "blog")}
    run = Cli(stack_env(state_dir, ports), state_dir, ports)
    # Nothing answers on the stack's Redis port, and REDIS_URL is unset: `up` must start its own.
    assert not port_open(ports["redis"])
    try:
        up = run("up", "--clients", "2")
        assert up.code == 0, up.err + up.out
        assert f"Try the whole path: reactive emit-test demo --state-dir {state_dir}" in up.out
        yield run
    finally:
        with contextlib.suppress(Exception):
            if run.supervisor.is_up():
                layout = localstack.Layout.recorded(state_dir)
                assert layout is not None
                localstack.down(layout)
