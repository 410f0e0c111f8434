"""The bench on PostgreSQL (``--database postgres``): fresh databases per configuration.

Each configuration process creates one database for the master and one per client on the
given server, named after its PID (``bench_<pid>_master``, ``bench_<pid>_shop``), and drops
them on the way out; ``bench.run`` drops whatever a killed configuration left (same prefix).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import psycopg

from devstack.databases import is_postgres, with_database

#: What ``--database`` accepts.
ENGINES = ("sqlite", "postgres")
#: A database name the bench made: only these are ever dropped.
_OURS = re.compile(r"bench_[0-9]+_[a-z0-9_]+")


class DatabaseError(Exception):
    """The PostgreSQL server cannot be reached or used (one line, for the command line)."""


def database_name(pid: int, app: str) -> str:
    """The database of ``app`` ("master", or a client's name) in configuration ``pid``."""
    name = f"bench_{pid}_{app}"
    if not _OURS.fullmatch(name) or len(name) > 63:  # PostgreSQL's identifier limit
        raise ValueError(f"cannot name a database after app {app!r}")
    return name


def prefix(pid: int) -> str:
    """What every database of configuration ``pid`` is named with."""
    return f"bench_{pid}_"


def app_urls(server_url: str, pid: int, apps: Iterable[str]) -> dict[str, str]:
    """app -> the URL of its database on ``server_url``."""
    return {app: with_database(server_url, database_name(pid, app)) for app in apps}


def default_server_url(root: Path) -> str:
    """The URL ``scripts/postgres`` prints (it starts a server if none answers)."""
    try:
        result = subprocess.run(
            [str(root / "scripts" / "postgres")],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except OSError as e:
        raise DatabaseError(f"cannot run scripts/postgres: {e}") from e
    if result.returncode != 0 or not result.stdout.strip():
        last = (result.stderr.strip().splitlines() or ["no URL printed"])[-1]
        raise DatabaseError(f"scripts/postgres: {last}")
    return result.stdout.strip().splitlines()[-1]


def _connect(server_url: str) -> psycopg.Connection[tuple[Any, ...]]:
    try:
        return psycopg.connect(server_url, autocommit=True, connect_timeout=10)
    except psycopg.Error as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DatabaseError(f"cannot connect to PostgreSQL at {server_url}: {first}") from e


def check_server(server_url: str) -> None:
    """Raise DatabaseError unless ``server_url`` is a PostgreSQL server we can log in to."""
    if not is_postgres(server_url):
        raise DatabaseError(f"--database-url {server_url!r} is not a postgres:// URL")
    _connect(server_url).close()


def drop(server_url: str, names: Iterable[str]) -> list[str]:
    """Drop the bench's databases ``names`` (connections to them are ended); those dropped."""
    ours = [n for n in names if _OURS.fullmatch(n)]
    if not ours:
        return []
    with contextlib.closing(_connect(server_url)) as db:
        existing = {
            row[0]
            for row in db.execute(
                "SELECT datname FROM pg_database WHERE datname = ANY(%s)", (ours,)
            ).fetchall()
        }
        for name in ours:
            if name in existing:
                db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return [n for n in ours if n in existing]


def leftovers(server_url: str, pid: int) -> list[str]:
    """The databases configuration ``pid`` made that still exist."""
    with contextlib.closing(_connect(server_url)) as db:
        rows = db.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix(pid),)
        ).fetchall()
    return sorted(str(r[0]) for r in rows)


@contextlib.contextmanager
def fresh(server_url: str, pid: int, apps: Iterable[str]) -> Iterator[dict[str, str]]:
    """Create an empty database per app; yield app -> URL; drop them all on the way out."""
    urls = app_urls(server_url, pid, apps)
    names = [database_name(pid, app) for app in urls]
    try:
        with contextlib.closing(_connect(server_url)) as db:
            for name in names:
                db.execute(f'CREATE DATABASE "{name}"')
        yield urls
    finally:
        drop(server_url, names)
