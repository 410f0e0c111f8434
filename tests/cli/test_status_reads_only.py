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
