"""`reactive status` reads the projects and writes nothing: no demo database, secret or key."""

from __future__ import annotations

from reactive_users.core import exitcodes
from tests.cli.conftest import write_config


def test_status_over_a_state_dir_without_databases_reports_them_and_creates_none(
    reactive, tmp_path
):
    # Given a reactive.toml naming the reference projects, and a state dir nothing ran in
    write_config(tmp_path, "[clients.shop]\n")
    state = tmp_path / "state"

    ran = reactive("status", "--state-dir", str(state))

    # Then the missing databases are reported (exit 6), and none was made, nor anything else
    assert ran.code == exitcodes.UNREACHABLE, ran.out + ran.err
    assert f"master outbox: unknown: ConfigError: no database at {state}" in ran.err
    assert f"no database at {state / 'client-shop.sqlite3'}" in ran.out + ran.err
    assert not state.exists() or list(state.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reactive.toml"]


def test_status_gives_the_master_the_state_dir_it_was_given(reactive, tmp_path):
    # Given REACTIVE_STATE_DIR naming one directory and --state-dir another
    write_config(tmp_path, "[clients.shop]\n")
    state, elsewhere = tmp_path / "state", tmp_path / "elsewhere"

    ran = reactive("status", "--state-dir", str(state), REACTIVE_STATE_DIR=str(elsewhere))

    # Then the master is read in --state-dir, as the clients are, and nothing is written
    assert ran.code == exitcodes.UNREACHABLE, ran.out + ran.err
    assert f"master outbox: unknown: ConfigError: no database at {state}" in ran.err
    assert str(elsewhere) not in ran.out + ran.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reactive.toml"]
