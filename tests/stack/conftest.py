"""The local stack as an operator runs it: `reactive` subprocesses, a real supervisord."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.processes import free_port, port_open
from reactive_cli import localstack
from reactive_cli.supervisor import Supervisor, socket_path

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
    #: What `reactive up` printed, for a stack a fixture brought up.
    started: Ran | None = None

    def __call__(
        self, *args: str, timeout: float = 120, env: dict[str, str | None] | None = None
    ) -> Ran:
        """Run ``reactive ARGS`` with stdout and stderr pipes (no terminal), in the state
        dir's parent; ``env`` adds to the stack's environment (None: unset)."""
        merged = {k: v for k, v in (self.env | (env or {})).items() if v is not None}
        done = subprocess.run(
            [sys.executable, "-m", "reactive_cli", *args],
            env=merged,
            cwd=self.state_dir.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    @property
    def supervisor(self) -> Supervisor:
        return Supervisor(socket_path(self.state_dir))


def stack_env(
    state_dir: Path, ports: dict[str, int], clients: tuple[str, ...] = ("shop", "blog")
) -> dict[str, str]:
    """The environment of an operator with no REDIS_URL, on free ports, in ``state_dir``."""
    env = dict(os.environ)
    for name in (
        "REDIS_URL",
        "REACTIVE_CONFIG",
        "REACTIVE_PREFIX",
        "REACTIVE_TOPIC_ARN",
        "AWS_ENDPOINT_URL",
        "DJANGO_SETTINGS_MODULE",
        "REACTIVE_QUEUE_URL",
    ):
        env.pop(name, None)
    return env | {
        "REACTIVE_STATE_DIR": str(state_dir),
        "REACTIVE_MOTO_PORT": str(ports["moto"]),
        "REACTIVE_REDIS_PORT": str(ports["redis"]),
        "REACTIVE_MASTER_PORT": str(ports["master"]),
        "REACTIVE_CLIENT_PORTS": " ".join(str(ports[name]) for name in clients),
        "REACTIVE_LISTENER_WAIT_SECONDS": LISTENER_WAIT_SECONDS,
        "COLUMNS": "200",
    }


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """``reactive`` in a fresh, short state dir (a unix socket path must stay < 108 bytes)."""
    state_dir = tmp_path_factory.mktemp("st")
    ports = {name: free_port() for name in ("moto", "redis", "master", "shop", "blog")}
    return Cli(stack_env(state_dir, ports), state_dir, ports)


@contextlib.contextmanager
def local_stack(
    state_dir: Path, *up_args: str, clients: tuple[str, ...], config: str | None = None
) -> Iterator[Cli]:
    """`reactive up UP_ARGS` in ``state_dir`` on free ports (``config``: a reactive.toml in
    its working directory, ``state_dir``'s parent, which nothing else may share); stopped
    afterwards whatever happened."""
    ports = {name: free_port() for name in ("moto", "redis", "master", *clients)}
    run = Cli(stack_env(state_dir, ports, clients), state_dir, ports)
    if config is not None:
        (state_dir.parent / "reactive.toml").write_text(config)
    # Nothing answers on the stack's Redis port, and REDIS_URL is unset: `up` must start its own.
    assert not port_open(ports["redis"])
    try:
        up = run("up", *up_args)
        assert up.code == 0, up.err + up.out
        yield dataclasses.replace(run, started=up)
    finally:
        with contextlib.suppress(Exception):
            if run.supervisor.is_up():
                layout = localstack.Layout.recorded(state_dir)
                assert layout is not None
                localstack.down(layout)


@pytest.fixture(scope="module")
def reactive_up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A whole local stack brought up by `reactive up`, as a newcomer runs it (two clients)."""
    state_dir = tmp_path_factory.mktemp("stack")
    # As `mkdir` with the usual umask 022 leaves it (pytest's own are private): `up` tightens it.
    state_dir.chmod(0o755)
    with local_stack(state_dir, "--clients", "2", clients=("shop", "blog")) as run:
        assert run.started is not None
        out = run.started.out
        assert f"-m reactive_cli emit-test demo --state-dir {state_dir}" in out
        yield run


def run_as_typed(command: str, cli: Cli) -> Ran:
    """``command`` as an operator would paste it into a shell: in the stack's working
    directory, with no REACTIVE_STATE_DIR and no virtualenv on PATH."""
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in cli.env.items() if k != "REACTIVE_STATE_DIR"}
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    done = subprocess.run(
        ["bash", "-c", command],
        env=env,
        cwd=cli.state_dir.parent,
        capture_output=True,
        text=True,
        timeout=180,
    )
    return Ran(done.returncode, done.stdout, done.stderr)


def hint(out: str, label: str) -> str:
    """The command `up` suggests after ``label`` ("Status", "Stop", "Try the whole path")."""
    found = re.search(rf"{label}: (.+?)(?:   |$)", out, re.MULTILINE)
    assert found is not None, out
    return found.group(1)
