"""A client with two listener processes: restarts keep one running; `up` again after `down`.

One small stack (one client, two listeners, from a reactive.toml), brought up once; the
tests run in file order and the last takes it down and up again.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reactive_cli.supervisor import Supervisor
from reactive_users.core import exitcodes
from tests.stack.conftest import Cli, hint, local_stack, run_as_typed

LISTENERS = ("shop-listener-00", "shop-listener-01")


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """The local stack of one client, shop, with two listener processes."""
    state_dir = tmp_path_factory.mktemp("pair") / "st"  # its reactive.toml is for it alone
    state_dir.mkdir()
    with local_stack(state_dir, clients=("shop",), config="[clients.shop]\nlisteners = 2\n") as run:
        yield run


def listener_states(sup: Supervisor) -> dict[str, tuple[str, int]]:
    return {p.name: (p.state, p.pid) for p in sup.processes() if p.name in LISTENERS}


def test_restart_all_restarts_one_listener_at_a_time_so_the_client_always_has_one(pair: Cli):
    # Given shop's two listeners running
    before = listener_states(pair.supervisor)
    assert {state for state, _ in before.values()} == {"RUNNING"}

    # When `listeners restart --all` runs, watched through supervisord's XML-RPC meanwhile
    seen: list[dict[str, tuple[str, int]]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            seen.append(listener_states(pair.supervisor))
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        ran = pair("listeners", "restart", "--all")
    finally:
        done.set()
        watcher.join()

    # Then at every moment one of them was RUNNING, both were restarted, and each step showed
    assert ran.code == exitcodes.OK, ran.err
    assert len(seen) > 10
    assert [s for s in seen if "RUNNING" not in {state for state, _ in s.values()}] == []
    after = listener_states(pair.supervisor)
    assert all(after[name][1] != before[name][1] for name in LISTENERS)
    assert ran.out.splitlines() == [f"{name}: restarted" for name in LISTENERS]
    assert ran.err.splitlines() == [
        line
        for i, name in enumerate(LISTENERS, start=1)
        for line in (
            f"{name} ({i}/2): stopping; it finishes its long poll first (up to 2 s)...",
            f"{name} ({i}/2): starting...",
        )
    ]


def test_down_then_up_keeps_the_databases_and_says_queued_messages_were_lost(pair: Cli):
    assert pair.started is not None and "Starting over" not in pair.started.err
    assert pair("down").code == exitcodes.OK

    # (this time through the console script, by its path, as from a fresh clone)
    script = str(Path(sys.executable).parent / "reactive")
    again = run_as_typed(f"{script} up --state-dir {pair.state_dir}", pair)

    assert again.code == exitcodes.OK, again.err
    assert hint(again.out, "Status") == f"{script} status --state-dir {pair.state_dir}"
    assert (
        f"Starting over {pair.state_dir}: kept the databases (master.sqlite3, "
        "client-shop.sqlite3: users, versions, the outbox, replicas) and the demo passwords; "
        "lost every message that was waiting in a queue and every dead letter, since the "
        "embedded SNS/SQS keeps them in memory only. A client that had messages waiting may be "
        "behind: `reactive diff --client NAME --repair` brings it level."
    ) in again.err.splitlines()
    logins = [
        [line for line in out.splitlines() if " / " in line]
        for out in (pair.started.out, again.out)
    ]
    assert logins[0] == logins[1] and len(logins[0]) == 2  # the databases kept their users
