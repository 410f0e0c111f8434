"""Options several commands share, and loading the config and settings they name."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import config
from reactive_cli.settings import DEFAULT_STATE_DIR, Settings

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="The reactive.toml to use (default: $REACTIVE_CONFIG, else ./reactive.toml).",
        show_default=False,
        dir_okay=False,
    ),
]
StateDir = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        envvar="REACTIVE_STATE_DIR",
        help="The stack's state directory (supervisord's socket, stack.json, resources.json).",
    ),
]
#: The default of ``--state-dir``.
DEFAULT_STATE = Path(DEFAULT_STATE_DIR)
Json = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON only.")]


def load_config(path: Path | None, *, required: bool) -> config.Config:
    """The config named by ``--config``/``$REACTIVE_CONFIG``/``./reactive.toml``."""
    return config.load(path, os.environ, Path.cwd(), required=required)


def settings_for(cfg: config.Config) -> Settings:
    """Shared settings from the environment, with the config's prefix."""
    return Settings.from_env(prefix=cfg.prefix)
