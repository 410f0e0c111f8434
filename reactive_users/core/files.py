"""Writing a file atomically: readers see the old content or the new, never a part.

Used for the files the tools keep in the state directory (``resources.py``'s record of what
provisioning made, the backfill's checkpoint). Stdlib only.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file (mode 0600) in the same directory,
    renamed over ``path``; the temporary file is removed if anything fails. The directory
    must exist. Returns ``path``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
