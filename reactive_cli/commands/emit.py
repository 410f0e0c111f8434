"""``reactive emit-test``: synthetic events through the real path, and a delivery report."""

from __future__ import annotations

import json
import os
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli import emit, projects
from reactive_cli.commands import output
from reactive_cli.commands.options import (
    DEFAULT_STATE,
    ConfigPath,
    Json,
    StateDir,
    settings_for,
)
from reactive_cli.commands.options import (
    target as configured,
)
from reactive_users.core import exitcodes
from reactive_users.core.delivery import ClientDelivery, failed_clients, percentile, summary_line


def emit_test(
    user: Annotated[
        str,
        typer.Argument(
            help="A master user's login (a username, or the email on a master that logs in by "
            "email), or id:N for master user id N.",
            show_default=False,
        ),
    ],
    client: Annotated[
        str | None,
        typer.Option(
            "--client",
            "-c",
            help="Report only this client (events still reach every client).",
            show_default=False,
        ),
    ] = None,
    count: Annotated[
        int, typer.Option("--count", "-n", min=1, max=emit.MAX_COUNT, help="Events to publish.")
    ] = 1,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, max=600, help="Seconds to wait for every listener."),
    ] = emit.DEFAULT_TIMEOUT_SECONDS,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Publish, print the event ids, exit 0.")
    ] = False,
    json_output: Json = False,
    config_path: ConfigPath = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Publish synthetic events for USER through SNS and report how each client delivered them.

    Each event goes topic -> every client's queue -> its listener -> USER's open websockets
    (the page lists it under "test events"). Synthetic events never write a database. Per
    client it reports whether the listener delivered every event, how many of USER's
    sockets received them, and the latency publish->listener and publish->socket (wall
    clock, ms). Exits 1 naming each client that did not deliver within --timeout.

    Example: reactive emit-test demo --count 3
    """
    cfg = configured(config_path, state_dir, enter=True).config  # a local stack: talk to it
    if client:
        cfg.client(client)  # ConfigError naming the known clients
    clients = [client] if client else [c.name for c in cfg.clients]
    settings = settings_for(cfg)
    target = emit.resolve_user(user, {**os.environ, **projects.project_env(cfg.master)})
    events = emit.synthetic_events(target, count)
    topic = emit.topic_arn(settings, cfg)
    ids = [str(e.event_id) for e in events]
    console = output.console(quiet=json_output)
    if no_wait:
        emit.publish(settings, topic, events)
        _print_json_or(json_output, {"user_id": target.user_id, "events": ids, "waited": False})
        console.print(f"Published {count} synthetic event(s) for {target.label}:", *ids, sep="\n")
        return
    waiting = f"Published {count} event(s) for {target.label}; awaiting acks..."
    with output.progress(waiting, quiet=json_output):
        deliveries = emit.emit_and_collect(settings, topic, events, clients, timeout=timeout)
    failed = failed_clients(deliveries)
    summary = summary_line(deliveries, user=target.label, timeout=timeout)
    if json_output:
        data = {
            "user_id": target.user_id,
            "username": target.username or None,
            "login_field": target.login_field if target.username else None,
            "events": ids,
            "timeout_s": timeout,
            "ok": not failed,
            "failed": failed,
            "clients": [d.as_json() for d in deliveries],
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        console.print(render(deliveries))
        console.print(summary, style="red" if failed else "green", highlight=False)
    if failed:
        if json_output:
            Console(stderr=True).print(summary, style="red", highlight=False, soft_wrap=True)
        raise typer.Exit(code=exitcodes.FAILED)


def render(deliveries: list[ClientDelivery]) -> Table:
    """One row per client: delivered, sockets reached, latencies."""
    table = Table(
        "client", "listener", "sockets", "publish→listener ms p50/max", "publish→socket ms p50/max"
    )
    for d in deliveries:
        listener = f"[green]yes[/green] {d.delivered}/{d.events}"
        if not d.ok:
            listener = f"[red]no[/red] {d.delivered}/{d.events}"
        sockets = str(d.sockets) if d.sockets else "[dim]0 (none open)[/dim]"
        table.add_row(d.client, listener, sockets, _p50_max(d.listener_ms), _p50_max(d.socket_ms))
    return table


def _p50_max(values: tuple[float, ...]) -> str:
    if not values:
        return "-"
    return f"{percentile(values, 0.5):.1f} / {max(values):.1f}"


def _print_json_or(json_output: bool, data: dict[str, object]) -> None:
    if json_output:
        typer.echo(json.dumps(data, indent=2))
