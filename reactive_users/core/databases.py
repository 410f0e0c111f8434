"""Whether a read-only command may open a project's database without creating it.

SQLite creates the file named by ``DATABASES[alias]["NAME"]`` on the first connection, so a
command that only reads (``replica_stats``, ``outbox_stats``, the dumps ``reactive diff``
compares) would leave an empty database in a project that was never migrated. This module
looks at the settings only (no connection, no Django import): other engines, an in-memory
database and a ``file:`` URI are left to the engine. Stdlib only.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: The engine whose first connection creates its database file.
SQLITE_ENGINE = "django.db.backends.sqlite3"


def missing_sqlite(database: Mapping[str, Any]) -> Path | None:
    """The SQLite file ``database`` (one ``DATABASES`` entry) names if it does not exist
    yet, else None (it exists, or it is not a SQLite file)."""
    if database.get("ENGINE") != SQLITE_ENGINE:
        return None
    name = str(database.get("NAME") or "")
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name)
    return None if path.exists() else path


def refusal(database: Mapping[str, Any]) -> str | None:
    """Why a read-only command must not open ``database`` (one line), or None if it may."""
    path = missing_sqlite(database)
    return None if path is None else f"database {path} does not exist yet: run migrate"
