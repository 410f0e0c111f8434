"""Options several commands share, and loading the config and settings they name."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import config, localstack
from reactive_cli.config import Config, Source
from reactive_users.core.settings import DEFAULT_STATE_DIR, Settings

ConfigPath = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help=f"The reactive.toml to use. {config.RULE}",
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


@dataclass(frozen=True)
class Target:
    """What a command acts on (``config.RULE``): a configuration, and the local stack's
    layout when that is where it came from."""

    config: Config
    source: Source
    layout: localstack.Layout | None = None


def target(config_path: Path | None, state_dir: Path, *, enter: bool = False) -> Target:
    """The configuration ``config.RULE`` gives this command; with ``enter``, a local stack's
    endpoint, credentials, Redis and prefix are put in this process's environment."""
    layout = None if config_path is not None else localstack.Layout.recorded(state_dir.absolute())
    source, cfg = config.resolve(
        config_path, os.environ, Path.cwd(), stack_recorded=layout is not None
    )
    if layout is None:
        assert cfg is not None
        return Target(config=cfg, source=source)
    if enter:
        os.environ.update(layout.common_env())
    clients = tuple(
        config.ClientConfig(name=n, listeners=layout.listener_count(n)) for n in layout.clients
    )
    local = config.Config(
        path=None,
        prefix=layout.prefix,
        clients=clients,
        where=f"the local stack in {layout.state_dir}",
    )
    return Target(config=local, source=source, layout=layout)


def load_config(path: Path | None, *, required: bool) -> config.Config:
    """The config named by ``--config``/``$REACTIVE_CONFIG``/``./reactive.toml``."""
    return config.load(path, os.environ, Path.cwd(), required=required)


def settings_for(cfg: config.Config, state_dir: Path | None = None) -> Settings:
    """Shared settings from the environment, with the config's prefix (and ``state_dir``)."""
    if state_dir is None:
        return Settings.from_env(prefix=cfg.prefix)
    return Settings.from_env(prefix=cfg.prefix, state_dir=state_dir.absolute())
