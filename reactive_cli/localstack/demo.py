"""The demo accounts ``up`` creates once: an admin for the master, and a demo user the
master publishes, given the same password on every client once it arrived there.

The passwords are generated here and kept in the state directory (``demo-passwords.json``,
0600); each project's own process writes the accounts (``seed``), reading them as JSON on
its stdin.
"""

from __future__ import annotations

import json
import secrets

from reactive_cli.localstack.bootstrap import run_module
from reactive_cli.localstack.layout import Layout

#: A demo user replicated to every client, so the page has someone to show.
DEMO_USERNAME = "demo"
#: The master's superuser.
ADMIN_USERNAME = "admin"
#: How long a client waits for the demo user to arrive through the pipeline.
REPLICATION_WAIT_SECONDS = 60
#: The module each project runs to write the accounts.
SEED_MODULE = "reactive_cli.localstack.seed"


def demo_accounts(layout: Layout) -> None:
    """Create the accounts and set the client passwords, unless an earlier ``up`` did."""
    path = layout.state_dir / "demo-passwords.json"
    if path.exists():
        return
    passwords = {ADMIN_USERNAME: secrets.token_urlsafe(9), DEMO_USERNAME: secrets.token_urlsafe(9)}
    master = {
        "admin": {"username": ADMIN_USERNAME, "password": passwords[ADMIN_USERNAME]},
        "user": {"username": DEMO_USERNAME, "email": "demo@example.com", "first_name": "Demo"},
    }
    run_module(layout, layout.master_env(), SEED_MODULE, stdin=json.dumps({"master": master}))
    # The demo user arrives through the real pipeline; each client waits for it.
    client = {
        "username": DEMO_USERNAME,
        "password": passwords[DEMO_USERNAME],
        "wait_seconds": REPLICATION_WAIT_SECONDS,
    }
    for name in layout.clients:
        env = layout.client_env(name)
        run_module(layout, env, SEED_MODULE, stdin=json.dumps({"client": client}))
    path.write_text(json.dumps(passwords, indent=2))
    path.chmod(0o600)
