"""``reactive backfill --client NAME``: the master's backfill, run with the operator's settings.

Also what ``diff`` and ``republish`` share: the environment the master's and a client's
management commands run with (``reactive manage``'s, plus ``--master-env``/``--client-env``
files and ``<CLIENT>_DATABASE_URL``), and running them.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import projects
from reactive_cli.commands.manage import MASTER, component_env
from reactive_cli.commands.options import DEFAULT_STATE, ConfigPath, StateDir, target
from reactive_users.core import selection
from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import own_environment

ClientName = Annotated[
    str, typer.Option("--client", "-c", help="The client (its queue).", show_default=False)
]
MasterEnv = Annotated[
    Path | None,
    typer.Option(
        "--master-env",
        help="A file of KEY=VALUE lines added to the master's environment (DATABASE_URL, ...).",
        show_default=False,
        dir_okay=False,
        exists=True,
    ),
]


def backfill(
    client: ClientName,
    since: Annotated[
        str | None,
        typer.Option(
            "--since", help="Only users joined or with an event since DATE.", show_default=False
        ),
    ] = None,
    batch: Annotated[
        int, typer.Option("--batch", min=1, max=10_000, help="Users read per batch.")
    ] = 500,
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the checkpoint and start over.")
    ] = False,
    max_depth: Annotated[
        int,
        typer.Option(
            "--max-depth",
            min=0,
            help="Hold back while more messages wait in the client's queue (0: never).",
        ),
    ] = 100,
    ids: Annotated[
        str | None,
        typer.Option("--ids", help="Only these master ids (1,2,3): a repair.", show_default=False),
    ] = None,
    stop_after: Annotated[
        int | None,
        typer.Option(
            "--stop-after", min=1, hidden=True, help="Stop after N events (to try a resume)."
        ),
    ] = None,
    master_env: MasterEnv = None,
    state_dir: StateDir = DEFAULT_STATE,
    config_path: ConfigPath = None,
) -> None:
    """Send every master user (and tombstone) to ONE client's queue, at current versions.

    Runs the master's `backfill` command (`python -m master backfill`) with the master's
    settings: the local stack's when `reactive up` recorded one, else this environment
    (plus `--master-env`). Snapshots go to that client's SQS queue only, never the topic,
    and interleave safely with live events: an older snapshot never overwrites a newer
    change. Progress (sent, rate, time left) goes to stderr every second. Ctrl-C or a kill
    keeps a checkpoint in STATE_DIR; running it again resumes after it (`--restart` starts
    over). It holds back while more than `--max-depth` messages wait in the client's queue:
    live events queue behind snapshots, so it goes at the pace the client applies them.
    Exit code: the command's (non-zero when SQS kept refusing some users, naming them).

    Example: reactive backfill --client shop --batch 1000
    """
    if since:  # checked here first: one line and exit code 2, before the master starts
        selection.parse_since(since)
    if ids:
        selection.parse_ids(ids)
    args = ["backfill", "--client", client, "--batch", str(batch), "--max-depth", str(max_depth)]
    if since:
        args += ["--since", since]
    if restart:
        args.append("--restart")
    if ids:
        args += ["--ids", ids]
    if stop_after:
        args += ["--stop-after", str(stop_after)]
    check_client(client, state_dir, config_path)
    env = master_environment(state_dir, config_path, master_env)
    raise typer.Exit(code=run_streaming(MASTER, args, env))


# --- Shared by backfill, diff and republish ---------------------------------------------------


def check_client(client: str, state_dir: Path, config_path: Path | None) -> None:
    """Refuse a client the local stack or the config does not know (a typo sends nothing)."""
    target(config_path, state_dir).config.client(client)


def master_environment(
    state_dir: Path, config_path: Path | None, env_file: Path | None
) -> dict[str, str]:
    """What the master's commands run with: this environment with the master's own variables
    (``MASTER_DATABASE_URL``...), the stack's or the config's prefix and state dir, then
    ``env_file``."""
    env = dict(os.environ) | component_env(MASTER, state_dir.absolute(), config_path)
    return _finish(env, state_dir, config_path, env_file)


def client_environment(
    client: str, state_dir: Path, config_path: Path | None, env_file: Path | None
) -> dict[str, str]:
    """What a client's commands run with: as the master's, but never the master's database.

    DATABASE_URL is not inherited: it comes from ``<CLIENT>_DATABASE_URL`` (as in
    deploy/supervisord.conf; its ``<CLIENT>_SECRET_KEY`` and ``<CLIENT>_REDIS_URL`` too) or
    ``env_file``; without either, the client's SQLite file in the state dir (the local stack's).
    """
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env |= component_env(client, state_dir.absolute(), config_path)
    env |= own_environment(os.environ, client)  # over a local stack's too
    return _finish(env, state_dir, config_path, env_file)


def _finish(
    env: dict[str, str], state_dir: Path, config_path: Path | None, env_file: Path | None
) -> dict[str, str]:
    found = target(config_path, state_dir)
    if found.layout is None:
        env["REACTIVE_PREFIX"] = found.config.prefix  # the names provisioning gave the queues
        env["REACTIVE_STATE_DIR"] = str(state_dir.absolute())
    if env_file is not None:
        env |= read_env_file(env_file)
    return env


def read_env_file(path: Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export`` and quotes allowed, ``#`` comments); ConfigError if bad."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"{path}: unreadable: {e}") from e
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not key.replace("_", "a").isalnum() or key[0].isdigit():
            raise ConfigError(f"{path}:{number}: not a KEY=VALUE line: {raw[:60]!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = shlex.split(value)[0] if value[0] == '"' else value[1:-1]
        values[key] = value
    return values


def run_streaming(
    component: str, args: Sequence[str], env: Mapping[str, str], *, stdin: str | None = None
) -> int:
    """Run a management command, its output streaming to ours; its exit code."""
    done = subprocess.run(
        projects.argv(env, args),
        env=dict(env),
        input=stdin,
        text=True if stdin is not None else None,
        check=False,
    )
    return done.returncode


def run_captured(component: str, args: Sequence[str], env: Mapping[str, str]) -> str:
    """Run a management command and return its stdout; ConfigError with its error if it fails."""
    done = subprocess.run(
        projects.argv(env, args), env=dict(env), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        last = lines[-1] if lines else f"exit code {done.returncode}"
        where = "master" if component == MASTER else f"client {component}"
        raise ConfigError(
            f"`{' '.join(args)}` of the {where} failed: {last}: check its settings "
            "(DATABASE_URL; --master-env / --client-env)"
        )
    return done.stdout
