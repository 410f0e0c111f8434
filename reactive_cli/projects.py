"""Reaching the master and client projects through their entry points (``python -m master
<command>``, ``python -m client <command>``): the CLI never sets up Django in its own process
or imports the apps' private modules. Each read-only command prints one JSON line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from reactive_cli.config import REFERENCE_CLIENT_SETTINGS, REFERENCE_MASTER_SETTINGS, ProjectConfig

#: The reference projects' own entry points, by settings module: they print a settings error
#: as one line. Any other project runs as ``python -m django`` with its settings.
ENTRY_POINTS = {REFERENCE_MASTER_SETTINGS: "master", REFERENCE_CLIENT_SETTINGS: "client"}

#: How Django prints a management command's ``CommandError`` on stderr.
COMMAND_ERROR = "CommandError: "


def project_env(project: ProjectConfig, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The variables that make ``python -m django`` run as ``project``: its settings module,
    and its directories before the Python path ``environ`` has."""
    env = {"DJANGO_SETTINGS_MODULE": project.settings}
    if project.pythonpath:
        inherited = [environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else []
        env["PYTHONPATH"] = os.pathsep.join([*project.pythonpath, *inherited])
    return env


def argv(env: Mapping[str, str], command: Sequence[str]) -> list[str]:
    """The management command ``command`` of the project ``env`` names (its
    DJANGO_SETTINGS_MODULE), with this interpreter."""
    entry = ENTRY_POINTS.get(env.get("DJANGO_SETTINGS_MODULE", ""), "django")
    return [sys.executable, "-m", entry, *command]


def start(command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start the management command ``command`` with exactly ``env``, its output captured."""
    return subprocess.Popen(
        argv(env, command),
        env=dict(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_answer(proc: subprocess.Popen[str], *, timeout: float) -> dict[str, Any] | str:
    """The JSON object on the last line ``proc`` printed, or why there is none: the last line
    of its stderr, a timeout, or what it printed instead."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return f"no answer in {timeout:g} s"
    if proc.returncode != 0:
        lines = [line for line in err.strip().splitlines() if line.strip()]
        # A command's own refusal is its message; Django's "CommandError: " adds nothing.
        return lines[-1].removeprefix(COMMAND_ERROR) if lines else f"exit {proc.returncode}"
    try:
        found = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        return f"not a JSON line: {type(e).__name__}: {out[-120:]!r}"
    if not isinstance(found, dict):
        return f"not a JSON object: {out[-120:]!r}"
    return found
