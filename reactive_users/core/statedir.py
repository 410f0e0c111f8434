"""The state directory (SQLite databases, generated secrets, logs, supervisord's socket) is
its owner's alone: read by another local user, its databases gave a client's session keys and
the master admin's password hash. Every part that creates it creates it with this mode; an
existing one that others may enter is tightened, saying so. Files inside come private from
the umask the local stack runs with (``reactive_cli.localstack``).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

#: The state directory's mode: owner only.
STATE_DIR_MODE = 0o700
#: The umask of the local stack's processes: files they create are their owner's alone.
PRIVATE_UMASK = 0o077


def _stderr(line: str) -> None:
    sys.stderr.write(line + "\n")


def private_dir(path: Path, say: Callable[[str], None] = _stderr) -> Path:
    """Create the directory ``path`` (and its parents) for its owner alone; one that exists
    and that others may enter is made so, and ``say`` hears one line telling so."""
    existed = path.is_dir()
    if not existed and path.exists():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))
    path.mkdir(mode=STATE_DIR_MODE, parents=True, exist_ok=True)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & ~STATE_DIR_MODE:
        path.chmod(STATE_DIR_MODE)
        if existed:
            say(
                f"{path}: was open to other users (mode {mode:04o}); made it private "
                f"({STATE_DIR_MODE:04o}): it holds databases and secrets"
            )
    return path
