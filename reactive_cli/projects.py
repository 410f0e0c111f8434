"""Reaching the master and client projects through their entry points (``python -m master
<command>``, ``python -m client <command>``): the CLI never sets up Django in its own process
or imports the apps' private modules. Each read-only command prints one JSON line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from typing import Any

MASTER_SETTINGS = {"DJANGO_SETTINGS_MODULE": "master.settings"}


def start(project: str, command: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[str]:
    """Start ``python -m PROJECT COMMAND...`` with exactly ``env``, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", project, *command],
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
        return lines[-1] if lines else f"exit {proc.returncode}"
    try:
        found = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        return f"not a JSON line: {type(e).__name__}: {out[-120:]!r}"
    if not isinstance(found, dict):
        return f"not a JSON object: {out[-120:]!r}"
    return found
