"""How the operator can type this command again, for the commands a message suggests.

`reactive up` ends with "Status: reactive status": true only if ``reactive`` is on PATH. A
fresh clone runs ``.venv/bin/reactive``, or ``python -m reactive_cli``; the hint must name
what works as typed.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

#: The console script's name (pyproject.toml).
SCRIPT = "reactive"


def typed_command(argv0: str, on_path: str | None, cwd: Path, python: str) -> str:
    """``reactive`` when that name on PATH (``on_path``) is the running script ``argv0``;
    else the script's path, relative to ``cwd`` when inside it; ``python -m reactive_cli``
    for a module run."""
    if Path(argv0).name == "__main__.py":
        return f"{_typed_path(Path(python), cwd)} -m reactive_cli"
    script = cwd / argv0  # an absolute argv0 stays itself
    if on_path and Path(on_path).resolve() == script.resolve():
        return SCRIPT
    return _typed_path(script, cwd)


def _typed_path(path: Path, cwd: Path) -> str:
    absolute = cwd / path
    try:
        return str(absolute.relative_to(cwd))
    except ValueError:
        return str(absolute)


def this_command() -> str:
    """How to type the running ``reactive`` again, from here."""
    return typed_command(sys.argv[0], shutil.which(SCRIPT), Path(os.getcwd()), sys.executable)
