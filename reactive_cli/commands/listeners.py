"""``reactive listeners start|stop|restart``: control listener processes through supervisord."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import localstack
from reactive_cli.commands import output
from reactive_cli.commands.supervise import DEFAULT, StateDir, connect
from reactive_cli.supervisor import Process, Supervisor, select
from reactive_users.core.errors import ConfigError

#: SQS's longest long poll, in seconds: what a stopping listener may take at most.
MAX_LONG_POLL_SECONDS = 20

_VERB = {"start": "Starting", "stop": "Stopping"}


class Action(StrEnum):
    """What to do with the processes."""

    start = "start"
    stop = "stop"
    restart = "restart"


def listeners(
    action: Annotated[Action, typer.Argument(help="start, stop or restart.")],
    name: Annotated[
        str | None,
        typer.Argument(
            help="A client (all its listener processes) or a process name.", show_default=False
        ),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every client's listeners.")] = False,
    state_dir: StateDir = DEFAULT,
) -> None:
    """Start, stop or restart listener processes through supervisord's XML-RPC socket.

    NAME is a client (`shop`: all its listener processes), a process (`shop-listener`; with
    `listeners = N` in reactive.toml, `shop-listener-00`, `shop-listener-01`, ...) or a
    group; --all means every client's listeners. Stopping waits until each has finished its
    long poll and handed back what it did not apply; each step shows on stderr. Restart
    goes one process at a time (stopped, started, RUNNING, then the next), so a client with
    several listeners always has one running. Starting one already running, or stopping one
    already stopped, is reported and is not an error.
    Configuration: none; only the supervisord of STATE_DIR (no reactive.toml).

    Example: reactive listeners restart shop
    """
    if (name is None) == (not all_):
        raise ConfigError("give a client or process NAME, or --all (not both)")
    sup = connect(state_dir)
    processes = sup.processes()
    chosen = [p for p in processes if p.is_listener] if all_ else select(processes, name or "")
    console = output.console()
    wait = _long_poll_seconds(state_dir)
    if action is Action.restart:
        for i, process in enumerate(chosen, start=1):
            outcome = _restart(sup, process, f"{process.name} ({i}/{len(chosen)})", wait)
            console.print(f"{process.name}: {outcome}", highlight=False)
        return
    what = _names(chosen)
    with output.progress(f"{_VERB[action.value]} {what}...") as step:
        if action is Action.stop:
            step(f"stopping {what}; each finishes its long poll first (up to {wait} s)")
        outcomes = sup.control(action.value, chosen)
    for process_name, outcome in outcomes.items():
        console.print(f"{process_name}: {outcome}", highlight=False)


def _restart(sup: Supervisor, process: Process, label: str, wait: int) -> str:
    """Stop then start one process, saying each step; what happened, in a word or two."""
    with output.progress(f"Restarting {label}...") as step:
        step(f"{label}: stopping; it finishes its long poll first (up to {wait} s)")
        stopped = sup.control("stop", [process])[process.name]
        step(f"{label}: starting")
        sup.control("start", [process])
    return "restarted" if stopped == "stopped" else "started (it was not running)"


def _long_poll_seconds(state_dir: Path) -> int:
    """How long a stopping listener may take: the local stack's long poll, else SQS's most."""
    layout = localstack.Layout.recorded(state_dir.absolute())
    return layout.listener_wait_seconds if layout else MAX_LONG_POLL_SECONDS


def _names(processes: list[Process]) -> str:
    return ", ".join(p.name for p in processes)
