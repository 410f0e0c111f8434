"""Where this checkout's reference projects (``master/``, ``client/``) are, if anywhere.

The wheel holds only ``reactive_users`` and ``reactive_cli``: the reference projects, like
``devstack/``, live in a checkout beside ``reactive_cli/`` and are never installed as
top-level packages. Whatever runs them (``reactive up``'s programs, ``reactive manage``,
``backfill``...) puts the checkout root first on their Python path explicitly, so they import
from any working directory. Stdlib-only.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: The directory above ``reactive_cli/``: a checkout's root, or site-packages for a wheel.
ROOT = Path(__file__).resolve().parents[1]


def reference_root() -> Path | None:
    """The checkout holding the reference projects, or None (installed from a wheel)."""
    found = all((ROOT / name / "settings.py").is_file() for name in ("master", "client"))
    return ROOT if found else None


def reference_pythonpath() -> tuple[str, ...]:
    """The reference projects' Python path: the checkout's root, or nothing outside one."""
    root = reference_root()
    return (str(root),) if root else ()


def with_reference_path(environ: Mapping[str, str]) -> str:
    """A ``PYTHONPATH`` value: the checkout's root before the one ``environ`` has."""
    inherited = [environ["PYTHONPATH"]] if environ.get("PYTHONPATH") else []
    return os.pathsep.join([*reference_pythonpath(), *inherited])


#: Why a command that runs the reference projects cannot outside a checkout, and the fix.
NO_CHECKOUT = (
    "the reference projects (master/, client/) come with a checkout of reactive-users, not "
    "with the installed package: run this from a checkout (git clone, then scripts/install), "
    "or start only SNS/SQS and Redis for your own projects with `reactive up --infra-only`"
)
