"""``reactive status`` of a stack ``up --infra-only`` started: its programs (moto, Redis),
their endpoints and the provisioned clients' queue depths. No master or client project
belongs to it, so none is run to read an outbox or replicas (nor any database created)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping

import typer
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from reactive_cli import localstack
from reactive_cli import status as model
from reactive_cli.commands import output
from reactive_cli.localstack import infra
from reactive_cli.supervisor import Supervisor
from reactive_users.core import exitcodes
from reactive_users.core.aws.queues import QueueDepth
from reactive_users.core.settings import Settings


def show(layout: localstack.Layout, sup: Supervisor, *, json_output: bool) -> None:
    """Print the infra-only stack's status; exit 6 if a part could not be read or a
    program is not RUNNING."""
    processes = model.read_processes(sup)
    settings = Settings.from_env(layout.common_env())
    queues, dlqs = model.read_queues(settings, layout.clients)
    if isinstance(processes, str):
        problems, rows = [processes], []
    else:
        problems = [f"{p.name}: {p.state}" for p in processes if p.state != "RUNNING"]
        rows = [(p.name, p.state, p.pid) for p in processes]
    problems += [f"{name} queue: {q}" for name, q in queues.items() if isinstance(q, str)]
    problems += [f"{name} dead letters: {q}" for name, q in dlqs.items() if isinstance(q, str)]
    depths = {name: (queues[name], dlqs[name]) for name in layout.clients}
    if json_output:
        data = {
            "infra_only": True,
            "processes": [{"name": n, "state": s, "pid": pid} for n, s, pid in rows],
            "endpoints": infra.endpoints(layout),
            "clients": [
                {
                    "name": name,
                    "queue": q if isinstance(q, str) else dataclasses.asdict(q),
                    "dead_letters": d if isinstance(d, str) else dataclasses.asdict(d),
                }
                for name, (q, d) in depths.items()
            ],
            "problems": problems,
        }
        typer.echo(json.dumps(data, indent=2))
    else:
        output.console().print(_render(layout, rows, depths))
    err = Console(stderr=True)
    for line in problems:
        err.print(Text(line, style="red"), soft_wrap=True)
    if problems:
        raise typer.Exit(code=exitcodes.UNREACHABLE)


def _render(
    layout: localstack.Layout,
    rows: list[tuple[str, str, int]],
    depths: Mapping[str, tuple[object, object]],
) -> Group:
    programs = Table("program", "state", "pid", "endpoint")
    urls = dict(zip(("moto", "redis"), infra.endpoints(layout).values(), strict=False))
    for name, state, pid in rows:
        style = "green" if state == "RUNNING" else "red"
        programs.add_row(name, Text(state, style=style), str(pid or "-"), urls.get(name, ""))
    lines: list[Table | Text] = [programs]
    if depths:
        queues = Table("client queue", "visible", "in flight", "dead letters")
        for name, (q, d) in depths.items():
            queues.add_row(name, *_counts(q), _count(d))
        lines.append(queues)
    lines.append(Text("infra only: no master or client of ours runs here", style="dim"))
    return Group(*lines)


def _counts(found: object) -> tuple[str, str]:
    if isinstance(found, QueueDepth):
        return str(found.visible), str(found.in_flight)
    return "?", "?"


def _count(found: object) -> str:
    return str(found.visible) if isinstance(found, QueueDepth) else "?"
