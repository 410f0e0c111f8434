"""Each app of the dev stack has one database URL (its ``DATABASE_URL``): SQLite files by
default, or databases on a PostgreSQL server. Here: building those URLs, and read-only
queries on a client's database whichever engine holds it (tests and benchmarks read
replica rows directly, not through the client's Django)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: The URL schemes dj-database-url reads as PostgreSQL.
POSTGRES_SCHEMES = ("postgres", "postgresql", "pgsql")


def sqlite_url(path: Path) -> str:
    """The ``DATABASE_URL`` of a SQLite file."""
    return f"sqlite:///{path}"


def is_postgres(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database."""
    return urllib.parse.urlsplit(url).scheme in POSTGRES_SCHEMES


def sqlite_path(url: str) -> Path | None:
    """The file a ``sqlite:///`` URL names, or None for any other URL."""
    head = "sqlite:///"
    return Path(url[len(head) :]) if url.startswith(head) and len(url) > len(head) else None


def with_database(server_url: str, name: str) -> str:
    """``server_url`` (any database of a PostgreSQL server) naming database ``name`` instead;
    the host, user and query (``?host=/run/postgresql``...) are kept."""
    parts = urllib.parse.urlsplit(server_url)
    if parts.scheme not in POSTGRES_SCHEMES:
        raise ValueError(f"not a PostgreSQL URL: {server_url!r}")
    # Built by hand: urlunsplit would turn an empty host ("postgres:///db?host=...") into none.
    query = f"?{parts.query}" if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}/{urllib.parse.quote(name)}{query}"


class Row(tuple[Any, ...]):
    """One result row, read by position, by unpacking or by column name (as sqlite3.Row)."""

    _names: tuple[str, ...]

    def __new__(cls, values: Sequence[Any], names: tuple[str, ...]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return super().__getitem__(self._names.index(key))
        return super().__getitem__(key)

    def keys(self) -> tuple[str, ...]:
        return self._names


class Reader:
    """Read-only queries on one database, SQL written with ``?`` placeholders.

    SQLite: a read-only connection per query (the file may be rewritten by another process
    at any time). PostgreSQL: one autocommit connection, kept (each statement sees what is
    committed; a new connection per poll would cost the server a process each time),
    shared by threads under a lock.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._lock = threading.Lock()
        self._pg: Any = None

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        if is_postgres(self.url):
            return self._postgres(sql, params)
        path = sqlite_path(self.url)
        if path is None:
            raise ValueError(f"cannot read {self.url!r}: neither SQLite nor PostgreSQL")
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
            cursor = db.execute(sql, params)
            names = tuple(d[0] for d in cursor.description or ())
            return [Row(values, names) for values in cursor]

    def _postgres(self, sql: str, params: tuple[Any, ...]) -> list[Row]:
        import psycopg

        with self._lock:
            if self._pg is None or self._pg.closed:
                self._pg = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            with self._pg.cursor() as cursor:
                cursor.execute(sql.replace("%", "%%").replace("?", "%s"), params)
                names = tuple(d.name for d in cursor.description or ())
                return [Row(values, names) for values in cursor.fetchall()]

    def close(self) -> None:
        with self._lock:
            if self._pg is not None:
                self._pg.close()
                self._pg = None
