"""What `listeners`, `logs` and `status` share: the stack's supervisord, by state dir."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import supervisor
from reactive_cli.settings import DEFAULT_STATE_DIR

StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        envvar="REACTIVE_STATE_DIR",
        help="The stack's state directory; supervisord's socket is STATE_DIR/supervisor.sock.",
    ),
]
DEFAULT = Path(DEFAULT_STATE_DIR)


def connect(state_dir: Path) -> supervisor.Supervisor:
    """The supervisord of the stack in ``state_dir``."""
    return supervisor.Supervisor(supervisor.socket_path(state_dir.absolute()))
