"""What `listeners`, `logs` and `status` share: the stack's supervisord, by state dir."""

from __future__ import annotations

from pathlib import Path

from reactive_cli import supervisor
from reactive_cli.commands.options import DEFAULT_STATE as DEFAULT
from reactive_cli.commands.options import StateDir

__all__ = ["DEFAULT", "StateDir", "connect"]


def connect(state_dir: Path) -> supervisor.Supervisor:
    """The supervisord of the stack in ``state_dir``."""
    return supervisor.Supervisor(supervisor.socket_path(state_dir.absolute()))
