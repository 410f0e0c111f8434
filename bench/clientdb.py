"""The client side of a workload: what each client's database holds, and login sessions.

Reads are read-only queries on the client's database, SQLite or PostgreSQL
(``ClientApp.query``). The apply
time of an event is the replica row's ``updated_at``, written by the listener in the
transaction that applied it, so convergence times do not depend on how often we poll.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from devstack.client_app import ClientApp


@dataclass(frozen=True)
class Held:
    """One replica row: the version held, whether tombstoned, when it was last applied."""

    version: int
    tombstone: bool
    applied_at: float


def epoch(stored: str | datetime) -> float:
    """A stored ``updated_at`` as epoch seconds. SQLite gives Django's text (UTC, without a
    zone); PostgreSQL's timestamptz arrives as an aware datetime (the session's zone)."""
    value = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def held(app: ClientApp, user_ids: Iterable[int]) -> dict[int, Held]:
    """The replica rows the client holds for ``user_ids``."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = app.query(
        "SELECT master_id, version, tombstone, updated_at FROM replica_replica"
        " WHERE master_id BETWEEN ? AND ?",
        (min(wanted), max(wanted)),
    )
    return {
        int(r["master_id"]): Held(int(r["version"]), bool(r["tombstone"]), epoch(r["updated_at"]))
        for r in rows
        if int(r["master_id"]) in wanted
    }


def versions(app: ClientApp, user_ids: Iterable[int]) -> dict[int, int]:
    """The version the client holds of each of ``user_ids`` (absent: never seen)."""
    wanted = set(user_ids)
    if not wanted:
        return {}
    rows = app.query(
        "SELECT master_id, version FROM replica_replica WHERE master_id BETWEEN ? AND ?",
        (min(wanted), max(wanted)),
    )
    return {int(m): int(v) for m, v in rows if int(m) in wanted}


def missing(app: ClientApp, expected: dict[int, int]) -> int:
    """How many users the client holds at an older version than ``expected`` (or not at all).

    When every user is expected at the same version and their ids are contiguous, one COUNT
    does it (cheap enough to poll often); otherwise the versions are read and compared."""
    if not expected:
        return 0
    low, high, wanted = min(expected), max(expected), set(expected.values())
    if len(wanted) == 1 and high - low + 1 == len(expected):
        rows = app.query(
            "SELECT count(*) FROM replica_replica WHERE master_id BETWEEN ? AND ? AND version >= ?",
            (low, high, wanted.pop()),
        )
        return len(expected) - int(rows[0][0])
    have = versions(app, expected)
    return sum(1 for uid, version in expected.items() if have.get(uid, 0) < version)


_SESSIONS_CODE = """
import json
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
names = json.load(open({names!r}))
rows, keys = [], {{}}
for user in User.objects.filter(username__in=names):
    store = SessionStore()
    data = {{
        SESSION_KEY: str(user.pk),
        BACKEND_SESSION_KEY: "django.contrib.auth.backends.ModelBackend",
        HASH_SESSION_KEY: user.get_session_auth_hash(),
    }}
    key = store._get_new_session_key()
    rows.append(Session(session_key=key, session_data=store.encode(data),
                        expire_date=store.get_expiry_date()))
    keys[user.username] = key
with transaction.atomic():
    Session.objects.bulk_create(rows, batch_size=500)
json.dump(keys, open({out!r}, "w"))
"""


def sessions(app: ClientApp, usernames: list[str]) -> dict[str, str]:
    """Log ``usernames`` in on the client in one batch; their ``Cookie`` headers.

    Writes the same session rows that the login form writes (user id, backend, password
    hash digest), straight into the client's database through its own Django: logging 1,000
    users in through the form would take minutes and measure only the login page.
    """
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        names, out = Path(tmp) / "names.json", Path(tmp) / "keys.json"
        names.write_text(json.dumps(usernames))
        app.manage("shell", "-c", _SESSIONS_CODE.format(names=str(names), out=str(out)))
        keys: dict[str, str] = json.loads(out.read_text())
    cookie = f"{app.name}_sessionid"
    return {name: f"{cookie}={key}" for name, key in keys.items()}
