"""The backfill's checkpoint file: how far a backfill of one client got, so that an
interrupted one resumes after it. ``backfill-<prefix>-<client>.json`` in the state
directory, written atomically after every successful send (``core/files.write_atomic``).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from reactive_users.core import naming
from reactive_users.core.errors import ConfigError
from reactive_users.core.files import write_atomic
from reactive_users.core.settings import Settings

#: Version of the checkpoint file's shape.
CHECKPOINT_VERSION = 1


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """How far a backfill got: everything up to ``last_id`` was sent."""

    client: str
    prefix: str
    since: str | None
    last_id: int
    users: int
    tombstones: int
    started: str
    updated: str
    version: int = CHECKPOINT_VERSION
    #: Of ``users``, those sent as withdrawals (absent from checkpoints written before them).
    withdrawals: int = 0


def checkpoint_path(settings: Settings, client: str) -> Path:
    """Where the backfill of ``client`` keeps its checkpoint."""
    name = naming.check_client_name(client)
    return settings.state_dir / f"backfill-{settings.prefix}-{name}.json"


def checkpoint_read(path: Path) -> Checkpoint | None:
    """The checkpoint at ``path``, or None if there is none."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("version") != CHECKPOINT_VERSION:
            raise ValueError(f"version {data.get('version')!r}")
        return Checkpoint(**data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError, AttributeError) as exc:
        raise ConfigError(
            f"{path}: not a backfill checkpoint ({exc}): delete it or pass --restart"
        ) from exc


def checkpoint_write(path: Path, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically (a temporary file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(asdict(checkpoint), indent=2))
