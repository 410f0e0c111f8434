"""``reactive manage master|CLIENT -- ARGS``: a component's manage.py with the stack's settings."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Annotated

import typer

from reactive_cli import projects
from reactive_cli.commands.options import ConfigPath, target
from reactive_cli.commands.supervise import DEFAULT, StateDir
from reactive_users.core.errors import ConfigError
from reactive_users.core.settings import own_environment

MASTER = "master"


def manage(
    component: Annotated[
        str, typer.Argument(help="master, or a client's name.", show_default=False)
    ],
    args: Annotated[
        list[str] | None,
        typer.Argument(help="The management command and its arguments, after --."),
    ] = None,
    state_dir: StateDir = DEFAULT,
    config_path: ConfigPath = None,
) -> None:
    """Run the master's or a client's manage.py with the settings and environment it runs with.

    For the local stack (STATE_DIR/stack.json, written by `reactive up`) that is exactly the
    environment supervisord gives it; otherwise the current environment, with
    DJANGO_SETTINGS_MODULE (and REACTIVE_CLIENT) set, and the component's own variables as
    deploy/supervisord.conf gives them (SHOP_SECRET_KEY as DJANGO_SECRET_KEY,
    SHOP_DATABASE_URL, SHOP_REDIS_URL; MASTER_...). The exit code is the command's.

    Example: reactive manage master -- createsuperuser
    """
    env = {**os.environ, **component_env(component, state_dir.absolute(), config_path)}
    done = subprocess.run(projects.argv(env, args or []), env=env)
    raise typer.Exit(code=done.returncode)


def component_env(component: str, state_dir: Path, config_path: Path | None) -> dict[str, str]:
    """The variables ``component`` runs with (``config.RULE``): the local stack's, else its
    project's settings module and Python path (reactive.toml's ``[master]`` or
    ``[clients.NAME]``) and the component's own variables (``settings.own_environment``)."""
    found = target(config_path, state_dir)
    layout = found.layout
    if layout is not None:
        if component == MASTER:
            return layout.master_env()
        if component not in layout.clients:
            known = ", ".join((MASTER, *layout.clients))
            raise ConfigError(f"unknown component {component!r} in the local stack: {known}")
        return layout.client_env(component)
    own = own_environment(os.environ, component)  # MASTER_SECRET_KEY, SHOP_DATABASE_URL...
    if component == MASTER:
        return projects.project_env(found.config.master) | own
    project = found.config.client(component).project
    return projects.project_env(project) | {"REACTIVE_CLIENT": component} | own
