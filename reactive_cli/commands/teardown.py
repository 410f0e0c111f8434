"""``reactive teardown``: remove what provisioning created, after confirmation."""

from __future__ import annotations

import sys
from dataclasses import replace
from typing import Annotated

import typer
from rich.table import Table

from reactive_cli.commands import output
from reactive_cli.commands.options import (
    DEFAULT_STATE,
    ConfigPath,
    StateDir,
    settings_for,
    target,
)
from reactive_cli.config import ClientConfig
from reactive_cli.provision import Desired, read_existing
from reactive_cli.teardown import apply_teardown, plan_teardown
from reactive_users.core import resources
from reactive_users.core.errors import ConfigError


def teardown(
    config_path: ConfigPath = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Remove the topic, every client's queue and dead-letter queue, and the subscriptions.

    Subscriptions go first, then queues and DLQs, then the topic. Covers the clients of the
    configuration (see --config) and any recorded in `STATE_DIR/resources.json` for its
    prefix. Asks first unless --yes; dead letters still in a DLQ are lost.

    Example: reactive teardown --yes
    """
    found = target(config_path, state_dir, enter=True)
    cfg = found.config
    settings = settings_for(cfg, None if found.layout else state_dir)
    names = {c.name for c in cfg.clients} | set(
        resources.recorded_clients(settings.state_dir, cfg.prefix)
    )
    chosen = tuple(ClientConfig(name=n) for n in sorted(names))
    desired = Desired.from_config(replace(cfg, clients=chosen))
    console = output.console()
    with output.progress(f"Reading what exists for prefix {cfg.prefix!r}..."):
        steps = plan_teardown(desired, read_existing(settings, desired))
    if not steps:
        resources.forget(settings.state_dir, cfg.prefix)
        console.print(f"Nothing to remove: no resources with prefix {cfg.prefix!r} exist.")
        return
    table = Table("action", "resource", "name")
    for step in steps:
        table.add_row("[red]delete[/red]", step.resource, step.name)
    console.print(table)
    if not yes:
        if not sys.stdin.isatty():
            raise ConfigError("teardown needs confirmation and stdin is not a terminal: pass --yes")
        typer.confirm(f"Remove these {len(steps)} resources?", abort=True)
    with output.progress(f"Removing {len(steps)} resources..."):
        apply_teardown(settings, steps)
    resources.forget(settings.state_dir, cfg.prefix)
    console.print(f"Removed {len(steps)} resources.")
