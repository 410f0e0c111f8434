"""``reactive republish``: publish users that writes bypassing the signals changed."""

from __future__ import annotations

from typing import Annotated

import typer

from reactive_cli.commands.backfill import MasterEnv, master_environment, run_streaming
from reactive_cli.commands.manage import MASTER
from reactive_cli.commands.options import DEFAULT_STATE, ConfigPath, StateDir
from reactive_users.core import selection


def republish(
    ids: Annotated[
        str | None, typer.Option("--ids", help="Master ids, e.g. 1,2,3.", show_default=False)
    ] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Every user.")] = False,
    username_regex: Annotated[
        str | None,
        typer.Option("--username-regex", help="Usernames matching RE.", show_default=False),
    ] = None,
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            metavar="LOOKUP=VALUE",
            help="A Django lookup on auth.User, e.g. is_active=false (repeatable).",
            show_default=False,
        ),
    ] = None,
    joined_since: Annotated[
        str | None,
        typer.Option("--joined-since", help="Users who joined on/after DATE.", show_default=False),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print how many users match; record nothing.")
    ] = False,
    master_env: MasterEnv = None,
    state_dir: StateDir = DEFAULT_STATE,
    config_path: ConfigPath = None,
) -> None:
    """Record a new event for each chosen user so that every client gets its current state.

    For users changed by writes that send no signals: `QuerySet.update()`, `bulk_create`,
    `bulk_update`, raw SQL, `loaddata`. Each user gets its next version and an `updated`
    event with every allow-listed field in the master's outbox; the relay publishes them to
    every client through the topic. Criteria combine (all must hold); one is required.
    Runs the master's `republish` command with the master's settings (the local stack's,
    else this environment plus `--master-env`); its exit code is passed through.

    Example: reactive republish --where last_name__startswith=Sm --dry-run
    """
    # Checked here first: a mistake is one line and exit code 2, before the master starts.
    selection.check_chosen(
        all_users=all_users,
        ids=selection.parse_ids(ids) if ids else (),
        username_regex=username_regex,
        where=selection.parse_where(where or []),
        joined_since=(
            selection.parse_since(joined_since, option="--joined-since") if joined_since else None
        ),
    )
    args = ["republish"]
    if ids:
        args += ["--ids", ids]
    if all_users:
        args.append("--all")
    if username_regex:
        args += ["--username-regex", username_regex]
    for item in where or []:
        args += ["--where", item]
    if joined_since:
        args += ["--joined-since", joined_since]
    if dry_run:
        args.append("--dry-run")
    env = master_environment(state_dir, config_path, master_env)
    raise typer.Exit(code=run_streaming(MASTER, args, env))
