"""Driving the previous release's processes and reading what they leave, for the
compatibility suite. Django is imported inside functions (set up by the stack)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from devstack.client_app import ClientApp
from devstack.convergence import FIELDS, UserState
from devstack.processes import Proc, until
from tests.compat.conftest import OldRelease


@dataclass
class OldClientApp(ClientApp):
    """A client of the previous release: its listener and management commands run with
    that release's interpreter and tree (``env`` says so); it has no daphne here."""

    interpreter: str = ""

    def manage(self, *args: str) -> str:
        result = subprocess.run(
            [self.interpreter, "-m", "client", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"old client {self.name} {args}: {result.stderr[-3000:]}")
        return result.stdout

    def start_listener(self) -> Proc:
        proc = Proc(
            f"old-listener-{self.name}",
            [self.interpreter, "-m", "client", "listen"],
            self.env,
            self.log_dir,
        )
        proc.wait_ready(lambda: "listening" in proc.log().lower(), timeout=30)
        self.listener = proc
        return proc


def old_client(
    release: OldRelease, new: ClientApp, *, name: str, queue_url: str, db_path: Path
) -> OldClientApp:
    """A client ``name`` of the previous release, given ``new``'s services (Redis, moto,
    state directory), on its own queue and database."""
    env = release.env(new.env)
    env.update(
        REACTIVE_CLIENT=name,
        DATABASE_URL=f"sqlite:///{db_path}",
        REACTIVE_QUEUE_URL=queue_url,
    )
    return OldClientApp(
        name=name,
        env=env,
        db_path=db_path,
        log_dir=new.log_dir,
        queue_url=queue_url,
        interpreter=release.python,
    )


def dead_letters(endpoint: str, queue_url: str) -> list[dict[str, Any]]:
    """Every message of a dead-letter queue, read without hiding it (visibility 0), so that
    a redrive right after still finds them all."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    found: dict[str, dict[str, Any]] = {}
    for _ in range(50):
        batch = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            WaitTimeSeconds=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        new = {m["MessageId"]: m for m in batch if m["MessageId"] not in found}
        if not new and found:
            break
        found.update(new)
    return list(found.values())


def depth(endpoint: str, queue_url: str) -> int:
    """Messages in a queue, visible and in flight."""
    sqs = boto3.client("sqs", endpoint_url=endpoint)
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def tag(message: dict[str, Any], name: str) -> str | None:
    value = message.get("MessageAttributes", {}).get(name)
    return None if value is None else str(value.get("StringValue"))


def events_in(body: str) -> int:
    """How many events a message body carries (schema 2: its ``events``; else one)."""
    value = json.loads(body)
    return len(value["events"]) if value.get("schema") == 2 else 1


def master_state_of(db_path: Path, user_ids: Iterable[int]) -> dict[int, UserState]:
    """A master's truth for ``user_ids``, read from its SQLite file (a master of another
    release, in another process): the last version given, the user's fields."""
    ids = list(user_ids)
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        db.row_factory = sqlite3.Row
        versions = dict(db.execute("SELECT user_id, version FROM users_userversion").fetchall())
        users = {
            row["id"]: row for row in db.execute(f"SELECT id, {', '.join(FIELDS)} FROM auth_user")
        }
    state = {}
    for uid in ids:
        user = users.get(uid)
        values = (
            tuple(bool(user[f]) if f == "is_active" else user[f] for f in FIELDS) if user else ()
        )
        state[uid] = UserState(version=versions.get(uid, 0), deleted=user is None, fields=values)
    return state


def unsent(db_path: Path) -> int:
    """Outbox rows a master (of any release) has not published yet."""
    with contextlib.closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as db:
        return int(
            db.execute("SELECT count(*) FROM users_outboxevent WHERE sent_at IS NULL").fetchone()[0]
        )


def reactive(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """This release's CLI, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "reactive_cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_until(predicate: Any, what: str, timeout: float = 60) -> Any:
    return until(predicate, timeout=timeout, interval=0.1, what=what)
