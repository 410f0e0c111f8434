"""``reactive listeners start|stop|restart``: control listener processes through supervisord."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console

from reactive_cli.commands.supervise import DEFAULT, StateDir, connect
from reactive_cli.errors import ConfigError
from reactive_cli.supervisor import Process, select

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

    NAME is a client (`shop`: every `shop-listener-NN`), a process (`shop-listener-00`) or a
    group; --all means every client's listeners. Stopping waits until each has finished its
    long poll and handed back what it did not apply. Starting one already running, or
    stopping one already stopped, is reported and is not an error.
    Configuration: none; only the supervisord of STATE_DIR (no reactive.toml).

    Example: reactive listeners restart shop
    """
    if (name is None) == (not all_):
        raise ConfigError("give a client or process NAME, or --all (not both)")
    sup = connect(state_dir)
    processes = sup.processes()
    chosen = [p for p in processes if p.is_listener] if all_ else select(processes, name or "")
    console = Console()
    steps = ["stop", "start"] if action is Action.restart else [action.value]
    for step in steps:
        with console.status(f"{_VERB[step]} {_names(chosen)}..."):
            outcomes = sup.control(step, chosen)
        for process, outcome in outcomes.items():
            console.print(f"{process}: {outcome}", highlight=False)


def _names(processes: list[Process]) -> str:
    return ", ".join(p.name for p in processes)
