"""One running client application as the tests and benchmarks drive it: its daphne, its
listener processes, its database read-only (SQLite or PostgreSQL), and its login page."""

from __future__ import annotations

import functools
import http.cookiejar
import json
import re
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.databases import Reader, Row, sqlite_url
from devstack.processes import Proc, concurrently, free_port, port_open, python, until
from reactive_cli.localstack import client_daphne

#: What a listener logs when it takes a first SIGTERM (reactive_users/client/listener/serve.py).
LISTENER_STOPPING = "stopping after the long poll in progress"


@dataclass
class ClientApp:
    """One running client application: its daphne, its listener and its database."""

    name: str
    env: dict[str, str]
    db_path: Path
    log_dir: Path
    queue_url: str
    port: int = 0
    daphne: Proc | None = None
    listener: Proc | None = None
    extra_listeners: list[Proc] = field(default_factory=list)
    #: The client's DATABASE_URL; empty: the SQLite file ``db_path``.
    database_url: str = ""
    _reader: Reader | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def manage(self, *args: str) -> str:
        """Run ``python -m client ARGS`` with this client's environment; return stdout."""
        result = subprocess.run(
            python("-m", "client", *args),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise AssertionError(f"client {self.name} {args}: {result.stderr[-3000:]}")
        return result.stdout

    def start_daphne(self) -> None:
        """Start (or restart, on the same port) this client's daphne."""
        self.port = self.port or free_port()
        argv = client_daphne(sys.executable, self.port)
        self.daphne = Proc(f"daphne-{self.name}", argv, self.env, self.log_dir)
        self.daphne.wait_ready(lambda: port_open(self.port), timeout=30)

    def start_listener(self) -> Proc:
        """Start one more listener process on this client's queue."""
        n = len(self.extra_listeners) + (1 if self.listener else 0)
        proc = Proc(
            f"listener-{self.name}-{n}", python("-m", "client", "listen"), self.env, self.log_dir
        )
        proc.wait_ready(lambda: "listening" in proc.log().lower(), timeout=30)
        if self.listener is None:
            self.listener = proc
        else:
            self.extra_listeners.append(proc)
        return proc

    def stop(self) -> None:
        """Stop daphne and every listener side by side. A listener is not left to finish its
        long poll: the client is going away, and whatever that poll held comes back after
        the visibility timeout anyway."""
        listeners = [p for p in [self.listener, *self.extra_listeners] if p is not None]
        calls: list[Callable[[], object]] = [
            functools.partial(p.stop_at_once, LISTENER_STOPPING) for p in listeners
        ]
        if self.daphne is not None:
            calls.append(self.daphne.stop)
        concurrently(calls)
        if self._reader is not None:
            self._reader.close()

    # --- reading the client's database (tests and benchmarks: read-only queries) ---

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[Row]:
        """Rows of ``sql`` (``?`` placeholders), whichever engine holds the database."""
        if self._reader is None:
            self._reader = Reader(self.database_url or sqlite_url(self.db_path))
        return self._reader.query(sql, params)

    def replica(self, master_id: int) -> dict[str, Any] | None:
        """The replica row and its local user's fields, or None if never seen."""
        rows = self.query(
            "SELECT r.master_id, r.version, r.tombstone, u.id AS local_id, u.username,"
            " u.email, u.first_name, u.last_name, u.is_active, u.password"
            " FROM replica_replica r LEFT JOIN auth_user u ON u.id = r.user_id"
            " WHERE r.master_id = ?",
            (master_id,),
        )
        return dict(rows[0]) if rows else None

    def set_password(self, username: str, password: str) -> None:
        """Give a replicated user client-local credentials, as a client's admin would."""
        code = (
            "from django.contrib.auth.models import User; "
            f"u = User.objects.get(username={username!r}); u.set_password({password!r}); u.save()"
        )
        self.manage("shell", "-c", code)

    def login(self, username: str, password: str) -> str:
        """Log in through the client's real login page; return the session's Cookie header."""
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        login_url = f"{self.url}/accounts/login/"
        page = opener.open(login_url, timeout=10).read().decode()
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert match, "login page has no CSRF token"
        form = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": match.group(1), "username": username, "password": password}
        )
        request = urllib.request.Request(
            login_url, data=form.encode(), headers={"Referer": login_url, "Origin": self.url}
        )
        answer = opener.open(request, timeout=10)
        body = answer.read().decode(errors="replace")
        sessions = [f"{c.name}={c.value}" for c in jar if c.name.endswith("sessionid")]
        assert sessions, (
            f"login as {username!r} on {self.name} did not create a session: "
            f"{answer.status} {answer.url} {[c.name for c in jar]} {body[:1500]}"
        )
        return sessions[0]

    def logout(self, session: str) -> None:
        """Sign out through the page's own form, as another tab holding ``session`` would."""
        page = urllib.request.Request(f"{self.url}/", headers={"Cookie": session})
        with urllib.request.urlopen(page, timeout=10) as answer:
            html = answer.read().decode()
            cookies = [c.split(";", 1)[0] for c in answer.headers.get_all("Set-Cookie") or []]
        match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
        assert match, f"{self.name}'s page has no logout form for {session}"
        form = urllib.parse.urlencode({"csrfmiddlewaretoken": match.group(1)}).encode()
        headers = {
            "Cookie": "; ".join([session, *cookies]),
            "Origin": self.url,
            "Referer": f"{self.url}/",
        }
        request = urllib.request.Request(f"{self.url}/accounts/logout/", data=form, headers=headers)
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(request, timeout=10)
        except urllib.error.HTTPError as answer:  # the redirect to the login page
            assert answer.code == 302, f"logout on {self.name}: HTTP {answer.code}"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Leave a redirect as the answer (an HTTPError) instead of following it."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def frame(raw: str | bytes) -> dict[str, Any]:
    """Decode one websocket frame."""
    value: dict[str, Any] = json.loads(raw)
    return value


def wait_for_replica(
    app: ClientApp, master_id: int, timeout: float = 20, **expected: Any
) -> dict[str, Any]:
    """Wait until the client's replica of ``master_id`` has the ``expected`` values."""

    def check() -> dict[str, Any] | None:
        row = app.replica(master_id)
        if row is not None and all(row.get(k) == v for k, v in expected.items()):
            return row
        return None

    return until(
        check,
        timeout=timeout,
        interval=0.05,
        what=f"{app.name} replica {master_id} to have {expected}",
    )
