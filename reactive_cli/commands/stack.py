"""``reactive up`` and ``reactive down``: the whole stack locally, under one supervisord."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli import localstack
from reactive_cli.settings import DEFAULT_STATE_DIR

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir", envvar="REACTIVE_STATE_DIR", help="Where the stack keeps its files."
    ),
]


def up(
    state_dir: StateDir = Path(DEFAULT_STATE_DIR),
    client: Annotated[
        list[str] | None, typer.Option("--client", "-c", help="A client to run (repeatable).")
    ] = None,
) -> None:
    """Start the whole stack locally: embedded SNS/SQS and Redis, master, clients, listeners.

    Example: reactive up --client shop --client blog
    """
    clients = localstack.check_clients(client) if client else localstack.DEFAULT_CLIENTS
    layout = localstack.Layout(state_dir=state_dir.absolute(), clients=clients)
    console = Console()
    with console.status("Starting the stack (moto, redis, master, clients)..."):
        urls = localstack.up(layout)
    passwords = json.loads((layout.state_dir / "demo-passwords.json").read_text())
    table = Table("open", "url", "log in as")
    table.add_row("master admin", urls.pop("master admin"), f"admin / {passwords['admin']}")
    for name, url in urls.items():
        table.add_row(f"client {name}", url, f"{localstack.DEMO_USERNAME} / {passwords['demo']}")
    console.print(table)
    console.print(
        f"Edit user 'demo' in the master admin and watch the client pages change.\n"
        f"Logs: {layout.state_dir / 'logs'}   Stop: reactive down"
    )


def down(state_dir: StateDir = Path(DEFAULT_STATE_DIR)) -> None:
    """Stop every process of the local stack and its supervisord.

    Example: reactive down
    """
    localstack.down(localstack.Layout(state_dir=state_dir.absolute()))
    Console().print("The stack is down.")
