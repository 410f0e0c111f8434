"""``reactive listen``: run one client's SQS listener in the foreground."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from reactive_cli import projects
from reactive_cli.commands.options import DEFAULT_STATE, ConfigPath, StateDir, target


def listen(
    client: Annotated[
        str,
        typer.Option("--client", "-c", help="The client whose queue to read.", show_default=False),
    ],
    config_path: ConfigPath = None,
    state_dir: StateDir = DEFAULT_STATE,
) -> None:
    """Run one client's SQS listener in the foreground (what supervisord runs).

    The same listener as `python -m client listen`, with DJANGO_SETTINGS_MODULE=client.settings
    and REACTIVE_CLIENT=NAME. The queue URL comes from $REACTIVE_QUEUE_URL, else the
    resources `reactive provision` recorded, else a lookup by name.
    SIGTERM/SIGINT: let the long poll in progress end (up to 20 s), finish the message in
    hand, delete what was applied, hand the rest back, exit 0; a second signal stops at
    once. The client must be in the configuration (see --config); the local stack's
    listeners run `python -m client listen` under supervisord.

    Example: reactive listen --client shop
    """
    cfg = target(config_path, state_dir, enter=True).config
    project = cfg.client(client).project  # an unknown client fails here, naming the known ones
    env = {
        **os.environ,
        **projects.project_env(project),
        "REACTIVE_CLIENT": client,
        "REACTIVE_PREFIX": cfg.prefix,
        "REACTIVE_STATE_DIR": str(state_dir.absolute()),
    }
    # The client's project (reactive.toml's settings and pythonpath) replaces this process:
    # same PID, so signals and the exit code (reactive_users.core.exitcodes) are the listener's.
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, projects.argv(env, ["listen"]), env)
