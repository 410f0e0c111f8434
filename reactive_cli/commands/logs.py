"""``reactive logs NAME``: the end of a process's log, read through supervisord."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from reactive_cli.commands.interrupt import until_stopped
from reactive_cli.commands.supervise import DEFAULT, StateDir, connect
from reactive_cli.supervisor import Supervisor, select
from reactive_users.core.errors import ConfigError

#: Bytes read per log line asked for (lines are rarely longer).
BYTES_PER_LINE = 400
#: Seconds between two reads with --follow.
FOLLOW_INTERVAL_SECONDS = 0.5


def logs(
    name: Annotated[
        str, typer.Argument(help="A process, group or client (its listeners).", show_default=False)
    ],
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="Lines to show.")] = 40,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until Ctrl-C.")
    ] = False,
    state_dir: StateDir = DEFAULT,
) -> None:
    """Show the end of a process's log (stdout and stderr), read through supervisord.

    NAME is a process (`shop-listener`, `master-web`; with `listeners = N` in reactive.toml
    `shop-listener-00`, `shop-listener-01`, ...), a group, or a client (`shop`: its listener
    processes). Several processes: each log under a header line.
    --follow (one process only) polls for new lines until Ctrl-C or SIGTERM.
    Configuration: none; only the supervisord of STATE_DIR (no reactive.toml).

    Example: reactive logs shop-listener --lines 20
    """
    sup = connect(state_dir)
    chosen = select(sup.processes(), name)
    if follow and len(chosen) > 1:
        names = ", ".join(p.name for p in chosen)
        raise ConfigError(f"--follow reads one process; {name!r} is several: {names}")
    offset = 0
    for process in chosen:
        text, offset, _ = sup.tail(process.full_name, 0, lines * BYTES_PER_LINE)
        if len(chosen) > 1:
            typer.echo(f"==> {process.name} <==")
        typer.echo("\n".join(_last_lines(text, offset, lines)))
    if follow:
        _follow(sup, chosen[0].full_name, offset)


def _last_lines(text: str, end_offset: int, count: int) -> list[str]:
    found = text.splitlines()
    if end_offset > len(text.encode()) and found:  # the log is longer: the first is partial
        found = found[1:]
    return found[-count:]


def _follow(sup: Supervisor, full_name: str, offset: int) -> None:
    with until_stopped():
        while True:
            text, offset, _ = sup.tail(full_name, offset, 64 * 1024)
            if text:
                typer.echo(text, nl=False)
            time.sleep(FOLLOW_INTERVAL_SECONDS)
