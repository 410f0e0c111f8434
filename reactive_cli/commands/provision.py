"""``reactive provision``: plan, then apply, the topic, queues, DLQs and subscriptions."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli import config
from reactive_cli.commands import output
from reactive_cli.commands.options import (
    DEFAULT_STATE,
    ConfigPath,
    Json,
    StateDir,
    settings_for,
    target,
)
from reactive_cli.provision import Desired, Plan, apply_plan, plan_provision, read_existing
from reactive_users.core import resources
from reactive_users.core.errors import ConfigError

_STYLE = {"create": "green", "update": "yellow", "unchanged": "dim", "delete": "red"}


def provision(
    config_path: ConfigPath = None,
    client: Annotated[
        list[str] | None,
        typer.Option("--client", "-c", help="Only this client (repeatable).", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the plan; change nothing.")
    ] = False,
    json_output: Json = False,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Create or update the SNS topic and per client a queue, dead-letter queue, subscription.

    Shows the plan (create / update / unchanged per resource), then applies it and records
    the ARNs and URLs in `STATE_DIR/resources.json`, where master and clients find them.
    Which clients: see --config; with the local defaults, --client NAME provisions that
    client with default options. Running it twice changes nothing the second time.

    Example: reactive provision --dry-run
    """
    found = target(config_path, state_dir, enter=True)
    cfg = found.config
    if found.source is config.Source.DEFAULTS and client:
        cfg = config.with_clients(cfg, client)
    desired = Desired.from_config(cfg, client or ())
    settings = settings_for(cfg, None if found.layout else state_dir)
    if _demo_clients_into_aws(found.source, client, settings.aws_endpoint_url, dry_run):
        raise ConfigError(
            "no reactive.toml and no AWS_ENDPOINT_URL: this would create the demo clients "
            f"{', '.join(c.name for c in cfg.clients)} in real AWS; copy reactive.toml.example "
            "to reactive.toml and name your clients, or pass --client NAME"
        )
    console = output.console(quiet=json_output)
    with output.progress(f"Reading what exists for prefix {cfg.prefix!r}...", quiet=json_output):
        plan = plan_provision(desired, read_existing(settings, desired))
    render_plan(console, plan)
    produced = None
    if not dry_run:
        with output.progress(f"Applying {len(plan.changes)} change(s)...", quiet=json_output):
            result = apply_plan(settings, plan)
        produced = result.as_json()
        where = resources.record(
            settings.state_dir,
            cfg.prefix,
            produced,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
        )
        counts = plan.counts()
        console.print(
            f"Applied: {counts['create']} created, {counts['update']} updated, "
            f"{counts['unchanged']} unchanged. Recorded in {where}",
            highlight=False,
            soft_wrap=True,
        )
    if json_output:
        data = {
            "plan": [s.as_json() for s in plan.steps],
            "applied": not dry_run,
            "resources": produced,
        }
        typer.echo(json.dumps(data, indent=2))


def _demo_clients_into_aws(
    source: config.Source, clients: list[str] | None, endpoint: str | None, dry_run: bool
) -> bool:
    """Whether applying would create the local defaults' demo clients in real AWS: nobody
    named a client (no file, no --client) and no local endpoint is set."""
    return source is config.Source.DEFAULTS and not clients and not endpoint and not dry_run


def render_plan(console: Console, plan: Plan) -> None:
    """The plan as a table and one summary line."""
    table = Table("action", "resource", "name", "detail")
    for step in plan.steps:
        style = _STYLE[step.action]
        table.add_row(f"[{style}]{step.action}[/{style}]", step.resource, step.name, step.detail)
    console.print(table)
    counts = plan.counts()
    if not plan.changes:
        console.print(f"No changes: {counts['unchanged']} resources are up to date.")
        return
    console.print(
        f"Plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['unchanged']} unchanged."
    )
