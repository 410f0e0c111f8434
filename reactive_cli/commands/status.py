"""``reactive status``: listeners, queues, dead letters and the master's outbox in one table."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from reactive_cli import status as model
from reactive_cli.commands import infra_status, output
from reactive_cli.commands.backfill import client_environment, master_environment
from reactive_cli.commands.interrupt import until_stopped
from reactive_cli.commands.options import ConfigPath, Json, target
from reactive_cli.commands.supervise import DEFAULT, StateDir, connect
from reactive_cli.config import Source
from reactive_cli.supervisor import Supervisor
from reactive_users.core import exitcodes
from reactive_users.core.errors import StackError
from reactive_users.core.naming import LISTENER_ALIVE_TTL_SECONDS
from reactive_users.core.settings import Settings

#: Said when the master packs events (REACTIVE_PUBLISH_BATCH): the queue columns count
#: SQS messages, the outbox counts events.
PACKED_NOTE = (
    "events travel packed (REACTIVE_PUBLISH_BATCH): outbox counts are events; visible and "
    "in flight are SQS messages of one or many events each; dead letters are one event each"
)
#: Seconds between two refreshes with --watch.
WATCH_INTERVAL_SECONDS = 2.0
#: Seconds between two readings of the clients' databases with --watch (a process each).
REPLICAS_INTERVAL_SECONDS = 30.0


def status(
    state_dir: StateDir = DEFAULT,
    config_path: ConfigPath = None,
    json_output: Json = False,
    watch: Annotated[
        bool, typer.Option("--watch", "-w", help="Refresh every 2 s until Ctrl-C or SIGTERM.")
    ] = False,
) -> None:
    """Show per client its listener processes, queue depths and dead letters, and the outbox.

    Listeners (state, pid, uptime) come from supervisord's socket in STATE_DIR; with a
    reactive.toml and no supervisord of ours there, your own process manager runs them, and
    one line per client says so (not a problem), with how many are alive by the key each
    listener renews in Redis from its loop (REDIS_URL, or <CLIENT>_REDIS_URL). Queue depths
    (visible, in flight, dead letters) come from SQS; the outbox backlog, size and oldest
    sent row from the master's database; per client, its live replicated users and those
    holding values cut to its limits (REACTIVE_OVERSIZE_POLICY=truncate) from its database,
    through `replica_stats` in its own project (with --watch, every 30 s). Every project is
    read only: a SQLite database that does not exist yet is reported ("run migrate"), never
    created. A part that cannot be read shows "?" and its cause goes to stderr, one line
    each; the exit code is then 6. A local stack that is not running is one line, exit 4;
    with no local stack and no reactive.toml there is nothing to report on (exit 4). The
    oldest message's age is "n/a": SQS gives it only as a CloudWatch metric, and peeking
    would count as a receive. --watch keeps going whatever it cannot read.

    A stack `up --infra-only` started shows its programs (moto, Redis), their endpoints and
    the provisioned clients' queues: no project of ours is run to read anything else.

    Example: reactive status --json
    """
    recorded = target(config_path, state_dir.absolute(), enter=True).layout
    if recorded is not None and recorded.infra_only:
        infra_status.show(recorded, _running(state_dir.absolute()), json_output=json_output)
        return
    read = _reader(state_dir.absolute(), config_path)
    if json_output or not watch:  # --json is one reading, as a script wants
        found = read()
        problems = model.problems(found)
        if json_output:
            data = found.as_json() | {"problems": problems}
            typer.echo(json.dumps(data, indent=2, default=str))
        else:
            output.console().print(render(found))
        err = Console(stderr=True)
        for line in problems:
            err.print(Text(line, style="red"), soft_wrap=True)
        if problems:
            raise typer.Exit(code=exitcodes.UNREACHABLE)
        return
    console = output.console()
    with until_stopped():
        if not console.is_terminal:  # a pipe or a file: print every refresh, one after another
            while True:
                console.print(render(read(), problems=True))
                time.sleep(WATCH_INTERVAL_SECONDS)
        with Live(render(read(), problems=True), console=console, auto_refresh=False) as live:
            while True:
                time.sleep(WATCH_INTERVAL_SECONDS)
                live.update(render(read(), problems=True), refresh=True)


def _reader(state_dir: Path, config_path: Path | None) -> Callable[[], model.StackStatus]:
    """What ``status`` reads, per ``config.RULE``; a local stack that is not running, or
    nothing to report on at all, is a ``StackError`` here, before anything is read."""
    found = target(config_path, state_dir, enter=True)
    sup = connect(state_dir)
    layout = found.layout
    if layout is not None:  # the local stack: its own endpoint, credentials and databases
        _running(state_dir)
        settings = Settings.from_env(layout.common_env())
        clients, fifo, master_env = layout.clients, False, layout.master_env()
    elif found.source is Source.DEFAULTS:
        raise StackError(
            f"no local stack recorded in {state_dir} and no reactive.toml: run `reactive up`, "
            "or pass --config (or --state-dir of the stack)"
        )
    else:
        settings = Settings.from_env(prefix=found.config.prefix, state_dir=state_dir)
        clients = tuple(c.name for c in found.config.clients)
        # The master as configured (reactive.toml's [master], MASTER_DATABASE_URL...) with
        # this command's state dir and prefix, as backfill and diff run it.
        fifo = found.config.fifo
        master_env = master_environment(state_dir, config_path, None)
    # Our supervisord answering in the state dir runs the listeners; without one (an
    # operator's own projects under their own process manager) they are not ours to show.
    ours = layout is not None or sup.is_up()
    envs = {name: client_environment(name, state_dir, config_path, None) for name in clients}
    redis_urls = {name: env.get("REDIS_URL", "") for name, env in envs.items()}
    replicas: list[tuple[float, dict[str, model.ReplicaCounts | str]]] = []

    def read_replicas() -> dict[str, model.ReplicaCounts | str]:
        """The clients' counts, read again at most every REPLICAS_INTERVAL_SECONDS."""
        if not replicas or time.monotonic() - replicas[0][0] >= REPLICAS_INTERVAL_SECONDS:
            replicas[:] = [(time.monotonic(), model.read_replicas(envs))]
        return replicas[0][1]

    def read() -> model.StackStatus:
        # The clients' processes start first and run while the rest is read.
        with ThreadPoolExecutor(max_workers=1) as pool:
            counted = pool.submit(read_replicas)
            queues, dlqs = model.read_queues(settings, clients, fifo=fifo)
            processes = model.read_processes(sup) if ours else None
            alive = None if ours else model.read_alive(settings, clients, redis_urls)
            outbox = model.read_outbox(master_env)
            return model.build_status(
                clients=clients,
                processes=processes,
                queues=queues,
                dead_letter_queues=dlqs,
                outbox=outbox,
                now=datetime.now(UTC),
                replicas=counted.result(),
                alive=alive,
            )

    return read


def _running(state_dir: Path) -> Supervisor:
    """The supervisord of the local stack recorded in ``state_dir``; a ``StackError`` if
    it is not running."""
    sup = connect(state_dir)
    if not sup.is_up():
        raise StackError(
            f"the local stack recorded in {state_dir} is not running (nothing answers on "
            f"{sup.socket}): start it with `reactive up`"
        )
    return sup


def render(found: model.StackStatus, *, problems: bool = False) -> Group:
    """The status as one table and an outbox line; with ``problems``, why each part that
    could not be read was not, below them (--watch: stderr would break the redraw).

    The listener columns are left out when no client's listeners are run by a supervisord
    of ours: a line per client says who runs them instead."""
    ours = not found.clients or any(not c.listeners_note for c in found.clients)
    processes = ["listener", "state", "pid", "uptime"] if ours else []
    queue_columns = ["visible", "in flight", "dead letters", "replicas", "oldest msg"]
    table = Table("client", *processes, *queue_columns)
    for client in found.clients:
        queue = [_n(client.visible), _n(client.in_flight), _n(client.dead_letters)]
        queue += [_n(client.replicas), "n/a"]
        rows: list[list[str | Text]] = [
            [p.name, _state(p.state), _n(p.pid), _uptime(p.uptime_seconds)]
            for p in client.listeners
        ] or [[_no_listener(client), "", "", ""]]
        for i, row in enumerate(rows):
            blank = [""] * len(queue)
            table.add_row(
                client.name if i == 0 else "", *row[: len(processes)], *(queue if i == 0 else blank)
            )
    outbox = found.outbox
    if outbox.error:
        line = Text("master outbox: ?", style="yellow")
    else:
        age = outbox.oldest_pending_age_seconds
        oldest = f", oldest pending {age:.1f} s old" if age is not None else ""
        waiting = f", {outbox.waiting_retry} waiting to retry" if outbox.waiting_retry else ""
        line = Text(f"master outbox: {outbox.backlog} pending{oldest}{waiting}")
    packed = [] if outbox.error or not outbox.publish_batch else [Text(PACKED_NOTE, style="dim")]
    why = [Text(p, style="red") for p in model.problems(found)] if problems else []
    notes = [Text(f"{c.name}: listeners {c.listeners_note}{_alive(c)}") for c in found.clients]
    lines = [line, *packed, *_kept_line(outbox), *_truncated_lines(found.clients)]
    lines += [note for note, c in zip(notes, found.clients, strict=True) if c.listeners_note]
    return Group(table, *lines, Text(f"oldest msg: {model.OLDEST_AGE_NOTE}", style="dim"), *why)


def _alive(client: model.ClientStatus) -> str:
    """``: 2 alive, last seen 3.1 s ago`` from the listeners' keys in Redis, if read."""
    if client.alive_error:
        return ": alive ones not read"
    if client.alive is None:
        return ""
    if not client.alive:
        return f": none seen alive in the last {LISTENER_ALIVE_TTL_SECONDS} s"
    return f": {len(client.alive)} alive, last seen {_age(client.alive_last_seen_seconds)} ago"


def _no_listener(client: model.ClientStatus) -> str:
    """The listener cell of a client without a process to show: "?" if they could not be
    read, "-" if they are not ours to show, else "none"."""
    if client.listeners_error:
        return "?"
    return "-" if client.listeners_note else "none"


def _kept_line(outbox: model.OutboxStatus) -> list[Text]:
    """``master outbox: 1234 row(s), oldest sent 2 d old (sent rows kept 7 d)``, if read."""
    if outbox.error or outbox.rows is None:
        return []
    sent = outbox.oldest_sent_age_seconds
    oldest = "no sent row" if sent is None else f"oldest sent {_age(sent)} old"
    retention = outbox.retention_seconds
    kept = f" (sent rows kept {_age(retention)})" if retention is not None else ""
    return [Text(f"master outbox: {outbox.rows} row(s), {oldest}{kept}")]


def _truncated_lines(clients: list[model.ClientStatus]) -> list[Text]:
    """Per client whose users hold values cut to its limits (REACTIVE_OVERSIZE_POLICY=
    truncate): how many, per field (a database that was not read is among the problems)."""
    lines = []
    for client in clients:
        if client.truncated_users:
            fields = ", ".join(f"{n} {c}" for n, c in sorted(client.truncated_fields.items()))
            lines.append(
                Text(
                    f"{client.name}: {client.truncated_users} user(s) hold values cut to the "
                    f"client's limits ({fields}): "
                    f"`reactive diff --client {client.name}` lists them",
                    style="yellow",
                )
            )
    return lines


def _age(seconds: float | None) -> str:
    """A duration in the unit that reads best: 12.5 s, 42 min, 5.2 h, 7 d."""
    if seconds is None:
        return "?"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= 2 * size:
            return f"{seconds / size:.1f} {unit}".replace(".0 ", " ")
    return f"{seconds:.1f} s"


def _n(value: int | None) -> str:
    return "?" if value is None else str(value)


def _state(state: str) -> Text:
    style = {"RUNNING": "green", "STARTING": "yellow", "STOPPING": "yellow"}.get(state, "red")
    return Text(state, style=style)


def _uptime(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
