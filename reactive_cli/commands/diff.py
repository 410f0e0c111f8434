"""``reactive diff --client NAME``: the master's users against one client's replicas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from reactive_cli import diffing
from reactive_cli.commands import output
from reactive_cli.commands.backfill import (
    ClientName,
    MasterEnv,
    check_client,
    client_environment,
    master_environment,
    run_captured,
    run_streaming,
)
from reactive_cli.commands.manage import MASTER
from reactive_cli.commands.options import DEFAULT_STATE, ConfigPath, Json, StateDir
from reactive_users.core import exitcodes
from reactive_users.core.errors import ContractError, UsageError

ClientEnv = Annotated[
    Path | None,
    typer.Option(
        "--client-env",
        help="A file of KEY=VALUE lines added to the client's environment (DATABASE_URL, ...).",
        show_default=False,
        dir_okay=False,
        exists=True,
    ),
]


def diff(
    client: ClientName,
    json_output: Json = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Send the client's queue exactly the events that close the gap."
        ),
    ] = False,
    every_user: Annotated[
        bool, typer.Option("--all", help="List equal users too, not only differences.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Most users the table lists.")] = 50,
    master_env: MasterEnv = None,
    client_env: ClientEnv = None,
    state_dir: StateDir = DEFAULT_STATE,
    config_path: ConfigPath = None,
) -> None:
    """Compare the master's users with one client's replicas, user by user.

    Reads each side through its own Django project: `python -m master users_dump` with the
    master's settings and `python -m client replica_dump` with the client's (the local
    stack's when `reactive up` recorded one; else this environment, where the client's
    database is `CLIENT_DATABASE_URL`, e.g. SHOP_DATABASE_URL, or DATABASE_URL in
    `--client-env`). Per user: missing (not on the client, its local row deleted, or
    withdrawn there), extra (deleted in the master, or staff/superuser there, whom no client
    may hold), stale (other version or allow-listed field values), ahead (a version above
    the master's: an event the master never sent) or equal, with totals.
    Truncated: the client stored a value cut to its own limit
    (REACTIVE_OVERSIZE_POLICY=truncate); listed, but not a difference, as no event changes
    it. Exits 1 when they differ, 0 when equal. `--repair` then sends a snapshot for each
    missing or stale user, a withdrawal for each extra staff user and a delete for each
    extra deleted one to the client's queue (the master's backfill), and a reset for each
    user ahead or tombstoned on the client only (the master's state and version, applied
    only while the client still holds what this diff saw); run diff again once the listener
    applied them.

    Example: reactive diff --client shop --repair
    """
    check_client(client, state_dir, config_path)
    m_env = master_environment(state_dir, config_path, master_env)
    c_env = client_environment(client, state_dir, config_path, client_env)
    try:
        ours = diffing.parse_records(run_captured(MASTER, ["users_dump"], m_env))
        theirs = diffing.parse_records(run_captured(client, ["replica_dump"], c_env))
    except ContractError as e:
        raise UsageError(f"a dump could not be read: {e}") from e
    report = diffing.compare(ours, theirs)
    console = output.console(quiet=json_output)
    err = Console(stderr=True)
    if json_output:
        typer.echo(json.dumps({"client": client, **report.as_json(every_user=every_user)}))
    else:
        shown = report.entries if every_user else report.listed
        if shown:
            console.print(render(shown[:limit]))
        if len(shown) > limit:
            console.print(f"... and {len(shown) - limit} more (--limit, or --json for all)")
        console.print(
            totals_line(client, report), style="red" if report.differs else "green", highlight=False
        )
    code = exitcodes.FAILED if report.differs else exitcodes.OK
    if repair and report.differs:
        code = _repair(client, report, m_env, err)
    raise typer.Exit(code=code)


def _repair(client: str, report: diffing.Report, env: dict[str, str], err: Console) -> int:
    """Send the repairs; 0 if every repairable user was sent and none is unrepairable."""
    ids = report.repair_ids()
    resets = report.resets()
    code = exitcodes.OK
    if ids:
        err.print(f"Repairing {len(ids)} user(s) of {client}...", highlight=False)
        args = ["backfill", "--client", client, "--ids", "-"]
        code = run_streaming(MASTER, args, env, stdin=",".join(map(str, ids)))
    if resets and code == exitcodes.OK:
        err.print(
            f"Resetting {len(resets)} user(s) of {client} to the master's state and version...",
            highlight=False,
        )
        args = ["backfill", "--client", client, "--resets", "-"]
        code = run_streaming(MASTER, args, env, stdin=_reset_lines(resets))
    if (ids or resets) and code == exitcodes.OK:
        err.print(
            f"Sent; run `reactive diff --client {client}` again once its listener applied them.",
            style="green",
            highlight=False,
        )
    for entry in report.unrepairable():
        err.print(
            f"master id {entry.master_id}: {entry.reason}: no event can repair this; fix it "
            f"on the client (`reactive manage {client} -- shell`)",
            style="red",
            highlight=False,
        )
        code = code or exitcodes.FAILED
    return code


def _reset_lines(entries: list[diffing.Entry]) -> str:
    """What ``python -m master backfill --resets -`` reads: the client state each replaces."""
    return "".join(
        json.dumps(
            {"master_id": e.master_id, "version": e.client_version, "event_id": e.client_event_id}
        )
        + "\n"
        for e in entries
    )


def render(entries: tuple[diffing.Entry, ...]) -> Table:
    """One row per user: id, status, both versions, what differs."""
    table = Table("master id", "status", "master v", "client v", "detail")
    colour = {
        "missing": "red",
        "extra": "red",
        "stale": "yellow",
        "equal": "green",
        "truncated": "magenta",
        "ahead": "red",
    }
    for e in entries:
        status = f"[{colour.get(e.status.value, 'dim')}]{e.status.value}[/]"
        table.add_row(
            str(e.master_id), status, _v(e.master_version), _v(e.client_version), e.reason
        )
    return table


def totals_line(client: str, report: diffing.Report) -> str:
    """``shop: 3 differ: 1 missing, 1 extra, 1 stale; 997 equal (2 of them withdrawn).``"""
    t = report.totals
    counts = f"{t['missing']} missing, {t['extra']} extra, {t['stale']} stale"
    if t["ahead"]:
        counts += f", {t['ahead']} ahead"
    rest = f"{t['equal']} equal"
    if report.withdrawn:
        rest += f" ({report.withdrawn} of them withdrawn: staff or superusers in the master)"
    if t["truncated"]:
        rest += f", {t['truncated']} truncated (cut to the client's limits)"
    if not report.differs:
        return f"{client}: no differences: {rest}."
    return f"{client}: {len(report.differences)} differ: {counts}; {rest}."


def _v(version: int | None) -> str:
    return "-" if version is None else str(version)
